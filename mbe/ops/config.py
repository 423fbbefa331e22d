"""The one configuration every spiking operator is built from, and that conversion passes on.

`ConversionConfig` says what each primitive of an operator (or of a whole converted model)
is: the time steps T, the neuron kind (MBE, Eqs. 4-8, or the Few-Spikes baseline, Eqs. 1-3),
the fitting recipe of fitted neurons, and N per primitive family:

    activation_basis  the activation neurons (GELU, tanh, SiLU, ReLU; max pooling's ReLU)
    identity_basis    the identity encoders MBE_Id of every spike multiplication (Eqs. 9-10)
    arithmetic_basis  the 2^x and 1/x neurons of softmax (Eq. 13) and LayerNorm's 1/sqrt(x)

plus the starting mode, the calibration margin and what the activation neurons are fitted to
(`fit_to`, used by `mbe.convert`: "uniform" on a domain, the paper's objective, or
"calibration", each site's neuron to the inputs that site received during calibration,
`mbe.core.distribution`), and an optional `error_budget`: with it, each activation neuron and
each operator's identity encoders get the fewest bases (`mbe.ops.budget`) whose relative RMS
error on their calibrated inputs stays within the budget; and how LayerNorm encodes its centred
input (`layernorm_scale`: "tensor", one encoder range for every channel, as the paper, or
"channel", a power-of-two scale per channel from calibration, `mbe.ops.layernorm`). Every operator
takes the same object, unchanged: `Softmax(config=cfg)`, or its fields as keywords,
`Softmax(timesteps=8, arithmetic_basis=4)`, which build one.

The paper's own configuration is `ConversionConfig.paper()`: T = 16, the paper's fitting
recipe, GELU N = 4, N = 8 for the other neurons and the identity encoders (appendix G.1).
The default departs from it only in the recipe ("best", see docs/decisions.md) and in the
activations' N (8: docs/decisions.md, "Converting models").

With neuron="fs" every primitive is a Few-Spikes neuron, which has one basis: the N fields
default to 1, and asking for more is an error (it would not be an FS neuron).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

MODES = ("exact", "mbe", "spike")
NEURONS = ("mbe", "fs")
VARIANTS = ("best", "paper")
FIT_TO = ("uniform", "calibration")
LAYERNORM_SCALES = ("tensor", "channel")
BASIS_FIELDS = ("activation_basis", "identity_basis", "arithmetic_basis")
#: N of each family where none is given: MBE neurons and encoders, FS neurons.
DEFAULT_BASIS = {"mbe": 8, "fs": 1}


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}: 'exact' for float "
                         "parity, 'mbe' for the fast path, 'spike' for the simulation")
    return mode


@dataclass(frozen=True)
class ConversionConfig:
    """See the module docstring. Validated on construction; N fields left None take the
    neuron kind's default (`DEFAULT_BASIS`)."""

    timesteps: int = 16
    mode: str = "mbe"
    neuron: str = "mbe"
    variant: str = "best"
    activation_basis: int | None = None
    identity_basis: int | None = None
    arithmetic_basis: int | None = None
    margin: float = 0.05
    fit_to: str = "uniform"
    error_budget: float | None = None
    layernorm_scale: str = "tensor"

    def __post_init__(self):
        _positive_int("timesteps", self.timesteps)
        check_mode(self.mode)
        if self.neuron not in NEURONS:
            raise ValueError(f"neuron must be one of {NEURONS}, got {self.neuron!r}")
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.fit_to not in FIT_TO:
            raise ValueError(f"fit_to must be one of {FIT_TO}, got {self.fit_to!r}: "
                             "'uniform' fits each activation neuron on a domain (the paper), "
                             "'calibration' to the inputs its site saw during calibration")
        if self.layernorm_scale not in LAYERNORM_SCALES:
            raise ValueError(f"layernorm_scale must be one of {LAYERNORM_SCALES}, got "
                             f"{self.layernorm_scale!r}: 'tensor' encodes every channel of "
                             "LayerNorm's centred input on one range (the paper), 'channel' "
                             "scales each channel by its own power of two")
        for name in BASIS_FIELDS:
            value = getattr(self, name)
            if value is None:
                object.__setattr__(self, name, DEFAULT_BASIS[self.neuron])
                continue
            _positive_int(name, value)
            if self.neuron == "fs" and value != 1:
                raise ValueError(f"{name}={value}: a Few-Spikes neuron has one basis (Eqs. "
                                 "1-3); leave the N fields unset with neuron='fs'")
        n = self.identity_basis
        if n & (n - 1):
            raise ValueError(f"identity_basis={n}: identity encoders need a power of two "
                             "(their N quantisers interleave; docs/decisions.md)")
        if not (isinstance(self.margin, (int, float)) and not isinstance(self.margin, bool)
                and math.isfinite(self.margin) and self.margin >= 0):
            raise ValueError(f"margin must be a finite number >= 0 (a fraction of each "
                             f"calibrated range's width), got {self.margin!r}")
        object.__setattr__(self, "margin", float(self.margin))
        if self.error_budget is not None:
            b = self.error_budget
            if not (isinstance(b, (int, float)) and not isinstance(b, bool)
                    and math.isfinite(b) and b > 0):
                raise ValueError(f"error_budget must be a number > 0 (the relative RMS error "
                                 f"a neuron or identity encoder may make on its inputs), got "
                                 f"{b!r}")
            if self.fit_to != "calibration":
                raise ValueError("error_budget is measured on each site's calibrated inputs: "
                                 "use it with fit_to='calibration'")
            object.__setattr__(self, "error_budget", float(b))

    @classmethod
    def paper(cls, **overrides) -> "ConversionConfig":
        """The paper's configuration (module docstring), with `overrides` on top."""
        return cls(**{"variant": "paper", "activation_basis": 4, **overrides})

    def updated(self, **changes) -> "ConversionConfig":
        """A copy with `changes`; the N fields follow a change of neuron kind unless given."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise TypeError(f"unknown configuration field(s) {unknown}: the fields are "
                            f"{[f.name for f in fields(self)]}")
        if "neuron" in changes and changes["neuron"] != self.neuron:
            changes = {**{name: None for name in BASIS_FIELDS}, **changes}
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


def config_of(config: ConversionConfig | None, settings: dict) -> ConversionConfig:
    """The configuration an operator is built from: `config` (default: the default one) with
    the keyword `settings` (its fields) applied."""
    return (config or ConversionConfig()).updated(**settings) if settings else \
        (config or ConversionConfig())


def _positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
