"""Exact staircase evaluation fast enough for whole activation tensors.

A fitted neuron is a staircase in x (`mbe.core.staircase`): its output on piece k is a fixed
value. `Table(breaks, values)` evaluates x -> values[idx(x)], idx(x) = #{k : x >= breaks[k]},
which is exactly the neuron's fast path (`Staircase.index` uses the same rule), but in one
fused pass over x instead of a float64 `searchsorted` over up to half a million breaks.

How it stays exact in float32. A float32 x satisfies x >= b (b float64) iff x >= b', b' the
smallest float32 >= b; so float32 inputs are compared with breaks rounded up to float32, and
no input is ever converted. The breaks are bucketed on a uniform grid by a monotone cell
function of x, so only the few breaks in x's own cell are compared (`lookup.c`).

`Quantiser` serves staircases that are uniform quantisers (the identity encoders): it checks
once, at every break, that a closed form q = clamp(floor((x - lo) / beta), 0, span) gives the
staircase's piece, and then evaluates that instead of searching half a million breaks
(`quantise.c`; the torch path searches the table). `Fractions` is the softmax's 2^x table
keyed by f's fixed-point value (`softmax.c`).

Off the CPU, or without the compiled loops (`mbe.native.loader.compiled`), every lookup runs
`torch.searchsorted` on the same rounded breaks, on x's device: the same numbers.
"""
from __future__ import annotations

import ctypes
import functools
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..ranges import Range
from . import loader
from .loader import F32, F64, compiled, elementwise, library, pointer, real, round_up
from .structs import FractionsStruct

_MAX_CELLS = 1 << 22
_MAX_PER_CELL = 16  # cells are refined (up to _MAX_CELLS) until no cell holds more breaks


def _suffix(dtype: torch.dtype, out: torch.dtype) -> str:
    return {(F32, F32): "f32", (F32, F64): "f32_f64", (F64, F64): "f64"}[(dtype, out)]


def _values_and_index(x: Tensor, domain, index: bool, out_dtype: torch.dtype, loop):
    """`elementwise` for the lookups: (values, piece index (int32) if `index`, Range)."""
    outs, seen, _ = elementwise(x, domain, {"values": out_dtype,
                                            "index": torch.int32 if index else None}, loop)
    return outs["values"], outs["index"], seen


@dataclass
class _Cells:
    lo: float
    inv: float
    cells: int
    per_cell: int   # the most breaks any cell holds
    base: Tensor    # (cells + 1,) int32
    breaks: Tensor  # (K + per_cell,) in the input dtype, rounded up, then padding NaN
    values: Tensor  # (K + 1,) in the output dtype

    @functools.cached_property
    def pairs(self) -> Tensor:
        """(breaks[i], values[i]) interleaved, (K + per_cell, 2): a piece's break and value
        in one cache line (the vector lookup's layout; values past K are never read)."""
        vals = torch.full((len(self.breaks),), math.nan, dtype=self.values.dtype)
        vals[:len(self.values)] = self.values
        return torch.stack([self.breaks, vals.to(self.breaks.dtype)], 1).contiguous()


def _cells(breaks64: Tensor, values64: Tensor, dtype: torch.dtype, out: torch.dtype) -> _Cells:
    """The bucketed table: a uniform grid of cells over the breaks, fine enough that no cell
    holds more than _MAX_PER_CELL breaks where _MAX_CELLS allows it."""
    brk = round_up(breaks64, dtype).contiguous()
    vals = values64.to(out).contiguous()
    finite = brk[torch.isfinite(brk)]
    cells = int(min(_MAX_CELLS, max(1024, len(brk))))
    while True:
        lo, inv, cells, base, per_cell = _grid(brk, finite, dtype, cells)
        if per_cell <= _MAX_PER_CELL or cells == 1 or 2 * cells > _MAX_CELLS:
            break
        cells *= 2
    # padding NaN: x >= NaN is false, so comparisons past the last break add nothing
    padded = torch.cat([brk, torch.full((max(per_cell, 1),), float("nan"), dtype=dtype)])
    return _Cells(lo, inv, cells, per_cell, base, padded, vals)


