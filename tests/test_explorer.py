"""The explorer's widget logic, headless: every control changes the drawn data as it should.

Fits use a tiny budget (cached for the session); each test opens its own explorer.
"""
import math

import numpy as np
import pytest
import torch

import mbe
from mbe.core import analysis, targets
from mbe.viz import explorer
from mbe.core.neuron import mbe_kernels

BUDGET = {"samples": 400, "epochs": 4}


def open_explorer(target="gelu", domain=(-4.0, 4.0), n_basis=3, timesteps=6, **kwargs):
    return mbe.explore(target, domain, n_basis, timesteps, fit_options=BUDGET,
                       grid_n=(1, 2), grid_t=(2, 4), **kwargs)


@pytest.fixture
def ex():
    return open_explorer()


def ydata(ax, i):
    return np.asarray(ax.lines[i].get_ydata(), dtype=float)


def kernel_lines(ex, panel):
    ax = ex.axes[panel]
    return np.stack([ydata(ax, n) for n in range(ex.neuron.n_basis)])


def expected_kernels(ex, tau_scale, dt_scale, decay=True):
    f = ex.fitted
    return mbe_kernels(f.tau * tau_scale, f.dt * dt_scale, f.alpha, f.timesteps, decay)


def fit_output(ex):
    """The neuron's output as drawn in the fit panel (line 0 is the target)."""
    return ydata(ex.axes["fit"], 1)


def test_opens_in_one_line_and_draws_every_view_labelled(ex):
    assert isinstance(ex, explorer.Explorer)
    assert ex.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    for name, ax in ex.axes.items():
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel(), name
    assert len(ex.axes["d"].lines) == 3 and len(ex.axes["d"].lines[0].get_ydata()) == 6
    x = ex.grid()
    assert np.array_equal(fit_output(ex), ex.fitted.simulate(x)[0].numpy())
    assert "fitted" in ex.status.value and "MSE" in ex.status.value


def test_tau_multiplier_changes_only_that_basis_and_never_the_cached_neuron(ex):
    before = {p: kernel_lines(ex, p) for p in ("d", "r", "vth")}
    tau_before = ex.fitted.tau.clone()
    out_before = fit_output(ex)
    ex.controls["basis"].value = 1
    ex.controls["tau_d"].value = 2.0
    scale = torch.ones(3, 3, dtype=torch.float64)
    scale[0, 1] = 2.0
    want = expected_kernels(ex, scale, torch.ones(3, dtype=torch.float64))
    d = kernel_lines(ex, "d")
    np.testing.assert_allclose(d[1], want.d[:, 1].numpy(), rtol=1e-12)
    assert not np.allclose(d[1], before["d"][1])
    np.testing.assert_array_equal(np.delete(d, 1, 0), np.delete(before["d"], 1, 0))
    for p in ("r", "vth"):
        np.testing.assert_array_equal(kernel_lines(ex, p), before[p])
    assert torch.equal(ex.fitted.tau, tau_before)  # perturbations build new neurons
    assert np.array_equal(fit_output(ex), ex.neuron.simulate(ex.grid())[0].numpy())
    assert not np.array_equal(fit_output(ex), out_before)
    assert "perturbed" in ex.status.value


def test_dt_multiplier_rescales_all_three_kernels_of_the_basis(ex):
    ex.controls["basis"].value = 2
    ex.controls["dt"].value = 0.5
    want = expected_kernels(ex, torch.ones(3, 3, dtype=torch.float64),
                            torch.tensor([1.0, 1.0, 0.5], dtype=torch.float64))
    for p, table in zip(("d", "r", "vth"), want):
        np.testing.assert_allclose(kernel_lines(ex, p)[2], table[:, 2].numpy(), rtol=1e-12)
    # switching basis shows that basis's own multipliers
    ex.controls["basis"].value = 0
    assert ex.controls["dt"].value == 1.0
    ex.controls["basis"].value = 2
    assert ex.controls["dt"].value == 0.5


