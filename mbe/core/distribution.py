"""The inputs a neuron is fitted for: uniform on its domain (the paper), or where real inputs are.

The paper fits every neuron to M uniform samples of one domain (appendix G.1), and `mbe.fit`
does so by default. A site of a converted network does not see uniform inputs: MiniLM's GELU
inputs span about (-19, 27) but crowd near 0, where GELU bends, so a neuron fitted uniformly
spends its N bases and 2^T levels per basis where almost nothing arrives. `InputDistribution`
is the other objective: the histogram p of the inputs a site really received (calibration
keeps one per operand, `mbe.ranges.Histogram`), mixed with the uniform density u of the
domain so that rare large inputs are still fitted:

    q = (1 - c) p + c u,        c = `coverage`

A fit then minimises the mean squared error under q: its M training samples are stratified
draws from q (sample i is the q-quantile of (i + U_i) / M, U_i uniform from the seed), and
its greedy initialisation places ramp knots where q and the target's curvature are
(`cdf`). p is taken as uniform inside each histogram bin.
"""
from __future__ import annotations

import functools
import hashlib
import math

import torch
from torch import Tensor

from ..ranges import Histogram

F64 = torch.float64

#: The uniform share c of the fitting distribution when none is given.
DEFAULT_COVERAGE = 0.1


