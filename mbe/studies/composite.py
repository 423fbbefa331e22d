"""A composite operator's error, primitive by primitive, as time steps are added.

Softmax (Eq. 13) and LayerNorm (`mbe.ops`) are chains of 1-D primitives: fitted MBE neurons
(2^x on [0, 1], 1/x on [0.5, 1], 1/sqrt(x) on [0.5, 2]) and identity encoders MBE_Id. A
neuron's decoded output after t of its T steps is its partial reconstruction
sum_n w_n o_n[t] + b (Eqs. 7-8 stopped at t; `SpikingOp.truncated`). Evaluating the
operator with every primitive exact except one, read out after t steps, isolates what that
primitive contributes to the operator's error at t; reading every primitive out after t steps
gives the whole operator at t. Nothing is refitted: every curve comes from the operator's own
T-step neurons, simulated on the inputs the primitive actually receives inside the operator.

    op = Softmax(timesteps=16)
    x = softmax_inputs(rows=32, length=64, scale=2.0)
    errors = step_errors(op, lambda: op(x))      # {"exp2": [...], ..., "all": [...]}
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..ops import LayerNorm, Softmax
from .accuracy import error_stats

ALL = "all"  # every primitive read out after t steps


def check_operator(op: nn.Module) -> None:
    if not isinstance(op, (Softmax, LayerNorm)):
        raise TypeError(f"step_errors takes a composite operator (mbe.ops.Softmax or "
                        f"LayerNorm), got {type(op).__name__}")
    if isinstance(op, LayerNorm) and op.input_range is None:
        raise ValueError("a LayerNorm without input_range re-picks its input encoder per call: "
                         "pass input_range (the calibrated input range) to analyse it")


def step_errors(op: nn.Module, run, steps=None, metric: str = "rel_error") -> dict:
    """{primitive (or "all"): [error after t steps for t in steps]} against op in "exact" mode.

    run() evaluates op on fixed inputs; steps defaults to 1..T. The error is a key of
    `mbe.studies.accuracy.error_stats` (default ||y - y_exact|| / ||y_exact||).
    """
    check_operator(op)
    steps = list(range(1, op.timesteps + 1)) if steps is None else list(steps)
    reference = _exact(op, run)
    names = op.primitive_names
    out = {}
    for key, group in [(n, (n,)) for n in names] + [(ALL, names)]:
        out[key] = []
        for t in steps:
            with op.truncated(group, t), torch.no_grad():
                out[key].append(error_stats(run(), reference)[metric])
    return out


def output_after(op: nn.Module, run, t: int) -> tuple[Tensor, Tensor]:
    """(op's output with every primitive read out after t steps, op's exact output)."""
    check_operator(op)
    reference = _exact(op, run)
    with op.truncated(op.primitive_names, t), torch.no_grad():
        return run(), reference


def _exact(op: nn.Module, run) -> Tensor:
    with op.truncated((), 0), torch.no_grad():  # nothing truncated: plain "exact" mode
        return run()


# -- inputs ---------------------------------------------------------------------------------------
def softmax_inputs(rows: int = 32, length: int = 64, scale: float = 2.0,
                   seed: int = 0) -> Tensor:
    """Attention-score-like logits: (rows, length), i.i.d. N(0, scale^2)."""
    gen = torch.Generator().manual_seed(seed)
    return scale * torch.randn(rows, length, generator=gen)


def layernorm_case(rows: int = 32, width: int = 64, scale: float = 2.0, seed: int = 0,
                   timesteps: int = 16, n_basis: int = 8) -> tuple[Tensor, LayerNorm]:
    """Hidden-state-like inputs (rows, width) with per-feature offsets and gains, and a
    spiking LayerNorm (random gamma, beta) calibrated on their range."""
    gen = torch.Generator().manual_seed(seed)
    offset = torch.randn(width, generator=gen)
    gain = torch.exp(0.5 * torch.randn(width, generator=gen))
    x = scale * (offset + gain * torch.randn(rows, width, generator=gen))
    weight = 1 + 0.1 * torch.randn(width, generator=gen)
    bias = 0.1 * torch.randn(width, generator=gen)
    op = LayerNorm(width, weight, bias, 1e-5, timesteps=timesteps, arithmetic_basis=n_basis,
                   input_range=(float(x.min()), float(x.max())))
    return x, op