def test_decay_off_makes_the_kernels_constant(ex):
    ex.controls["decay"].value = False
    for p, row in zip(("d", "r", "vth"), range(3)):
        lines = kernel_lines(ex, p)
        np.testing.assert_array_equal(lines, np.repeat(ex.fitted.alpha[row].numpy()[:, None],
                                                       ex.fitted.timesteps, 1))
    assert ex.neuron.decay is False and ex.fitted.decay is True
    assert "press 'fit'" in ex.status.value  # decay is also the next fit's option


def test_target_and_domain_redraw_without_refitting(ex):
    fitted = ex.fitted
    ex.controls["target"].value = "tanh"
    x = ex.grid()
    np.testing.assert_allclose(ydata(ex.axes["fit"], 0), torch.tanh(x).numpy())
    ex.controls["hi"].value = 8.0
    xs = np.asarray(ex.axes["fit"].lines[1].get_xdata())
    assert xs[0] == -4.0 and xs[-1] == 8.0 and len(xs) == ex.points
    assert list(ex.axes["raster"].images[0].get_extent()[:2]) == [-4.0, 8.0]
    assert ex.fitted is fitted


def test_fit_controls_wait_for_fit(ex):
    ex.controls["n_basis"].value = 2
    ex.controls["timesteps"].value = 4
    assert len(ex.axes["d"].lines) == 3  # nothing refitted yet
    assert "press 'fit'" in ex.status.value
    ex.buttons["fit"].click()
    assert ex.fitted.n_basis == 2 and ex.fitted.timesteps == 4
    assert len(ex.axes["d"].lines) == 2 and len(ex.axes["d"].lines[0].get_ydata()) == 4
    assert ex.axes["error"].images[0].get_array().shape == (2, 4)
    assert ex.axes["raster"].images[0].get_array().shape == (2 * 4, ex.points)


def test_variant_and_options_reach_the_fit(ex):
    ex.controls["variant"].value = "paper"
    paper = mbe.config_for("paper")
    assert {k: ex.controls[k].value for k in explorer.OPTION_CHOICES} == {
        k: getattr(paper, k) for k in explorer.OPTION_CHOICES}
    ex.controls["bias"].value = True
    ex.buttons["fit"].click()
    config = ex.fitted.meta["config"]
    assert config["alpha"] == "shared" and config["input_map"] == "identity"
    assert config["bias"] is True and ex.fitted.meta["variant"] == "paper"
    ex.controls["variant"].value = "best"
    ex.controls["alpha"].value = "shared"
    ex.buttons["fit"].click()
    assert ex.fitted.meta["config"]["alpha"] == "shared"
    assert ex.fitted.meta["config"]["input_map"] == "signed_affine"


def test_reset_returns_to_the_fitted_neuron(ex):
    original = {p: kernel_lines(ex, p) for p in ("d", "r", "vth")}
    out = fit_output(ex)
    ex.controls["tau_vth"].value = 4.0
    ex.controls["decay"].value = False
    ex.controls["target"].value = "silu"
    ex.controls["n_basis"].value = 5
    ex.buttons["reset"].click()
    for p in ("d", "r", "vth"):
        np.testing.assert_array_equal(kernel_lines(ex, p), original[p])
    np.testing.assert_array_equal(fit_output(ex), out)
    assert ex.controls["target"].value == "gelu" and ex.controls["n_basis"].value == 3
    assert ex.controls["tau_vth"].value == 1.0 and ex.controls["decay"].value is True
    assert "perturbed" not in ex.status.value and "press 'fit'" not in ex.status.value


def test_error_views_are_the_analysis_data(ex):
    x, neuron = ex.grid(), ex.neuron
    err = analysis.error_by_basis_and_step(neuron, "gelu", x).numpy()
    np.testing.assert_allclose(ex.axes["error"].images[0].get_array(), err)
    contrib = analysis.basis_contributions(neuron, x).numpy()
    for n in range(3):
        np.testing.assert_allclose(ydata(ex.axes["contributions"], n), contrib[n])


