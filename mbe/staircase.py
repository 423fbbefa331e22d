"""The exact fast path: a neuron's output as a precomputed staircase in x.

With its parameters fixed, a neuron's spike pattern, and hence its output, is a piecewise
constant function of x with finitely many pieces (at most 2^T per basis). `build` enumerates
those pieces once; evaluation is then one `searchsorted` and one gather.

Exactness. The pieces are not found from real-number formulas (u[0] = vth + sum r would be
off by an ulp) but from the float64 simulation itself. For a fixed spike prefix s[0..t-1], the
float64 membrane u[t](x) = fl(...fl(fl((x - c) * g) - r[t1])...) is monotone in x, because every
IEEE operation involved is monotone; so "basis fires at step t" switches at most once inside
the prefix's interval, and bisection over the ordered float64 bit patterns finds the exact
first float where it switches. Each level is then the float64 simulation of the piece's first
point. Hence `lookup(x) == simulate(x.double())` bit for bit, for every finite float64 x.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .dynamics import Kernels, Readout, heaviside, run_bases, decode

_LOW63 = 0x7FFFFFFFFFFFFFFF
_MAX = torch.finfo(torch.float64).max


class Staircase(NamedTuple):
    """breaks (K,) ascending float64; levels and spike_counts (K+1,): value on each piece.

    Piece k is [breaks[k-1], breaks[k]) with breaks[-1] = -inf and breaks[K] = +inf.
    spike_counts[k] is the number of spikes all bases fire for an x in piece k.
    """

    breaks: Tensor
    levels: Tensor
    spike_counts: Tensor

    def index(self, x: Tensor) -> Tensor:
        """Piece index of every element of x (converted to float64)."""
        return torch.searchsorted(self.breaks, x.to(torch.float64).contiguous(), right=True)

    def lookup(self, x: Tensor) -> Tensor:
        """The neuron's output on x, equal to the float64 simulation, in float64."""
        return self.levels[self.index(x)]


def _to_key(v: Tensor) -> Tensor:
    """float64 -> int64 whose order is the float order (sign-magnitude to two's complement)."""
    i = v.view(torch.int64)
    return i ^ ((i >> 63) & _LOW63)


def _from_key(k: Tensor) -> Tensor:
    return (k ^ ((k >> 63) & _LOW63)).view(torch.float64)


def _fires(keys: Tensor, prefix: Tensor, t: int, kernels: Kernels, readout: Readout) -> Tensor:
    """Does the basis fire at step t for input keys, given the spikes prefix (K, t)?

    Replays exactly the arithmetic of `dynamics.input_drive` and `dynamics.step`.
    """
    x = _from_key(keys)
    u = (x - readout.shift) * readout.scale
    for tp in range(t):
        u = u - prefix[:, tp] * kernels.r[tp]
    return heaviside(u - kernels.vth[t])


def _midpoint(a: Tensor, b: Tensor) -> Tensor:
    """floor((a + b) / 2) without int64 overflow."""
    return (a >> 1) + (b >> 1) + (a & b & 1)


def _basis_breaks(kernels: Kernels, readout: Readout) -> Tensor:
    """Keys of the first float of every piece but the first, for a single basis (N = 1)."""
    lo = _to_key(torch.tensor([-_MAX], dtype=torch.float64))
    hi = _to_key(torch.tensor([_MAX], dtype=torch.float64))
    prefix = torch.zeros(1, 0, dtype=torch.float64)
    for t in range(kernels.d.shape[0]):
        p_lo = _fires(lo, prefix, t, kernels, readout)
        split = p_lo != _fires(hi, prefix, t, kernels, readout)
        a, b, pre, p0 = lo[split], hi[split], prefix[split], p_lo[split]
        for _ in range(64):  # bisection over at most 2^64 keys
            m = _midpoint(a, b)
            same = _fires(m, pre, t, kernels, readout) == p0
            a, b = torch.where(same, m, a), torch.where(same, b, m)
        keep = ~split
        lo = torch.cat([lo[keep], lo[split], b])
        hi = torch.cat([hi[keep], b - 1, hi[split]])
        prefix = torch.cat([
            torch.cat([prefix[keep], p_lo[keep, None]], 1),
            torch.cat([pre, p0[:, None]], 1),
            torch.cat([pre, 1 - p0[:, None]], 1),
        ])
    return lo[lo != _to_key(torch.tensor([-_MAX], dtype=torch.float64))]


def build(kernels: Kernels, readout: Readout) -> Staircase:
    """Enumerate the pieces of sum_n w_n o_n(x) + b over all finite float64 x.

    kernels and readout must be float64. Cost grows with the number of pieces (at most
    N * 2^T); for N = 8, T = 16 this takes a few seconds once per neuron.
    """
    keys = []
    for n in range(kernels.d.shape[1]):
        k_n = Kernels(*(k[:, n] for k in kernels))
        r_n = Readout(readout.scale[n], readout.shift[n], readout.weight[n], readout.bias)
        keys.append(_basis_breaks(k_n, r_n))
    breaks = _from_key(torch.unique(torch.cat(keys)))
    starts = torch.cat([torch.tensor([-_MAX], dtype=torch.float64), breaks])
    o, spikes = run_bases(starts, kernels, readout, record=True)
    return Staircase(breaks, decode(o, readout), spikes.sum((-2, -1)).to(torch.int64))
