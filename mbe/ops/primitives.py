"""The 1-D primitives operators are built from, evaluated in three modes, with their statistics.

Every spiking operator (`mbe.ops`) splits into fitted MBE neurons (GELU, 2^x on [0, 1], 1/x on
[0.5, 1], 1/sqrt(x) on [0.5, 2], ...) and identity encoders MBE_Id (Wang et al. 2025, Sec. 3).
A primitive is evaluated in one of three modes:

    "exact"  the exact float function (the parity mode: the operator must equal its float op)
    "mbe"    the neuron's exact fast path: its staircase, looked up by `mbe.native.tables.Table`
    "spike"  the T-step simulation of Eqs. 5-7 (`mbe.core.simulator`), counting every spike

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

from ..core import targets
from ..core.dynamics import place_values
from ..core.distribution import InputDistribution
from ..core.fitting import fit
from ..core.identity import identity_encoder
from ..core.neuron import FSNeuron, SpikingNeuron
from ..core.simulator import Simulation, simulate
from ..native.loader import F32, F64, on
from ..native.tables import Quantiser, Table
from ..ranges import Range

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
    ranged: int = 0          # inputs whose range was measured (into `inputs`)
    inputs: Range = field(default_factory=Range)
    spikes: int = 0
    counted: int = 0         # inputs whose spikes were counted

    def add(self, n: int, seen: Range | None = None, spikes: int | None = None) -> None:
        """Count n inputs; `seen` is their measured Range (None: not measured)."""
        self.seen += n
        if seen is not None:
            self.ranged += n
            self.inputs.merge(seen)
        if spikes is not None:
            self.counted += n
            self.spikes += int(spikes)

    def to_dict(self, domain: tuple[float, float] | None) -> dict:
        """The report entry; domain is the primitive's (None if not yet known)."""
        ranged = self.seen > 0 and self.ranged == self.seen
        counted = self.seen > 0 and self.counted == self.seen
        slots = self.seen * self.n_basis * self.timesteps
        got = self.inputs
        finite = ranged and math.isfinite(got.min)
        return {"n_basis": self.n_basis, "timesteps": self.timesteps,
                "domain": None if domain is None else list(domain), "seen": self.seen,
                "outside": got.outside if ranged else None,
                "fraction_outside": got.outside / self.seen if ranged else None,
                "non_finite": got.non_finite if ranged else None,
                "min_seen": got.min if finite else None,
                "max_seen": got.max if finite else None,
                "spikes": self.spikes if counted else None,
                "firing_rate": self.spikes / slots if counted else None,
                "comparisons": slots}


# -- shared fitted neurons ----------------------------------------------------------------------
class Fitted:
    """A fitted neuron with its exact lookup table, shared by every operator using it.

    Nothing is fitted or built until first needed: "exact" mode never fits. `values` are what
    the primitive outputs on each staircase piece (the neuron's levels here). Pickling keeps
    what defines the primitive (its specification and its fitted neuron's parameters) and
    drops the tables derived from them, which are rebuilt, bit for bit, on first use.
    """

    is_identity = False
    _DERIVED = ("values", "table", "counts")  # cached properties rebuilt after unpickling

    def __init__(self, target: str, domain: tuple[float, float] | None, n_basis: int,
                 timesteps: int, variant: str = "best", neuron: str = "mbe",
                 inputs: InputDistribution | None = None):
        if neuron not in ("mbe", "fs"):
            raise ValueError(f"neuron must be 'mbe' or 'fs', got {neuron!r}")
        self.target, self.kind, self.variant = target, neuron, variant
        self.n_basis = 1 if neuron == "fs" else int(n_basis)
        self.timesteps, self._domain = int(timesteps), domain
        self.inputs = inputs  # the distribution it is fitted to (None: uniform on the domain)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for name in self._DERIVED:
            state.pop(name, None)
        return state

    @property
    def domain(self) -> tuple[float, float]:
        return self._domain

    @property
    def resolved(self) -> bool:
        """Whether the domain is known without building anything."""
        return True

    def exact(self, x: Tensor) -> Tensor:
        """The function this primitive approximates ("exact" mode)."""
        return targets.TARGETS[self.target](x)

    def _load(self) -> SpikingNeuron:
        # a neuron not yet in the fit cache is fitted here, behind a progress bar
        if self.kind == "fs":  # the Few-Spikes baseline: binary initialisation, one basis
            return fit(self.target, self.domain, timesteps=self.timesteps, neuron="fs",
                       init="binary", weights=self.inputs)
        return fit(self.target, self.domain, self.n_basis, self.timesteps,
                   variant=self.variant, weights=self.inputs)

    @property
    def objective(self) -> str:
        """What its neuron is fitted to: "uniform" (the domain) or "calibration" (the inputs
        calibration saw, `mbe.core.distribution`)."""
        return "uniform" if self.inputs is None else "calibration"

    @functools.cached_property
    def neuron(self) -> SpikingNeuron:
        return self._load()

    def describe(self) -> dict:
        """What this primitive is: target, neuron kind, variant, N, T, domain, objective.
        Read from the fitted neuron once it exists (from the specification before, e.g. in
        "exact" mode, which never fits)."""
        info = {"target": self.target, "neuron": self.kind, "variant": self.variant,
                "n_basis": self.n_basis, "timesteps": self.timesteps,
                "domain": list(self.domain) if self.resolved else None,
                "objective": self.objective, "fitted": False}
        built = self.__dict__.get("neuron")
        if built is not None:
            info.update(n_basis=built.n_basis, timesteps=built.timesteps,
                        domain=list(built.domain), fitted=True,
                        variant=built.meta.get("variant", self.variant),
                        neuron="fs" if isinstance(built, FSNeuron) else self.kind)
        return info

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

    def spikes_at(self, idx: Tensor) -> Tensor:
        """Spikes fired by each element, from its piece index (-1: none), on idx's device."""
        return on(self.counts, idx.device)[idx.long() + 1]

    def spike_total(self, idx: Tensor) -> int:
        return int(self.spikes_at(idx).sum())

    def simulate(self, x: Tensor) -> Simulation:
        """The T-step simulation of x (float64 values: the neuron's decoded output)."""
        return simulate(self.neuron, x, self.domain)


