"""Activations by one fitted MBE neuron applied elementwise (Eq. 8): GELU (exact erf), GELU
(tanh form, GPT-2), tanh, SiLU, ReLU.
"""
from __future__ import annotations

from torch import Tensor

from ..core.distribution import InputDistribution
from .base import SpikingOp
from .config import ConversionConfig, config_of
from .primitives import compute_dtype, fitted

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
    counted in `report()`. Built from `config` (`mbe.ops.config`) or its fields as keywords:
    N is `activation_basis`; neuron="fs" uses the Few-Spikes baseline (binary initialisation).
    inputs: the distribution of the inputs it will see (`mbe.core.distribution`), to fit the
    neuron where they are; None fits it uniformly on the domain (the paper).
    """

    def __init__(self, kind: str, *, domain: tuple[float, float] | None = None,
                 inputs: InputDistribution | None = None,
                 config: ConversionConfig | None = None, **settings):
        super().__init__(config_of(config, settings))
        if kind not in DEFAULT_DOMAINS:
            raise ValueError(f"unknown activation {kind!r}: use one of {sorted(DEFAULT_DOMAINS)}")
        self.kind = kind
        self.domain = DEFAULT_DOMAINS[kind] if domain is None else tuple(map(float, domain))
        cfg = self.config
        self.add_primitive(kind, fitted(kind, self.domain, cfg.activation_basis, cfg.timesteps,
                                        cfg.variant, cfg.neuron, inputs))

    def extra_repr(self) -> str:
        return f"{self.kind!r}, domain={self.domain}, {super().extra_repr()}"

    def forward(self, x: Tensor) -> Tensor:
        mode = self.start_call()
        y = self.primitives[self.kind](x.to(compute_dtype(x.dtype)), mode, self.record)
        return y.to(x.dtype)

