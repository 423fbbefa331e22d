"""How far each spiking operator is from its float counterpart, on uniform and on real inputs.

`error_records(inputs, setup)` evaluates every operator, built from `setup` (a
`mbe.ops.ConversionConfig`), in "mbe" mode (equal to the spike
simulation, see tests) on one input set and returns one record per operator:

    {"operator", "timesteps", "inputs", "neuron", "max_abs_error", "mean_abs_error",
     "rel_error" (||y - y_float|| / ||y_float||), "firing_rate", ...}

Inputs come from `uniform_inputs` (each operator on a uniform box, documented below) or
`minilm_inputs` (captured from the real all-MiniLM-L6-v2, `mbe.studies.activations`). Calibrated
ranges (identity encoders, LayerNorm inputs) are taken from the input set itself, one range per
operand kind for the whole model, as the paper's single identity range per model.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..ops import (DEFAULT_DOMAINS, Activation, ConversionConfig, LayerNorm, Multiply, Softmax,
                   covering_domain)
from .activations import Activations

TIMESTEPS = (8, 10, 12, 16)
ACTIVATIONS = ("gelu", "gelu_tanh", "tanh", "silu")
OPERATORS = ACTIVATIONS + ("softmax", "layernorm", "multiply", "matmul")


# -- measures -------------------------------------------------------------------------------------
def error_stats(y: Tensor, ref: Tensor) -> dict:
    """max and mean absolute error, and relative error ||y - ref|| / ||ref||, in float64."""
    y, ref = y.detach().double().reshape(-1), ref.detach().double().reshape(-1)
    diff = (y - ref).abs()
    return {"max_abs_error": float(diff.max()), "mean_abs_error": float(diff.mean()),
            "rel_error": float(diff.norm() / ref.norm())}


def firing_rate(report: dict) -> float | None:
    """Spikes over (inputs x N x T) of all the operator's primitives together."""
    prims = report["primitives"].values()
    if any(p["spikes"] is None for p in prims if p["seen"]):
        return None
    slots = sum(p["comparisons"] for p in prims)
    return sum(p["spikes"] or 0 for p in prims) / slots if slots else None


def span(*tensors: Tensor) -> tuple[float, float]:
    """(min, max) over the finite values of the tensors: a calibrated range."""
    lo = min(float(t[torch.isfinite(t)].min()) for t in tensors)
    hi = max(float(t[torch.isfinite(t)].max()) for t in tensors)
    return lo, hi


# -- input sets -----------------------------------------------------------------------------------
@dataclass
class Inputs:
    """What each operator is evaluated on (one input set, "uniform" or "minilm")."""

    name: str
    activation: dict            # kind -> 1-D tensor
    softmax: list               # [(scores, mask or None, query rows to score (bool))]
    layernorm: list             # [(x, nn.LayerNorm)]
    multiply: tuple             # (a, b)
    matmul: list                # [(site, a, b)]
    ranges: dict                # operand kind -> calibrated (lo, hi); "activation": the
                                # activations' (None on the uniform boxes: default domains)


