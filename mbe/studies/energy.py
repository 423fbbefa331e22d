"""Operation counting and energy (Wang et al. 2025, Eq. 14; appendix G.4), with every
ambiguous convention switchable and named.

    E_SNN / E_ANN = (SOPs * E_AC [+ comparisons * E_CMP]) / (MACs * E_MAC)        (Eq. 14)

Counted here:
- ANN side: FLOPs of a float tensor program, by running it under `count_flops` (a torch
  dispatch mode): matrix products 2 M N K, elementwise arithmetic 1 per element, nonlinear
  functions by `FLOPS_PER_ELEMENT`. The paper prices GELU at 70 FLOPs (citing Jiang et al.
  2024); every other nonlinear entry is derived from it (docs/decisions.md, "Energy").
- SNN side: spikes counted on spike tensors (`count_spikes` checks they are binary; the
  operators count theirs in "spike" mode and, with `record`, through their staircases), spike
  coincidences of the multiplications, and threshold comparisons (N x T per input).

The paper leaves five things open; a `Convention` fixes each, and its name says how:
- spike_unit: "basis" counts every basis's spikes (N T eta per input, Eq. 14's T N eta);
  "neuron" counts T eta per input (appendix G.4's formula, which has no basis factor).
- acs_per_spike: 1 (the output accumulate o += d) or 2 (also the reset u -= r).
- comparisons: whether the N x T threshold comparisons per input are charged (at E_CMP).
- flops_per_mac: 1 (a FLOP is priced as a MAC) or 2 (two FLOPs make one MAC: 70 FLOPs = 35 MACs).
- multiply: "counted" (the coincidences sum(S) actually counted) or "expected" (G.4's
  T^2 eta_1 eta_2 per product, from the operands' mean firing rates).
"""
from __future__ import annotations

import functools
import itertools
import math
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode

from .. import paper

aten = torch.ops.aten


# -- energy presets -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Preset:
    """Energy per operation in pJ: multiply-accumulate, accumulate, comparison."""

    name: str
    e_mac: float
    e_ac: float
    e_cmp: float
    source: str


def _paper_fp32() -> Preset:
    e = paper.values()["energy"]
    mac, ac = e["e_mac_pj"]["value"], e["e_ac_pj"]["value"]
    return Preset("45nm_fp32", mac, ac, ac, "the paper's 45 nm FP32 values (Eq. 14); a "
                  "comparison is priced as an FP32 add")


# Horowitz, "Computing's energy problem", ISSCC 2014, 45 nm: FP16 add 0.4 pJ, mult 1.1 pJ;
# INT8 add 0.03 pJ, mult 0.2 pJ. A MAC is a multiply plus an add; a comparison is an add.
PRESETS: dict[str, Preset] = {
    "45nm_fp32": _paper_fp32(),
    "45nm_fp16": Preset("45nm_fp16", 1.1 + 0.4, 0.4, 0.4, "Horowitz 2014, 45 nm FP16"),
    "45nm_int8": Preset("45nm_int8", 0.2 + 0.03, 0.03, 0.03, "Horowitz 2014, 45 nm INT8"),
}


def preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown energy preset {name!r}: use one of {sorted(PRESETS)}")
    return PRESETS[name]


# -- conventions ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Convention:
    """How spikes, accumulates, comparisons, FLOPs and products are counted (module docstring)."""

    spike_unit: str = "basis"
    acs_per_spike: int = 1
    comparisons: bool = False
    flops_per_mac: int = 1
    multiply: str = "counted"

    def __post_init__(self):
        checks = {"spike_unit": ("basis", "neuron"), "acs_per_spike": (1, 2),
                  "comparisons": (False, True), "flops_per_mac": (1, 2),
                  "multiply": ("counted", "expected")}
        for name, allowed in checks.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"convention {name}={getattr(self, name)!r} is not one of "
                                 f"{allowed}")

    @property
    def name(self) -> str:
        return (f"{self.spike_unit}-spikes/{self.acs_per_spike}AC-per-spike/"
                f"{'cmp' if self.comparisons else 'no-cmp'}/{self.flops_per_mac}FLOP-per-MAC/"
                f"{self.multiply}-products")

    def settings(self) -> dict:
        return asdict(self)


