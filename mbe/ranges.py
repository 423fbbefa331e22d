"""The one range tracker: the values an operand took, counted against a domain, never clamped.

A `Range` is what every layer records about inputs: a neuron against the domain it was fitted
on (`SpikingNeuron.range_stats`), one evaluation of a compiled loop (`mbe.native`), a
primitive inside an operator (`mbe.ops`), an operand during calibration (`mbe.conversion`,
the "intervals R" of the paper's Algorithm 1). Out-of-range and non-finite inputs are counted
and reported, never silently absorbed:

    seen        elements seen (NaN and infinities included)
    non_finite  NaN or +-inf among them
    outside     elements below or above the domain (+-inf included, NaN not); 0 without one
    min, max    the smallest and largest finite value (+inf and -inf while none was seen)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Range:
    """Values seen (see the module docstring); `domain` is None where there is none to check."""

    domain: tuple[float, float] | None = None
    seen: int = 0
    non_finite: int = 0
    outside: int = 0
    min: float = math.inf
    max: float = -math.inf

    @classmethod
    def of(cls, x: Tensor, domain: tuple[float, float] | None = None) -> "Range":
        """The range of x's elements (computed in float64: exact for every float input)."""
        x64 = x.detach().to(torch.float64).reshape(-1)
        finite = torch.isfinite(x64)
        xf = x64[finite]
        outside = 0 if domain is None else int(((x64 < domain[0]) | (x64 > domain[1])).sum())
        return cls(domain, x64.numel(), int((~finite).sum()), outside,
                   float(xf.min()) if xf.numel() else math.inf,
                   float(xf.max()) if xf.numel() else -math.inf)

    def update(self, x: Tensor) -> None:
        """Add x's elements, counted against this range's domain."""
        if x.numel():
            self.merge(Range.of(x, self.domain))

    def merge(self, other: "Range") -> None:
        """Add what another range saw (its outside count is taken as it was counted)."""
        self.seen += other.seen
        self.non_finite += other.non_finite
        self.outside += other.outside
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    @property
    def finite(self) -> int:
        return self.seen - self.non_finite

    @property
    def fraction_outside(self) -> float:
        return self.outside / self.seen if self.seen else 0.0

    def bounds(self) -> tuple[float, float] | None:
        """(min, max) of the finite values, or None if none was seen."""
        return (self.min, self.max) if self.finite else None

    def with_margin(self, margin: float) -> tuple[float, float]:
        """[min - m w, max + m w] for width w (w = max(|max|, 1) if every value was equal)."""
        width = self.max - self.min if self.max > self.min else max(abs(self.max), 1.0)
        return (self.min - margin * width, self.max + margin * width)

    def to_dict(self) -> dict:
        finite = self.finite > 0
        return {"domain": None if self.domain is None else list(self.domain),
                "seen": self.seen, "outside": self.outside,
                "fraction_outside": self.fraction_outside, "non_finite": self.non_finite,
                "min_seen": self.min if finite else None,
                "max_seen": self.max if finite else None}


class Histogram:
    """How often an operand took each value: counts in 2^16 bins of equal relative width.

    A value's bin is the top 16 bits of its float32 pattern (sign, exponent, 7 mantissa bits),
    so bins need no range given in advance, merge by addition, and are about 0.8 % of their
    value wide (finer towards 0). What calibration keeps of each operand besides its `Range`,
    for fitting a neuron where the inputs are (`mbe.core.distribution`) and for ranges from
    quantiles. Non-finite values are not binned (a `Range` counts them).
    """

    BINS = 1 << 16

    def __init__(self) -> None:
        self.counts = torch.zeros(self.BINS, dtype=torch.int64)

    def update(self, x: Tensor) -> None:
        x32 = x.detach().reshape(-1).to(torch.float32)
        x32 = x32[torch.isfinite(x32)]
        if x32.numel():
            bins = (x32.view(torch.int32) >> 16) & 0xFFFF
            self.counts += torch.bincount(bins.to(torch.int64), minlength=self.BINS).cpu()

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def bins(self) -> tuple[Tensor, Tensor]:
        """(edges (B + 1,), counts (B,)) from the lowest to the highest occupied bin, ascending
        in value, as float64; the bins tile that span (empty ones included)."""
        keys = torch.arange(self.BINS, dtype=torch.int64)
        magnitude = keys & 0x7FFF

        def value(bits: Tensor) -> Tensor:
            return (bits << 16).to(torch.int32).view(torch.float32).to(torch.float64)

        # the last finite bin ends at float32's largest value; bins of inf and NaN drop out
        low, high = value(magnitude), value(magnitude + 1).clamp(max=_FLOAT32_MAX)
        negative = keys >= 1 << 15
        lower, upper = torch.where(negative, -high, low), torch.where(negative, -low, high)
        finite = torch.isfinite(lower) & (lower.abs() < _FLOAT32_MAX)
        order = torch.argsort(lower[finite])
        lower, upper, counts = lower[finite][order], upper[finite][order], \
            self.counts[finite][order]
        hit = torch.nonzero(counts).squeeze(1)
        if not len(hit):
            raise ValueError("the histogram is empty: it saw no finite value")
        span = slice(int(hit[0]), int(hit[-1]) + 1)
        # bins that start at the same value (+-0, and subnormals where they read as 0) merge
        starts, merged = torch.unique_consecutive(lower[span], return_inverse=True)
        summed = torch.zeros(len(starts), dtype=torch.int64).index_add_(0, merged, counts[span])
        return torch.cat([starts, upper[span][-1:]]), summed

    def rms(self) -> float:
        """The root mean square of the binned values (each bin's count at its midpoint: within
        0.4 % of the values')."""
        edges, counts = self.bins()
        mid = (edges[:-1] + edges[1:]) / 2
        return float(((counts * mid * mid).sum() / counts.sum()).sqrt())


_FLOAT32_MAX = float(torch.finfo(torch.float32).max)
