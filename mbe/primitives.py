"""The 1-D primitives operators are built from, evaluated in three modes, with their statistics.

Every spiking operator (`mbe.ops`) splits into fitted MBE neurons (GELU, 2^x on [0, 1], 1/x on
[0.5, 1], 1/sqrt(x) on [0.5, 2], ...) and identity encoders MBE_Id (Wang et al. 2025, Sec. 3).
A primitive is evaluated in one of three modes:

    "exact"  the exact float function (the parity mode: the operator must equal its float op)
    "mbe"    the neuron's exact fast path: its staircase, looked up by `mbe.kernels.Table`
    "spike"  the T-step simulation of Eqs. 5-7 (`mbe.simulator`), counting every spike

"mbe" and "spike" give the same numbers bit for bit (the staircase equals the float64
simulation; float32 inputs are compared exactly, never rounded).

Identity encoders use dyadic ranges (`Identity`): the calibrated range [lo, hi] is widened to
the nearest one whose quantisation step beta is a power of two and whose decoded values are
beta * (q + m) for an integer spike code q and an integer offset m. Products and sums of such
values are exact in float64, which makes the spike multiplication (Eqs. 9-12) exact and
therefore identical in every evaluation order (docs/decisions.md, "Operators").
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from . import targets
from .dynamics import place_values
from .fitting import fit
from .identity import identity_encoder
from .kernels import F32, F64, Quantiser, Summary, Table, summarize
from .neuron import SpikingNeuron
from .simulator import Simulation, simulate

MODES = ("exact", "mbe", "spike")


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}: 'exact' for float "
                         "parity, 'mbe' for the fast path, 'spike' for the simulation")
    return mode


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; every other floating dtype is computed in float32."""
    if not dtype.is_floating_point:
        raise TypeError(f"spiking operators take floating tensors, got {dtype}")
    return F64 if dtype == F64 else F32


# -- statistics -------------------------------------------------------------------------------
@dataclass
class PrimitiveStats:
    """What one primitive saw, accumulated over calls since the last reset.

    Ranges are measured whenever the inputs pass through a lookup or simulation; spikes when
    the operator records (`op.record = True`) or runs in "spike" mode. A quantity that was not
    measured for every input seen is reported as None.
    """

    n_basis: int
    timesteps: int
    seen: int = 0
    ranged: int = 0          # inputs whose range was measured
    outside: int = 0
    non_finite: int = 0
    min_seen: float = math.inf
    max_seen: float = -math.inf
    spikes: int = 0
    counted: int = 0         # inputs whose spikes were counted

    def add(self, n: int, summary: Summary | None = None, spikes: int | None = None) -> None:
        self.seen += n
        if summary is not None:
            self.ranged += n
            self.outside += summary.outside
            self.non_finite += summary.non_finite
            self.min_seen = min(self.min_seen, summary.min)
            self.max_seen = max(self.max_seen, summary.max)
        if spikes is not None:
            self.counted += n
            self.spikes += int(spikes)

    def to_dict(self, domain: tuple[float, float] | None) -> dict:
        """The report entry; domain is the primitive's (None if not yet known)."""
        ranged = self.seen > 0 and self.ranged == self.seen
        counted = self.seen > 0 and self.counted == self.seen
        slots = self.seen * self.n_basis * self.timesteps
        finite = ranged and math.isfinite(self.min_seen)
        return {"n_basis": self.n_basis, "timesteps": self.timesteps,
                "domain": None if domain is None else list(domain), "seen": self.seen,
                "outside": self.outside if ranged else None,
                "fraction_outside": self.outside / self.seen if ranged else None,
                "non_finite": self.non_finite if ranged else None,
                "min_seen": self.min_seen if finite else None,
                "max_seen": self.max_seen if finite else None,
                "spikes": self.spikes if counted else None,
                "firing_rate": self.spikes / slots if counted else None,
                "comparisons": slots}


