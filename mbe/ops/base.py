"""The base every spiking operator shares: configuration, mode, reporting, and a public way to
inspect and ablate its primitives.

`mode` is a plain attribute ("exact", "mbe" or "spike", see `mbe.ops.config`), checked at every
call so it can be switched on a whole converted model. `record = True` makes the fast path
count spikes too (the "spike" mode always counts them, on the spike tensors). `report()` returns
per-primitive statistics accumulated since the last `reset_stats()`:

    {"calls": int, "mode": str, "primitives": {name: {"n_basis", "timesteps", "domain", "seen",
     "outside", "fraction_outside", "min_seen", "max_seen", "spikes", "firing_rate",
     "comparisons", "non_finite"}}}

"comparisons" counts threshold comparisons: every basis compares its membrane with its
threshold once per step, N x T per input (Eq. 6). The fitted neurons are shared and kept out of
`state_dict()`: a converted model's state holds only the original network's tensors.

Inspection and ablation, by primitive name (`op.primitive_names`):

    op.describe()                 what each primitive is (target, neuron kind, variant, N, T,
                                  domain), read from the primitive, and whether it is exact
    op.fitted(name)               the shared primitive (its neuron, table and values)
    op.neuron(name)               its fitted neuron (fitted on first use)
    op.set_exact(name, True)      evaluate that primitive by its exact function in every mode
    with op.truncated(names, t):  run in "exact" mode with `names` read out after t of their
                                  T steps (their partial reconstruction, Eqs. 7-8 stopped at t)
    op.encoder_errors(rms)        each identity encoder's relative RMS rounding error on inputs
                                  of the given RMS (what an error budget measures)
"""
from __future__ import annotations

from contextlib import contextmanager

from torch import Tensor, nn

from ..core import analysis
from ..core.neuron import SpikingNeuron
from .config import ConversionConfig, check_mode
from .primitives import F64, Fitted, Primitive


class SpikingOp(nn.Module):
    """Base class of the spiking operators in `mbe.ops`, built from one `ConversionConfig`."""

    def __init__(self, config: ConversionConfig):
        super().__init__()
        self.config = config
        self.timesteps = config.timesteps
        self.mode = config.mode
        self.record = False
        self.calls = 0
        self.primitives: dict[str, Primitive] = {}

    def add_primitive(self, name: str, fitted: Fitted) -> Primitive:
        self.primitives[name] = Primitive(fitted)
        return self.primitives[name]

    def start_call(self) -> str:
        """Validate the mode and count the call; returns the mode."""
        mode = check_mode(self.mode)
        self.calls += 1
        return mode

    def report(self) -> dict:
        """JSON-able statistics since the last reset (see the module docstring)."""
        return {"calls": self.calls, "mode": self.mode,
                "primitives": {k: p.report() for k, p in self.primitives.items()}}

    def reset_stats(self) -> None:
        self.calls = 0
        for p in self.primitives.values():
            p.reset()

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, timesteps={self.timesteps}"

    # -- inspection and ablation ----------------------------------------------------------
    @property
    def primitive_names(self) -> list[str]:
        return list(self.primitives)

    def _primitive(self, name: str) -> Primitive:
        if name not in self.primitives:
            raise KeyError(f"{type(self).__name__} has no primitive {name!r}: its primitives "
                           f"are {self.primitive_names}")
        return self.primitives[name]

    def describe(self) -> dict[str, dict]:
        """{name: what the primitive is (`Fitted.describe`) and whether it is forced exact}."""
        return {name: {**p.fitted.describe(), "exact": p.exact}
                for name, p in self.primitives.items()}

    def fitted(self, name: str) -> Fitted:
        """The shared fitted primitive behind a name: its neuron, staircase table and values."""
        return self._primitive(name).fitted

    def neuron(self, name: str) -> SpikingNeuron:
        """The neuron behind a primitive (fitted, or built, on first use)."""
        return self._primitive(name).fitted.neuron

    def domain(self, name: str) -> tuple[float, float]:
        return self._primitive(name).fitted.domain

    def encoder_errors(self, rms: dict[str, float] | None = None) -> dict[str, float]:
        """{name: relative RMS error} of each identity encoder (`Identity.rounding_error`) on
        inputs of RMS `rms[name]`; one not named there takes its inputs as uniform over the
        range it covers (an encoder of a neuron's output). What an error budget measures
        (`mbe.ops.budget`)."""
        rms = rms or {}
        unknown = sorted(set(rms) - set(self.primitives))
        if unknown:
            raise KeyError(f"{type(self).__name__} has no encoder {unknown}: its primitives "
                           f"are {self.primitive_names}")
        return {name: p.fitted.rounding_error(rms.get(name), self._step_scale(name))
                for name, p in self.primitives.items() if p.fitted.is_identity}

    def _step_scale(self, name: str) -> float:
        """The RMS factor on encoder `name`'s step over its inputs (1: one step for all)."""
        return 1.0

    def set_exact(self, names, exact: bool = True) -> None:
        """Evaluate the named primitive(s) by their exact function whatever the mode (an
        ablation: which primitive's error dominates the operator's), or undo that."""
        for name in [names] if isinstance(names, str) else list(names):
            self._primitive(name).exact = bool(exact)

    @contextmanager
    def truncated(self, names, t: int):
        """Within the block, this operator runs in "exact" mode with the primitives `names`
        read out after t of their T steps; its mode and primitives are restored afterwards."""
        names = [names] if isinstance(names, str) else list(names)
        saved = {name: self._primitive(name).fitted for name in names}
        mode = self.mode
        try:
            self.mode = "exact"
            for name, fitted in saved.items():
                self.primitives[name].fitted = _Truncated(fitted, t)
            yield self
        finally:
            self.mode = mode
            for name, fitted in saved.items():
                self.primitives[name].fitted = fitted


class _Truncated:
    """A shared fitted primitive seen through its neuron's output after t of T steps.

    Only `exact` (the function "exact" mode evaluates) changes; everything else is the
    original's, which is never modified.
    """

    def __init__(self, fitted: Fitted, t: int):
        self._fitted, self._t = fitted, t

    def __getattr__(self, name):
        return getattr(self._fitted, name)

    def exact(self, x: Tensor) -> Tensor:
        flat = x.to(F64).reshape(-1)
        return analysis.partial_outputs(self._fitted.neuron, flat)[self._t].reshape(x.shape)