def uniform_inputs(size: int = 100_000, seed: int = 0) -> Inputs:
    """Uniform boxes: activations over their fitted domains; softmax rows of 128 scores in
    [-8, 8]; LayerNorm rows of 384 values in [-4, 4] (unit weight, zero bias, MiniLM's eps);
    multiply a, b in [-4, 4]; matmul (…, 128, 64) @ (…, 64, 128) in [-4, 4]."""
    g = torch.Generator().manual_seed(seed)

    def box(lo, hi, *shape):
        return lo + (hi - lo) * torch.rand(*shape, generator=g)

    rows = max(1, size // 128)
    ln = torch.nn.LayerNorm(384, eps=1e-12)
    heads = max(1, size // (128 * 128))
    q, k = box(-4, 4, heads, 128, 64), box(-4, 4, heads, 64, 128)
    return Inputs(
        name="uniform",
        activation={kind: box(*DEFAULT_DOMAINS[kind], size) for kind in ACTIVATIONS},
        softmax=[(box(-8, 8, rows, 128), None, torch.ones(rows, dtype=torch.bool))],
        layernorm=[(box(-4, 4, max(1, size // 384), 384), ln)],
        multiply=(box(-4, 4, size), box(-4, 4, size)),
        matmul=[("q@k^T", q, k)],
        ranges={"layernorm": (-4.0, 4.0), "a": (-4.0, 4.0), "b": (-4.0, 4.0),
                "q": (-4.0, 4.0), "k": (-4.0, 4.0), "activation": None})


def minilm_inputs(acts: Activations, max_elements: int = 2_000_000) -> Inputs:
    """The captured MiniLM inputs: FFN GELU inputs (also fed to the other activations), attention
    scores with the attention mask (rows of real query tokens), every LayerNorm with its own
    weight and bias, Q * K elementwise, Q K^T and attention V. The activations are fitted on
    the GELU inputs' calibrated range where their default domain does not cover it."""
    gelu = acts.gelu[:: max(1, acts.gelu.numel() // max_elements)]
    rows = acts.token_mask[:, None, :]  # (batch, 1, L): real query tokens
    att = acts.attention
    qs, ks = [a.q for a in att], [a.k.transpose(-1, -2) for a in att]
    return Inputs(
        name="minilm",
        activation={kind: gelu for kind in ACTIVATIONS},
        softmax=[(a.scores, a.mask, rows.expand(-1, a.scores.shape[1], -1)) for a in att],
        layernorm=[(s.inputs, s.module) for s in acts.layernorm],
        multiply=(torch.cat([q.reshape(-1) for q in qs]), torch.cat([k.reshape(-1) for k in
                                                                     [a.k for a in att]])),
        matmul=[(f"layer{a.layer} q@k^T", a.q, a.k.transpose(-1, -2)) for a in att]
        + [(f"layer{a.layer} attn@v", a.probs, a.v) for a in att],
        ranges={"activation": span(gelu),
                "layernorm": span(*(s.inputs for s in acts.layernorm)), "a": span(*qs),
                "b": span(*ks), "q": span(*qs), "k": span(*ks),
                "probs": span(*(a.probs for a in att)), "v": span(*(a.v for a in att))})


# -- evaluation -----------------------------------------------------------------------------------
def _record(operator: str, setup: ConversionConfig, inputs: str, y: Tensor, ref: Tensor, op, **extra
            ) -> dict:
    return {"operator": operator, "timesteps": setup.timesteps, "inputs": inputs,
            "neuron": setup.neuron,
            "n_basis": setup.activation_basis if operator in ACTIVATIONS
            else setup.arithmetic_basis, **error_stats(y, ref),
            "firing_rate": firing_rate(op.report()),
            **extra}


def _recording(op):
    op.record = True
    return op


def eval_activation(kind: str, x: Tensor, setup: ConversionConfig, name: str = "",
                   calibrated: tuple[float, float] | None = None) -> dict:
    """The activation fitted on its default domain, or on `calibrated` (the inputs' range)
    where the default does not cover that (`mbe.ops.covering_domain`, as the converter)."""
    domain = None if calibrated is None else covering_domain(kind, *calibrated)
    op = _recording(Activation(kind, domain=domain, config=setup))
    exact = Activation(kind, mode="exact", domain=op.domain)
    y, ref = op(x), exact(x)
    lo, hi = op.domain
    inside = (x >= lo) & (x <= hi)
    stats = error_stats(y[inside], ref[inside]) if bool(inside.any()) else {}
    return _record(kind, setup, name, y, ref, op,
                   fraction_outside=float(1 - inside.float().mean()),
                   max_abs_error_in_domain=stats.get("max_abs_error"))


def eval_softmax(cases: list, setup: ConversionConfig, name: str = "",
                 ops: dict | None = None) -> dict:
    op = ops["softmax"] if ops else _softmax(setup)
    ys, refs = [], []
    for scores, mask, rows in cases:
        masked = scores if mask is None else scores + mask
        ys.append(op(scores, mask)[rows])
        refs.append(torch.softmax(masked, -1)[rows])
    y, ref = torch.cat(ys), torch.cat(refs)
    return _record("softmax", setup, name, y, ref, op,
                   row_sum_max_dev=float((y.double().sum(-1) - 1).abs().max()))


def eval_layernorm(cases: list, input_range, setup: ConversionConfig, name: str = "",
                   exact: frozenset = frozenset()) -> dict:
    ys, refs, reports = [], [], []
    for x, module in cases:
        op = _recording(LayerNorm.from_module(module, input_range=input_range, config=setup))
        op.set_exact(exact)
        with torch.no_grad():
            ys.append(op(x))
            refs.append(module(x))
        reports.append(op)
    return _record("layernorm", setup, name, torch.cat(ys), torch.cat(refs), _Merged(reports))


def eval_multiply(a: Tensor, b: Tensor, ranges, setup: ConversionConfig, name: str = "") -> dict:
    op = _recording(Multiply(ranges["a"], ranges["b"], config=setup))
    return _record("multiply", setup, name, op(a, b), a * b, op)


def eval_matmul(cases: list, ranges, setup: ConversionConfig, name: str = "") -> list[dict]:
    """One record per product kind (q@k^T, attn@v), over all layers."""
    out = []
    for kind, (ra, rb) in (("q@k^T", ("q", "k")), ("attn@v", ("probs", "v"))):
        sel = [(a, b) for site, a, b in cases if site.endswith(kind)]
        if not sel:
            continue
        op = _recording(Multiply(ranges[ra], ranges[rb], config=setup))
        y = torch.cat([op.matmul(a, b).reshape(-1) for a, b in sel])
        ref = torch.cat([(a @ b).reshape(-1) for a, b in sel])
        out.append(_record("matmul", setup, name, y, ref, op, site=kind))
    return out


class _Merged:
    """Several operators' reports as one (for a model-wide firing rate)."""

    def __init__(self, ops):
        self.ops = ops

    def report(self) -> dict:
        prims = {}
        for i, op in enumerate(self.ops):
            for k, v in op.report()["primitives"].items():
                prims[f"{i}.{k}"] = v
        return {"primitives": prims}


def _softmax(setup: ConversionConfig) -> Softmax:
    return _recording(Softmax(config=setup))


def error_records(inputs: Inputs, setup: ConversionConfig, operators=OPERATORS) -> list[dict]:
    """Every operator in `operators` evaluated on `inputs` under `setup`."""
    records = []
    for name in operators:
        if name in ACTIVATIONS:
            records.append(eval_activation(name, inputs.activation[name], setup, inputs.name,
                                           inputs.ranges.get("activation")))
        elif name == "softmax":
            records.append(eval_softmax(inputs.softmax, setup, inputs.name))
        elif name == "layernorm":
            records.append(eval_layernorm(inputs.layernorm, inputs.ranges["layernorm"], setup,
                                          inputs.name))
        elif name == "multiply":
            records.append(eval_multiply(*inputs.multiply, inputs.ranges, setup, inputs.name))
        elif name == "matmul":
            records += eval_matmul(inputs.matmul, inputs.ranges, setup, inputs.name)
        else:
            raise ValueError(f"unknown operator {name!r}: use one of {OPERATORS}")
    return records


# -- which primitive dominates a composite's error ------------------------------------------------
COMPOSITE_PRIMITIVES = {
    "softmax": ("exp2", "identity_exp2", "reciprocal", "identity_reciprocal"),
    "layernorm": ("identity_input", "rsqrt", "identity_rsqrt"),
}


def attribution(inputs: Inputs, setup: ConversionConfig) -> list[dict]:
    """Error of softmax and LayerNorm with one primitive spiking and all others exact
    ("alone"), and with all spiking ("all")."""
    out = []
    for operator, prims in COMPOSITE_PRIMITIVES.items():
        for alone in (None,) + prims:
            exact = frozenset(p for p in prims if alone is not None and p != alone)
            if operator == "softmax":
                op = _softmax(setup)
                op.set_exact(exact)
                rec = eval_softmax(inputs.softmax, setup, inputs.name, ops={"softmax": op})
            else:
                rec = eval_layernorm(inputs.layernorm, inputs.ranges["layernorm"], setup,
                                     inputs.name, exact)
            out.append({**rec, "spiking": alone or "all"})
    return out
