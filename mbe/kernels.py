"""Exact staircase evaluation fast enough for whole activation tensors.

A fitted neuron is a staircase in x (`mbe.staircase`): its output on piece k is a fixed value.
`Table(breaks, values)` evaluates x -> values[idx(x)], idx(x) = #{k : x >= breaks[k]}, which
is exactly the neuron's fast path (`Staircase.index` uses the same rule), but in one fused
pass over x instead of a float64 `searchsorted` over up to half a million breaks.

How it stays exact in float32. A float32 x satisfies x >= b (b float64) iff x >= b', b' the
smallest float32 >= b; so float32 inputs are compared with breaks rounded up to float32, and
no input is ever converted. The breaks are bucketed on a uniform grid by a monotone cell
function of x, so only the few breaks in x's own cell are compared (`_kernels.c`).

`Quantiser` serves staircases that are uniform quantisers (the identity encoders): it checks
once, at every break, that a closed form q = clamp(floor((x - lo) / beta), 0, span) gives the
staircase's piece, and then evaluates that instead of searching half a million breaks.

The loops live in `_kernels.c`, compiled once with the system C compiler (gcc/cc, OpenMP when
available) into the cache directory and loaded with ctypes; on CPUs with AVX-512 the float32
loops run vectorised (`SIMD`; same numbers, tested). Without a compiler everything still works
through `torch.searchsorted` (same numbers, slower), with a warning.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import math
import os
import shutil
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from . import registry

F32, F64 = torch.float32, torch.float64
_SOURCE = Path(__file__).with_name("_kernels.c")
_FLAGS = ["-O2", "-fPIC", "-shared", "-ffp-contract=off", "-fno-fast-math", "-lm"]
_MAX_CELLS = 1 << 22
_MAX_PER_CELL = 16  # cells are refined (up to _MAX_CELLS) until no cell holds more breaks

#: Use the vector loops the CPU has: AVX-512, and AVX2 for the simulation's lane loop (False:
#: the portable loops, e.g. to compare; same numbers).
SIMD = True


# -- compilation ------------------------------------------------------------------------------
def _compile(src: Path, out: Path) -> bool:
    compiler = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        return False
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    for extra in (["-fopenmp"], []):  # OpenMP if the compiler has it, serial otherwise
        cmd = [compiler, str(src), "-o", str(tmp), *_FLAGS, *extra]
        if subprocess.run(cmd, capture_output=True).returncode == 0:
            tmp.replace(out)
            return True
    return False


@functools.lru_cache(maxsize=1)
def library() -> ctypes.CDLL | None:
    """The compiled `_kernels.c` (built once per source version), or None without a compiler."""
    source = _SOURCE.read_bytes() if _SOURCE.exists() else b""
    tag = hashlib.sha256(source + " ".join(_FLAGS).encode()).hexdigest()[:16]
    path = registry.cache_dir() / "kernels" / f"mbe_kernels_{tag}.so"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() and not (source and _compile(_SOURCE, path)):
        warnings.warn("could not compile mbe/_kernels.c (no C compiler? set CC): mbe operators "
                      "fall back to torch.searchsorted, which gives the same numbers but is "
                      "much slower", stacklevel=2)
        return None
    return ctypes.CDLL(str(path))


def pointer(t: Tensor | None) -> ctypes.c_void_p:
    """A C pointer to t's data (NULL for None)."""
    return ctypes.c_void_p(t.data_ptr() if t is not None else None)


def _real(dtype: torch.dtype):
    return ctypes.c_float if dtype == F32 else ctypes.c_double


def _suffix(dtype: torch.dtype, out: torch.dtype) -> str:
    return {(F32, F32): "f32", (F32, F64): "f32_f64", (F64, F64): "f64"}[(dtype, out)]


def _bounds(domain, dtype: torch.dtype) -> tuple[float, float]:
    """domain's ends in dtype, rounded inwards: x < lo iff x < lo', x > hi iff x > hi'."""
    return _rounded_bounds(float(domain[0]), float(domain[1]), dtype)


@functools.lru_cache(maxsize=1024)
def _rounded_bounds(lo: float, hi: float, dtype: torch.dtype) -> tuple[float, float]:
    ends = torch.tensor([lo, hi], dtype=F64)
    return float(round_up(ends[:1], dtype)), float(-round_up(-ends[1:], dtype))


