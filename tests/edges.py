"""Inputs that find an exact evaluation's mistakes, and a bitwise comparison, for the tests
that hold two evaluations of a staircase equal bit for bit (`test_simulator`, `test_paths`)."""
import math

import torch

from mbe.native import loader


def edge_inputs(breaks: torch.Tensor, dtype, n_random: int = 5_003, scale: float = 5.0,
                seed: int = 7) -> torch.Tensor:
    """Every break rounded to dtype and the float just below it, NaN, +-inf, +-0, huge values,
    and random ones, shuffled; with an odd n_random the length is odd, so a vector loop
    leaves a tail to the next loop."""
    g = torch.Generator().manual_seed(seed)
    b = loader.round_up(breaks, dtype)
    b = b[torch.isfinite(b)]
    specials = torch.tensor([math.nan, math.inf, -math.inf, 0.0, -0.0, 1e300, -1e300])
    x = torch.cat([b, torch.nextafter(b, torch.tensor(-math.inf, dtype=dtype)),
                   specials.to(dtype), (torch.randn(n_random, generator=g) * scale).to(dtype)])
    return x[torch.randperm(len(x), generator=g)]


def bits(t: torch.Tensor) -> torch.Tensor:
    """t's bit patterns (NaN payloads and the sign of zero included)."""
    t = t.detach().contiguous()
    return t.view({torch.float32: torch.int32, torch.float64: torch.int64}.get(t.dtype, t.dtype))
