"""The identity encoder MBE_Id (Wang et al. 2025, Eqs. 9-10; appendix G.1: fixed, not fitted).

MBE_Id turns an activation into spikes whose decoded value reconstructs it. The paper fixes
its parameters rather than fitting them; it does not say to what. `mbe` fixes them to N
interleaved binary quantisers (docs/decisions.md, "identity encoder"):

    u_n[0]   = (x - lo) * s + n / (N 2^T),      s = (1 - 2^-T) / (hi - lo)
    Vth_n[t] = r_n[t] = d_n[t] = 2^-(t+1)       (Eq. 4 with alpha = 1/2, dt / tau = ln 2)
    x_hat    = lo + (1/s) * ( (1/N) sum_n o_n[T] + 1 / (2 N 2^T) )

Each basis is a T-bit floor quantiser of u; the N copies are offset by 1/N of a quantisation
step, so their average is the floor quantiser with step 1/(N 2^T), and adding half a step
centres the error. For x in [lo, hi]:

    |x_hat - x| <= (hi - lo) / (2 N (2^T - 1))        (= range / 2^20 for N = 8, T = 16)

up to float64 rounding. Inputs outside [lo, hi] saturate and are counted in `range_stats`.
"""
from __future__ import annotations

import math

import torch

from .dynamics import Readout
from .neuron import F64, MBENeuron


def error_bound(lo: float, hi: float, n_basis: int = 8, timesteps: int = 16) -> float:
    """The worst-case reconstruction error of `identity_encoder(lo, hi, N, T)` on [lo, hi]."""
    return (hi - lo) / (2 * n_basis * (2**timesteps - 1))


def identity_encoder(lo: float, hi: float, n_basis: int = 8, timesteps: int = 16) -> MBENeuron:
    """MBE_Id over the calibrated range [lo, hi]: an `MBENeuron` with fixed parameters."""
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"identity range must be finite with lo < hi, got [{lo}, {hi}]: "
                         "calibrate it on data that varies")
    n, levels = n_basis, 2.0**timesteps
    s = (1.0 - 1.0 / levels) / (hi - lo)
    offsets = torch.arange(n, dtype=F64) / (n * levels)
    readout = Readout(scale=torch.full((n,), s, dtype=F64),
                      shift=lo - offsets / s,
                      weight=torch.full((n,), 1.0 / (n * s), dtype=F64),
                      bias=torch.tensor(lo + 1.0 / (2 * n * levels) / s, dtype=F64))
    tau = torch.full((3, n), 1.0 / math.log(2.0), dtype=F64)
    alpha = torch.full((3, n), 0.5, dtype=F64)
    return MBENeuron(tau, torch.ones(n, dtype=F64), alpha, readout, timesteps=timesteps,
                     domain=(lo, hi),
                     meta={"target": "identity", "fixed": True,
                           "error_bound": error_bound(lo, hi, n, timesteps)})
