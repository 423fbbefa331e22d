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


def _midpoint(a: Tensor, b: Tensor) -> Tensor:
    """floor((a + b) / 2) without int64 overflow."""
    return (a >> 1) + (b >> 1) + (a & b & 1)


_WINDOW = 64  # keys either side of a real-arithmetic estimate tried before full bisection


def _first_switch(pred, lo: Tensor, hi: Tensor, guess: Tensor) -> Tensor:
    """For each row, the smallest key in (lo, hi] where pred differs from pred(lo).

    pred(keys, rows) -> 0/1 tensor is monotone on [lo, hi] and differs at hi. The search
    first brackets a window around `guess` (an estimate from real arithmetic, usually a few
    ulps off), falling back to the whole interval, then bisects over ordered float keys.
    """
    rows = torch.arange(len(lo))
    p0 = pred(lo, rows)
    g = torch.minimum(torch.maximum(guess, lo), hi)
    a = torch.maximum(g - _WINDOW, lo)
    b = torch.minimum(g + _WINDOW, hi)
    ok = (pred(a, rows) == p0) & (pred(b, rows) != p0)
    a, b = torch.where(ok, a, lo), torch.where(ok, b, hi)
    while True:
        act = torch.nonzero(a + 1 < b).squeeze(1)
        if len(act) == 0:
            return b
        m = _midpoint(a[act], b[act])
        same = pred(m, act) == p0[act]
        a[act] = torch.where(same, m, a[act])
        b[act] = torch.where(same, b[act], m)


_FULL = (_to_key(torch.tensor([-_MAX], dtype=torch.float64)),
         _to_key(torch.tensor([_MAX], dtype=torch.float64)))
_U_CACHE: dict[bytes, Tensor] = {}


def _u_breaks(r: Tensor, vth: Tensor) -> Tensor:
    """Sorted first floats u of every spike pattern but the first, for one basis (T,) kernels.

    Depends only on r and Vth, so it is cached: bases with equal kernels (every identity
    encoder, for one) share one enumeration.
    """
    cache_key = r.numpy().tobytes() + vth.numpy().tobytes()
    if cache_key not in _U_CACHE:
        if len(_U_CACHE) >= 512:
            _U_CACHE.clear()
        _U_CACHE[cache_key] = _enumerate_u(r, vth)
    return _U_CACHE[cache_key]


def _enumerate_u(r: Tensor, vth: Tensor) -> Tensor:
    lo, hi = _FULL
    prefix = torch.zeros(1, 0, dtype=torch.float64)

    def fires_at(t):
        def pred(keys, rows):  # replays dynamics.step exactly: u - s * r, then H(u - vth)
            u = _from_key(keys)
            for tp in range(t):
                u = u - prefix[rows, tp] * r[tp]
            return heaviside(u - vth[t])
        return pred

    for t in range(len(r)):
        pred = fires_at(t)
        p_lo = pred(lo, torch.arange(len(lo)))
        split = p_lo != pred(hi, torch.arange(len(hi)))
        keep = ~split
        guess = _to_key(vth[t] + prefix[split] @ r[:t])
        sub = split.nonzero().squeeze(1)
        b = _first_switch(lambda k, rows: pred(k, sub[rows]), lo[split], hi[split], guess)
        pre, p0 = prefix[split], p_lo[split]
        lo, hi = torch.cat([lo[keep], lo[split], b]), torch.cat([hi[keep], b - 1, hi[split]])
        prefix = torch.cat([
            torch.cat([prefix[keep], p_lo[keep, None]], 1),
            torch.cat([pre, p0[:, None]], 1),
            torch.cat([pre, 1 - p0[:, None]], 1),
        ])
    return _from_key(torch.sort(lo[lo != _FULL[0]]).values)


def _x_breaks(u_breaks: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """Keys of the first float x at which u[0](x) = (x - shift) * scale crosses each u break.

    u[0] is computed exactly as `dynamics.input_drive` does, so the crossing is exact.
    """
    def pred(keys, rows):
        return ((_from_key(keys) - shift) * scale >= u_breaks[rows]).to(torch.float64)

    rows = torch.arange(len(u_breaks))
    lo, hi = _FULL[0].expand(len(rows)), _FULL[1].expand(len(rows))
    moves = pred(lo, rows) != pred(hi, rows)
    guess = _to_key(torch.nan_to_num(shift + u_breaks / scale, nan=0.0, posinf=_MAX,
                                     neginf=-_MAX))
    sub = moves.nonzero().squeeze(1)
    return _first_switch(lambda k, r: pred(k, sub[r]), lo[moves].clone(), hi[moves].clone(),
                         guess[moves])


def build(kernels: Kernels, readout: Readout) -> Staircase:
    """Enumerate the pieces of sum_n w_n o_n(x) + b over all finite float64 x.

    kernels and readout must be float64. Each basis's pieces are enumerated in u-space once
    per distinct (r, Vth) and mapped to x through its input map; then every piece's level is
    the simulation of its first point.
    """
    keys = [_x_breaks(_u_breaks(kernels.r[:, n].contiguous(), kernels.vth[:, n].contiguous()),
                      readout.shift[n], readout.scale[n])
            for n in range(kernels.d.shape[1])]
    breaks = _from_key(torch.unique(torch.cat(keys)))
    starts = torch.cat([torch.tensor([-_MAX], dtype=torch.float64), breaks])
    o, spikes = run_bases(starts, kernels, readout, record=True)
    return Staircase(breaks, decode(o, readout), spikes.sum((-2, -1)).to(torch.int64))
