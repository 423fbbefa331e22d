"""The softmax's compiled loops (`softmax.c`), each with a torch path of the same operations.

`softmax_exp` runs the fast path's whole Eq. 13 numerator (and, asked to, the denominator) in
one loop over rows; `softmax_split` and `softmax_place` take the split z = (x - max) log2e
apart element by element and put values back, for the paths that evaluate the 2^x neuron on
its own (recording piece indices, spike mode); `row_sums` sums rows in the one fixed order
every path divides by. float32 runs in C where `loader.compiled` gives the loops; float64,
tensors off the CPU, or no compiled loops, run the torch operations, with the same bits.
"""
from __future__ import annotations

import ctypes
import math

import torch
from torch import Tensor

from ..ranges import Range
from . import loader
from .loader import F32, F64, bounds, compiled, pointer
from .structs import DenominatorStruct
from .tables import Table


def softmax_exp(x: Tensor, log2e: float, table: Table, *, index: bool = False,
                denominator: tuple[Table, tuple[float, float]] | None = None):
    """Fused softmax numerator (see `softmax.c`) of a contiguous float32 (rows, cols) x:
    (e, row maxima (rows, 1), piece index or None, (nan, evaluated, min f, max f), None), or
    None without a C compiler.

    With `denominator` = (table of 1/x then its encoder, the 1/x neuron's domain), each row is
    also divided by its sum as Eq. 13 does (frexp, table, shift: `row_sums` order), and the
    last item is the `Range` of the mantissas the denominator saw.
    """
    lib = compiled(x)
    if lib is None:
        return None
    num = table.fractions(merged=not index)
    rows, cols = x.shape
    e = torch.empty_like(x)
    top = torch.empty(rows, 1, dtype=F32)
    idx = torch.empty(x.shape, dtype=torch.int32) if index else None
    stats = (ctypes.c_double * 8)()
    f = ctypes.c_float
    den = None
    if denominator is not None:
        d = denominator[0].cells(F32, F64, merged=True)
        dlo, dhi = bounds(denominator[1], F32)
        den = DenominatorStruct(d.lo, d.inv, d.cells, d.base.data_ptr(),
                                d.breaks.data_ptr(), d.per_cell, d.values.data_ptr(), dlo, dhi)
    lib.softmax_exp_f32(pointer(x), ctypes.c_int64(rows), ctypes.c_int64(cols),
                        pointer(top), f(log2e), ctypes.byref(num.struct()),
                        None if den is None else ctypes.byref(den), pointer(e), pointer(idx),
                        stats, ctypes.c_int(torch.get_num_threads()), loader.simd_level())
    seen = None if den is None else Range(tuple(denominator[1]), rows, int(stats[4]),
                                          int(stats[5]), stats[6], stats[7])
    return e, top, idx, (int(stats[0]), int(stats[1]), stats[2], stats[3]), seen


def softmax_split(x: Tensor, log2e: float, min_exponent: int):
    """The softmax split of a contiguous (rows, cols) x element by element (`softmax.c`):
    (row maxima (rows, 1), elements evaluated per row (rows,), k and f of the evaluated
    elements in row-major order). z = (x - max) log2e is evaluated where z >= min_exponent;
    k = floor(z), f = z - k. float32 in C; float64 (or without a C compiler) by torch, with
    the same operations."""
    lib = compiled(x)
    if lib is None or x.dtype != F32:
        top = x.amax(-1, keepdim=True)
        z = (x - top).mul_(torch.tensor(log2e, dtype=x.dtype))
        keep = z >= min_exponent
        zk = z[keep]
        k = torch.floor(zk)
        return top, keep.sum(-1), k, zk - k
    rows, cols = x.shape
    top = torch.empty(rows, 1, dtype=F32)
    evaluated = torch.empty(rows, dtype=torch.int64)
    k, f = torch.empty(x.numel(), dtype=F32), torch.empty(x.numel(), dtype=F32)
    lib.softmax_split_f32(pointer(x), ctypes.c_int64(rows), ctypes.c_int64(cols),
                          ctypes.c_float(log2e), pointer(top), pointer(evaluated), pointer(k),
                          pointer(f), ctypes.c_int(torch.get_num_threads()))
    n = int(evaluated.sum())
    return top, evaluated, k[:n], f[:n]


def softmax_place(x: Tensor, top: Tensor, log2e: float, min_exponent: int,
                  evaluated: Tensor, values: Tensor) -> Tensor:
    """The (rows, cols) tensor holding `values` (one per evaluated element, row-major, as
    `softmax_split` gives them) in their places, 0 where z < min_exponent, NaN where z is
    NaN."""
    lib = compiled(x)
    if lib is None or x.dtype != F32:
        z = (x - top).mul_(torch.tensor(log2e, dtype=x.dtype))
        out = torch.zeros_like(z).masked_fill_(torch.isnan(z), math.nan)
        out[z >= min_exponent] = values
        return out
    rows, cols = x.shape
    start = torch.cumsum(evaluated, 0) - evaluated
    out = torch.empty_like(x)
    lib.softmax_place_f32(pointer(x), ctypes.c_int64(rows), ctypes.c_int64(cols),
                          ctypes.c_float(log2e), pointer(top), pointer(start),
                          pointer(values.contiguous()), pointer(out),
                          ctypes.c_int(torch.get_num_threads()))
    return out


def row_sums(e: Tensor) -> Tensor:
    """Sums over the last axis of a (rows, cols) tensor, (rows, 1): for float32 in the fused
    softmax's fixed order (`softmax.c`, sum16: sixteen running sums, element c into sum c mod
    16, then halved pairwise), in C or by the same additions in torch, so every softmax path
    and device divides by the same sum; float64 by torch's sum."""
    if e.dtype != F32:
        return e.sum(-1, keepdim=True)
    e = e.contiguous()
    lib = compiled(e)
    if lib is None:
        return _sum16(e)
    out = torch.empty(e.shape[0], 1, dtype=F32)
    lib.row_sums_f32(pointer(e), ctypes.c_int64(e.shape[0]), ctypes.c_int64(e.shape[1]),
                     pointer(out), ctypes.c_int(torch.get_num_threads()))
    return out


def _sum16(e: Tensor) -> Tensor:
    """`row_sums` of float32 rows in sum16's order by torch (adding the zero padding of the
    last chunk changes no sum: e >= 0)."""
    rows, cols = e.shape
    chunks = -(-cols // 16)
    padded = torch.nn.functional.pad(e, (0, 16 * chunks - cols)).view(rows, chunks, 16)
    acc = torch.zeros(rows, 16, dtype=F32, device=e.device)
    for c in range(chunks):
        acc = acc + padded[:, c]
    for w in (8, 4, 2, 1):
        acc = acc[:, :w] + acc[:, w:2 * w]
    return acc
