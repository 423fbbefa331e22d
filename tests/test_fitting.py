"""mbe.fit: variants, options, determinism, the cache and its integrity check, errors."""
import warnings

import pytest
import torch

import mbe
from mbe.core import analysis, fitting, registry
from mbe.core.fitting import config_for

QUICK = {"epochs": 30, "samples": 2_000}


def test_paper_variant_is_paper_literal():
    neuron = mbe.fit("exp2", (0, 1), 3, 16, variant="paper", progress=False, **QUICK)
    assert neuron.meta["n_parameters"] == 5 * 3  # tau_d, tau_r, tau_Vth, dt, w per basis
    alpha = neuron.alpha
    assert torch.all(alpha == alpha.flatten()[0])  # one shared alpha ...
    assert alpha.flatten()[0] == pytest.approx(2.0)  # ... = max of 2^x on [0, 1]
    ro = neuron.readout()
    assert torch.all(ro.scale == 1) and torch.all(ro.shift == 0) and ro.bias == 0  # u[0] = x


def test_best_variant_beats_paper_variant_and_a_straight_line():
    x = analysis.scoring_points("uniform", (0.5, 1.0), 20_001)
    best = mbe.fit("reciprocal", (0.5, 1), 2, 16, progress=False, **QUICK)
    paper = mbe.fit("reciprocal", (0.5, 1), 2, 16, variant="paper", progress=False, **QUICK)
    y = 1 / x
    a = torch.stack([x, torch.ones_like(x)], 1)
    line = ((a @ torch.linalg.lstsq(a, y[:, None]).solution)[:, 0] - y).pow(2).mean()
    assert analysis.mse(best, "reciprocal", x) < 0.5 * float(line)
    assert analysis.mse(best, "reciprocal", x) < 0.01 * analysis.mse(paper, "reciprocal", x)


def test_options_override_single_fields_and_are_validated():
    cfg = config_for("paper", bias=True)
    assert cfg.bias and cfg.alpha == "shared"
    with pytest.raises(TypeError, match="unknown fit option"):
        config_for("best", colour="red")
    with pytest.raises(ValueError, match="unknown variant"):
        config_for("fancy")
    with pytest.raises(ValueError, match="input_map"):
        config_for("best", input_map="sideways")


def test_no_decay_ablation_has_constant_kernels():
    neuron = mbe.fit("exp2", (0, 1), 2, 16, decay=False, progress=False, **QUICK)
    k = neuron.kernels()
    assert torch.equal(k.vth, k.vth[:1].expand_as(k.vth)) and not neuron.decay


def test_fit_is_deterministic_for_a_seed():
    a = mbe.fit("silu", (-2, 5), 2, 8, seed=3, cache=False, progress=False, **QUICK)
    b = mbe.fit("silu", (-2, 5), 2, 8, seed=3, cache=False, progress=False, **QUICK)
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key


def test_callable_target_and_named_target_errors():
    neuron = mbe.fit(lambda x: x**2, (-1, 1), 2, 8, progress=False, **QUICK)
    assert neuron.meta["target"].startswith("callable:")
    with pytest.raises(ValueError, match="unknown target"):
        mbe.fit("gleu", (0, 1))
    with pytest.raises(ValueError, match="domain"):
        mbe.fit("gelu", (1, 0))
    with pytest.raises(ValueError, match="not finite"):
        mbe.fit("reciprocal", (-1, 1), 1, 4, progress=False, **QUICK)


def _no_fitting(monkeypatch):
    """From here on, a fit that is not served by the cache fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("fitted again: the cache did not serve this neuron")
    monkeypatch.setattr(fitting, "_fit_mbe", refuse)


def test_cache_hit_returns_the_same_neuron_without_fitting(monkeypatch):
    a = mbe.fit("tanh", (-3, 3), 2, 8, progress=False, seed=10, **QUICK)
    written = sorted(p.name for p in registry.cache_dir().glob("*.pt"))
    _no_fitting(monkeypatch)
    b = mbe.fit("tanh", (-3, 3), 2, 8, progress=False, seed=10, **QUICK)
    assert a is not b and b.meta["fit_seconds"] == a.meta["fit_seconds"]  # the stored fit
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key])
    assert sorted(p.name for p in registry.cache_dir().glob("*.pt")) == written  # nothing new
    with pytest.raises(AssertionError, match="did not serve"):  # another key is not served
        mbe.fit("tanh", (-3, 3), 2, 8, progress=False, seed=99, **QUICK)


def test_corrupted_cache_entry_is_detected_refitted_and_rewritten(monkeypatch):
    opts = dict(progress=False, seed=11, **QUICK)
    before = set(registry.cache_dir().glob("*.pt"))
    first = mbe.fit("tanh", (-2, 2), 2, 8, **opts)
    (blob,) = set(registry.cache_dir().glob("*.pt")) - before
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="corrupted"):
        again = mbe.fit("tanh", (-2, 2), 2, 8, **opts)
    assert torch.equal(again.tau, first.tau)
    assert blob.read_bytes() != bytes(data)  # the entry was rewritten ...
    _no_fitting(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ... and now verifies: served without a warning
        served = mbe.fit("tanh", (-2, 2), 2, 8, **opts)
    assert torch.equal(served.tau, first.tau)


def test_stale_cache_entry_is_not_loaded(monkeypatch):
    opts = dict(progress=False, seed=12, **QUICK)
    neuron = mbe.fit("tanh", (-2, 2), 2, 8, **opts)
    key = {"format": -1, "anything": 1}
    registry.save(key, neuron)
    blob, meta = registry.paths(key)
    meta.write_text(meta.read_text().replace('"format": -1', '"format": -2'))
    with pytest.warns(UserWarning, match="stale"):
        assert registry.load(key) is None


def test_fit_does_not_depend_on_the_callers_thread_count():
    """torch's float64 reductions round differently on 1 and 2 threads; a fit must not."""
    before = torch.get_num_threads()
    fits = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            fits.append(mbe.fit("reciprocal", (0.5, 1.0), 4, 16, cache=False, progress=False,
                                samples=40_000, epochs=20))
            assert torch.get_num_threads() == threads, "fit must restore the caller's threads"
    finally:
        torch.set_num_threads(before)
    one, two = fits
    assert one.meta["train_mse"] == two.meta["train_mse"]
    for a, b in zip(one.state_dict().values(), two.state_dict().values()):
        assert torch.equal(a, b)
