"""Sites: the modules that stand in for an ANN's nonlinear operations after conversion.

A site is one nonlinear operation of the ANN (an activation, a LayerNorm, a softmax, an
attention's two activation products, a max-pool). It has two faces:

- `reference(...)`: the ANN's own float computation. It runs while the converter calibrates,
  recording the range of every operand: the "intervals R" of the paper's Algorithm 1.
- `spiking(...)`: the operators of `mbe.ops` (MBE neurons, Eqs. 4-8; the spike multiply,
  Eqs. 9-12; the Eq. 13 softmax; the spiking LayerNorm), built by `build` from those ranges.

`phase` selects the face ("reference" or "spiking"); the ops' own `mode` selects exact
primitives, the fast MBE path or the time-stepped simulation. A `probe`, when set, sees every
call's inputs and output: the ledger measures errors through it.

Calibrated ranges get a margin of `margin` times their width on each side (docs/decisions.md,
"Converting models"), so inputs slightly beyond the calibration data stay representable.
Inputs outside a range are counted by the ops, never clamped.
"""
from __future__ import annotations

import functools
import importlib
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import ops
from ..core.distribution import InputDistribution
from ..ops import ConversionConfig
from ..ops.softmax import apply_mask
from ..ranges import Histogram, Range


class ConversionError(ValueError):
    """The model cannot be converted as asked; the message names the module and the fix."""


#: Attention probabilities lie in [0, 1] by construction: no calibration needed.
PROBABILITY_RANGE = (0.0, 1.0)


