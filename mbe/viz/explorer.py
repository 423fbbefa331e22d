"""An interactive explorer of one MBE neuron, for teaching and ablation (ipywidgets).

In a notebook cell:

    import mbe
    mbe.explore("gelu", (-6, 6))        # any name of mbe.TARGETS, or any Python callable

Two kinds of control:

* fit controls (N, T, variant, and the variant's options of `mbe.FitConfig`: alpha shared or
  per basis, input map, output bias, readout, initialisation) take effect when "fit" is
  pressed, which calls `mbe.fit` (cached on disk, so a setting seen before is instant);
* live controls (target, domain, exponential decay on/off, and per-basis multipliers of
  tau_d, tau_r, tau_Vth and dt of Eq. 4) redraw at once. A perturbed neuron is a new
  `MBENeuron` built from the fitted one's tensors (never a mutation of a cached neuron) and is
  evaluated by the float64 simulation on `points` grid points: no refit, no staircase build.
  "decay" is both: it switches the kernels of the current neuron between Eq. 4 and the
  constants alpha (the no-decay ablation) and it is the `decay` option of the next fit.

"reset" returns every control to the fitted neuron. The views are the `mbe.viz` figures
(kernels, spike raster, fit, partial reconstruction, error per basis and step, contributions)
drawn into one figure, plus the error vs (N, T) heatmap from cached fits (button "N x T grid").
The figure is rendered to PNG into an `ipywidgets.Image`, so it shows wherever widgets do.

Fits here use a reduced budget by default (`INTERACTIVE_BUDGET`: 2,000 training samples
instead of 10,000) so that "fit" answers in seconds; pass `fit_options={}` for the full recipe.
The fitted neuron is scored on the explorer's grid, never on its training samples.
"""
from __future__ import annotations

import gc
import math
from contextlib import contextmanager
from dataclasses import dataclass

import ipywidgets as widgets
import torch
from torch import Tensor

from ..core import analysis, targets
from ..core.fitting import OPTION_CHOICES as FIT_OPTIONS
from ..core.fitting import VARIANTS, config_for, fit
from ..core.neuron import F64, MBENeuron
from ..ops import Softmax
from ..studies import composite
from . import neuron as plots
from .display import show
from .livefigure import Panels
from .operators import plot_primitive_steps, plot_row

#: Fit options the explorer exposes, with `mbe.core.fitting.OPTION_CHOICES`' values ("decay"
#: has its own checkbox).
OPTION_CHOICES = {name: FIT_OPTIONS[name] for name in ("alpha", "input_map", "bias", "readout",
                                                       "init")}
#: Training budget of the explorer's fits (overrides of the variant's recipe).
INTERACTIVE_BUDGET = {"samples": 2_000}
#: Default (N, T) grid of the error heatmap: small, since each cell is one fit.
GRID_N = (1, 2, 4)
GRID_T = (2, 4, 8, 16)
GRID_POINTS = 20_001  # uniform scoring points of each grid cell
MAX_N, MAX_T = 8, 16  # slider ranges: the paper's largest N and T
OPERATORS = ("softmax", "layernorm")  # the composite-operator view's operators
KERNEL_ROWS = ("tau_d", "tau_r", "tau_vth")
PANELS = ("d", "r", "vth", "raster", "fit", "partial", "error", "contributions", "grid")


@dataclass(frozen=True)
class FitSettings:
    """Everything the controls decide about a fit."""

    target: object  # a name of mbe.TARGETS or a callable
    domain: tuple[float, float]
    n_basis: int
    timesteps: int
    variant: str
    options: tuple  # sorted (name, value) pairs of FitConfig fields, decay included

    def fit(self, fit_options: dict) -> MBENeuron:
        return fit(self.target, self.domain, self.n_basis, self.timesteps,
                   variant=self.variant, progress=False, **dict(self.options), **fit_options)