#: Every combination of the five switches.
CONVENTIONS: tuple[Convention, ...] = tuple(
    Convention(*combo) for combo in itertools.product(
        ("basis", "neuron"), (1, 2), (False, True), (1, 2), ("counted", "expected")))


# -- ANN side: FLOPs of a float tensor program ----------------------------------------------------
def _paper_gelu_flops() -> int:
    return int(paper.values()["energy"]["gelu_example"]["ann_flops"])


_ARITHMETIC = 4  # GELU(x) = 0.5 x (1 + erf(x / sqrt 2)): 4 arithmetic FLOPs around one erf
TRANSCENDENTAL = _paper_gelu_flops() - _ARITHMETIC  # erf, tanh, exp, ... (66: derived)

#: FLOPs per output element of the nonlinear aten ops (per input element for the composites
#: softmax: max, subtract, exp, sum, divide; layer_norm: mean, subtract, square, sum, scale,
#: gamma, beta). GELU is the paper's; the rest follow from the same per-function price.
FLOPS_PER_ELEMENT = {
    aten.gelu.default: _paper_gelu_flops(),
    aten.tanh.default: TRANSCENDENTAL,
    aten.exp.default: TRANSCENDENTAL,
    aten.erf.default: TRANSCENDENTAL,
    aten.sigmoid.default: TRANSCENDENTAL + 2,
    aten.silu.default: TRANSCENDENTAL + 3,
    aten.relu.default: 1,
    aten.rsqrt.default: TRANSCENDENTAL,
    aten.reciprocal.default: 1,
    aten._softmax.default: TRANSCENDENTAL + 4,
    aten.native_layer_norm.default: 7,
}
_MATMUL = {aten.mm.default, aten.bmm.default, aten.addmm.default, aten.baddbmm.default}
_ELEMENTWISE = {aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor, aten.div.Tensor,
                aten.add.Scalar, aten.sub.Scalar, aten.mul.Scalar, aten.div.Scalar,
                aten.neg.default, aten.pow.Tensor_Scalar, aten.sum.dim_IntList,
                aten.mean.dim, aten.amax.default}


@dataclass
class FlopCount:
    """FLOPs of a float program, and per aten op."""

    flops: int = 0
    by_op: dict = field(default_factory=dict)

    def add(self, op: str, flops: int) -> None:
        self.flops += flops
        self.by_op[op] = self.by_op.get(op, 0) + flops


class count_flops(TorchDispatchMode):
    """`with count_flops() as c: y = f(x)` counts f's FLOPs in `c.count` (see module docstring).

    With `model`, FLOPs are also attributed to the innermost running module of `model` (its
    own computation, not its submodules'), by path, in `c.by_module`. Ops that move data
    (views, copies) cost nothing, and so does integer and boolean bookkeeping (position ids,
    masks: an op whose output is not floating point); any other op with no entry raises, so
    a program is never silently undercounted.
    """

    def __init__(self, model: torch.nn.Module | None = None):
        super().__init__()
        self.count = FlopCount()
        self.by_module: dict[str, FlopCount] = {}
        self._stack: list[str] = []
        self._hooks = [] if model is None else [
            hook for path, module in model.named_modules() for hook in (
                module.register_forward_pre_hook(functools.partial(self._enter, path)),
                module.register_forward_hook(self._leave))]

    def _enter(self, path: str, module, args) -> None:
        self._stack.append(path)

    def _leave(self, module, args, output) -> None:
        self._stack.pop()

    def __exit__(self, *exc):
        for hook in self._hooks:
            hook.remove()
        return super().__exit__(*exc)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        flops = _flops(func, args, out)
        self.count.add(str(func), flops)
        if self._stack:
            self.by_module.setdefault(self._stack[-1], FlopCount()).add(str(func), flops)
        return out