class Site(nn.Module):
    """One converted nonlinear operation (see the module docstring)."""

    operation = "site"
    #: operator -> {identity-encoder primitive: the operand whose histogram gives the RMS of
    #: that encoder's inputs}, for an error budget (`encoded`); an operator absent or mapped to
    #: {} has only encoders of its own neurons' outputs.
    ENCODER_OPERANDS: dict[str, dict[str, str]] = {}

    def __init__(self) -> None:
        super().__init__()
        self.phase = "reference"
        self.recording = False
        self.binning: frozenset[str] = frozenset()  # operands to bin while recording
        self.probe: Callable | None = None
        self.ranges: dict[str, Range] = {}
        self.histograms: dict[str, Histogram] = {}
        self.path = ""          # module path of what this site converts (set on install)
        self.via = "module"     # "module", "attention interface" or "functional call"
        self.module_class = ""  # class of the module it converts (or that calls it)
        self.calibrated: dict[str, tuple[float, float]] = {}
        self.budget: dict | None = None  # operator -> how an error budget chose its N, if one did

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        if self.via == "attention interface":  # a fresh process: register "mbe" attention
            importlib.import_module(".hf", __package__)  # (its import registers it)

    def forward(self, *args):
        out = self.spiking(*args) if self.phase == "spiking" else self.reference(*args)
        if self.probe is not None:
            self.probe(self, args, out)
        return out

    # -- subclasses ------------------------------------------------------------------------
    def reference(self, *args):
        raise NotImplementedError

    def spiking(self, *args):
        raise NotImplementedError

    def _build(self, config: ConversionConfig, domains: dict) -> None:
        raise NotImplementedError

    @staticmethod
    def output_tensor(out) -> Tensor:
        """The tensor the ledger scores (sites returning tuples override this)."""
        return out

    # -- shared ----------------------------------------------------------------------------
    def observe(self, name: str, x: Tensor) -> None:
        """While recording, add x to operand `name`'s range (and histogram, with binning)."""
        if self.recording:
            self.ranges.setdefault(name, Range()).update(x)
            self.bin(name, x)

    def bin(self, name: str, x: Tensor) -> None:
        """While recording, add x to operand `name`'s histogram if `binning` names it (alone,
        for an operand whose range is known or only an error budget needs)."""
        if self.recording and name in self.binning:
            self.histograms.setdefault(name, Histogram()).update(x)

    def binned_operands(self, config: ConversionConfig) -> frozenset[str]:
        """The operands whose calibration histograms `build(config)` uses: the activations'
        inputs when they are fitted to calibration, the encoders' operands under an error
        budget. Calibration bins these only."""
        names = set(self.activation_inputs().values()) if config.fit_to == "calibration" \
            else set()
        if config.error_budget is not None:
            names.update(operand for encoders in self.ENCODER_OPERANDS.values()
                         for operand in encoders.values())
        return frozenset(names)

    def histogram(self, name: str) -> Histogram:
        hist = self.histograms.get(name)
        if hist is None:
            raise ConversionError(f"site `{self.path}` has no histogram of `{name}`: "
                                  "calibrate with the configuration it is built from "
                                  "(mbe.convert does: `Site.binned_operands`)")
        return hist

    def calibrated_range(self, name: str, margin: float) -> tuple[float, float]:
        """The operand's calibrated range, widened by `margin` times its width each side."""
        rng = self.ranges.get(name)
        if rng is None or not rng.finite:
            raise ConversionError(
                f"site `{self.path}` ({self.operation}) saw no finite `{name}` during "
                "calibration, so its range is unknown: pass calibration batches that reach "
                f"it, or keep it in floating point with keep_float=[{self.path!r}]")
        return rng.with_margin(margin)

    def build(self, config: ConversionConfig, domains: dict | None = None) -> None:
        """Create this site's spiking operators from `config` and the calibrated ranges, and
        switch to them. domains: activation kind -> the domain every site of that kind shares
        (`shared_domains`; None or absent: the operator's default)."""
        self.budget = None
        self._build(config, domains or {})
        self.phase = "spiking"

    def spiking_ops(self) -> dict[str, ops.SpikingOp]:
        return {n: m for n, m in self.named_children() if isinstance(m, ops.SpikingOp)}

    def set_mode(self, mode: str) -> None:
        for op in self.spiking_ops().values():
            op.mode = mode

    def call_functional(self, args: tuple, kwargs: dict):
        """Serve a functional call (e.g. `F.relu(x)`) routed here by `FunctionalSites`."""
        return self(args[0])

    def activation_inputs(self) -> dict[str, str]:
        """Activation kind -> the operand fed to that kind's shared neuron (`shared_domains`)."""
        return {}

    def activation(self, kind: str, operand: str, config: ConversionConfig,
                   domains: dict) -> ops.Activation:
        """The activation operator of `kind` for `operand` (its calibrated range recorded):
        fitted on the domain every site of the kind shares (fit_to="uniform"), or to this
        site's own calibrated inputs on its own range (fit_to="calibration"); with an
        error budget, the cheapest neuron within it (`ops.within_budget`, recorded in
        `budget[kind]`)."""
        rng = self.calibrated[operand] = self.calibrated_range(operand, config.margin)
        if config.fit_to == "uniform":
            return ops.Activation(kind, domain=domains.get(kind), config=config)
        inputs = InputDistribution(*self.histogram(operand).bins(), rng)
        if config.error_budget is None:
            return ops.Activation(kind, domain=rng, inputs=inputs, config=config)
        op, chosen = ops.within_budget(kind, rng, inputs, config)
        self.budget = {**(self.budget or {}), kind: chosen}
        return op

    def encoded(self, name: str, build: Callable[[ConversionConfig], ops.SpikingOp],
                config: ConversionConfig) -> ops.SpikingOp:
        """The operator `build(config)` whose identity encoders have `identity_basis` bases,
        or, with an error budget, the fewest within it (`ops.identity_within_budget`,
        recorded in `budget[name]`), its encoders' input RMS from the histograms of
        `ENCODER_OPERANDS[name]`."""
        if config.error_budget is None:
            return build(config)
        rms = {prim: self.histogram(operand).rms()
               for prim, operand in self.ENCODER_OPERANDS.get(name, {}).items()}
        op, chosen = ops.identity_within_budget(build, rms, config)
        self.budget = {**(self.budget or {}), name: chosen}
        return op


