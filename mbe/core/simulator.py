"""The T-step simulation (Eqs. 5-8) of a neuron over whole tensors: the engine of "spike" mode.

`mbe.core.dynamics.simulate` is the readable reference: it steps every basis of every element in
torch and keeps the (..., N, T) spike tensor. `simulate` here runs the same float64 operations
per element and step in C (`mbe/native/simulate.c`) and keeps, instead of the
spike tensor, what spike mode reads from it:

    values  the decoded output (Eq. 8) in float64, NaN where x is NaN
    counts  the spikes each element fired, over all bases and steps (int32)
    code    sum_n sum_t s_n[t] 2^(T-1-t): each basis's spike train read as a binary number,
            summed over bases (float64, an exact integer; NaN where x is NaN). For an identity
            encoder this is its code q (Eq. 10; `mbe.ops.primitives.Identity`)

Both give the same bits (tested on thresholds +-1 ulp, NaN, +-inf; every loop of the C code).
Off the CPU, without a C compiler, or for T > 62 (the spike train no longer fits a 64-bit
word), the torch path runs instead (`_torch`): the reference's steps on x's device, keeping
per step only the running counts and code, not the spike tensor.
"""
from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..native import loader
from ..native.loader import F32, F64
from ..native.structs import NeuronStruct
from ..ranges import Range
from .dynamics import Kernels, Readout, decode, input_drive, step

MAX_STEPS = 62


@dataclass
class Simulation:
    """What one simulation of x produced: tensors in x's shape (see the module docstring;
    None where not asked for), the Range of x against the domain, and the spikes fired."""

    values: Tensor | None
    counts: Tensor | None
    code: Tensor | None
    seen: Range
    spikes: int


def simulate(neuron, x: Tensor, domain: tuple[float, float], *, values: bool = True,
             counts: bool = False, code: bool = False) -> Simulation:
    """Simulate `neuron` (a `SpikingNeuron`) on every element of x (float32 or float64, taken
    exactly as float64).

    values, counts and code choose the per-element results to keep. `seen` counts x against
    `domain`; inputs outside it are simulated as they are, never clamped.
    """
    return run(neuron.kernels(), neuron.readout(), x, domain, values=values, counts=counts,
               code=code)


def run(kernels: Kernels, readout: Readout, x: Tensor, domain: tuple[float, float],
        *, values: bool = True, counts: bool = False, code: bool = False) -> Simulation:
    """`simulate` for the (T, N) kernels and readout of a neuron (float64)."""
    if x.dtype not in (F32, F64):
        raise TypeError(f"the simulation takes float32 or float64 tensors, got {x.dtype}: "
                        "convert the input first")
    lib = loader.compiled(x)
    steps, n_basis = kernels.d.shape
    if lib is None or steps > MAX_STEPS or not bool(torch.isfinite(kernels.vth).all()):
        return _torch(kernels, readout, x, domain, values, counts, code)
    params = [t.to(F64).contiguous() for t in (kernels.vth, kernels.r, kernels.d, readout.shift,
                                               readout.scale, readout.weight)]
    nr = NeuronStruct(steps, n_basis, *(t.data_ptr() for t in params), float(readout.bias))

    def loop(xc, outs, lo, hi, stats):
        getattr(lib, f"simulate_{'f32' if x.dtype == F32 else 'f64'}")(
            loader.pointer(xc), ctypes.c_int64(xc.numel()), ctypes.byref(nr), *outs, lo, hi,
            stats, ctypes.c_int(torch.get_num_threads()), loader.simd_level())

    outs, seen, spikes = loader.elementwise(
        x, domain, {"values": F64 if values else None, "code": F64 if code else None,
                    "counts": torch.int32 if counts else None}, loop)
    return Simulation(**outs, seen=seen, spikes=spikes)


def _torch(kernels: Kernels, readout: Readout, x: Tensor, domain, values: bool, counts: bool,
           code: bool) -> Simulation:
    """The same results by the reference's operations (`mbe.core.dynamics`: `input_drive`,
    `step`, `decode`) on x's device. The spike tensor is never kept: each step adds its spikes
    to the counts and, times 2^(T-1-t), to the code (exact integers in float64, so the sum
    equals `spike_code`'s in any order)."""
    loader.check_float64(x.device)
    x64 = x.detach().to(F64)
    # small (T, N) tensors, built per call by the caller: moved, not cached (`loader.on` keeps
    # copies of the operators' lasting tables)
    kernels = Kernels(*(t.to(device=x.device, dtype=F64) for t in kernels))
    readout = Readout(*(t.to(device=x.device, dtype=F64) for t in readout))
    u = input_drive(x64, readout)
    o = torch.zeros_like(u)
    fired = torch.zeros(x64.shape, dtype=torch.int32, device=x.device)
    q = torch.zeros_like(x64) if code else None
    steps = kernels.d.shape[0]
    for t in range(steps):
        u, o, s = step(u, o, kernels.d[t], kernels.r[t], kernels.vth[t])
        fired += s.sum(-1).to(torch.int32)
        if code:
            q += s.sum(-1) * 2.0 ** (steps - 1 - t)
    nan = torch.isnan(x64)
    y = decode(o, readout).masked_fill(nan, math.nan) if values else None
    return Simulation(y, fired if counts else None,
                      q.masked_fill(nan, math.nan) if code else None,
                      Range.of(x, domain), int(fired.sum()))