_FREE = {"view", "_unsafe_view", "expand", "transpose", "permute", "reshape", "clone", "copy_",
         "contiguous", "t", "unsqueeze", "squeeze", "slice", "select", "detach", "alias",
         "_to_copy", "empty", "zeros_like", "ones_like", "lift_fresh", "movedim", "embedding",
         "cat", "stack", "split", "split_with_sizes", "unbind", "index", "index_select",
         "new_empty", "new_zeros", "new_ones", "full", "full_like", "zeros", "ones", "fill_",
         "zero_", "masked_fill", "where", "native_dropout", "dropout", "_unsafe_index",
         "scalar_tensor", "empty_like", "as_strided", "flatten", "unflatten"}
#: FLOPs per input element: averaging pools and means (one add each), BatchNorm in eval
#: mode (its affine map: a multiply and an add; on CPU it dispatches to native_batch_norm).
_PER_INPUT_ELEMENT = {"_adaptive_avg_pool2d": 1, "avg_pool2d": 1, "mean": 1,
                      "native_batch_norm": 2}


def _flops(func, args, out) -> int:
    if func in _MATMUL:
        bias_first = func in (aten.addmm.default, aten.baddbmm.default)
        a, b = (args[1], args[2]) if bias_first else args[:2]
        return 2 * a.numel() * b.shape[-1]
    if func in FLOPS_PER_ELEMENT:
        return FLOPS_PER_ELEMENT[func] * args[0].numel()
    if func in _ELEMENTWISE:
        return max(args[0].numel(), out.numel()) if isinstance(args[0], Tensor) else out.numel()
    name = func.__name__.split(".")[0]
    if name in _FREE or not _floating(out):
        return 0
    if name == "convolution":  # 2 per multiply-accumulate of every output element
        weight = args[1]
        return 2 * out.numel() * weight[0].numel()
    if name.startswith("_scaled_dot_product") or name == "scaled_dot_product_attention":
        q, k = args[0], args[1]  # (..., L, D), (..., S, D): Q K^T and P V, and the softmax
        scores = q.numel() // q.shape[-1] * k.shape[-2]
        return 4 * scores * q.shape[-1] + FLOPS_PER_ELEMENT[aten._softmax.default] * scores
    if name == "max_pool2d_with_indices":  # k*k - 1 comparisons per output element
        kernel = args[1] if len(args[1]) == 2 else list(args[1]) * 2
        return out[0].numel() * (kernel[0] * kernel[1] - 1)
    if name == "native_batch_norm" and args[5]:
        raise ValueError("BatchNorm ran in training mode (batch statistics, running ones "
                         "updated): count FLOPs of a model in eval mode, model.eval()")
    if name in _PER_INPUT_ELEMENT:
        return _PER_INPUT_ELEMENT[name] * args[0].numel()
    raise NotImplementedError(f"no FLOP count for {func}: add it to mbe.studies.energy")


def _floating(out) -> bool:
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return any(isinstance(t, Tensor) and t.is_floating_point() for t in outs)


def ann_flops(fn, *args, **kwargs) -> FlopCount:
    """FLOPs of fn(*args, **kwargs) run in float."""
    with torch.no_grad(), count_flops() as mode:
        fn(*args, **kwargs)
    return mode.count


# -- SNN side: spikes, coincidences, comparisons --------------------------------------------------
def count_spikes(spikes: Tensor) -> int:
    """Spikes in a spike tensor. Refuses anything that is not 0/1: decoded outputs are not
    spikes, and counting them as such is the classic way to get SOPs wrong."""
    if not bool(((spikes == 0) | (spikes == 1)).all()):
        raise ValueError("count_spikes needs a binary spike tensor (0/1); decoded neuron outputs "
                         "are not spikes: pass the spike tensor from `simulate`")
    return int(spikes.sum())


@dataclass
class SpikeCount:
    """SNN-side counts of one primitive: inputs seen, spikes fired, its N and T."""

    name: str
    seen: int
    spikes: int
    n_basis: int
    timesteps: int

    @property
    def slots(self) -> int:
        return self.seen * self.n_basis * self.timesteps

    @property
    def firing_rate(self) -> float:
        return self.spikes / self.slots if self.slots else 0.0


@dataclass
class ProductCount:
    """Spike multiplications: scalar products, counted coincidences, and the two operands'
    encoders (their firing rates feed the "expected" model)."""

    products: int
    coincidences: int
    operands: tuple[SpikeCount, SpikeCount]