def test_nt_grid_from_cached_fits_and_cleared_by_a_new_target(ex):
    assert not ex.axes["grid"].images and "not computed" in ex.axes["grid"].get_title()
    ex.buttons["grid"].click()
    image = ex.axes["grid"].images[0].get_array()
    want = analysis.error_vs_n_and_t("gelu", (-4.0, 4.0), (1, 2), (2, 4),
                                     points=explorer.GRID_POINTS, variant="best",
                                     **BUDGET).numpy()
    np.testing.assert_allclose(image, want)
    assert want[0, 0] > want[-1, -1]  # more bases and steps fit better
    ex.controls["target"].value = "tanh"
    assert not ex.axes["grid"].images


def test_bad_input_is_reported_not_absorbed(ex):
    out = fit_output(ex)
    ex.controls["lo"].value = 5.0  # lo > hi
    assert "set 'from' below 'to'" in ex.status.value
    np.testing.assert_array_equal(fit_output(ex), out)
    ex.controls["lo"].value = -4.0
    ex.controls["variant"].value = "best"
    ex.controls["input_map"].value = "identity"  # ramps need an input map
    ex.buttons["fit"].click()
    assert "fit failed" in ex.status.value and "init='halving'" in ex.status.value
    with pytest.raises(ValueError, match="unknown target"):
        open_explorer("no_such_function")
    with pytest.raises(ValueError, match="n_basis=12"):
        open_explorer(n_basis=12)


def test_any_python_callable_is_a_target():
    def bump(x):
        return torch.exp(-x * x)

    ex = open_explorer(bump, (-2.0, 2.0), 2, 4)
    x = ex.grid()
    np.testing.assert_allclose(ydata(ex.axes["fit"], 0), bump(x).numpy())
    assert "bump" in ex.status.value
    assert ex.fitted.meta["target"].endswith("bump")
    mse = analysis.mse(ex.neuron, bump, x)
    assert math.isfinite(mse) and mse < float(targets.evaluate(bump, x).var())


# -- the cheap redraw behind the views (mbe.livefigure) ---------------------------------------
def _curve(y, ylim=None):
    def draw(axes):
        ax = axes["a"]
        ax.plot(np.arange(len(y)), y, label="curve")
        ax.set(xlabel="index (count)", ylabel="value (units)", title=f"peak {max(y):.3f}")
        if ylim:
            ax.set_ylim(ylim)
        ax.legend()
        axes["b"].plot([0, 1], [0, 1])
        axes["b"].set(xlabel="x (units)", ylabel="y (units)", title="static")
    return draw


def _pixels(png: bytes) -> np.ndarray:
    from io import BytesIO

    from PIL import Image
    return np.asarray(Image.open(BytesIO(png)).convert("RGB"), dtype=int)


def test_blitted_redraw_matches_a_full_draw():
    from mbe.viz.livefigure import Panels

    t = np.linspace(0, 6, 200)
    blit = Panels(("a", "b"), ncols=2, figsize=(6, 3), dpi=60)
    blit.draw(_curve(np.sin(t), (-1.5, 1.5)), structure=1)
    background = blit._background
    moved = blit.draw(_curve(0.8 * np.cos(t), (-1.5, 1.5)), structure=1)
    assert blit._background is background  # only the data were drawn over it
    full = Panels(("a", "b"), ncols=2, figsize=(6, 3), dpi=60)
    fresh = full.draw(_curve(0.8 * np.cos(t), (-1.5, 1.5)), structure=1)
    differ = (_pixels(moved) != _pixels(fresh)).any(-1).mean()
    assert differ < 0.005, differ  # only where lines cross spines or ticks (drawing order)


def test_held_ranges_widen_when_the_data_leave_them():
    from mbe.viz.livefigure import Panels

    t = np.linspace(0, 6, 200)
    p = Panels(("a", "b"), ncols=2, figsize=(6, 3), dpi=60)
    p.draw(_curve(np.sin(t)), structure=1)
    held = p.axes["a"].get_ylim()
    p.draw(_curve(0.9 * np.sin(t)), structure=1)
    assert p.axes["a"].get_ylim() == held  # inside: kept
    widened = p.draw(_curve(3 * np.sin(t)), structure=1)
    lo, hi = p.axes["a"].get_ylim()
    assert hi > 3 * 1.2 and lo < -3 * 1.2  # left: widened with room to spare
    # only that panel's cell was redrawn: the same picture as a whole new background
    p._background = None
    whole = p.draw(_curve(3 * np.sin(t)), structure=1)
    assert (_pixels(widened) != _pixels(whole)).any(-1).mean() < 0.001
    p.draw(_curve(0.1 * np.sin(t)), structure=1)
    assert p.axes["a"].get_ylim()[1] < 0.5  # filling under a third: tightened again


