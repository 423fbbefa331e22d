"""Scalar target functions a neuron can be fitted to, by name or as any callable.

Named targets are evaluated in float64. "gelu" is the exact erf form used by BERT, RoBERTa and
ViT; "gelu_tanh" is the tanh approximation GPT-2 uses (Hugging Face `gelu_new`): they differ
by up to about 1e-3 and must not be confused.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

Target = Callable[[Tensor], Tensor]


def gelu(x: Tensor) -> Tensor:
    """The exact erf GELU: x Phi(x)."""
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def gelu_tanh(x: Tensor) -> Tensor:
    """GPT-2's tanh approximation of GELU (Hugging Face `gelu_new`)."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def silu(x: Tensor) -> Tensor:
    return x * torch.sigmoid(x)


def identity(x: Tensor) -> Tensor:
    return x


#: Named targets, each a module-level function (so anything holding one can be pickled).
TARGETS: dict[str, Target] = {
    "gelu": gelu,
    "gelu_tanh": gelu_tanh,
    "tanh": torch.tanh,
    "silu": silu,
    "relu": torch.relu,
    "exp2": torch.exp2,
    "reciprocal": torch.reciprocal,
    "rsqrt": torch.rsqrt,
    "identity": identity,
}


def resolve(target: str | Target) -> tuple[str, Target]:
    """(name, function) for a target name or callable; a clear error for unknown names."""
    if callable(target):
        name = getattr(target, "__qualname__", None) or getattr(target, "__name__", "callable")
        return f"callable:{getattr(target, '__module__', '?')}.{name}", target
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: use one of {sorted(TARGETS)} "
                         "or pass a Python callable mapping a float64 tensor to a tensor")
    return target, TARGETS[target]


def evaluate(target: str | Target, x: Tensor) -> Tensor:
    """The target on x (float64), checked to be finite and of x's shape."""
    name, fn = resolve(target)
    y = torch.as_tensor(fn(x.to(torch.float64)), dtype=torch.float64)
    if y.shape != x.shape:
        raise ValueError(f"target {name} returned shape {tuple(y.shape)} for input "
                         f"{tuple(x.shape)}: it must be elementwise")
    if not torch.isfinite(y).all():
        raise ValueError(f"target {name} is not finite everywhere on the domain: "
                         "choose a domain where it is defined")
    return y