@dataclass
class SNNCount:
    primitives: list[SpikeCount] = field(default_factory=list)
    products: list[ProductCount] = field(default_factory=list)

    def merge(self, other: "SNNCount") -> "SNNCount":
        return SNNCount(self.primitives + other.primitives, self.products + other.products)


_OPERANDS = {"identity_a": "identity_b", "identity_exp2": "identity_reciprocal",
             "identity_input": "identity_rsqrt"}


def snn_counts(report: dict) -> SNNCount:
    """Counts from a SpikingOp's report() (run with record=True or in "spike" mode)."""
    prims = []
    for name, p in report["primitives"].items():
        if p["seen"] and p["spikes"] is None:
            raise ValueError(f"primitive {name} has no spike count: run the operator with "
                             "record=True or mode='spike'")
        prims.append(SpikeCount(name, p["seen"], p["spikes"] or 0, p["n_basis"], p["timesteps"]))
    products = []
    prod = report.get("products")
    if prod and prod["products"]:
        if prod["coincidences"] is None:
            raise ValueError("products without coincidence counts: run with record=True")
        by_name = {p.name: p for p in prims}
        a = next(n for n in _OPERANDS if n in by_name)
        products.append(ProductCount(prod["products"], prod["coincidences"],
                                     (by_name[a], by_name[_OPERANDS[a]])))
    return SNNCount(prims, products)


# -- pricing --------------------------------------------------------------------------------------
def _slots(c: SpikeCount, conv: Convention) -> int:
    return c.timesteps * (c.n_basis if conv.spike_unit == "basis" else 1)


def sops(snn: SNNCount, conv: Convention) -> float:
    """Spike-driven accumulates under the convention."""
    total = 0.0
    for c in snn.primitives:
        total += conv.acs_per_spike * c.spikes / (1 if conv.spike_unit == "basis" else c.n_basis)
    for p in snn.products:
        a, b = p.operands
        if conv.multiply == "counted":
            per_basis_pair = 1 if conv.spike_unit == "basis" else a.n_basis * b.n_basis
            total += p.coincidences / per_basis_pair
        else:  # G.4: T^2 eta_1 eta_2 per product (slots per operand by the spike unit)
            total += p.products * _slots(a, conv) * _slots(b, conv) * a.firing_rate * b.firing_rate
    return total


def comparisons(snn: SNNCount, conv: Convention) -> int:
    return sum(c.seen * _slots(c, conv) for c in snn.primitives)


def price(ann: FlopCount | int, snn: SNNCount, conv: Convention, energy: Preset | str = "45nm_fp32"
          ) -> dict:
    """Energies (pJ) and the ratio E_SNN / E_ANN in percent, with every setting named."""
    e = preset(energy) if isinstance(energy, str) else energy
    flops = ann.flops if isinstance(ann, FlopCount) else int(ann)
    macs = flops / conv.flops_per_mac
    n_sops = sops(snn, conv)
    n_cmp = comparisons(snn, conv) if conv.comparisons else 0
    e_ann = macs * e.e_mac
    e_snn = n_sops * e.e_ac + n_cmp * e.e_cmp
    return {"convention": conv.name, **conv.settings(), "preset": e.name, "ann_flops": flops,
            "ann_macs": macs, "sops": n_sops, "comparisons_charged": n_cmp,
            "e_ann_pj": e_ann, "e_snn_pj": e_snn,
            "energy_ratio_percent": 100.0 * e_snn / e_ann if e_ann else math.nan}


def gelu_paper_check(conv: Convention, elements: int = 1_000) -> dict:
    """The paper's GELU example through the counting path: a spike tensor of `elements` GELU
    neurons (N=4, T=16) firing at the paper's rate is counted by `count_spikes` and priced
    against the paper's 70 FLOPs per element."""
    ex = paper.values()["energy"]["gelu_example"]
    n, t = ex["n_basis"], ex["timesteps"]
    slots = elements * n * t
    fired = round(slots * ex["firing_rate_percent"] / 100.0)
    spikes = torch.zeros(slots, dtype=torch.uint8)
    spikes[:fired] = 1
    count = SpikeCount("gelu", elements, count_spikes(spikes.view(elements, n, t)), n, t)
    return price(ex["ann_flops"] * elements, SNNCount([count]), conv)


