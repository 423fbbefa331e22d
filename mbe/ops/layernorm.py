"""Spiking LayerNorm (Wang et al. 2025, Sec. "LayerNorm").

Over the normalised axes (n elements), with mu = sum(x) / n and c = x - mu:

    var   = sum_i c_i c_i / n         spike multiplication of c with itself, D scaled by 1/n
    var + eps = M 2^E                 M in [0.5, 1); if E is odd: M <- 2M, E <- E - 1
    1/sqrt(var + eps) = g * 2^(-E/2)  g = MBE 1/sqrt(x) on M in [0.5, 2), 2^(-E/2) a shift
    y = gamma * (c * g) 2^(-E/2) + beta   c * g by spike multiplication; gamma, beta unchanged

c is identity-encoded once (its spikes serve both products) over the symmetric range
[-(hi - lo), hi - lo] implied by the calibrated input range [lo, hi] (mu lies in [lo, hi], so
|x - mu| <= hi - lo). Without an input range, each call picks the smallest power-of-two range
covering its own |x - mu|. The 1/n is applied once, after the exact integer accumulation: the
same number as a D pre-scaled by 1/n, without rounding every term.

Per-channel scales (`channel_radius`, config `layernorm_scale="channel"`). A Transformer's
residual stream has a few outlier channels (MiniLM: inputs up to 235 where most channels stay
within +-10), so one range for every channel spends the encoder's 2^T levels on them and
quantises the ordinary channels coarsely: at T = 8 the output LayerNorms of MiniLM err by up
to 20 % relative. Given each channel's calibrated peak |c_i| (radius r_i), channel i is
encoded as c_i 2^-k_i on one shared symmetric range [-R, R] (R in [1, 2), the largest
dyadic range that fits), with k_i = ceil(log2(r_i / R)): the identity encoder's thresholds
scaled by the power of two 2^k_i, so every channel uses at least half of its encoder's
levels. Decoding multiplies by 2^k_i, exactly. The squares stay exact integers times powers of
two; their sum over channels is rounded (it no longer has one common unit), the same way in
"mbe" and "spike" mode, which still agree bit for bit.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..native.loader import on
from .config import ConversionConfig, config_of
from .multiply import ProductOp, spike_product
from .primitives import (F64, Chain, Encoded, Primitive, compute_dtype, fitted, identity,
                         identity_of_output)

_EXACT_LIMIT = 2.0**53


class LayerNorm(ProductOp):
    """LayerNorm with the paper's decomposition; `weight` and `bias` are shared, not copied.

    Built from `config` (`mbe.ops.config`) or its fields as keywords: the 1/sqrt(x) neuron has
    `arithmetic_basis` bases, the identity encoders `identity_basis`.
    """

    def __init__(self, normalized_shape, weight, bias, eps: float, *,
                 input_range: tuple[float, float] | None = None,
                 channel_radius: Tensor | None = None,
                 config: ConversionConfig | None = None, **settings):
        super().__init__(config_of(config, settings))
        cfg = self.config
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
        self.normalized_shape = tuple(int(s) for s in shape)
        self.eps = float(eps)
        for name, t in (("weight", weight), ("bias", bias)):
            if isinstance(t, nn.Parameter) or t is None:
                setattr(self, name, t)
            else:
                self.register_buffer(name, t)
        self.n_id = cfg.identity_basis
        self.input_range = None if input_range is None else tuple(map(float, input_range))
        self.channel_scale = None
        if channel_radius is not None:
            self.channel_scale = self._channel_scale(channel_radius, cfg)
        elif self.input_range is not None:
            lo, hi = self.input_range
            if not lo < hi:
                raise ValueError(f"input_range must be (lo, hi) with lo < hi, got {input_range}")
            self.add_primitive("identity_input", identity(lo - hi, hi - lo, self.n_id,
                                                          cfg.timesteps, cfg.neuron))
        rsqrt = fitted("rsqrt", (0.5, 2.0), cfg.arithmetic_basis, cfg.timesteps, cfg.variant,
                       cfg.neuron)
        self.inv_std = Chain(self.add_primitive("rsqrt", rsqrt),
                             self.add_primitive("identity_rsqrt",
                                                identity_of_output(rsqrt, self.n_id,
                                                                   cfg.timesteps)))

    def _channel_scale(self, radius, cfg: ConversionConfig) -> Tensor:
        """The power of two 2^k_i of each channel (module docstring), and its shared encoder."""
        n = math.prod(self.normalized_shape)
        radius = torch.as_tensor(radius, dtype=F64).detach().cpu().reshape(-1)
        if radius.numel() != n or not bool(torch.isfinite(radius).all()) or \
                bool((radius < 0).any()):
            raise ValueError(f"channel_radius must hold {n} finite peaks |x - mean| >= 0, one "
                             f"per normalised element, got shape {tuple(radius.shape)}")
        span = self.n_id * (2**cfg.timesteps - 1) if cfg.neuron != "fs" else 2**cfg.timesteps - 1
        half = span / 2 - 0.5 if span % 2 == 0 else span / 2
        unit = 2.0 ** math.ceil(math.log2(1 / half))
        shared = unit * half  # in [1, 2): [-shared, shared] is one dyadic encoder range
        self.add_primitive("identity_input", identity(-shared, shared, self.n_id,
                                                      cfg.timesteps, cfg.neuron))
        floor = max(float(radius.max()), 1.0) * 2.0**-30  # a channel that never varied
        k = torch.ceil(torch.log2(radius.clamp_min(floor) / shared))
        return torch.ldexp(torch.ones(n, dtype=F64), k)

    @property
    def channel_exponents(self) -> list[int] | None:
        """[min, max] of the channels' exponents k_i (None with one range for every channel)."""
        if self.channel_scale is None:
            return None
        k = self.channel_scale.log2()
        return [int(k.min()), int(k.max())]

    def _step_scale(self, name: str) -> float:
        """Channel i's step is the shared encoder's times 2^k_i: their RMS over channels."""
        if name != "identity_input" or self.channel_scale is None:
            return 1.0
        return float(self.channel_scale.square().mean().sqrt())

    def describe(self) -> dict[str, dict]:
        """As every operator's, with the centred input's encoder saying how channels share it:
        "scale" "tensor" (one range) or "channel" with the exponents k_i's [min, max]."""
        info = super().describe()
        if "identity_input" in info:
            k = self.channel_exponents
            info["identity_input"].update(scale="tensor" if k is None else "channel",
                                          channel_exponents=k)
        return info

    @classmethod
    def from_module(cls, ln: nn.LayerNorm, **kwargs) -> "LayerNorm":
        """Wrap ln: its weight and bias Parameters are shared (same objects), never modified."""
        return cls(ln.normalized_shape, ln.weight, ln.bias, ln.eps, **kwargs)

    def extra_repr(self) -> str:
        k = self.channel_exponents
        scales = "" if k is None else f"channel scales 2^[{k[0]}, {k[1]}], "
        return (f"{self.normalized_shape}, eps={self.eps}, input_range={self.input_range}, "
                f"{scales}{super().extra_repr()}")

    def _centred_encoder(self, c: Tensor) -> Primitive:
        """The calibrated encoder, or (uncalibrated) the power-of-two one for this call."""
        if self.input_range is None:
            peak = float(c.abs().max()) if c.numel() else 0.0
            radius = 2.0 ** math.ceil(math.log2(max(peak, 2.0**-20)))
            ident = identity(-radius, radius, self.n_id, self.timesteps, self.config.neuron)
            prim = self.primitives.get("identity_input")
            if prim is None or prim.fitted is not ident:
                stats = prim.stats if prim is not None else None
                prim = self.add_primitive("identity_input", ident)
                if stats is not None:  # keep accumulating across encoder changes
                    prim.stats = stats
        return self.primitives["identity_input"]

    def forward(self, x: Tensor) -> Tensor:
        mode = self.start_call()
        k = len(self.normalized_shape)
        if tuple(x.shape[x.dim() - k:]) != self.normalized_shape:
            raise ValueError(f"LayerNorm over {self.normalized_shape} got input of shape "
                             f"{tuple(x.shape)}: its trailing dims must match")
        cd = compute_dtype(x.dtype)
        n = math.prod(self.normalized_shape)
        rows = x.to(cd).reshape(-1, n)
        c = rows - rows.mean(-1, keepdim=True)
        scale = self.channel_scale
        prim = self._centred_encoder(c)
        ident = prim.fitted
        if scale is None and n * ident.max_abs_units**2 >= _EXACT_LIMIT:
            raise ValueError(f"{n} squares exceed float64's exact integers for this input range"
                             ": narrow input_range or normalise over fewer elements")
        if scale is not None:
            scale = on(scale, c.device)
            c = c / scale  # exact: a power of two per channel
        enc = prim.encode(c, mode, self.record)
        if mode == "spike" or scale is not None:
            squares = spike_product(enc, enc, ident, ident) if mode == "spike" else \
                enc.values * enc.values  # the same exact numbers
            if scale is not None:  # one rounded sum, the same in every mode
                squares = squares * (scale * scale)
            sum_sq = squares.sum(-1, keepdim=True)
        else:  # exact in any summation order: every term and partial sum is an exact integer
            sum_sq = (enc.values.unsqueeze(-2) @ enc.values.unsqueeze(-1)).squeeze(-1)
        var = sum_sq / n
        mant, ex = torch.frexp(var + self.eps)
        odd = ex % 2 != 0
        mant = torch.where(odd, 2 * mant, mant)  # parity fix: M in [0.5, 2), E even
        ex = torch.where(odd, ex - 1, ex)
        g = self.inv_std.encode(mant, mode, self.record)
        # times 2^(-E/2), one exact power of two per row (exact: no rounding before .to(cd))
        shift = torch.ldexp(torch.ones_like(var), (-ex // 2).to(F64))
        if scale is not None:
            shift = scale * shift  # both powers of two: exact
        if mode == "spike":
            y = spike_product(enc, g, ident, self.inv_std.second.fitted) * shift
        else:
            y = (enc.values * g.values) * shift  # exact product, then a power of two
        y = y.to(cd)
        self._count_products(enc, g, rows.numel())
        if self.weight is not None:
            y = y * self.weight.to(cd).reshape(-1)
        if self.bias is not None:
            y = y + self.bias.to(cd).reshape(-1)
        return y.reshape(x.shape).to(x.dtype)

    def _count_products(self, enc: Encoded, g: Encoded, n: int) -> None:
        """c * c and c * g: 2n products; coincidences sum(S) when spikes were measured."""
        if enc.counts is None or g.counts is None:
            self.products.add(2 * n, None)
            return
        c = enc.counts
        self.products.add(2 * n, int((c * c).sum() + (c * g.counts).sum()))