# -- elementwise activations ---------------------------------------------------------------------
ACTIVATION_FUNCTIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "gelu": F.gelu,
    "gelu_tanh": functools.partial(F.gelu, approximate="tanh"),
    "tanh": torch.tanh,
    "silu": F.silu,
    "relu": torch.relu,
}


class UnarySite(Site):
    """A site of one operand x: the ANN's `ann(x)` (its range recorded as "x") or the spiking
    operator's `op(x)`."""

    def reference(self, x: Tensor) -> Tensor:
        self.observe("x", x)
        return self.ann(x)

    def spiking(self, x: Tensor) -> Tensor:
        return self.op(x)


class ActivationSite(UnarySite):
    """An activation replaced by one fitted MBE neuron, elementwise (Eq. 8).

    With fit_to="uniform", every site of a kind shares one neuron (`shared_domains`): on
    `mbe.ops`' default domain for the kind (GELU: (-120, 10) as the paper) when that covers
    every site's calibrated range, otherwise on the union of the calibrated ranges. With
    fit_to="calibration", each site's neuron is fitted to the inputs it received during
    calibration, on its own calibrated range (sites with equal inputs share one).
    """

    def __init__(self, kind: str, ann: Callable[[Tensor], Tensor] | None = None):
        super().__init__()
        if kind not in ACTIVATION_FUNCTIONS:
            raise ConversionError(f"no spiking activation for kind {kind!r}: "
                                  f"supported kinds are {sorted(ACTIVATION_FUNCTIONS)}")
        self.kind = self.operation = kind
        self.ann = ann if ann is not None else ACTIVATION_FUNCTIONS[kind]

    def activation_inputs(self) -> dict[str, str]:
        return {self.kind: "x"}

    def _build(self, config: ConversionConfig, domains: dict) -> None:
        self.op = self.activation(self.kind, "x", config, domains)

    def call_functional(self, args: tuple, kwargs: dict):
        if self.kind.startswith("gelu"):
            approximate = kwargs.get("approximate", args[1] if len(args) > 1 else "none")
            if (approximate == "tanh") != (self.kind == "gelu_tanh"):
                raise ConversionError(f"`{self.path}` calls gelu with approximate="
                                      f"{approximate!r} and with another approximation: "
                                      "one module, one GELU variant")
        return self(args[0])


def shared_domains(sites: list[Site], margin: float) -> dict:
    """kind -> the domain all activation sites of that kind share (None: the default)."""
    ranges: dict[str, list[tuple[float, float]]] = {}
    for site in sites:
        for kind, operand in site.activation_inputs().items():
            ranges.setdefault(kind, []).append(site.calibrated_range(operand, margin))
    domains = {}
    for kind, found in ranges.items():
        domains[kind] = ops.covering_domain(kind, min(r[0] for r in found),
                                            max(r[1] for r in found))
    return domains


# -- softmax and LayerNorm -----------------------------------------------------------------------
class SoftmaxSite(UnarySite):
    """A softmax over `dim` (Eq. 13: 2^x split, mantissa reciprocal, spike multiply)."""

    operation = "softmax"

    def __init__(self, dim: int, ann: Callable[[Tensor], Tensor] | None = None):
        super().__init__()
        self.dim = dim
        self.ann = ann if ann is not None else functools.partial(torch.softmax, dim=dim)

    def _build(self, config: ConversionConfig, domains: dict) -> None:
        self.calibrated["x"] = self.calibrated_range("x", config.margin)
        self.op = self.encoded("softmax", lambda c: ops.Softmax(dim=self.dim, config=c), config)

    def call_functional(self, args: tuple, kwargs: dict):
        dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
        if dim != self.dim:
            raise ConversionError(f"`{self.path}` calls softmax over dim {dim} and dim "
                                  f"{self.dim}: one module, one softmax dimension")
        x = args[0]
        dtype = kwargs.get("dtype")
        return self(x if dtype is None else x.to(dtype))


