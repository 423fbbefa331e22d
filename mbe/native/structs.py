"""ctypes mirrors of the structs in `structs.h`, and their layout as the compiled loops see it.

Each mirror lists its fields in the C declaration order with the C types; `layout_mismatches`
compares their sizes and offsets with what `mbe_struct_layout` (info.c) reports, so a mirror
that drifts from its struct is caught by a test, not by reading the wrong bytes.
"""
from __future__ import annotations

import ctypes

from .loader import library


class FractionsStruct(ctypes.Structure):
    """`fractions_t`: the softmax's 2^x table keyed by f's fixed-point value."""

    _fields_ = [("records", ctypes.c_void_p), ("vals", ctypes.c_void_p),
                ("brk", ctypes.c_void_p), ("count", ctypes.c_int64)]


class DenominatorStruct(ctypes.Structure):
    """`denom_t`: the softmax denominator's table and the 1/x neuron's domain bounds."""

    _fields_ = [("lo", ctypes.c_float), ("inv", ctypes.c_float), ("cells", ctypes.c_int64),
                ("base", ctypes.c_void_p), ("brk", ctypes.c_void_p), ("maxc", ctypes.c_int),
                ("vals", ctypes.c_void_p), ("dlo", ctypes.c_float), ("dhi", ctypes.c_float)]


class NeuronStruct(ctypes.Structure):
    """`neuron_t`: one neuron's kernels and readout for the time-stepped simulation."""

    _fields_ = [("steps", ctypes.c_int64), ("bases", ctypes.c_int64),
                ("vth", ctypes.c_void_p), ("r", ctypes.c_void_p), ("d", ctypes.c_void_p),
                ("shift", ctypes.c_void_p), ("scale", ctypes.c_void_p),
                ("weight", ctypes.c_void_p), ("bias", ctypes.c_double)]


#: In the order `mbe_struct_layout` writes them.
MIRRORS = (FractionsStruct, DenominatorStruct, NeuronStruct)


def python_layout() -> list[int]:
    """sizeof, then every field's offset, of each mirror in MIRRORS order."""
    out = []
    for struct in MIRRORS:
        out.append(ctypes.sizeof(struct))
        out += [getattr(struct, name).offset for name, _ in struct._fields_]
    return out


def layout_mismatches() -> list[str]:
    """Where the mirrors and the compiled structs disagree (empty: they agree). Raises
    RuntimeError if the compiled loops are not available."""
    lib = library()
    if lib is None:
        raise RuntimeError("the compiled loops are not available: see mbe.native.status()")
    want = python_layout()
    buf = (ctypes.c_int64 * (len(want) + 8))()
    lib.mbe_struct_layout.restype = ctypes.c_int64
    n = lib.mbe_struct_layout(buf, ctypes.c_int64(len(buf)))
    got = list(buf[:min(n, len(buf))])
    names = [f"{s.__name__}.{part}" for s in MIRRORS
             for part in ["sizeof", *(name for name, _ in s._fields_)]]
    found = [f"{name}: C {c}, Python {p}" for name, c, p in zip(names, got, want) if c != p]
    if n != len(want):
        found.append(f"C reports {n} values, Python {len(want)}")
    return found