# -- a whole converted model -----------------------------------------------------------------
def site_counts(snn: torch.nn.Module, batch) -> dict[str, tuple[str, SNNCount]]:
    """Run a converted model on `batch` with every operator recording, and return for each
    spiking site, by module path, its operation and its counts (spikes, products)."""
    from ..conversion import sites_of
    from ..conversion.calibrate import run

    sites = sites_of(snn)
    ops = [op for site in sites for op in site.spiking_ops().values()]
    for op in ops:
        op.reset_stats()
        op.record = True
    try:
        with torch.no_grad():
            run(snn, batch)
    finally:
        for op in ops:
            op.record = False
    out = {}
    for site in sites:
        count = SNNCount()
        for op in site.spiking_ops().values():
            count = count.merge(snn_counts(op.report()))
        out[site.path] = (site.operation, count)
    return out


FLOAT_KEPT = "float-kept"


def model_energy(ann: torch.nn.Module, snn: torch.nn.Module, batch,
                 conventions=CONVENTIONS, energy: Preset | str = "45nm_fp32") -> list[dict]:
    """E_SNN / E_ANN of a whole converted model on one batch, per operator, under each
    convention. The ANN's FLOPs are counted per module (its own computation); a module that
    became a spiking site costs its counted spikes and products, every other module (weight
    layers, embeddings, residual sums: kept in float) costs in the SNN what it costs in the
    ANN. One record per convention: the whole model's ratio, the ratio of its spiking
    operators alone, and per operator (gelu, attention, layernorm, ..., float-kept)."""
    from ..conversion.calibrate import run

    with torch.no_grad(), count_flops(ann) as counted:
        run(ann, batch)
    sites = site_counts(snn, batch)
    missing = sorted(set(sites) - set(counted.by_module))
    if missing:
        raise ValueError(f"spiking sites {missing} match no module of the ANN: pass the ANN "
                         "the converted model was made from")
    records = []
    for conv in conventions:
        per_op: dict[str, dict] = {}
        for path, flops in counted.by_module.items():
            operation, count = sites.get(path, (FLOAT_KEPT, None))
            priced = price(flops, count or SNNCount(), conv, energy)
            e_snn = priced["e_snn_pj"] if count is not None else priced["e_ann_pj"]
            acc = per_op.setdefault(operation, {"ann_flops": 0, "sops": 0.0, "e_ann_pj": 0.0,
                                                "e_snn_pj": 0.0, "sites": 0})
            acc["ann_flops"] += flops.flops
            acc["sops"] += priced["sops"]
            acc["e_ann_pj"] += priced["e_ann_pj"]
            acc["e_snn_pj"] += e_snn
            acc["sites"] += count is not None
        for acc in per_op.values():
            acc["energy_ratio_percent"] = _percent(acc["e_snn_pj"], acc["e_ann_pj"])
        spiking = [v for k, v in per_op.items() if k != FLOAT_KEPT]
        total_ann = sum(v["e_ann_pj"] for v in per_op.values())
        records.append({
            "convention": conv.name, **conv.settings(),
            "preset": energy if isinstance(energy, str) else energy.name,
            "whole_model_percent": _percent(sum(v["e_snn_pj"] for v in per_op.values()),
                                            total_ann),
            "spiking_operators_percent": _percent(sum(v["e_snn_pj"] for v in spiking),
                                                  sum(v["e_ann_pj"] for v in spiking)),
            "spiking_share_of_ann_percent": _percent(sum(v["e_ann_pj"] for v in spiking),
                                                     total_ann),
            "operators": per_op})
    return records


def _percent(num: float, den: float) -> float | None:
    return 100.0 * num / den if den else None


def paper_convention() -> Convention:
    """The convention under which the paper's GELU figure (13.7 %) comes out of a counted
    spike tensor with FLOPs priced as in the ANN (`tests/test_energy.py`): spikes per basis,
    one accumulate each, comparisons not charged, two FLOPs to a MAC, products counted."""
    return Convention(spike_unit="basis", acs_per_spike=1, comparisons=False, flops_per_mac=2,
                      multiply="counted")