def fitted(target: str, domain: tuple[float, float], n_basis: int, timesteps: int,
           variant: str = "best", neuron: str = "mbe",
           inputs: InputDistribution | None = None) -> Fitted:
    """The fitted primitive for target (fitted on first use; cached on disk by `mbe.fit`), one
    shared object per configuration: primitives with equal inputs share one. neuron="fs"
    gives the Few-Spikes baseline (binary initialisation, one basis). inputs: the
    distribution to fit to (None: uniform on the domain)."""
    if neuron == "fs":  # one basis, trained by the paper's recipe from binary kernels
        n_basis, variant = 1, "fs"
    return _fitted(target, (float(domain[0]), float(domain[1])), int(n_basis), int(timesteps),
                   variant, neuron, inputs)


@functools.lru_cache(maxsize=None)
def _fitted(target, domain, n_basis, timesteps, variant, neuron, inputs) -> Fitted:
    return Fitted(target, domain, n_basis, timesteps, variant, neuron, inputs)


class Identity(Fitted):
    """MBE_Id over the dyadic range covering [lo, hi] (Eqs. 9-10).

    With beta = (hi' - lo') / (N (2^T - 1)) a power of two and lo' = beta (m - 1/2), the
    encoder's decoded value is exactly beta * (q + m), where the spike code
    q = sum_n sum_t s_n[t] 2^(T-1-t) is an integer (basis n's spikes are the binary digits of
    its membrane). The simulation counts it from the spikes, the lookup table holds it per piece.
    `bounds` is (lo, hi), or a function giving them (e.g. the output range of a neuron that is
    only fitted when first used). Its parameters are fixed, not fitted (appendix G.1): its
    variant is "fixed". With neuron="fs" it is the one-basis binary encoder (an FS neuron at
    its binary initialisation), N = 1.
    """

    is_identity = True

    def __init__(self, bounds, n_basis: int = 8, timesteps: int = 16, neuron: str = "mbe"):
        n_basis = 1 if neuron == "fs" else n_basis
        if n_basis & (n_basis - 1):
            raise ValueError(f"identity encoders need a power-of-two number of bases, got "
                             f"{n_basis}")
        self._bounds = bounds
        self.span = n_basis * (2**timesteps - 1)  # the largest code q
        super().__init__("identity", None, n_basis, timesteps, "fixed", neuron)

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("neuron", None)  # fixed by its range: rebuilt exactly from it
        return state

    def exact(self, x: Tensor) -> Tensor:
        return x

    @property
    def objective(self) -> str:
        return "fixed"  # not fitted (appendix G.1): fixed by its range

    @functools.cached_property
    def _range(self) -> tuple[float, int]:
        return dyadic_range(*self.covers, self.n_basis, self.timesteps)

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

    @property
    def covers(self) -> tuple[float, float]:
        """The range it was built to cover (within its dyadic `domain`)."""
        return self._bounds() if callable(self._bounds) else self._bounds

    def rounding_error(self, rms: float | None = None, step_scale: float = 1.0) -> float:
        """Relative RMS error on inputs of RMS `rms` (None: inputs uniform over `covers`):
        decoding rounds to a grid of step beta (times `step_scale`, e.g. a channel's power of
        two), an error uniform on +-step/2 for inputs spread over many steps, so
        (step / sqrt(12)) / rms (`mbe.ops.budget`; inf for inputs that are all 0)."""
        if rms is None:
            lo, hi = self.covers
            rms = math.sqrt((lo * lo + lo * hi + hi * hi) / 3.0)
        return self.beta * step_scale / math.sqrt(12.0) / rms if rms > 0 else math.inf

    def _load(self) -> SpikingNeuron:
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