class InputDistribution:
    """The mixture q = (1 - c) p + c u on `domain` (module docstring).

    edges (B + 1,) ascending and counts (B,) >= 0 are the histogram p; bins are clipped to
    the domain (a bin's count scales with the part of it inside), and a histogram with
    counts in bins wholly outside the domain is refused: those inputs would be dropped
    silently. Two distributions are equal when their digests are (same domain, coverage,
    edges and counts): sites whose inputs are equal share one fitted neuron.
    """

    def __init__(self, edges, counts, domain: tuple[float, float],
                 coverage: float = DEFAULT_COVERAGE):
        lo, hi = float(domain[0]), float(domain[1])
        edges = torch.as_tensor(edges, dtype=F64).reshape(-1)
        counts = torch.as_tensor(counts, dtype=F64).reshape(-1)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"domain must be two finite numbers lo < hi, got {domain!r}")
        if len(edges) != len(counts) + 1 or len(counts) == 0:
            raise ValueError(f"a histogram needs B + 1 edges for B counts, got {len(edges)} "
                             f"edges and {len(counts)} counts")
        if not bool(torch.isfinite(edges).all()) or not bool((edges[1:] > edges[:-1]).all()):
            raise ValueError("histogram edges must be finite and strictly ascending")
        if not bool(torch.isfinite(counts).all()) or bool((counts < 0).any()):
            raise ValueError("histogram counts must be finite and >= 0")
        if not (isinstance(coverage, (int, float)) and 0 <= coverage <= 1):
            raise ValueError(f"coverage must be a number in [0, 1] (the uniform share), got "
                             f"{coverage!r}")
        outside = counts[(edges[1:] <= lo) | (edges[:-1] >= hi)]
        if float(outside.sum()) > 0:
            raise ValueError(f"{int(outside.sum())} of the inputs lie outside the domain "
                             f"({lo}, {hi}): widen the domain to cover them")
        inside_lo, inside_hi = edges[:-1].clamp(lo, hi), edges[1:].clamp(lo, hi)
        part = (inside_hi - inside_lo) / (edges[1:] - edges[:-1])
        keep = inside_hi > inside_lo
        edges, counts = torch.cat([inside_lo[keep], inside_hi[keep][-1:]]), (counts * part)[keep]
        if float(counts.sum()) <= 0:
            raise ValueError("the histogram holds no input inside the domain")
        # runs of empty bins become one bin (the same p, fewer edges)
        empty = counts == 0
        boundary = ~(empty[:-1] & empty[1:])
        self.edges = torch.cat([edges[:1], edges[1:-1][boundary], edges[-1:]])
        self.counts = counts[torch.cat([torch.ones(1, dtype=torch.bool), boundary])]
        self.domain, self.coverage = (lo, hi), float(coverage)

    @classmethod
    def from_samples(cls, samples: Tensor, domain, coverage: float = DEFAULT_COVERAGE):
        """The distribution of observed inputs (any shape; non-finite ones are refused),
        binned as calibration bins them (`mbe.ranges.Histogram`)."""
        x = torch.as_tensor(samples).detach().reshape(-1)
        if not x.numel() or not bool(torch.isfinite(x).all()):
            raise ValueError("samples must be a non-empty tensor of finite inputs")
        hist = Histogram()
        hist.update(x)
        return cls(*hist.bins(), domain, coverage)

    # -- the mixture q -------------------------------------------------------------------------
    def _pieces(self) -> tuple[Tensor, Tensor, Tensor]:
        """(breaks (K + 1,) from lo to hi, q's density on each of the K pieces, q's mass below
        each break (K + 1,), unnormalised)."""
        lo, hi = self.domain
        breaks = torch.unique(torch.cat([torch.tensor([lo, hi], dtype=F64), self.edges]))
        mids = 0.5 * (breaks[1:] + breaks[:-1])
        bin_of = torch.searchsorted(self.edges, mids, right=True) - 1
        inside = (bin_of >= 0) & (bin_of < len(self.counts))
        widths = self.edges[1:] - self.edges[:-1]
        p = self.counts / self.counts.sum() / widths
        p_mid = torch.where(inside, p[bin_of.clamp(0, len(p) - 1)], torch.zeros((), dtype=F64))
        dens = (1 - self.coverage) * p_mid + self.coverage / (hi - lo)
        cum = torch.cat([torch.zeros(1, dtype=F64), (dens * (breaks[1:] - breaks[:-1])).cumsum(0)])
        return breaks, dens, cum

    def cdf(self, x: Tensor) -> Tensor:
        """q's cumulative distribution at the points x (0 below the domain, 1 above)."""
        breaks, dens, cum = self._pieces()
        x = x.to(F64).clamp(breaks[0], breaks[-1])
        k = (torch.searchsorted(breaks, x, right=True) - 1).clamp(0, len(dens) - 1)
        return ((cum[k] + dens[k] * (x - breaks[k])) / cum[-1]).clamp(0, 1)

    def quantile(self, levels: Tensor) -> Tensor:
        """q's quantiles at `levels` in [0, 1] (q is piecewise uniform: exact inversion)."""
        breaks, dens, cum = self._pieces()
        cdf = cum / cum[-1]
        levels = levels.to(F64).clamp(0, 1)
        k = (torch.searchsorted(cdf, levels, right=True) - 1).clamp(0, len(dens) - 1)
        frac = ((levels - cdf[k]) / (cdf[k + 1] - cdf[k]).clamp_min(1e-300)).clamp(0, 1)
        return breaks[k] + frac * (breaks[k + 1] - breaks[k])

    def draw(self, n: int, seed: int) -> Tensor:
        """n stratified samples of q, ascending: the quantiles of (i + U_i) / n."""
        gen = torch.Generator().manual_seed(seed)
        u = (torch.arange(n, dtype=F64) + torch.rand(n, generator=gen, dtype=F64)) / n
        return self.quantile(u)

    def real_inputs(self) -> "InputDistribution":
        """p alone: the real inputs, without the uniform share a fit adds."""
        return InputDistribution(self.edges, self.counts, self.domain, 0.0)

    def input_quantiles(self, levels: Tensor) -> Tensor:
        """Quantiles of p alone (`real_inputs`)."""
        return self.real_inputs().quantile(levels)

    # -- identity --------------------------------------------------------------------------------
    def key(self) -> dict:
        """What identifies this distribution in a fit's cache key."""
        return {"domain": list(self.domain), "coverage": self.coverage, "bins": len(self.counts),
                "sha256": self.digest}

    @functools.cached_property
    def digest(self) -> str:
        h = hashlib.sha256()
        for part in (torch.tensor([*self.domain, self.coverage], dtype=F64), self.edges,
                     self.counts):
            h.update(part.contiguous().numpy().tobytes())
        return h.hexdigest()

    def __eq__(self, other) -> bool:
        return isinstance(other, InputDistribution) and self.digest == other.digest

    def __hash__(self) -> int:
        return hash(self.digest)

    def describe(self) -> dict:
        """JSON-able summary: domain, coverage, bins, inputs, the real inputs' 1/50/99 %
        quantiles, and the digest."""
        q = self.input_quantiles(torch.tensor([0.01, 0.5, 0.99], dtype=F64)).tolist()
        return {"objective": "calibration", "domain": list(self.domain),
                "coverage": self.coverage, "bins": len(self.counts),
                "inputs": float(self.counts.sum()), "quantiles_1_50_99": q,
                "sha256": self.digest}