# -- shared fitted neurons ----------------------------------------------------------------------
class Fitted:
    """A neuron with its exact lookup table, shared by every operator using it.

    Nothing is fitted or built until first needed: "exact" mode never fits. `values` are what
    the primitive outputs on each staircase piece (the neuron's levels here).
    """

    is_identity = False

    def __init__(self, load, exact, n_basis: int, timesteps: int,
                 domain: tuple[float, float] | None):
        self._load, self.exact = load, exact
        self.n_basis, self.timesteps, self._domain = n_basis, timesteps, domain

    @property
    def domain(self) -> tuple[float, float]:
        return self._domain

    @property
    def resolved(self) -> bool:
        """Whether the domain is known without building anything."""
        return True

    @functools.cached_property
    def neuron(self) -> SpikingNeuron:
        return self._load()

    @functools.cached_property
    def values(self) -> Tensor:
        return self.neuron.staircase.levels

    @functools.cached_property
    def table(self) -> Table:
        return Table(self.neuron.staircase.breaks, self.values)

    @functools.cached_property
    def counts(self) -> Tensor:
        """Spikes fired on each piece, with a leading 0 for index -1 (NaN, not evaluated)."""
        return torch.cat([torch.zeros(1, dtype=torch.int64), self.neuron.staircase.spike_counts])

    def spike_total(self, idx: Tensor) -> int:
        return int(self.counts[idx.long() + 1].sum())

    def simulate(self, x: Tensor) -> Simulation:
        """The T-step simulation of x (float64 values: the neuron's decoded output)."""
        return simulate(self.neuron, x, self.domain)


def fitted(target: str, domain: tuple[float, float], n_basis: int, timesteps: int,
           variant: str = "best", neuron: str = "mbe") -> Fitted:
    """The fitted primitive for target (fitted on first use; cached on disk by `mbe.fit`), one
    shared object per configuration.

    neuron="fs" gives the Few-Spikes baseline (binary initialisation, one basis), for the
    Fig. 6(a) comparison.
    """
    if neuron not in ("mbe", "fs"):
        raise ValueError(f"neuron must be 'mbe' or 'fs', got {neuron!r}")
    return _fitted(target, (float(domain[0]), float(domain[1])), int(n_basis), int(timesteps),
                   variant, neuron)


@functools.lru_cache(maxsize=None)
def _fitted(target, domain, n_basis, timesteps, variant, neuron) -> Fitted:
    if neuron == "fs":
        load = functools.partial(fit, target, domain, timesteps=timesteps, neuron="fs",
                                 init="binary", progress=False)
        n_basis = 1
    else:
        load = functools.partial(fit, target, domain, n_basis, timesteps, variant=variant,
                                 progress=False)
    return Fitted(load, targets.TARGETS[target], n_basis, timesteps, domain)


class Identity(Fitted):
    """MBE_Id over the dyadic range covering [lo, hi] (Eqs. 9-10).

    With beta = (hi' - lo') / (N (2^T - 1)) a power of two and lo' = beta (m - 1/2), the
    encoder's decoded value is exactly beta * (q + m), where the spike code
    q = sum_n sum_t s_n[t] 2^(T-1-t) is an integer (basis n's spikes are the binary digits of
    its membrane). The simulation counts it from the spikes, the lookup table holds it per piece.
    `bounds` is (lo, hi), or a function giving them (e.g. the output range of a neuron that is
    only fitted when first used).
    """

    is_identity = True

    def __init__(self, bounds, n_basis: int = 8, timesteps: int = 16):
        if n_basis & (n_basis - 1):
            raise ValueError(f"identity encoders need a power-of-two number of bases, got "
                             f"{n_basis}")
        self._bounds = bounds
        self.span = n_basis * (2**timesteps - 1)  # the largest code q
        super().__init__(self._encoder, lambda x: x, n_basis, timesteps, None)

    @functools.cached_property
    def _range(self) -> tuple[float, int]:
        bounds = self._bounds() if callable(self._bounds) else self._bounds
        return dyadic_range(*bounds, self.n_basis, self.timesteps)

    @property
    def beta(self) -> float:
        return self._range[0]

    @property
    def m(self) -> int:
        return self._range[1]

    @property
    def domain(self) -> tuple[float, float]:
        lo = self.beta * (self.m - 0.5)
        return lo, lo + self.beta * self.span

    @property
    def resolved(self) -> bool:
        return not callable(self._bounds) or "_range" in self.__dict__

    def _encoder(self) -> SpikingNeuron:
        return identity_encoder(*self.domain, self.n_basis, self.timesteps)

    @property
    def max_abs_units(self) -> int:
        """The largest |q + m|: decoded values are at most this many steps beta from 0."""
        return max(abs(self.m), abs(self.m + self.span))

    @functools.cached_property
    def values(self) -> Tensor:
        levels = self.neuron.staircase.levels
        code = torch.round(levels / self.beta - self.m)
        return self.beta * (code + self.m)

    @functools.cached_property
    def table(self) -> Quantiser:
        """The staircase lookup, evaluated in closed form where that is proven equal."""
        return Quantiser(Table(self.neuron.staircase.breaks, self.values), self.domain[0],
                         self.beta, self.m, self.span)


    def simulate(self, x: Tensor) -> Simulation:
        """The T-step simulation of x: the spike codes q and the spikes per element (what
        spike multiplication uses; the values beta (q + m) follow from q, `Encoded`)."""
        return simulate(self.neuron, x, self.domain, values=False, counts=True, code=True)

    def intensities(self) -> Tensor:
        """d over the N*T (basis, step) slots: 2^(T-1-t) for every basis (the rows of D)."""
        return place_values(self.timesteps).repeat(self.n_basis)