def identity(lo: float, hi: float, n_basis: int = 8, timesteps: int = 16,
             neuron: str = "mbe") -> Identity:
    """The shared dyadic identity encoder covering [lo, hi]."""
    n_basis = 1 if neuron == "fs" else n_basis
    beta, m = dyadic_range(lo, hi, n_basis, timesteps)
    return _identity(beta, m, int(n_basis), int(timesteps), neuron)


@functools.lru_cache(maxsize=None)
def _identity(beta: float, m: int, n_basis: int, timesteps: int, neuron: str) -> Identity:
    return Identity((beta * (m - 0.5), beta * (m - 0.5 + n_basis * (2**timesteps - 1))),
                    n_basis, timesteps, neuron)


@functools.lru_cache(maxsize=None)
def identity_of_output(source: Fitted, n_basis: int = 8, timesteps: int = 16) -> Identity:
    """The shared identity encoder of source's outputs (its range known once source is
    fitted), of source's neuron kind."""
    return Identity(functools.partial(output_range, source), n_basis, timesteps, source.kind)


def output_range(f: Fitted) -> tuple[float, float]:
    """The smallest and largest value the primitive outputs on its domain (from its pieces).
    A neuron whose output is one constant there (e.g. a Few-Spikes neuron with very few
    steps) gets the range of that value +- max(|value|, 1) / 2, which an encoder can span."""
    st = f.neuron.staircase
    ends = torch.tensor(f.domain, dtype=F64)
    first, last = torch.searchsorted(st.breaks, ends, right=True).tolist()
    vals = f.values[first:last + 1]
    lo, hi = float(vals.min()), float(vals.max())
    if lo == hi:
        half = 0.5 * max(abs(lo), 1.0)
        return lo - half, hi + half
    return lo, hi


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
            self.stats.add(x.numel(), Range.of(x, f.domain) if f.resolved else None)
            y = f.exact(x.to(F64))
            return y if wide else y.to(x.dtype)
        if mode == "mbe":
            y, idx, seen = self.fitted.table(x, self.fitted.domain, index=record, wide=wide)
            self.stats.add(x.numel(), seen, self.fitted.spike_total(idx) if record else None)
            return y
        y = self.simulate(x).values
        return y if wide else y.to(x.dtype)

    def encode(self, x: Tensor, mode: str, record: bool = False) -> Encoded:
        """Identity-encode x (this primitive's fitted is an `Identity`)."""
        ident = self.fitted
        if mode == "exact" or self.exact:
            return Encoded(self(x, mode))
        if mode == "mbe":
            y, idx, seen = ident.table(x, ident.domain, index=record, wide=True)
            counts = ident.spikes_at(idx) if record else None
            self.stats.add(x.numel(), seen, int(counts.sum()) if record else None)
            return Encoded(y, counts)
        sim = self.simulate(x)
        return Encoded(None, sim.counts, sim.code, ident)

    def simulate(self, x: Tensor) -> Simulation:
        """("spike" mode) the T-step simulation of x (float64 values, NaN where x is NaN),
        its range and spikes counted."""
        sim = self.fitted.simulate(x)
        self.stats.add(x.numel(), sim.seen, sim.spikes)
        return sim


@dataclass
class Chain:
    """A fitted neuron followed by the identity encoder of its output (e.g. 2^x, then MBE_Id).

    The fast path is one lookup: the composition is itself a staircase on the first neuron's
    pieces, whose value is the identity's exact value at that piece's level.
    """

    first: Primitive
    second: Primitive  # its fitted is an Identity

    def __getstate__(self) -> dict:
        """Pickled without its composed table, which is rebuilt exactly on first use."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_piece_values", "table")}

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
        y, idx, seen = self.table(x, self.first.fitted.domain, index=record, wide=True)
        return Encoded(y, self.account(x.numel(), seen, idx))

    def account(self, n: int, seen: Range | None, idx: Tensor | None) -> Tensor | None:
        """Record a fast-path evaluation of n inputs; with piece indices idx (when recording)
        returns the identity's spikes per element."""
        if idx is None:
            self.first.stats.add(n, seen)
            self.second.stats.add(n)
            return None
        first = self.first.fitted
        k = idx.long()
        hit = k >= 0  # NaN inputs (index -1) never reach the encoder
        nan = torch.full((), math.nan, dtype=F64, device=k.device)
        levels = torch.where(hit, on(first.values, k.device)[k.clamp(min=0)], nan)
        counts = on(self._piece_values[1], k.device)[k.clamp(min=0)] * hit
        self.first.stats.add(n, seen, first.spike_total(idx))
        self.second.stats.add(n, Range.of(levels, self.second.fitted.domain), int(counts.sum()))
        return counts
