"""Build, load and call the compiled loops: one shared library from every .c file here.

The sources (`lookup.c`, `quantise.c`, `softmax.c`, `simulate.c`, `info.c`, with the shared
`common.h` and the Python-mirrored structs of `structs.h`) are compiled once with the system C
compiler (`$CC`, else gcc or cc; OpenMP where the compiler has it) into the cache directory,
under a name that hashes the sources and flags, and loaded with ctypes. Without a compiler, or
if the build fails, `library()` returns None with a warning that says why, and every caller
takes its torch path instead (the same numbers, slower). `status()` says which happened.

`SIMD` chooses the vector loops: True those the CPU has (AVX-512; AVX2 for the simulation's
lane loop), "avx2" no AVX-512 (what a CPU without it runs), False the portable loops, e.g. to
compare; the numbers are the same (tested).

Which path runs is chosen per tensor by `compiled(x)`: the loops for a CPU tensor where they
loaded, the torch path for a tensor on any other device (CUDA, MPS, ...) or when `PATH` is
"torch" (`torch_path()` sets it for a block). Both give the same bits on the CPU in float64
and float32 (the tests run every operator both ways). `path_for(device)` names the path.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import Tensor

from ..paths import cache_dir
from ..ranges import Range

F32, F64 = torch.float32, torch.float64
_HERE = Path(__file__).parent
SOURCES = ("lookup.c", "quantise.c", "softmax.c", "simulate.c", "info.c")
HEADERS = ("common.h", "structs.h")
_FLAGS = ["-O2", "-fPIC", "-shared", "-ffp-contract=off", "-fno-fast-math", "-lm"]

#: The vector loops to use: True, "avx2" or False (module docstring).
SIMD: bool | str = True

#: "auto": the compiled loops for CPU tensors where they loaded, torch elsewhere; "torch":
#: the torch path for every tensor (module docstring).
PATH = "auto"

_build: dict = {"compiler": None, "error": None, "path": None}


def openmp_wanted() -> bool:
    """Whether to build with OpenMP: yes unless $MBE_OPENMP is 0 (a build as a compiler
    without OpenMP makes it, e.g. Apple clang: one thread inside every loop)."""
    return os.environ.get("MBE_OPENMP", "1") != "0"


def _compile(out: Path) -> None:
    """Compile SOURCES into `out`, with OpenMP if wanted and the compiler has it, recording
    the outcome (and, where OpenMP was wanted but failed, warning that the loops run on one
    thread)."""
    compiler = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    _build["compiler"] = compiler
    if compiler is None:
        _build["error"] = "no C compiler found (set CC, or install gcc)"
        return
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    sources = [str(_HERE / name) for name in SOURCES]
    for openmp in (True, False) if openmp_wanted() else (False,):
        cmd = [compiler, *sources, "-o", str(tmp), *_FLAGS, *(["-fopenmp"] if openmp else [])]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as err:  # CC names no program
            _build["error"] = f"{' '.join(cmd)} failed: {err}"
            return
        if done.returncode == 0:
            tmp.replace(out)
            if not openmp and openmp_wanted():
                warnings.warn(f"{compiler} has no OpenMP: mbe's compiled loops run on one "
                              "thread each (the same numbers)", stacklevel=3)
            return
        _build["error"] = f"{' '.join(cmd)} failed:\n{done.stderr.strip()[-2000:]}"


def _tag() -> str:
    text = b"".join((_HERE / name).read_bytes() for name in (*SOURCES, *HEADERS))
    flags = " ".join(_FLAGS) + ("" if openmp_wanted() else " no-openmp")
    return hashlib.sha256(text + flags.encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def library() -> ctypes.CDLL | None:
    """The compiled loops (built once per source version), or None where they cannot be built
    (a warning says why; `status()` keeps it)."""
    path = cache_dir() / "kernels" / f"mbe_native_{_tag()}.so"
    path.parent.mkdir(parents=True, exist_ok=True)
    _build["path"] = str(path)
    if not path.exists():
        _compile(path)
        if not path.exists():
            warnings.warn(f"mbe's compiled loops are unavailable ({_build['error']}): every "
                          "operator falls back to its torch path, which gives the same numbers "
                          "but is much slower", stacklevel=2)
            return None
    try:
        return ctypes.CDLL(str(path))
    except OSError as err:
        _build["error"] = f"loading {path} failed: {err}"
        warnings.warn(f"mbe's compiled loops did not load ({err}): every operator falls back "
                      "to its torch path", stacklevel=2)
        return None


def compiled(x: Tensor) -> ctypes.CDLL | None:
    """The compiled loops to run on x, or None where x takes the torch path: x is not on the
    CPU, `PATH` is "torch", or the loops did not build."""
    return _compiled_on(x.device.type)


def path_for(device: torch.device | str = "cpu") -> str:
    """"compiled" or "torch": the path operators take for tensors on `device`."""
    return "torch" if _compiled_on(torch.device(device).type) is None else "compiled"


def _compiled_on(device_type: str) -> ctypes.CDLL | None:
    if PATH not in ("auto", "torch"):
        raise ValueError(f"mbe.native.loader.PATH must be 'auto' or 'torch', got {PATH!r}")
    return None if PATH == "torch" or device_type != "cpu" else library()


@contextmanager
def torch_path():
    """Within the block every operator takes its torch path, CPU tensors included (to compare
    the two paths, or to time them)."""
    global PATH
    saved, PATH = PATH, "torch"
    try:
        yield
    finally:
        PATH = saved


def check_float64(device: torch.device) -> None:
    """Raise where `device` has no float64 (Apple's MPS), which the identity encoders' exact
    values and the simulation need, naming the fix."""
    if device.type == "mps":
        raise TypeError("mbe's spiking operators need float64 (the identity encoders' exact "
                        "values, the simulation), which MPS does not have: run the converted "
                        "model on the CPU (snn.to('cpu')) or on CUDA")


def on(t: Tensor, device: torch.device) -> Tensor:
    """t on `device`: t itself where it is there, else a copy made once and kept (constant
    tables the torch path reads: staircase breaks and values, spike counts, kernels)."""
    return t if t.device == device else _copy(t, device)


@functools.lru_cache(maxsize=512)
def _copy(t: Tensor, device: torch.device) -> Tensor:
    return t.to(device)


def simd_level() -> ctypes.c_int:
    """`SIMD` as the loops' `simd` argument (common.h: 0 portable, 1 up to AVX2, 2 all)."""
    levels = {False: 0, "avx2": 1, True: 2}
    if SIMD not in levels:
        raise ValueError(f"mbe.native.loader.SIMD must be True, 'avx2' or False, got {SIMD!r}")
    return ctypes.c_int(levels[SIMD])


def status() -> dict:
    """Whether the compiled loops loaded and what they run: {"loaded", "openmp" (threads
    inside the loops), "avx512", "avx2" (the vector loops this CPU takes), "compiler" and
    "error" (of a build in this process; None if the library was already built), "path"}."""
    lib = library()
    found = {name: bool(lib is not None and getattr(lib, f"mbe_has_{name}")())
             for name in ("openmp", "avx512", "avx2")}
    return {"loaded": lib is not None, **found, **_build}


def pointer(t: Tensor | None) -> ctypes.c_void_p:
    """A C pointer to t's data (NULL for None)."""
    return ctypes.c_void_p(t.data_ptr() if t is not None else None)


def real(dtype: torch.dtype):
    """The ctypes type of a float32 or float64 scalar."""
    return ctypes.c_float if dtype == F32 else ctypes.c_double


def round_up(breaks: Tensor, dtype: torch.dtype) -> Tensor:
    """The smallest value of `dtype` >= each float64 break (so x >= b iff x >= round_up(b))."""
    b = breaks.to(dtype)
    low = b.to(F64) < breaks
    return torch.where(low, torch.nextafter(b, torch.tensor(float("inf"), dtype=dtype)), b)


def bounds(domain, dtype: torch.dtype) -> tuple[float, float]:
    """domain's ends in dtype, rounded inwards: x < lo iff x < lo', x > hi iff x > hi'."""
    return _rounded_bounds(float(domain[0]), float(domain[1]), dtype)


@functools.lru_cache(maxsize=1024)
def _rounded_bounds(lo: float, hi: float, dtype: torch.dtype) -> tuple[float, float]:
    ends = torch.tensor([lo, hi], dtype=F64)
    return float(round_up(ends[:1], dtype)), float(-round_up(-ends[1:], dtype))


def _in_memory_order(x: Tensor):
    """(x's elements as a contiguous tensor, a function giving an elementwise result x's
    shape). A transposed view of a contiguous tensor (K^T in Q K^T) is read without a copy."""
    x = x.detach()
    if not x.is_contiguous() and x.dim() >= 2 and x.mT.is_contiguous():
        return x.mT, lambda y: None if y is None else y.mT
    return x.contiguous(), lambda y: y


def elementwise(x: Tensor, domain, outputs: dict[str, torch.dtype | None], loop):
    """Run a C loop over x's elements: ({name: result in x's shape, or None}, the `Range` of x
    against domain, the number of events the loop counted: the simulation's spikes).

    outputs names the results and their dtypes (None: not wanted, passed as a NULL pointer).
    loop(xc, pointers, lo, hi, stats) gets x's elements contiguous, one pointer per output in
    order, the domain bounds in x's dtype (`bounds`) and the 5-double stats buffer of
    `common.h` (non-finite and outside counts, finite min and max, then the events).
    """
    xc, restore = _in_memory_order(x)
    outs = {k: None if dt is None else torch.empty(xc.shape, dtype=dt)
            for k, dt in outputs.items()}
    stats = (ctypes.c_double * 5)()
    dlo, dhi = bounds(domain, x.dtype)
    loop(xc, [pointer(t) for t in outs.values()], real(x.dtype)(dlo), real(x.dtype)(dhi), stats)
    seen = Range(tuple(domain), xc.numel(), int(stats[0]), int(stats[1]), stats[2], stats[3])
    return {k: restore(t) for k, t in outs.items()}, seen, int(stats[4])