class LayerNormSite(UnarySite):
    """A LayerNorm (spike multiplies for the variance and the product, MBE 1/sqrt(M))."""

    operation = "layernorm"
    ENCODER_OPERANDS = {"layernorm": {"identity_input": "centred"}}  # |x - mean|

    def __init__(self, ln: nn.LayerNorm):
        super().__init__()
        self.ann = ln
        self.channel_peak: Tensor | None = None  # per element: the largest |x - mean| seen

    def reference(self, x: Tensor) -> Tensor:
        if self.recording:
            dims = tuple(range(x.dim() - len(self.ann.normalized_shape), x.dim()))
            c = (x - x.mean(dims, keepdim=True)).detach().abs().to(torch.float64)
            peak = c.reshape(-1, *self.ann.normalized_shape).amax(0)
            self.channel_peak = peak if self.channel_peak is None else \
                torch.maximum(self.channel_peak, peak)
            self.bin("centred", c)
        return super().reference(x)

    def _build(self, config: ConversionConfig, domains: dict) -> None:
        rng = self.calibrated["x"] = self.calibrated_range("x", config.margin)
        radius = None
        if config.layernorm_scale == "channel":  # widened by the margin, as every range
            radius = self.channel_peak * (1 + 2 * config.margin)
        self.op = self.encoded(
            "layernorm", lambda c: ops.LayerNorm.from_module(self.ann, input_range=rng,
                                                             channel_radius=radius, config=c),
            config)


# -- max pooling ----------------------------------------------------------------------------------
class MaxPoolSite(Site):
    """2-D max pooling by ReLU neurons: max(m, w) = m + relu(w - m) over each window.

    Windows are taken with replicate padding, which equals -inf padding for a max whenever
    padding <= kernel / 2 (every padded cell repeats a real cell of the same window).
    """

    operation = "maxpool"

    def __init__(self, pool: nn.MaxPool2d, path: str = ""):
        super().__init__()
        pair = nn.modules.utils._pair
        if pool.return_indices or pool.ceil_mode or pair(pool.dilation) != (1, 1):
            raise ConversionError(
                f"`{path}`: max pooling with return_indices, ceil_mode or dilation has no "
                f"spiking form here: keep it in floating point with keep_float=[{path!r}]")
        self.ann = pool
        self.kernel, self.stride, self.padding = (pair(pool.kernel_size),
                                                  pair(pool.stride or pool.kernel_size),
                                                  pair(pool.padding))

    def _windows(self, x: Tensor) -> list[Tensor]:
        """The cells of every window, one kernel position at a time (row by row): each an
        (N, C, out_h, out_w) strided view of x, nothing copied."""
        ph, pw = self.padding
        if ph or pw:
            x = F.pad(x, (pw, pw, ph, ph), mode="replicate")
        (kh, kw), (sh, sw) = self.kernel, self.stride
        windows = x.unfold(2, kh, sh).unfold(3, kw, sw)
        return [windows[..., a, b] for a in range(kh) for b in range(kw)]

    def reference(self, x: Tensor) -> Tensor:
        if self.recording:
            cells = self._windows(x)
            best = cells[0]
            for cell in cells[1:]:
                self.observe("diff", cell - best)
                best = torch.maximum(best, cell)
        return self.ann(x)

    def spiking(self, x: Tensor) -> Tensor:
        cells = self._windows(x)
        best = cells[0]
        for cell in cells[1:]:
            best = best + self.op(cell - best)
        return best.contiguous()

    def activation_inputs(self) -> dict[str, str]:
        return {"relu": "diff"}

    def _build(self, config: ConversionConfig, domains: dict) -> None:
        self.op = self.activation("relu", "diff", config, domains)


