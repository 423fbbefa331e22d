"""Spiking operators for every Transformer nonlinearity (Wang et al. 2025, Sec. 3).

    Activation(kind)       GELU (exact erf), GELU (tanh form, GPT-2), tanh, SiLU, ReLU: one
                           fitted MBE neuron applied elementwise (Eq. 8)
    Softmax()              Eq. 13 (mbe.softmax)
    LayerNorm(...)         mean, spike-multiplied variance, 1/sqrt by exponent/mantissa split
                           (mbe.layernorm)
    Multiply(ra, rb)       spike multiplication a * b and a @ b (Eqs. 9-12, mbe.multiply)

Each is a `SpikingOp` (mbe.spiking_op): `mode` in {"exact", "mbe", "spike"}, `report()`,
`reset_stats()`. Built from fitted primitives (`mbe.fit`, cached), identity encoders, spike
multiplications, additions and power-of-two shifts only.

Example:
    >>> import torch
    >>> from mbe.ops import Multiply
    >>> mul = Multiply((-2.0, 2.0), (-2.0, 2.0), timesteps=8, n_basis=1)
    >>> a, b = torch.tensor([0.5, -1.25]), torch.tensor([1.5, 0.75])
    >>> y = mul(a, b)
    >>> mul.mode = "spike"
    >>> bool(torch.equal(mul(a, b), y)), bool(torch.allclose(y, a * b, atol=0.05))
    (True, True)
"""
from __future__ import annotations

from torch import Tensor

from .layernorm import LayerNorm
from .multiply import Multiply
from .primitives import compute_dtype, fitted
from .softmax import Softmax
from .spiking_op import SpikingOp

__all__ = ["SpikingOp", "Activation", "Softmax", "LayerNorm", "Multiply", "DEFAULT_DOMAINS"]

#: Fitting domains when none is given. GELU's is the paper's (-120, 10) ("LayerNorm compresses
#: activations into a narrow range"); the GELU-like ones share it; tanh saturates beyond +-8.
DEFAULT_DOMAINS: dict[str, tuple[float, float]] = {
    "gelu": (-120.0, 10.0), "gelu_tanh": (-120.0, 10.0), "silu": (-120.0, 10.0),
    "relu": (-120.0, 10.0), "tanh": (-8.0, 8.0)}


def covering_domain(kind: str, lo: float, hi: float) -> tuple[float, float] | None:
    """The fitting domain for a calibrated input range (lo, hi): None (the kind's default
    domain) when the default covers it, otherwise (lo, hi) itself. A neuron is only fitted
    where it is evaluated: beyond its domain its staircase stops following the function."""
    default = DEFAULT_DOMAINS[kind]
    return None if default[0] <= lo and hi <= default[1] else (float(lo), float(hi))


class Activation(SpikingOp):
    """One fitted MBE neuron applied elementwise (Eq. 8): same shape and dtype as x.

    Inputs outside `domain` are evaluated as the neuron does (its staircase continues) and
    counted in `report()`. neuron="fs" uses the Few-Spikes baseline (binary initialisation).
    """

    def __init__(self, kind: str, *, timesteps: int = 16, n_basis: int = 4,
                 domain: tuple[float, float] | None = None, mode: str = "mbe",
                 variant: str = "best", neuron: str = "mbe"):
        super().__init__(timesteps, mode)
        if kind not in DEFAULT_DOMAINS:
            raise ValueError(f"unknown activation {kind!r}: use one of {sorted(DEFAULT_DOMAINS)}")
        self.kind = kind
        self.domain = DEFAULT_DOMAINS[kind] if domain is None else tuple(map(float, domain))
        self.add_primitive(kind, fitted(kind, self.domain, n_basis, timesteps, variant, neuron))

    def extra_repr(self) -> str:
        return f"{self.kind!r}, domain={self.domain}, {super().extra_repr()}"

    def forward(self, x: Tensor) -> Tensor:
        mode = self.start_call()
        y = self.primitives[self.kind](x.to(compute_dtype(x.dtype)), mode, self.record)
        return y.to(x.dtype)
