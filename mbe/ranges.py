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
