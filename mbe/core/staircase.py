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

from .dynamics import Kernels, Readout, heaviside
from .simulator import run

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


#: Bracket widths (keys) tried beyond a guess before the whole interval is bisected.
_GALLOP = (4, 64, 1 << 20)


def _first_switch(pred, lo: Tensor, hi: Tensor, guess: Tensor) -> Tensor:
    """For each row, the smallest key in (lo, hi] where pred differs from pred(lo).

    pred(keys, rows) -> 0/1 tensor is monotone on [lo, hi] and differs at hi; `rows` indexes
    the rows the keys belong to, or is None for all of them in order. The search starts at
    `guess` (an estimate from real arithmetic, often exact, usually a few ulps off): if pred
    switches between the key below the guess and the guess, that is the answer; otherwise
    it brackets the switch on the side pred says, _GALLOP keys wide, then wider, then up to
    the interval's end, and bisects over ordered float keys. Every bracket (a, b] holds
    pred(a) = pred(lo) != pred(b), so the answer is the same key whichever bracket found it.
    """
    p0 = pred(lo, None)
    g = torch.minimum(torch.maximum(guess, lo + 1), hi)
    past = pred(g, None) != p0      # the switch is at g or below it
    below = g - 1
    exact = past & (pred(below, None) == p0)
    a, b = torch.where(exact, below, lo), torch.where(exact, g, hi)
    todo = torch.nonzero(~exact).squeeze(1)
    for width in _GALLOP:  # widen the bracket on the side the switch is
        if not len(todo):
            break
        down = past[todo]
        far = torch.where(down, torch.maximum(g[todo] - width, lo[todo]),
                          torch.minimum(g[todo] + width, hi[todo]))
        side = pred(far, todo) == p0[todo]
        found = torch.where(down, side, ~side)
        rows = todo[found]
        a[rows] = torch.where(down[found], far[found], g[rows])
        b[rows] = torch.where(down[found], below[rows], far[found])
        todo = todo[~found]
    a[todo], b[todo] = torch.where(past[todo], lo[todo], g[todo]), \
        torch.where(past[todo], below[todo], hi[todo])
    act = torch.nonzero(a + 1 < b).squeeze(1)
    while len(act):
        m = _midpoint(a[act], b[act])
        same = pred(m, act) == p0[act]
        a[act] = torch.where(same, m, a[act])
        b[act] = torch.where(same, b[act], m)
        act = act[a[act] + 1 < b[act]]
    return b


def _rows(values: Tensor, rows: Tensor | None) -> Tensor:
    """values for the given rows (all of them for None)."""
    return values if rows is None else values[rows]


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

    def fires_at(t, spikes):
        def pred(keys, rows):  # replays dynamics.step exactly: u - s * r, then H(u - vth)
            u = _from_key(keys)
            for tp in range(t):
                u = u - _rows(spikes[:, tp], rows) * r[tp]
            return heaviside(u - vth[t])
        return pred

    for t in range(len(r)):
        pred = fires_at(t, prefix)
        p_lo = pred(lo, None)
        split = p_lo != pred(hi, None)
        keep = ~split
        pre, p0 = prefix[split], p_lo[split]
        guess = _to_key(vth[t] + pre @ r[:t])
        b = _first_switch(fires_at(t, pre), lo[split], hi[split], guess)
        lo, hi = torch.cat([lo[keep], lo[split], b]), torch.cat([hi[keep], b - 1, hi[split]])
        prefix = torch.cat([
            torch.cat([prefix[keep], p_lo[keep, None]], 1),
            torch.cat([pre, p0[:, None]], 1),
            torch.cat([pre, 1 - p0[:, None]], 1),
        ])
    return _from_key(torch.sort(lo[lo != _FULL[0]]).values)


def _x_breaks(u_breaks: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """Keys of the first float x at which u[0](x) = (x - shift) * scale crosses each u break
    (the breaks that some float x crosses).

    shift and scale are given per u break (each break's basis's input map), so all bases are
    searched at once. u[0] is computed exactly as `dynamics.input_drive` does, so the
    crossing is exact.
    """
    def crossing(u, c, g):
        def pred(keys, rows):
            return ((_from_key(keys) - _rows(c, rows)) * _rows(g, rows)
                    >= _rows(u, rows)).to(torch.float64)
        return pred

    lo, hi = _FULL[0].expand(len(u_breaks)), _FULL[1].expand(len(u_breaks))
    every = crossing(u_breaks, shift, scale)
    moves = every(lo, None) != every(hi, None)
    u, c, g = u_breaks[moves], shift[moves], scale[moves]
    guess = _to_key(torch.nan_to_num(c + u / g, nan=0.0, posinf=_MAX, neginf=-_MAX))
    return _first_switch(crossing(u, c, g), lo[moves].clone(), hi[moves].clone(), guess)


def build(kernels: Kernels, readout: Readout) -> Staircase:
    """Enumerate the pieces of sum_n w_n o_n(x) + b over all finite float64 x.

    kernels and readout must be float64. Each basis's pieces are enumerated in u-space once
    per distinct (r, Vth) and mapped to x through its input map (every basis in one search);
    then every piece's level and spike count are the simulation of its first point
    (`mbe.core.simulator`: the float64 operations of `mbe.core.dynamics`, in C where it is
    available).
    """
    u = [_u_breaks(kernels.r[:, n].contiguous(), kernels.vth[:, n].contiguous())
         for n in range(kernels.d.shape[1])]
    per_break = [torch.cat([v[n].expand(len(b)) for n, b in enumerate(u)])
                 for v in (readout.shift, readout.scale)]
    keys = _x_breaks(torch.cat(u), *per_break)
    breaks = _from_key(torch.unique(keys))
    starts = torch.cat([torch.tensor([-_MAX], dtype=torch.float64), breaks])
    sim = run(kernels, readout, starts, (-_MAX, _MAX), counts=True)
    return Staircase(breaks, sim.values, sim.counts.to(torch.int64))