# -- attention --------------------------------------------------------------------------------
class AttentionSite(Site):
    """Scaled dot-product attention: softmax(q kᵀ · scale + mask) v.

    Both activation products are spike multiplies (Eqs. 9-12) over calibrated ranges of the
    scaled queries, the keys and the values (probabilities: [0, 1]); the softmax is Eq. 13
    with the mask applied inside it. Scaling q by a constant is a weight-like float op.
    `mask` is boolean (True = attend) or additive float, broadcastable to the scores.
    Returns (context (B, H, Q, D), probabilities).
    """

    operation = "attention"
    ENCODER_OPERANDS = {"qk": {"identity_a": "q", "identity_b": "k"},
                        "av": {"identity_a": "probs", "identity_b": "v"}}

    def reference(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None,
                  scaling: float | None):
        q, k, v = self._heads(q, k, v, scaling)
        scores = torch.matmul(q, k.transpose(-1, -2))
        for name, x in (("q", q), ("k", k), ("v", v), ("scores", scores)):
            self.observe(name, x)
        mask, blind = self._blind_rows(mask)
        probs = torch.softmax(apply_mask(scores, mask).float(), dim=-1).to(q.dtype)
        probs = probs if blind is None else probs.masked_fill(blind, 0.0)
        self.bin("probs", probs)
        return torch.matmul(probs, v), probs

    def spiking(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None,
                scaling: float | None):
        q, k, v = self._heads(q, k, v, scaling)
        mask, blind = self._blind_rows(mask)
        scores = self.qk.matmul(q, k.transpose(-1, -2))
        if mask is not None and scores.dtype in (torch.float32, torch.float64):
            scores, mask = apply_mask(scores, mask, inplace=True), None  # our own tensor
        probs = self.softmax(scores, mask=mask)
        probs = probs if blind is None else probs.masked_fill(blind, 0.0)
        return self.av.matmul(probs, v), probs

    @staticmethod
    def _blind_rows(mask: Tensor | None) -> tuple[Tensor | None, Tensor | None]:
        """(mask, blind): queries allowed no key at all (a left-padded position under a
        causal mask) get all-zero probabilities, as torch's SDPA gives them. Their mask row
        is opened so the softmax is defined; `blind` (..., Q, 1) zeroes them afterwards."""
        if mask is None:
            return None, None
        closed = ~mask if mask.dtype == torch.bool else mask == float("-inf")
        blind = closed.all(-1, keepdim=True)
        if not bool(blind.any()):
            return mask, None
        opened = mask | blind if mask.dtype == torch.bool else mask.masked_fill(blind, 0.0)
        return opened, blind

    @staticmethod
    def _heads(q: Tensor, k: Tensor, v: Tensor, scaling: float | None):
        """Scale the queries; repeat grouped key/value heads to the query heads."""
        if k.shape[1] != q.shape[1]:
            k = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)
            v = v.repeat_interleave(q.shape[1] // v.shape[1], dim=1)
        scale = q.shape[-1] ** -0.5 if scaling is None else scaling
        return q * scale, k, v

    @staticmethod
    def output_tensor(out) -> Tensor:
        return out[0]

    def _build(self, config: ConversionConfig, domains: dict) -> None:
        cal = self.calibrated
        for name in ("q", "k", "v", "scores"):
            cal[name] = self.calibrated_range(name, config.margin)
        cal["probs"] = PROBABILITY_RANGE
        self.qk = self.encoded("qk", lambda c: ops.Multiply(cal["q"], cal["k"], config=c),
                               config)
        self.softmax = self.encoded("softmax", lambda c: ops.Softmax(dim=-1, config=c), config)
        self.av = self.encoded("av", lambda c: ops.Multiply(PROBABILITY_RANGE, cal["v"],
                                                            config=c), config)

    def call_functional(self, args: tuple, kwargs: dict):
        """`F.scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal, scale)`."""
        names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale")
        call = {**dict(zip(names, args)), **kwargs}
        if call.get("dropout_p", 0.0):
            raise ConversionError(f"`{self.path}`: attention dropout is on; convert a model "
                                  "in eval mode")
        q, k, mask = call["query"], call["key"], call.get("attn_mask")
        if call.get("is_causal", False):  # torch forbids is_causal together with attn_mask
            mask = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool,
                              device=q.device).tril()
        return self(q, k, call["value"], mask, call.get("scale"))[0]
