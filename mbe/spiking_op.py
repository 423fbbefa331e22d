"""The base every spiking operator shares: evaluation mode, time steps, and reporting.

`mode` is a plain attribute ("exact", "mbe" or "spike", see `mbe.primitives`), checked at every
call so it can be switched on a whole converted model. `record = True` makes the fast path
count spikes too (the "spike" mode always counts them, on the spike tensors). `report()` returns
per-primitive statistics accumulated since the last `reset_stats()`:

    {"calls": int, "mode": str, "primitives": {name: {"n_basis", "timesteps", "domain", "seen",
     "outside", "fraction_outside", "min_seen", "max_seen", "spikes", "firing_rate",
     "comparisons", "non_finite"}}}

"comparisons" counts threshold comparisons: every basis compares its membrane with its
threshold once per step, N x T per input (Eq. 6). The fitted neurons are shared and kept out of
`state_dict()`: a converted model's state holds only the original network's tensors.
"""
from __future__ import annotations

from torch import nn

from .primitives import Fitted, Primitive, check_mode


class SpikingOp(nn.Module):
    """Base class of the spiking operators in `mbe.ops`."""

    def __init__(self, timesteps: int, mode: str):
        super().__init__()
        if int(timesteps) < 1:
            raise ValueError(f"timesteps must be >= 1, got {timesteps}")
        self.timesteps = int(timesteps)
        self.mode = check_mode(mode)
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
