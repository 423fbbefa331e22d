"""Spiking operators for every Transformer nonlinearity (Wang et al. 2025, Sec. 3).

    Activation(kind)       GELU (exact erf), GELU (tanh form, GPT-2), tanh, SiLU, ReLU: one
                           fitted MBE neuron applied elementwise (Eq. 8)
    Softmax()              Eq. 13 (`mbe.ops.softmax`)
    LayerNorm(...)         mean, spike-multiplied variance, 1/sqrt by exponent/mantissa split
                           (`mbe.ops.layernorm`)
    Multiply(ra, rb)       spike multiplication a * b and a @ b (Eqs. 9-12, `mbe.ops.multiply`)

Each is a `SpikingOp` (`mbe.ops.base`): `mode` in {"exact", "mbe", "spike"}, `report()`,
`reset_stats()`, and a public way to inspect and ablate its primitives (`describe()`,
`neuron(name)`, `set_exact(name)`, `truncated(names, t)`). Each is built from one
`ConversionConfig` (`mbe.ops.config`: T, neuron kind, fitting variant, N per primitive family),
passed as `config=` or as its fields by keyword. Built from fitted primitives (`mbe.fit`,
cached), identity encoders, spike multiplications, additions and power-of-two shifts only.

Example:
    >>> import torch
    >>> from mbe.ops import Multiply
    >>> mul = Multiply((-2.0, 2.0), (-2.0, 2.0), timesteps=8, identity_basis=1)
    >>> a, b = torch.tensor([0.5, -1.25]), torch.tensor([1.5, 0.75])
    >>> y = mul(a, b)
    >>> mul.mode = "spike"
    >>> bool(torch.equal(mul(a, b), y)), bool(torch.allclose(y, a * b, atol=0.05))
    (True, True)
"""
from .activation import DEFAULT_DOMAINS, Activation, covering_domain
from .base import SpikingOp
from .budget import identity_within_budget, within_budget
from .config import MODES, ConversionConfig
from .layernorm import LayerNorm
from .multiply import Multiply
from .softmax import Softmax

__all__ = ["SpikingOp", "Activation", "Softmax", "LayerNorm", "Multiply", "MODES",
           "ConversionConfig", "DEFAULT_DOMAINS", "covering_domain", "within_budget",
           "identity_within_budget"]