def _grid(brk: Tensor, finite: Tensor, dtype: torch.dtype, cells: int):
    """(lo, inv, cells, base, most breaks in one cell) for a grid of `cells` cells."""
    if finite.numel() < 2 or finite[0] == finite[-1]:
        lo, inv, cells = 0.0, 0.0, 1
    else:
        lo_t = finite[0]
        inv_t = (torch.tensor(float(cells), dtype=F64) / (finite[-1].to(F64) - lo_t.to(F64)))
        lo, inv = float(lo_t), float(inv_t.to(dtype))
    # the cell of every break, by the same float operations as the C loop (monotone in x)
    v = (brk - torch.tensor(lo, dtype=dtype)) * torch.tensor(inv, dtype=dtype)
    v = torch.where(v > 0, v, torch.zeros((), dtype=dtype)).clamp(max=cells - 1)
    cell = v.to(torch.int64)
    base = torch.searchsorted(cell, torch.arange(cells + 1, dtype=torch.int64))
    per_cell = int((base[1:] - base[:-1]).max()) if len(brk) else 0
    return lo, inv, cells, base.to(torch.int32).contiguous(), per_cell


FRACTION_BITS = 24  # every f the float32 softmax split makes is j / 2^24 (`softmax.c`)
_CELL_BITS = 7      # a cell of the fraction table spans 2^7 values of j: offsets fit a byte
_SLOTS = 5          # offsets one 64-bit record holds


@dataclass
class Fractions:
    """A table on f in [0, 1] for the softmax's 2^x lookups, keyed by j = f 2^24.

    The float32 softmax split only makes f = j / 2^24 (proof in `softmax.c`),
    so f >= b iff j >= ceil(b 2^24). Cell c = j >> 7 gets one 64-bit record (two int32 here,
    low word first): the breaks below the cell, an overflow flag, and the byte offsets of its
    first five breaks. One record per element instead of a bucket lookup and several break
    reads: two 64-bit gathers per 16 elements. In a flagged cell (more than five breaks) the
    count goes on in `breaks`.
    """

    records: Tensor  # (2^17 + 1, 2) int32
    values: Tensor   # (K + 1,) float32
    breaks: Tensor   # (K,) float32, rounded up

    @classmethod
    def build(cls, breaks64: Tensor, values64: Tensor) -> "Fractions":
        count = len(breaks64)
        if count >= 1 << 23:
            raise ValueError(f"the softmax's 2^x table has {count:,} breaks; its fraction table "
                             f"holds fewer than 2^23 ({1 << 23:,}): fit the 2^x neuron with fewer "
                             "bases or time steps")
        cells = (1 << (FRACTION_BITS - _CELL_BITS)) + 1
        past = (cells << _CELL_BITS) + 1  # beyond the last cell: counted by no record
        jb = torch.ceil(breaks64 * float(1 << FRACTION_BITS)).clamp(-1, past).to(torch.int64)
        start = torch.arange(cells + 1, dtype=torch.int64) << _CELL_BITS
        base = torch.searchsorted(jb, start)  # breaks with jb < start
        held = base[1:] - base[:-1]
        slot = torch.arange(_SLOTS)
        padded = torch.cat([jb, torch.tensor([past])])
        at = (base[:-1, None] + slot).clamp(max=count)
        off = torch.where(slot < held[:, None], padded[at] - start[:-1, None], 255)
        low = base[:-1] | (held > _SLOTS).to(torch.int64) << 23 | off[:, 0] << 24
        high = off[:, 1] | off[:, 2] << 8 | off[:, 3] << 16 | off[:, 4] << 24
        words = torch.stack([low, high], 1)
        words = torch.where(words >= 1 << 31, words - (1 << 32), words).to(torch.int32)
        return cls(words.contiguous(), values64.to(F32).contiguous(),
                   round_up(breaks64, F32).contiguous())

    def struct(self) -> FractionsStruct:
        return FractionsStruct(self.records.data_ptr(), self.values.data_ptr(),
                                self.breaks.data_ptr(), len(self.breaks))