@dataclass
class Perturbation:
    """Multipliers of a fitted neuron's tau (3, N) and dt (N,), and the decay switch."""

    tau: Tensor
    dt: Tensor
    decay: bool

    @classmethod
    def none(cls, neuron: MBENeuron) -> "Perturbation":
        return cls(torch.ones_like(neuron.tau), torch.ones_like(neuron.dt), neuron.decay)

    def apply(self, neuron: MBENeuron) -> MBENeuron:
        """A new neuron with tau and dt scaled (Eq. 4); the fitted neuron is left untouched."""
        meta = dict(neuron.meta, perturbation={"tau": self.tau.tolist(), "dt": self.dt.tolist(),
                                               "decay": self.decay})
        return MBENeuron(neuron.tau * self.tau, neuron.dt * self.dt, neuron.alpha,
                         neuron.readout(), timesteps=neuron.timesteps, domain=neuron.domain,
                         decay=self.decay, meta=meta)


def check_domain(lo: float, hi: float) -> tuple[float, float]:
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"domain [{lo}, {hi}] is not an interval: set 'from' below 'to'")
    return float(lo), float(hi)


def check_parameters(target, domain, n_basis, timesteps, points, samples, epochs, grid_n,
                     grid_t, op_timesteps=16, op_n_basis=8) -> None:
    """A notebook's explorer parameters, checked before anything is fitted (clear errors)."""
    if not callable(target) and target not in targets.TARGETS:
        raise ValueError(f"target={target!r}: use one of {sorted(targets.TARGETS)} or a "
                         "Python callable")
    if len(domain) != 2:
        raise ValueError(f"domain={domain!r}: give [lo, hi]")
    try:
        check_domain(*domain)
    except (TypeError, ValueError):
        raise ValueError(f"domain={domain!r}: give two finite numbers [lo, hi] with "
                         "lo < hi") from None
    _check_int("n_basis", n_basis, 1, MAX_N)
    _check_int("timesteps", timesteps, 1, MAX_T)
    _check_int("points", points, 2, 1_000_000)
    _check_int("samples", samples, 10, 1_000_000)
    if epochs is not None:
        _check_int("epochs", epochs, 0, 100_000)
    _check_int("op_timesteps", op_timesteps, 1, MAX_T)
    _check_int("op_n_basis", op_n_basis, 1, MAX_N)
    for name, values, hi in (("grid_n", grid_n, MAX_N), ("grid_t", grid_t, MAX_T)):
        if not values or any(not isinstance(v, int) or not 1 <= v <= hi for v in values):
            raise ValueError(f"{name}={values!r}: give a non-empty list of integers from 1 "
                             f"to {hi}")


def _check_int(name: str, value, lo: int, hi: int) -> int:
    if not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name}={value!r}: the explorer takes an integer from {lo} to {hi}")
    return value


def _target_label(target) -> str:
    return targets.resolve(target)[0].removeprefix("callable:")


