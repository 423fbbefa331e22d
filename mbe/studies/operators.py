"""The operator study behind notebooks/02_operators.ipynb: parameters, runs, records.

Each function returns plain records (lists of dicts) that the notebook saves to
results/operators.json and that `mbe.viz` turns into figures and tables (RESULTS.md).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import paper
from ..ops import Activation, ConversionConfig, LayerNorm, Multiply, Softmax, covering_domain
from . import accuracy, composite, energy
from .accuracy import Inputs
from .activations import Activations

FS_OPERATORS = ("gelu", "softmax", "layernorm", "multiply")  # Fig. 6(a)


def check_parameters(timesteps, n_sentences, uniform_size, max_elements, n_act, n_prim,
                     n_sweep, activations=accuracy.ACTIVATIONS) -> None:
    """Clear errors for bad notebook parameters, naming the parameter and the fix."""
    unknown = sorted(set(activations) - set(accuracy.ACTIVATIONS))
    if not activations or unknown:
        raise ValueError(f"activations={activations!r}: choose a non-empty subset of "
                         f"{list(accuracy.ACTIVATIONS)}")
    if not timesteps or any(not isinstance(t, int) or not 2 <= t <= 24 for t in timesteps):
        raise ValueError(f"timesteps={timesteps!r}: give a non-empty list of integers in "
                         "[2, 24], e.g. [8, 10, 12, 16]")
    for name, value, low in (("n_sentences", n_sentences, 1), ("uniform_size", uniform_size,
                             1_000), ("max_elements", max_elements, 1_000),
                             ("n_act", n_act, 1), ("n_prim", n_prim, 1)):
        if not isinstance(value, int) or value < low:
            raise ValueError(f"{name}={value!r}: must be an integer >= {low}")
    if not n_sweep or any(not isinstance(n, int) or n < 1 for n in n_sweep):
        raise ValueError(f"n_sweep={n_sweep!r}: give a non-empty list of positive integers, "
                         "e.g. [2, 4, 8]")


def errors(uniform: Inputs, minilm: Inputs, timesteps, n_act: int, n_prim: int,
           activations=accuracy.ACTIVATIONS) -> list[dict]:
    """Every operator, both input sets, every T (MBE), plus the FS baseline for Fig. 6(a)."""
    operators = [op for op in accuracy.OPERATORS
                 if op not in accuracy.ACTIVATIONS or op in activations]
    out = []
    for t in timesteps:
        setup = ConversionConfig(timesteps=t, activation_basis=n_act, arithmetic_basis=n_prim)
        for inputs in (uniform, minilm):
            out += accuracy.error_records(inputs, setup, operators)
            out += accuracy.error_records(inputs, setup.updated(neuron="fs"), FS_OPERATORS)
    return out


SWEPT = ("gelu", "softmax", "layernorm")


def basis_sweep(minilm: Inputs, timesteps: int, n_values) -> list[dict]:
    """Error on MiniLM inputs as bases are added: GELU's neuron (on its calibrated range), and
    the 2^x, 1/x, 1/sqrt x neurons inside softmax and LayerNorm. Shows the N each bar needs."""
    out = []
    for n in n_values:
        setup = ConversionConfig(timesteps=timesteps, activation_basis=n, arithmetic_basis=n)
        out += accuracy.error_records(minilm, setup, SWEPT)
    return out


def attribution(minilm: Inputs, timesteps, n_prim: int) -> list[dict]:
    out = []
    for t in timesteps:
        out += accuracy.attribution(minilm, ConversionConfig(timesteps=t, activation_basis=4,
                                                             arithmetic_basis=n_prim))
    return out


#: Appendix Table XI's operation names and the primitive each corresponds to here.
TABLE_XI = (
    ("2^x", "softmax", "exp2"),
    ("LayerNorm_1/x_identity", "layernorm", "identity_rsqrt"),
    ("GELU", "gelu", "gelu"),
    ("LayerNorm_input_identity", "layernorm", "identity_input"),
    ("1/sqrt(x)", "layernorm", "rsqrt"),
    ("Attention_score", "attn@v", "identity_a"),
    ("1/x", "softmax", "reciprocal"),
)


def firing_rates(acts: Activations, minilm: Inputs, timesteps: int, n_act: int,
                 n_prim: int) -> list[dict]:
    """Firing rate of every primitive on MiniLM activations, in appendix Table XI's layout
    (with the paper's ViT-M/16 values beside them, labelled as such)."""
    reports = _minilm_reports(acts, minilm, timesteps, n_act, n_prim)
    published = paper.values()["table_xi"]["rates"]
    rows = []
    for op_name, rep in reports.items():
        for prim, stats in rep["primitives"].items():
            label = next((n for n, o, p in TABLE_XI if o == op_name and p == prim), None)
            rows.append({"operator": op_name, "primitive": prim, "table_xi_name": label,
                         "timesteps": timesteps, "n_basis": stats["n_basis"],
                         "firing_rate": stats["firing_rate"], "seen": stats["seen"],
                         "fraction_outside": stats["fraction_outside"],
                         "paper_vit_m16_percent": published.get(label)})
    order = {n: i for i, (n, _, _) in enumerate(TABLE_XI)}
    return sorted(rows, key=lambda r: (order.get(r["table_xi_name"], len(order)),
                                       r["operator"], r["primitive"]))


def _minilm_reports(acts, minilm: Inputs, timesteps, n_act, n_prim) -> dict:
    """Each operator run once (recording) on the MiniLM inputs; their reports by name."""
    domain = covering_domain("gelu", *minilm.ranges["activation"])
    cfg = ConversionConfig(timesteps=timesteps, activation_basis=n_act, arithmetic_basis=n_prim)
    ops = {"gelu": Activation("gelu", domain=domain, config=cfg),
           "softmax": Softmax(config=cfg),
           "layernorm": LayerNorm(384, None, None, 1e-12, config=cfg,
                                  input_range=minilm.ranges["layernorm"]),
           "q@k^T": Multiply(minilm.ranges["q"], minilm.ranges["k"], config=cfg),
           "attn@v": Multiply(minilm.ranges["probs"], minilm.ranges["v"], config=cfg)}
    for op in ops.values():
        op.record = True
    ops["gelu"](minilm.activation["gelu"])
    for scores, mask, _ in minilm.softmax:
        ops["softmax"](scores, mask)
    for x, _ in minilm.layernorm:
        ops["layernorm"](x)
    for site, a, b in minilm.matmul:
        ops["q@k^T" if site.endswith("q@k^T") else "attn@v"].matmul(a, b)
    return {name: op.report() for name, op in ops.items()}


def energy_table(acts: Activations, minilm: Inputs, timesteps: int, n_act: int, n_prim: int,
                 preset: str = "45nm_fp32") -> list[dict]:
    """Every convention side by side: the GELU ratio from spikes counted on MiniLM's GELU
    inputs, the paper's example re-counted (its firing rate, 70 FLOPs), and softmax,
    LayerNorm and matmul ratios on MiniLM, all against the float ops' counted FLOPs."""
    reports = _minilm_reports(acts, minilm, timesteps, n_act, n_prim)
    x = minilm.activation["gelu"]
    ann = {"gelu": energy.ann_flops(F.gelu, x),
           "softmax": _sum(energy.ann_flops(torch.softmax, s if m is None else s + m, -1)
                           for s, m, _ in minilm.softmax),
           "layernorm": _sum(energy.ann_flops(lambda v: F.layer_norm(v, (384,)), xi)
                             for xi, _ in minilm.layernorm),
           "q@k^T": _sum(energy.ann_flops(torch.matmul, a, b) for s, a, b in minilm.matmul
                         if s.endswith("q@k^T")),
           "attn@v": _sum(energy.ann_flops(torch.matmul, a, b) for s, a, b in minilm.matmul
                          if s.endswith("attn@v"))}
    snn = {name: energy.snn_counts(rep) for name, rep in reports.items()}
    target = paper.values()["energy"]["gelu_example"]["energy_ratio_percent"]
    rows = []
    for conv in energy.CONVENTIONS:
        at_paper = energy.gelu_paper_check(conv)["energy_ratio_percent"]
        row = {"convention": conv.name, **conv.settings(), "preset": preset,
               "gelu_n_basis": n_act, "gelu_timesteps": timesteps,
               "gelu_firing_rate": snn["gelu"].primitives[0].firing_rate,
               "gelu_energy_ratio_percent":
                   energy.price(ann["gelu"], snn["gelu"], conv, preset)["energy_ratio_percent"],
               "gelu_ratio_at_paper_rate_percent": at_paper,
               "paper_gelu_energy_ratio_percent": target,  # published (N=4, T=16)
               "reproduces_paper_gelu_ratio": round(at_paper, 1) == target}
        for name in ("softmax", "layernorm", "q@k^T", "attn@v"):
            row[f"{name}_energy_ratio_percent"] = energy.price(ann[name], snn[name], conv,
                                                               preset)["energy_ratio_percent"]
        rows.append(row)
    return rows


def _sum(counts) -> energy.FlopCount:
    total = energy.FlopCount()
    for c in counts:
        for op, n in c.by_op.items():
            total.add(op, n)
    return total


def step_errors(minilm: Inputs, timesteps: int, n_prim: int, sentences: int = 2,
                tokens: int = 64) -> list[dict]:
    """Softmax and LayerNorm on a slice of the MiniLM inputs, each primitive (and all of them)
    read out after t = 1..T steps, the others exact (`mbe.studies.composite`): how the error
    builds up as steps are added and which primitive dominates it."""
    scores, mask, rows = minilm.softmax[0]
    s, m, r = scores[:sentences], mask[:sentences], rows[:sentences]
    x, module = minilm.layernorm[len(minilm.layernorm) // 2]
    cfg = ConversionConfig(timesteps=timesteps, arithmetic_basis=n_prim)
    softmax = Softmax(config=cfg)
    layer_norm = LayerNorm.from_module(module, config=cfg,
                                       input_range=minilm.ranges["layernorm"])
    steps = list(range(1, timesteps + 1))
    runs = {"softmax": (softmax, lambda: softmax(s, m)[r]),
            "layernorm": (layer_norm, lambda: layer_norm(x[:tokens]))}
    out = []
    for name, (op, run) in runs.items():
        for primitive, errs in composite.step_errors(op, run, steps).items():
            out += [{"operator": name, "primitive": primitive, "timesteps": timesteps,
                     "step": t, "rel_error": e} for t, e in zip(steps, errs)]
    return out