def dyadic_range(lo: float, hi: float, n_basis: int, timesteps: int) -> tuple[float, int]:
    """(beta, m): the smallest power-of-two step whose range beta*(m - 1/2 + [0, span]) covers
    [lo, hi]."""
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"an identity range needs finite lo < hi, got [{lo}, {hi}]: "
                         "calibrate it on data that varies")
    span = n_basis * (2**timesteps - 1)
    beta = 2.0 ** math.ceil(math.log2((hi - lo) / span))
    while True:
        m = math.floor(lo / beta + 0.5)
        if beta * (m - 0.5 + span) >= hi:
            return beta, m
        beta *= 2


def identity(lo: float, hi: float, n_basis: int = 8, timesteps: int = 16) -> Identity:
    """The shared dyadic identity encoder covering [lo, hi]."""
    beta, m = dyadic_range(lo, hi, n_basis, timesteps)
    return _identity(beta, m, int(n_basis), int(timesteps))


@functools.lru_cache(maxsize=None)
def _identity(beta: float, m: int, n_basis: int, timesteps: int) -> Identity:
    return Identity((beta * (m - 0.5), beta * (m - 0.5 + n_basis * (2**timesteps - 1))),
                    n_basis, timesteps)


@functools.lru_cache(maxsize=None)
def identity_of_output(source: Fitted, n_basis: int = 8, timesteps: int = 16) -> Identity:
    """The shared identity encoder of source's outputs (its range known once source is fitted)."""
    return Identity(functools.partial(output_range, source), n_basis, timesteps)


def output_range(f: Fitted) -> tuple[float, float]:
    """The smallest and largest value the primitive outputs on its domain (from its pieces)."""
    st = f.neuron.staircase
    ends = torch.tensor(f.domain, dtype=F64)
    first, last = torch.searchsorted(st.breaks, ends, right=True).tolist()
    vals = f.values[first:last + 1]
    return float(vals.min()), float(vals.max())


# -- a primitive inside one operator ------------------------------------------------------------
class Encoded:
    """An identity-encoded tensor: exact float64 values, and its spikes where measured.

    counts: spikes per element (when recording, or in "spike" mode). code: the integer spike
    code q per element ("spike" mode); there the values beta (q + m) are decoded from it when
    first read (`ident` gives beta and m), since the spike products need only the codes.
    """

    def __init__(self, values: Tensor | None, counts: Tensor | None = None,
                 code: Tensor | None = None, ident: "Identity | None" = None):
        if values is None and (code is None or ident is None):
            raise ValueError("an Encoded needs its values, or its code and encoder")
        self._values, self.counts, self.code, self._ident = values, counts, code, ident

    @property
    def values(self) -> Tensor:
        if self._values is None:
            self._values = self._ident.beta * (self.code + self._ident.m)
        return self._values