def elementwise(x: Tensor, domain, outputs: dict[str, torch.dtype | None], loop):
    """Run a C loop over x's elements: ({name: result in x's shape, or None}, Summary, the
    number of events the loop counted: the simulation's spikes).

    outputs names the results and their dtypes (None: not wanted, passed as a NULL pointer).
    loop(xc, pointers, lo, hi, stats) gets x's elements contiguous (`_in_memory_order`), one
    pointer per output in order, the domain bounds in x's dtype (`_bounds`) and the 5-double
    stats buffer of `_kernels.c` (`Summary`'s counts and extremes, then the events).
    """
    xc, restore = _in_memory_order(x)
    outs = {k: None if dt is None else torch.empty(xc.shape, dtype=dt)
            for k, dt in outputs.items()}
    stats = (ctypes.c_double * 5)()
    real = _real(x.dtype)
    dlo, dhi = _bounds(domain, x.dtype)
    loop(xc, [pointer(t) for t in outs.values()], real(dlo), real(dhi), stats)
    summary = Summary(xc.numel(), int(stats[0]), int(stats[1]), stats[2], stats[3])
    return {k: restore(t) for k, t in outs.items()}, summary, int(stats[4])


def _values_and_index(x: Tensor, domain, index: bool, out_dtype: torch.dtype, loop):
    """`elementwise` for the lookups: (values, piece index (int32) if `index`, Summary)."""
    outs, summary, _ = elementwise(x, domain, {"values": out_dtype,
                                               "index": torch.int32 if index else None}, loop)
    return outs["values"], outs["index"], summary


# -- the bucketed table -----------------------------------------------------------------------
@dataclass
class Summary:
    """What one evaluation saw: element count, non-finite and out-of-domain counts, extremes."""

    n: int
    non_finite: int
    outside: int
    min: float
    max: float


def summarize(x: Tensor, domain: tuple[float, float]) -> Summary:
    """`Summary` of x against domain, computed with torch (the C loops compute the same)."""
    x64 = x.detach().to(F64).reshape(-1)
    finite = torch.isfinite(x64)
    xf = x64[finite]
    return Summary(n=x64.numel(), non_finite=int((~finite).sum()),
                   outside=int(((x64 < domain[0]) | (x64 > domain[1])).sum()),
                   min=float(xf.min()) if xf.numel() else float("inf"),
                   max=float(xf.max()) if xf.numel() else float("-inf"))


def _in_memory_order(x: Tensor):
    """(x's elements as a contiguous tensor, a function giving an elementwise result x's
    shape). A transposed view of a contiguous tensor (K^T in Q K^T) is read without a copy."""
    x = x.detach()
    if not x.is_contiguous() and x.dim() >= 2 and x.mT.is_contiguous():
        return x.mT, lambda y: None if y is None else y.mT
    return x.contiguous(), lambda y: y


def round_up(breaks: Tensor, dtype: torch.dtype) -> Tensor:
    """The smallest value of `dtype` >= each float64 break (so x >= b iff x >= round_up(b))."""
    b = breaks.to(dtype)
    low = b.to(F64) < breaks
    return torch.where(low, torch.nextafter(b, torch.tensor(float("inf"), dtype=dtype)), b)


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


FRACTION_BITS = 24  # every f the float32 softmax split makes is j / 2^24 (`_kernels.c`)
_CELL_BITS = 7      # a cell of the fraction table spans 2^7 values of j: offsets fit a byte
_SLOTS = 5          # offsets one 64-bit record holds


class _FractionsStruct(ctypes.Structure):
    """`fractions_t` in `_kernels.c`."""

    _fields_ = [("records", ctypes.c_void_p), ("vals", ctypes.c_void_p),
                ("brk", ctypes.c_void_p), ("count", ctypes.c_int64)]


@dataclass
class Fractions:
    """A table on f in [0, 1] for the softmax's 2^x lookups, keyed by j = f 2^24.

    The float32 softmax split only makes f = j / 2^24 (proof in `_kernels.c`, `fractions_t`),
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

    def struct(self) -> _FractionsStruct:
        return _FractionsStruct(self.records.data_ptr(), self.values.data_ptr(),
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
        self._built: dict[tuple, _Cells | Fractions] = {}  # by dtype, or fractions

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
                 wide: bool = False) -> tuple[Tensor, Tensor | None, Summary]:
        """(values, piece index (int32) if `index`, Summary of x against domain)."""
        if x.dtype not in (F32, F64):
            raise TypeError(f"Table evaluates float32 or float64 tensors, got {x.dtype}: "
                            "convert the input first")
        out_dtype = F64 if wide else x.dtype
        lib = library()
        if lib is None:
            return self._torch(x, domain, index, out_dtype)
        c = self.cells(x.dtype, out_dtype, merged=not index)
        real = _real(x.dtype)
        pairs = c.pairs if (x.dtype, out_dtype) == (F32, F32) else None  # the vector loop's

        def loop(xc, outs, lo, hi, stats):
            getattr(lib, f"stair_lookup_{_suffix(x.dtype, out_dtype)}")(
                pointer(xc), ctypes.c_int64(xc.numel()), real(c.lo), real(c.inv),
                ctypes.c_int64(c.cells), pointer(c.base), pointer(c.breaks),
                ctypes.c_int(c.per_cell), pointer(c.values), pointer(pairs), *outs, lo, hi,
                stats, ctypes.c_int(torch.get_num_threads()), ctypes.c_int(SIMD))

        return _values_and_index(x, domain, index, out_dtype, loop)

    def _torch(self, x: Tensor, domain, index: bool, out_dtype: torch.dtype):
        """The reference evaluation (also the fallback without a C compiler)."""
        c = self.cells(x.dtype, out_dtype)
        k = torch.searchsorted(c.breaks[:c.values.numel() - 1], x.detach().contiguous(),
                               right=True)
        nan = torch.isnan(x)
        out = torch.where(nan, torch.full((), float("nan"), dtype=out_dtype), c.values[k])
        idx = torch.where(nan, -1, k).to(torch.int32) if index else None
        return out, idx, summarize(x, domain)


class _Denominator(ctypes.Structure):
    """`denom_t` in `_kernels.c`: the softmax denominator's table and domain bounds."""

    _fields_ = [("lo", ctypes.c_float), ("inv", ctypes.c_float), ("cells", ctypes.c_int64),
                ("base", ctypes.c_void_p), ("brk", ctypes.c_void_p), ("maxc", ctypes.c_int),
                ("vals", ctypes.c_void_p), ("dlo", ctypes.c_float), ("dhi", ctypes.c_float)]