class Table:
    """x -> values[#{k : x >= breaks[k]}] exactly, for float32 and float64 tensors x.

    breaks: ascending float64 (K,); values: float64 (K + 1,). Values are returned in x's dtype
    (float64 values rounded to float32 for float32 x, as `level.to(x.dtype)` does), or in
    float64 for any x with `wide=True`. NaN inputs give NaN and index -1.
    """

    def __init__(self, breaks: Tensor, values: Tensor):
        if values.shape != (breaks.numel() + 1,):
            raise ValueError(f"a table with {breaks.numel()} breaks needs {breaks.numel() + 1} "
                             f"values, got shape {tuple(values.shape)}")
        self.breaks = breaks.to(F64).contiguous()
        self.values = values.to(F64).contiguous()
        self._built: dict[tuple, _Cells | Fractions | tuple] = {}  # by dtype, fractions, device

    def cells(self, dtype: torch.dtype, out: torch.dtype | None = None, *,
              merged: bool = False) -> _Cells:
        """The bucketed tables for x of `dtype`; merged=True drops the breaks between pieces
        of equal value (same values, fewer breaks: for lookups that need no piece index)."""
        key = (dtype, out or dtype, merged)
        if key not in self._built:
            self._built[key] = _cells(*self._pieces(merged), dtype, out or dtype)
        return self._built[key]

    def fractions(self, *, merged: bool = False) -> Fractions:
        """The `Fractions` form of this table (for f in [0, 1]; see `cells` for merged)."""
        key = ("fractions", merged)
        if key not in self._built:
            self._built[key] = Fractions.build(*self._pieces(merged))
        return self._built[key]

    def _pieces(self, merged: bool) -> tuple[Tensor, Tensor]:
        """(breaks, values), without the breaks between pieces of equal value if merged."""
        if not merged:
            return self.breaks, self.values
        change = self.values[1:] != self.values[:-1]
        return self.breaks[change], torch.cat([self.values[:1], self.values[1:][change]])

    def __call__(self, x: Tensor, domain: tuple[float, float], *, index: bool = False,
                 wide: bool = False) -> tuple[Tensor, Tensor | None, Range]:
        """(values, piece index (int32) if `index`, the Range of x against domain)."""
        if x.dtype not in (F32, F64):
            raise TypeError(f"Table evaluates float32 or float64 tensors, got {x.dtype}: "
                            "convert the input first")
        out_dtype = F64 if wide else x.dtype
        lib = compiled(x)
        if lib is None:
            return self._torch(x, domain, index, out_dtype)
        c = self.cells(x.dtype, out_dtype, merged=not index)
        scalar = real(x.dtype)
        pairs = c.pairs if (x.dtype, out_dtype) == (F32, F32) else None  # the vector loop's

        def loop(xc, outs, lo, hi, stats):
            getattr(lib, f"stair_lookup_{_suffix(x.dtype, out_dtype)}")(
                pointer(xc), ctypes.c_int64(xc.numel()), scalar(c.lo), scalar(c.inv),
                ctypes.c_int64(c.cells), pointer(c.base), pointer(c.breaks),
                ctypes.c_int(c.per_cell), pointer(c.values), pointer(pairs), *outs, lo, hi,
                stats, ctypes.c_int(torch.get_num_threads()), loader.simd_level())

        return _values_and_index(x, domain, index, out_dtype, loop)

    def _torch(self, x: Tensor, domain, index: bool, out_dtype: torch.dtype):
        """The torch path (any device; also the fallback without a C compiler): the same
        comparisons with the rounded breaks, by `torch.searchsorted`."""
        breaks, values = self._on_device(x.dtype, out_dtype, x.device, merged=not index)
        k = torch.searchsorted(breaks, x.detach().contiguous(), right=True)
        nan = torch.isnan(x)
        out = torch.where(nan, torch.full((), float("nan"), dtype=out_dtype, device=x.device),
                          values[k])
        idx = torch.where(nan, -1, k).to(torch.int32) if index else None
        return out, idx, Range.of(x, domain)

    def _on_device(self, dtype: torch.dtype, out: torch.dtype, device: torch.device,
                   merged: bool) -> tuple[Tensor, Tensor]:
        """(breaks rounded up to dtype, values in out) on device, built once."""
        key = ("torch", dtype, out, device, merged)
        if key not in self._built:
            loader.check_float64(device)
            breaks, values = self._pieces(merged)
            self._built[key] = (round_up(breaks, dtype).contiguous().to(device),
                                values.to(out).contiguous().to(device))
        return self._built[key]


