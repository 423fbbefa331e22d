"""The spiking dynamics shared by every neuron in `mbe`: a pure functional core.

A neuron here is N parallel bases driven by the same scalar input x for T steps. Basis n
receives u_n[0] = (x - c_n) * g_n (the paper's neuron has c = 0, g = 1, i.e. u_n[0] = x) and
then follows, for t = 0 .. T-1 (Wang et al. 2025, Eqs. 5-7; Eqs. 1-3 for FS with N = 1):

    s_n[t]   = H(u_n[t] - Vth_n[t])          (Eq. 6, H(0) = 1: fire when u >= Vth)
    u_n[t+1] = u_n[t] - s_n[t] * r_n[t]      (Eq. 5, reset by subtraction)
    o_n[t+1] = o_n[t] + s_n[t] * d_n[t]      (Eq. 7, o_n[0] = 0)

and the decoded output is  f_hat(x) = sum_n w_n * o_n[T] + b   (Eq. 8; b = 0 in the paper).

Everything is plain tensors in, plain tensors out. `Readout` holds what does not depend on t;
`Kernels` holds the (T, N) tables d, r, Vth. Both MBE (Eq. 4 kernels) and FS (free kernels)
neurons are evaluated by `simulate`, and their exact fast path (`mbe.core.staircase`) replays
`input_drive` and `step` so that both paths compute bit-identical values.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch
from torch import Tensor


class Kernels(NamedTuple):
    """Per-step intensity d, reset r and threshold vth, each of shape (T, N)."""

    d: Tensor
    r: Tensor
    vth: Tensor


class Readout(NamedTuple):
    """Input map (u_n[0] = (x - shift_n) * scale_n) and output map (sum_n weight_n o_n + bias)."""

    scale: Tensor  # (N,)
    shift: Tensor  # (N,)
    weight: Tensor  # (N,)
    bias: Tensor  # ()


SpikeFn = Callable[[Tensor], Tensor]


def heaviside(v: Tensor) -> Tensor:
    """H(v) with H(0) = 1, in v's dtype (Eq. 6)."""
    return (v >= 0).to(v.dtype)


def input_drive(x: Tensor, readout: Readout) -> Tensor:
    """u_n[0] for every basis: shape x.shape + (N,)."""
    return (x.unsqueeze(-1) - readout.shift) * readout.scale


def step(u: Tensor, o: Tensor, d_t: Tensor, r_t: Tensor, vth_t: Tensor,
         spike: SpikeFn = heaviside) -> tuple[Tensor, Tensor, Tensor]:
    """One time step of Eqs. 5-7. Returns (u[t+1], o[t+1], s[t])."""
    s = spike(u - vth_t)
    return u - s * r_t, o + s * d_t, s


def decode(o: Tensor, readout: Readout) -> Tensor:
    """Eq. 8 (plus the optional bias): w_0 o_0 + w_1 o_1 + ... summed in basis order, then + b.

    The order is fixed (not `sum`'s, which depends on the CPU torch runs on), so the decoded
    value has the same bits on every machine and in the C simulation (`mbe.core.simulator`).
    """
    terms = o * readout.weight
    y = terms[..., 0]
    for n in range(1, terms.shape[-1]):
        y = y + terms[..., n]
    return y + readout.bias


def place_values(timesteps: int) -> Tensor:
    """2^(T-1-t) for t = 0 .. T-1 (float64): the weight of step t's spike in a spike code."""
    return 2.0 ** torch.arange(timesteps - 1, -1, -1, dtype=torch.float64)


def spike_code(spikes: Tensor) -> Tensor:
    """sum_n sum_t s_n[t] 2^(T-1-t) from a (..., N, T) spike tensor: each basis's spike train
    read as a binary number, summed over bases (an exact integer in float64; the identity
    encoder's code q, Eq. 10)."""
    return (spikes.to(torch.float64) @ place_values(spikes.shape[-1])).sum(-1)


def run_bases(x: Tensor, kernels: Kernels, readout: Readout, *, spike: SpikeFn = heaviside,
              record: bool = False) -> tuple[Tensor, Tensor | None]:
    """Run Eqs. 5-7 for T steps. Returns (o_n[T] of shape x.shape + (N,), spikes or None).

    spikes has shape x.shape + (N, T) and holds s_n[t]. All arithmetic happens in the
    kernels' dtype; cast x beforehand to choose the precision.
    """
    u = input_drive(x, readout)
    o = torch.zeros_like(u)
    spikes = []
    for t in range(kernels.d.shape[0]):
        u, o, s = step(u, o, kernels.d[t], kernels.r[t], kernels.vth[t], spike)
        if record:
            spikes.append(s)
    return o, (torch.stack(spikes, dim=-1) if record else None)


def simulate(x: Tensor, kernels: Kernels, readout: Readout, *, spike: SpikeFn = heaviside,
             record: bool = False) -> tuple[Tensor, Tensor | None]:
    """The decoded output f_hat(x) (Eq. 8) of x's shape, and the spikes if `record`."""
    o, spikes = run_bases(x, kernels, readout, spike=spike, record=record)
    return decode(o, readout), spikes