@dataclass
class Primitive:
    """One use of a shared primitive inside an operator, with its own statistics.

    `exact = True` evaluates this primitive by its exact function whatever the operator's mode
    (an ablation: which primitive's error dominates an operator's).
    """

    fitted: Fitted
    stats: PrimitiveStats = field(init=False)
    exact: bool = field(default=False, init=False)

    def __post_init__(self):
        self.reset()

    def reset(self) -> None:
        self.stats = PrimitiveStats(self.fitted.n_basis, self.fitted.timesteps)

    def report(self) -> dict:
        f = self.fitted
        return self.stats.to_dict(f.domain if f.resolved else None)

    def __call__(self, x: Tensor, mode: str, record: bool = False) -> Tensor:
        """Output on x: x's compute dtype, or float64 for identity encoders (exact values)."""
        wide = self.fitted.is_identity
        mode = "exact" if self.exact else mode
        if mode == "exact":  # never fits anything: ranges only where already known
            f = self.fitted
            self.stats.add(x.numel(), summarize(x, f.domain) if f.resolved else None)
            y = f.exact(x.to(F64))
            return y if wide else y.to(x.dtype)
        if mode == "mbe":
            y, idx, summary = self.fitted.table(x, self.fitted.domain, index=record, wide=wide)
            self.stats.add(x.numel(), summary, self.fitted.spike_total(idx) if record else None)
            return y
        y = self.simulate(x).values
        return y if wide else y.to(x.dtype)

    def encode(self, x: Tensor, mode: str, record: bool = False) -> Encoded:
        """Identity-encode x (this primitive's fitted is an `Identity`)."""
        ident = self.fitted
        if mode == "exact" or self.exact:
            return Encoded(self(x, mode))
        if mode == "mbe":
            y, idx, summary = ident.table(x, ident.domain, index=record, wide=True)
            counts = ident.counts[idx.long() + 1] if record else None
            self.stats.add(x.numel(), summary, int(counts.sum()) if record else None)
            return Encoded(y, counts)
        sim = self.simulate(x)
        return Encoded(None, sim.counts, sim.code, ident)

    def simulate(self, x: Tensor) -> Simulation:
        """("spike" mode) the T-step simulation of x (float64 values, NaN where x is NaN),
        its range and spikes counted."""
        sim = self.fitted.simulate(x)
        self.stats.add(x.numel(), sim.summary, sim.spikes)
        return sim


@dataclass
class Chain:
    """A fitted neuron followed by the identity encoder of its output (e.g. 2^x, then MBE_Id).

    The fast path is one lookup: the composition is itself a staircase on the first neuron's
    pieces, whose value is the identity's exact value at that piece's level.
    """

    first: Primitive
    second: Primitive  # its fitted is an Identity

    @functools.cached_property
    def _piece_values(self) -> tuple[Tensor, Tensor]:
        """(identity value, identity spikes) on each piece of the first neuron."""
        ident = self.second.fitted
        levels = self.first.fitted.values
        _, idx, _ = ident.table(levels, ident.domain, index=True, wide=True)
        return ident.values[idx.long()], ident.counts[idx.long() + 1]

    @functools.cached_property
    def table(self) -> Table:
        return Table(self.first.fitted.neuron.staircase.breaks, self._piece_values[0])

    @property
    def fused(self) -> bool:
        """Whether the one-lookup fast path applies (no member is forced exact)."""
        return not (self.first.exact or self.second.exact)

    def encode(self, x: Tensor, mode: str, record: bool = False) -> Encoded:
        """The identity encoding of first(x): exact float64 values, spikes where measured."""
        if mode == "exact" or not self.fused:
            level = self.first(x.to(F64), mode, record)
            return self.second.encode(level, mode, record)
        if mode == "spike":
            return self.second.encode(self.first.simulate(x).values, mode)
        y, idx, summary = self.table(x, self.first.fitted.domain, index=record, wide=True)
        return Encoded(y, self.account(x.numel(), summary, idx))

    def account(self, n: int, summary: Summary | None, idx: Tensor | None) -> Tensor | None:
        """Record a fast-path evaluation of n inputs; with piece indices idx (when recording)
        returns the identity's spikes per element."""
        if idx is None:
            self.first.stats.add(n, summary)
            self.second.stats.add(n)
            return None
        first = self.first.fitted
        k = idx.long()
        hit = k >= 0  # NaN inputs (index -1) never reach the encoder
        nan = torch.full((), math.nan, dtype=F64)
        levels = torch.where(hit, first.values[k.clamp(min=0)], nan)
        counts = self._piece_values[1][k.clamp(min=0)] * hit
        self.first.stats.add(n, summary, first.spike_total(idx))
        self.second.stats.add(n, summarize(levels, self.second.fitted.domain), int(counts.sum()))
        return counts