def softmax_exp(x: Tensor, log2e: float, table: Table, *, index: bool = False,
                denominator: tuple[Table, tuple[float, float]] | None = None):
    """Fused softmax numerator (see `_kernels.c`) of a contiguous float32 (rows, cols) x:
    (e, row maxima (rows, 1), piece index or None, (nan, evaluated, min f, max f), None), or
    None without a C compiler.

    With `denominator` = (table of 1/x then its encoder, the 1/x neuron's domain), each row is
    also divided by its sum as Eq. 13 does (frexp, table, shift: `row_sums` order), and the
    last item is the `Summary` of the mantissas the denominator saw.
    """
    lib = library()
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
        dlo, dhi = _bounds(denominator[1], F32)
        den = _Denominator(d.lo, d.inv, d.cells, d.base.data_ptr(), d.breaks.data_ptr(),
                           d.per_cell, d.values.data_ptr(), dlo, dhi)
    lib.softmax_exp_f32(pointer(x), ctypes.c_int64(rows), ctypes.c_int64(cols),
                        pointer(top), f(log2e), ctypes.byref(num.struct()),
                        None if den is None else ctypes.byref(den), pointer(e), pointer(idx),
                        stats, ctypes.c_int(torch.get_num_threads()), ctypes.c_int(SIMD))
    summary = None if den is None else Summary(rows, int(stats[4]), int(stats[5]), stats[6],
                                               stats[7])
    return e, top, idx, (int(stats[0]), int(stats[1]), stats[2], stats[3]), summary


def softmax_split(x: Tensor, log2e: float, min_exponent: int):
    """The softmax split of a contiguous (rows, cols) x element by element (`_kernels.c`):
    (row maxima (rows, 1), elements evaluated per row (rows,), k and f of the evaluated
    elements in row-major order). z = (x - max) log2e is evaluated where z >= min_exponent;
    k = floor(z), f = z - k. float32 in C; float64 (or without a C compiler) by torch, with
    the same operations."""
    lib = library()
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
    lib = library()
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
    softmax's fixed order (`_kernels.c`, sum16), so every softmax path divides by the same
    sum; float64 (or without a C compiler) by torch."""
    lib = library()
    if lib is None or e.dtype != F32:
        return e.sum(-1, keepdim=True)
    e = e.contiguous()
    out = torch.empty(e.shape[0], 1, dtype=F32)
    lib.row_sums_f32(pointer(e), ctypes.c_int64(e.shape[0]), ctypes.c_int64(e.shape[1]),
                     pointer(out), ctypes.c_int(torch.get_num_threads()))
    return out


class Quantiser:
    """A uniform staircase in closed form: x -> beta (q + m), q = clamp(floor((x - lo) / beta),
    0, span), with beta a power of two (the dyadic identity encoders, `mbe.primitives`).

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
        key = (dtype, SIMD)
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
                 wide: bool = True) -> tuple[Tensor, Tensor | None, Summary]:
        """As `Table.__call__`, with float64 values (`wide`)."""
        if not wide or x.dtype not in (F32, F64) or not self.exact_for(x.dtype):
            return self.table(x, domain, index=index, wide=wide)
        return self._quantise(x, domain, index)

    def _quantise(self, x: Tensor, domain, index: bool):
        d = ctypes.c_double

        def loop(xc, outs, lo, hi, stats):
            getattr(library(), f"quantise_{'f32' if x.dtype == F32 else 'f64'}")(
                pointer(xc), ctypes.c_int64(xc.numel()), d(self.lo), d(1.0 / self.beta),
                d(float(self.span)), d(self.beta), d(float(self.m)), *outs, lo, hi, stats,
                ctypes.c_int(torch.get_num_threads()), ctypes.c_int(SIMD))

        return _values_and_index(x, domain, index, F64, loop)