class Quantiser:
    """A uniform staircase in closed form: x -> beta (q + m), q = clamp(floor((x - lo) / beta),
    0, span), with beta a power of two (the dyadic identity encoders, `mbe.ops.primitives`).

    It stands in for `table` (the same staircase, piece k valued beta (k + m)) only where that
    is proven: per input dtype, the closed form must give the table's piece at every break
    (rounded to the dtype) and at the value just below it, and at +-inf. Both sides are
    monotone step functions that can only change at those breaks, so agreeing there means
    agreeing everywhere. Where the proof fails (a break the float64 simulation puts an ulp
    away from the ideal), or without a C compiler, the table is used. Values are float64.
    """

    def __init__(self, table: Table, lo: float, beta: float, m: int, span: int):
        self.table, self.lo, self.beta, self.m, self.span = table, lo, beta, m, span
        self._exact: dict[tuple, bool] = {}

    def exact_for(self, dtype: torch.dtype) -> bool:
        """Whether the closed form equals the table for inputs of dtype (checked once)."""
        key = (dtype, loader.SIMD)
        if key not in self._exact:
            self._exact[key] = library() is not None and self._check(dtype)
        return self._exact[key]

    def _check(self, dtype: torch.dtype) -> bool:
        k = torch.arange(len(self.table.values), dtype=F64)
        if len(k) != self.span + 1 or not torch.equal(self.table.values,
                                                      self.beta * (k + self.m)):
            return False
        b = round_up(self.table.breaks, dtype)
        b = b[torch.isfinite(b)]
        inf = torch.tensor([math.inf], dtype=dtype)
        points = torch.cat([b, torch.nextafter(b, -inf), inf, -inf])
        want = torch.searchsorted(self.table.breaks, points.to(F64), right=True)
        _, got, _ = self._quantise(points, (-math.inf, math.inf), index=True)
        return torch.equal(got.long(), want)

    def __call__(self, x: Tensor, domain: tuple[float, float], *, index: bool = False,
                 wide: bool = True) -> tuple[Tensor, Tensor | None, Range]:
        """As `Table.__call__`, with float64 values (`wide`)."""
        if (not wide or x.dtype not in (F32, F64) or compiled(x) is None
                or not self.exact_for(x.dtype)):
            return self.table(x, domain, index=index, wide=wide)
        return self._quantise(x, domain, index)

    def _quantise(self, x: Tensor, domain, index: bool):
        d = ctypes.c_double

        def loop(xc, outs, lo, hi, stats):
            getattr(library(), f"quantise_{'f32' if x.dtype == F32 else 'f64'}")(
                pointer(xc), ctypes.c_int64(xc.numel()), d(self.lo), d(1.0 / self.beta),
                d(float(self.span)), d(self.beta), d(float(self.m)), *outs, lo, hi, stats,
                ctypes.c_int(torch.get_num_threads()), loader.simd_level())

        return _values_and_index(x, domain, index, F64, loop)