class Explorer:
    """Controls, state and views of the explorer; `explore()` builds one.

    `fitted` is the neuron "fit" produced; `neuron` is what the views show (fitted plus the
    live perturbation). `axes` maps a view name to its matplotlib Axes, whose artists hold
    the drawn data; `widget` is the ipywidgets box a notebook displays.
    """

    def __init__(self, target="gelu", domain=(-6.0, 6.0), n_basis: int = 4,
                 timesteps: int = 16, *, variant: str = "best", points: int = 1_000,
                 fit_options: dict | None = None, seed: int = 0, grid_n=GRID_N,
                 grid_t=GRID_T, dpi: int = 72):
        self.points = _check_int("points", points, 2, 1_000_000)
        _check_int("n_basis", n_basis, 1, MAX_N)
        _check_int("timesteps", timesteps, 1, MAX_T)
        #: keyword arguments of every `mbe.fit` here (the training budget and the seed)
        self.fit_options = {**(INTERACTIVE_BUDGET if fit_options is None else fit_options),
                            "seed": seed}
        self.grid_n, self.grid_t = tuple(grid_n), tuple(grid_t)
        self._grids: dict = {}
        self._grid_key = None
        self._fits = 0  # fits so far: a new fit lays the panels out afresh
        self._syncing = False
        self._build_controls(target, check_domain(*domain), n_basis, timesteps, variant)
        self.panels = Panels(PANELS, ncols=3, figsize=(15, 10.5), dpi=dpi)
        self._build_layout()
        self.fitted: MBENeuron | None = None
        self.fit()

    # -- state ------------------------------------------------------------------------------
    def settings(self) -> FitSettings:
        """The fit the controls currently ask for."""
        c = self.controls
        options = {name: c[name].value for name in OPTION_CHOICES} | {"decay": c["decay"].value}
        return FitSettings(c["target"].value, self.domain(), c["n_basis"].value,
                           c["timesteps"].value, c["variant"].value, tuple(sorted(options.items())))

    def domain(self) -> tuple[float, float]:
        return check_domain(self.controls["lo"].value, self.controls["hi"].value)

    def grid(self) -> Tensor:
        """The points every view is evaluated on."""
        return torch.linspace(*self.domain(), self.points, dtype=F64)

    @property
    def neuron(self) -> MBENeuron:
        return self.perturbation.apply(self.fitted)

    # -- actions ----------------------------------------------------------------------------
    def fit(self) -> MBENeuron:
        """Fit (or fetch from the cache) the neuron the fit controls ask for; redraw."""
        self._status("fitting ...")
        try:
            settings = self.settings()
            self.fitted = settings.fit(self.fit_options)
        except (ValueError, TypeError) as err:
            if self.fitted is None:
                raise
            self._status(f"fit failed: {err}", error=True)
            return self.fitted
        self.fitted_settings = settings
        self._fits += 1
        self.perturbation = Perturbation.none(self.fitted)
        self._sync_basis_controls()
        self.redraw()
        return self.fitted

    def reset(self) -> None:
        """Every control back to the fitted neuron (settings, target, domain, no perturbation)."""
        s = self.fitted_settings
        with self._programmatic():
            for name, value in [("target", s.target), ("lo", s.domain[0]), ("hi", s.domain[1]),
                                ("n_basis", s.n_basis), ("timesteps", s.timesteps),
                                ("variant", s.variant), *s.options]:
                self.controls[name].value = value
        self.perturbation = Perturbation.none(self.fitted)
        self._sync_basis_controls()
        self.redraw()

    def fit_grid(self) -> Tensor:
        """Error vs (N, T) for the current fit controls, from cached fits: (len(N), len(T))."""
        s = self.settings()
        key = (s.target, s.domain, s.variant, s.options)
        if key not in self._grids:
            self._status(f"fitting the {len(self.grid_n)} x {len(self.grid_t)} grid ...")
            self._grids[key] = analysis.error_vs_n_and_t(
                s.target, s.domain, self.grid_n, self.grid_t, points=GRID_POINTS,
                variant=s.variant, **dict(s.options), **self.fit_options)
        self._grid_key = key
        self.redraw()
        return self._grids[key]

    def summary(self) -> dict:
        """What the explorer shows, as JSON-able data: the fit, its error on the grid, and the
        (N, T) grid if it was fitted."""
        s, x = self.fitted_settings, self.grid()
        grid = self._shown_grid()
        return {"target": _target_label(s.target), "domain": list(s.domain),
                "n_basis": s.n_basis, "timesteps": s.timesteps, "variant": s.variant,
                "options": dict(s.options), "fit_options": self.fit_options,
                "points": len(x), "train_mse": self.fitted.meta.get("train_mse"),
                "grid_mse": analysis.mse(self.fitted, s.target, x),
                "fit_seconds": self.fitted.meta.get("fit_seconds"),
                "nt_grid": None if grid is None else {
                    "n_values": list(self.grid_n), "t_values": list(self.grid_t),
                    "mse": grid.tolist(), "points": GRID_POINTS}}

    # -- drawing ----------------------------------------------------------------------------
    @property
    def axes(self) -> dict:
        """View name -> the Axes shown (its artists hold the drawn data)."""
        return self.panels.axes

    def redraw(self) -> None:
        """Redraw every view from the current neuron and controls, and render the PNG."""
        try:
            neuron, x, target = self.neuron, self.grid(), self.controls["target"].value
            targets.evaluate(target, x)
        except ValueError as err:
            self._status(str(err), error=True)
            return
        grid = self._shown_grid()
        structure = (self._fits, target, self.domain(), grid is None)
        with _interactive():
            self.image.value = self.panels.draw(lambda a: self._plot(a, neuron, x, target, grid),
                                                structure)
            self._status(self._describe(neuron, x, target))

    def _plot(self, a: dict, neuron, x, target, grid) -> None:
        plots.plot_kernels(neuron, axes=[a["d"], a["r"], a["vth"]])
        plots.plot_raster(neuron, x, ax=a["raster"])
        plots.plot_fit(neuron, target, x, ax=a["fit"])
        plots.plot_partial(neuron, target, x, ax=a["partial"])
        plots.plot_error_heatmap(neuron, target, x, ax=a["error"])
        plots.plot_contributions(neuron, x, ax=a["contributions"])
        if grid is None:
            ax = a["grid"]
            ax.text(0.5, 0.5, f"press 'N x T grid' to fit\nN in {list(self.grid_n)}, "
                    f"T in {list(self.grid_t)}", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set(xlabel="time steps T", ylabel="bases N",
                   title="MSE vs (N, T) from cached fits (not computed yet)")
        else:
            s = self.settings()
            plots.plot_nt_heatmap(grid, self.grid_n, self.grid_t, ax=a["grid"],
                                  title=f"MSE vs (N, T) on a uniform grid: "
                                        f"{_target_label(s.target)}, {s.variant} variant")

    def _shown_grid(self) -> Tensor | None:
        """The last (N, T) grid fitted, if it is for the current target and domain."""
        s = self.settings()
        key = self._grid_key
        return self._grids[key] if key and key[:2] == (s.target, s.domain) else None

    def _describe(self, neuron, x, target) -> str:
        s, p = self.fitted_settings, self.perturbation
        err = analysis.mse(neuron, target, x)
        lines = [f"<b>fitted</b>: {_target_label(s.target)} on [{s.domain[0]:g}, "
                 f"{s.domain[1]:g}], N={s.n_basis}, T={s.timesteps}, {s.variant} variant "
                 f"({', '.join(f'{k}={v}' for k, v in s.options)}), "
                 f"training MSE {self.fitted.meta.get('train_mse', math.nan):.3g}",
                 f"<b>shown</b>: MSE {err:.3g} on {len(x):,} grid points of "
                 f"[{float(x[0]):g}, {float(x[-1]):g}] against {_target_label(target)}"]
        if (p.tau != 1).any() or (p.dt != 1).any() or p.decay != self.fitted.decay:
            lines.append("perturbed: tau and dt multipliers or decay differ from the fit "
                         "('reset' undoes)")
        if self.settings() != s:
            lines.append("<i>fit controls changed: press 'fit' to refit</i>")
        return "<br>".join(lines)

    def _status(self, text: str, error: bool = False) -> None:
        self.status.value = f"<span style='color:#b00'>{text}</span>" if error else text

    # -- widgets ----------------------------------------------------------------------------
    @contextmanager
    def _programmatic(self):
        """Set widget values without their handlers reacting to each change."""
        self._syncing = True
        try:
            yield
        finally:
            self._syncing = False

    def _build_controls(self, target, domain, n_basis, timesteps, variant) -> None:
        names = sorted(targets.TARGETS)
        options = [(n, n) for n in names]
        if callable(target):
            options.insert(0, (_target_label(target), target))
        elif target not in targets.TARGETS:
            targets.resolve(target)  # raises the clear "unknown target" error
        cfg = config_for(variant)
        c = {
            "target": widgets.Dropdown(options=options, value=target, description="target"),
            "lo": widgets.FloatText(value=domain[0], description="from"),
            "hi": widgets.FloatText(value=domain[1], description="to"),
            "n_basis": widgets.IntSlider(value=n_basis, min=1, max=MAX_N, description="N bases"),
            "timesteps": widgets.IntSlider(value=timesteps, min=1, max=MAX_T,
                                           description="T steps"),
            "variant": widgets.Dropdown(options=sorted(VARIANTS), value=variant,
                                        description="variant"),
            "decay": widgets.Checkbox(value=cfg.decay, description="exponential decay"),
            "basis": widgets.Dropdown(options=[("basis 0", 0)], value=0, description="basis"),
        }
        for name, choices in OPTION_CHOICES.items():
            c[name] = widgets.Dropdown(options=choices, value=getattr(cfg, name),
                                       description=name)
        for row, label in zip(KERNEL_ROWS, ("τ_d ×", "τ_r ×", "τ_Vth ×")):
            c[row] = _multiplier(label)
        c["dt"] = _multiplier("Δt ×")
        for name, w in c.items():
            w.add_class(f"mbe-{name.replace('_', '-')}")
        self.controls = c
        self.buttons = {"fit": widgets.Button(description="fit", button_style="primary"),
                        "reset": widgets.Button(description="reset"),
                        "grid": widgets.Button(description="N x T grid")}
        self.buttons["fit"].on_click(lambda _: self.fit())
        self.buttons["reset"].on_click(lambda _: self.reset())
        self.buttons["grid"].on_click(lambda _: self.fit_grid())
        self.status = widgets.HTML().add_class("mbe-status")
        self.values = widgets.HTML().add_class("mbe-basis-values")
        for name in ("target", "lo", "hi", "decay"):
            c[name].observe(self._on_live, names="value")
        for name in (*KERNEL_ROWS, "dt"):
            c[name].observe(self._on_multiplier, names="value")
        c["basis"].observe(self._on_basis, names="value")
        c["variant"].observe(self._on_variant, names="value")
        for name in ("n_basis", "timesteps", *OPTION_CHOICES):
            c[name].observe(self._on_fit_control, names="value")

    def _build_layout(self) -> None:
        self.image = widgets.Image(format="png").add_class("mbe-explorer-figure")
        c, b = self.controls, self.buttons
        box = widgets.VBox
        fit_col = box([c["target"], c["lo"], c["hi"], c["n_basis"], c["timesteps"],
                       c["variant"], c["decay"]])
        opt_col = box([c[name] for name in OPTION_CHOICES] + [widgets.HBox(list(b.values()))])
        live_col = box([c["basis"], *(c[name] for name in (*KERNEL_ROWS, "dt")), self.values])
        self.widget = box([widgets.HBox([fit_col, opt_col, live_col]), self.status, self.image])
        self.widget.add_class("mbe-explorer")

    def _sync_basis_controls(self) -> None:
        """Basis choices for the fitted N; multiplier sliders show the chosen basis's values."""
        with self._programmatic():
            n = self.fitted.n_basis
            basis = self.controls["basis"]
            basis.options = [(f"basis {i}", i) for i in range(n)]
            basis.value = min(basis.value or 0, n - 1)
            i = basis.value
            for row, name in enumerate(KERNEL_ROWS):
                self.controls[name].value = float(self.perturbation.tau[row, i])
            self.controls["dt"].value = float(self.perturbation.dt[i])
            self.controls["decay"].value = self.perturbation.decay
        self._show_values()

    def _show_values(self) -> None:
        i, neuron = self.controls["basis"].value, self.neuron
        tau = ", ".join(f"{k} = {float(v):.3g}" for k, v in zip(("τ_d", "τ_r", "τ_Vth"),
                                                              neuron.tau[:, i]))
        self.values.value = (f"basis {i}: {tau}, Δt = {float(neuron.dt[i]):.3g}, "
                             f"w = {float(neuron.readout().weight[i]):.3g}")

    # -- event handlers -------------------------------------------------------------------------
    def _on_live(self, change) -> None:
        if self._syncing:
            return
        if change["owner"] is self.controls["decay"]:
            self.perturbation.decay = change["new"]
        self.redraw()

    def _on_multiplier(self, change) -> None:
        if self._syncing:
            return
        i = self.controls["basis"].value
        for row, name in enumerate(KERNEL_ROWS):
            self.perturbation.tau[row, i] = self.controls[name].value
        self.perturbation.dt[i] = self.controls["dt"].value
        self._show_values()
        self.redraw()

    def _on_basis(self, change) -> None:
        if not self._syncing:
            self._sync_basis_controls()

    def _on_variant(self, change) -> None:
        if self._syncing:
            return
        cfg = config_for(change["new"])
        with self._programmatic():
            for name in OPTION_CHOICES:
                self.controls[name].value = getattr(cfg, name)
        self._on_fit_control(change)

    def _on_fit_control(self, change) -> None:
        if not self._syncing:
            self.status.value = self._describe(self.neuron, self.grid(),
                                               self.controls["target"].value)

    # -- display ------------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


@contextmanager
def _interactive():
    """One torch thread (the views' tensors are too small to share out), and the garbage
    collector paused until the new figure has been sent: a full collection of a kernel's
    heap takes a fifth of a second and would otherwise land inside every few redraws."""
    threads, collecting = torch.get_num_threads(), gc.isenabled()
    torch.set_num_threads(1)
    gc.disable()
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        if collecting:
            gc.enable()


def _multiplier(label: str) -> widgets.FloatLogSlider:
    return widgets.FloatLogSlider(value=1.0, base=2, min=-3, max=3, step=0.05,
                                  description=label, continuous_update=False,
                                  readout_format=".3g")


def explore(target="gelu", domain=(-6.0, 6.0), n_basis: int = 4, timesteps: int = 16,
            **kwargs) -> Explorer:
    """Open the explorer on `target` over `domain` (fits the neuron, cached). See `Explorer`."""
    return Explorer(target, domain, n_basis, timesteps, **kwargs)


# -- the composite-operator view ------------------------------------------------------------------
class OperatorExplorer:
    """Softmax or LayerNorm (Eq. 13, Sec. "LayerNorm"): the error each primitive contributes
    as time steps are added (`mbe.studies.composite`), and one output row after t steps.

    Changing the operator, the input scale or the row length recomputes the curves (one
    evaluation of the operator per primitive and step; the operator's neurons are fitted once,
    cached); the t slider only redraws. `axes` and `widget` as in `Explorer`.
    """

    def __init__(self, operator: str = "softmax", *, timesteps: int = 16, n_basis: int = 8,
                 rows: int = 32, length: int = 64, scale: float = 2.0, seed: int = 0,
                 dpi: int = 72):
        if operator not in OPERATORS:
            raise ValueError(f"operator={operator!r}: use one of {OPERATORS}")
        self.timesteps = _check_int("timesteps", timesteps, 1, MAX_T)
        self.n_basis, self.rows, self.seed = n_basis, _check_int("rows", rows, 1, 4096), seed
        c = {"operator": widgets.Dropdown(options=OPERATORS, value=operator,
                                          description="operator"),
             "scale": widgets.FloatLogSlider(value=scale, base=2, min=-3, max=4, step=0.25,
                                             description="input scale", readout_format=".3g",
                                             continuous_update=False),
             "length": widgets.IntSlider(value=_check_int("length", length, 2, 4096), min=4,
                                         max=512, description="row length",
                                         continuous_update=False),
             "t": widgets.IntSlider(value=self.timesteps, min=1, max=self.timesteps,
                                    description="steps t", continuous_update=False)}
        for name, w in c.items():
            w.add_class(f"mbe-op-{name}")
            w.observe(self._on_t if name == "t" else self._on_input, names="value")
        self.controls = c
        self.status = widgets.HTML().add_class("mbe-op-status")
        self.image = widgets.Image(format="png").add_class("mbe-operator-figure")
        self.panels = Panels(("steps", "row"), ncols=2, figsize=(12, 4.2), dpi=dpi)
        self.widget = widgets.VBox([widgets.HBox(list(c.values())), self.status, self.image])
        self.widget.add_class("mbe-operator-explorer")
        self._ops: dict = {}
        self.compute()

    @property
    def axes(self) -> dict:
        return self.panels.axes

    def case(self) -> tuple:
        """(operator name, its spiking op, a function running it on the current inputs)."""
        c = self.controls
        name, length, scale = c["operator"].value, c["length"].value, c["scale"].value
        if name == "softmax":
            if "softmax" not in self._ops:
                self._ops["softmax"] = Softmax(timesteps=self.timesteps,
                                                arithmetic_basis=self.n_basis)
            op = self._ops["softmax"]
            x = composite.softmax_inputs(self.rows, length, scale, self.seed)
        else:
            x, op = composite.layernorm_case(self.rows, length, scale, self.seed,
                                             self.timesteps, self.n_basis)
        return name, op, lambda: op(x)

    def compute(self) -> dict:
        """Recompute the error curves for the current operator and inputs; redraw."""
        self.status.value = "computing ..."
        self.name, self.op, self.run = self.case()
        self.steps = list(range(1, self.timesteps + 1))
        self.errors = composite.step_errors(self.op, self.run, self.steps)
        self.redraw()
        return self.errors

    def redraw(self) -> None:
        t = self.controls["t"].value
        y, ref = composite.output_after(self.op, self.run, t)
        title = (f"{self.name}: error by primitive vs steps (T={self.timesteps}, "
                 f"N={self.n_basis}, input scale {self.controls['scale'].value:.3g})")

        def draw(a):
            plot_primitive_steps(self.errors, self.steps, ax=a["steps"], title=title)
            a["steps"].axvline(t, color="0.5", ls=":", lw=1)
            plot_row(y[0], ref[0], t, ax=a["row"],
                               title=f"{self.name}: row 0 after t={t} of {self.timesteps} steps")

        structure = (self.name, self.controls["length"].value, self.controls["scale"].value)
        alone = {k: v[t - 1] for k, v in self.errors.items() if k != composite.ALL}
        with _interactive():
            self.image.value = self.panels.draw(draw, structure)
            self.status.value = (f"after t={t} steps: relative error "
                                 f"{self.errors[composite.ALL][t - 1]:.3g} with every primitive "
                                 f"read out at t; the largest alone: {max(alone, key=alone.get)}")

    def summary(self) -> dict:
        """The current curves as a JSON-able record."""
        c = self.controls
        return {"operator": self.name, "timesteps": self.timesteps, "n_basis": self.n_basis,
                "rows": self.rows, "length": c["length"].value, "input_scale": c["scale"].value,
                "seed": self.seed, "steps": self.steps, "rel_error": self.errors}

    def _on_input(self, change) -> None:
        self.compute()

    def _on_t(self, change) -> None:
        self.redraw()

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def composite_summary(view: OperatorExplorer, figures_dir) -> list[dict]:
    """Every operator's curves as records; each view saved as explorer_composite_<op>.png
    and shown."""
    out = []
    for name in OPERATORS:
        view.controls["operator"].value = name  # recomputes when it changes
        show(view.panels.figure, figures_dir, f"explorer_composite_{name}")
        out.append(view.summary())
    return out


def explore_operator(operator: str = "softmax", **kwargs) -> OperatorExplorer:
    """Open the composite-operator view (softmax or layernorm). See `OperatorExplorer`."""
    return OperatorExplorer(operator, **kwargs)
