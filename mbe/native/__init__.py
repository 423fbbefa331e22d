"""The compiled loops of `mbe`, and the torch path that computes the same numbers without them.

    loader    builds the C sources here into one shared library and loads it (`library()`,
              `status()`, `SIMD`), and runs elementwise loops (`elementwise`)
    structs   ctypes mirrors of `structs.h`, held to the compiled layout by a test
    tables    exact staircase lookups: `Table`, the identity encoders' `Quantiser`, the
              softmax's `Fractions` table
    softmax   the softmax's fused loops (Eq. 13) and their torch forms

Every loop gives the bits its torch path gives (tested); the loops only make it faster.
"""
from .loader import F32, F64, library, status

__all__ = ["library", "status", "F32", "F64"]