# -- the composite-operator view (mbe.composite) ----------------------------------------------
# T = 8, N = 2 as in tests/test_ops.py, so that the session fits each primitive once.
OP_T, OP_N = 8, 2


@pytest.fixture(scope="module")
def softmax_case():
    from mbe.studies import composite
    from mbe.ops import Softmax

    op = Softmax(timesteps=OP_T, arithmetic_basis=OP_N)
    x = composite.softmax_inputs(rows=8, length=32, scale=2.0)
    return op, x


def test_step_errors_isolate_each_primitive_and_end_at_the_operator(softmax_case):
    from mbe.studies import composite

    op, x = softmax_case
    fitted = {k: op.fitted(k) for k in op.primitive_names}
    errors = composite.step_errors(op, lambda: op(x))
    assert list(errors) == op.primitive_names + [composite.ALL]
    assert all(len(v) == OP_T for v in errors.values())
    for values in errors.values():
        assert values[-1] < values[0]  # more steps, less error
    # after all T steps, reading every primitive out is the operator itself (its fast path)
    y_all, exact = composite.output_after(op, lambda: op(x), OP_T)
    assert op.mode == "mbe" and all(op.fitted(k) is f for k, f in fitted.items())
    torch.testing.assert_close(y_all, op(x), atol=1e-6, rtol=0)
    torch.testing.assert_close(exact, torch.softmax(x, -1), atol=1e-6, rtol=0)
    rel = float((op(x) - exact).norm() / exact.norm())
    assert errors[composite.ALL][-1] == pytest.approx(rel, rel=1e-3)


def test_step_errors_need_a_calibrated_layernorm():
    from mbe.studies import composite
    from mbe.ops import LayerNorm

    ln = LayerNorm(8, torch.ones(8), torch.zeros(8), 1e-5, timesteps=OP_T,
                   arithmetic_basis=OP_N)
    with pytest.raises(ValueError, match="input_range"):
        composite.step_errors(ln, lambda: ln(torch.randn(2, 8)))
    with pytest.raises(TypeError, match="composite operator"):
        composite.step_errors(torch.nn.ReLU(), lambda: None)


def test_operator_view_answers_its_controls(softmax_case):
    from mbe.studies import composite

    view = explorer.explore_operator("softmax", timesteps=OP_T, n_basis=OP_N, rows=8,
                                     length=32)
    row = view.axes["row"]
    at_t = ydata(row, 1)
    view.controls["t"].value = 2
    assert not np.array_equal(ydata(row, 1), at_t)
    y, _ = composite.output_after(view.op, view.run, 2)
    np.testing.assert_allclose(ydata(row, 1), y[0].double().numpy())
    assert list(view.axes["steps"].lines[-1].get_xdata()) == [2, 2]  # the marker at t
    view.controls["operator"].value = "layernorm"
    labels = [t.get_text() for t in view.axes["steps"].get_legend().get_texts()]
    assert labels[0].startswith("identity_input") and "rsqrt alone (others exact)" in labels
    for ax in view.axes.values():
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()


def test_saving_the_views_leaves_the_live_figure_intact(ex, tmp_path):
    from mbe import viz as plots

    ex.controls["tau_d"].value = 1.5
    shown = _pixels(ex.image.value)
    path = plots.show(ex.panels.figure, tmp_path, "views")  # a full draw at another dpi
    assert path.exists()
    ex.controls["tau_d"].value = 1.4
    ex.controls["tau_d"].value = 1.5
    assert (_pixels(ex.image.value) != shown).any(-1).mean() == 0
