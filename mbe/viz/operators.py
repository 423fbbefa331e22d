"""Figures of the operator study (notebooks/02_operators.ipynb), one function each.

Each takes records from `mbe.studies.operators` (as saved in results/operators.json) and returns a
matplotlib Figure; `mbe.viz.show` writes and shows it.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..studies import composite
from ..studies.accuracy import OPERATORS


def _select(records, **match):
    return [r for r in records if all(r.get(k) == v for k, v in match.items())]


def _label(r) -> str:
    return r["operator"] + (f" ({r['site']})" if r.get("site") else "")


def plot_fig6a(errors: list[dict], timesteps: int, inputs: str = "minilm"):
    """MBE vs FS conversion error (relative) for GELU, softmax, LayerNorm and multiplication."""
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    names = ["gelu", "softmax", "layernorm", "multiply"]
    width = 0.38
    for i, neuron in enumerate(("fs", "mbe")):
        vals = [next((r["rel_error"] for r in _select(errors, operator=n, neuron=neuron,
                                                        timesteps=timesteps, inputs=inputs)),
                     np.nan) for n in names]
        ax.bar(np.arange(len(names)) + (i - 0.5) * width, vals, width,
               label={"fs": "FS neuron (binary init)", "mbe": "MBE neuron"}[neuron])
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_yscale("log")
    ax.set(xlabel="operator", ylabel="relative error ||y - y_float|| / ||y_float||",
           title=f"Fig. 6(a): MBE vs FS conversion error, T={timesteps}, {inputs} inputs")
    ax.legend()
    return fig


def plot_error_vs_t(errors: list[dict], metric: str = "rel_error"):
    """Each operator's error against T, uniform (dashed) and MiniLM (solid) inputs, MBE."""
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    for j, name in enumerate(OPERATORS):
        for inputs, style in (("uniform", "--"), ("minilm", "-")):
            rows = [r for r in _select(errors, operator=name, inputs=inputs, neuron="mbe")
                    if r.get("site") in (None, "q@k^T")]
            rows.sort(key=lambda r: r["timesteps"])
            if rows:
                ax.plot([r["timesteps"] for r in rows], [r[metric] for r in rows], style,
                        marker="o", color=f"C{j}", label=f"{name} ({inputs})")
    ax.set_yscale("log")
    ax.set(xlabel="time steps T", ylabel=metric.replace("_", " "),
           title="Operator error vs time steps (MBE; solid: MiniLM inputs, dashed: uniform)")
    ax.legend(fontsize=7, ncols=2)
    return fig


def plot_basis_sweep(sweep: list[dict], bar: float = 1e-2):
    """Error on MiniLM inputs vs bases N: relative error (left) and max absolute error with
    the 1e-2 bar (right) of GELU (N of its neuron) and of softmax and LayerNorm (N of their
    2^x, 1/x, 1/sqrt x neurons)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    t = sweep[0]["timesteps"] if sweep else "?"
    for ax, metric in zip(axes, ("rel_error", "max_abs_error")):
        for name in ("gelu", "softmax", "layernorm"):
            rows = sorted(_select(sweep, operator=name), key=lambda r: r["n_basis"])
            ax.plot([r["n_basis"] for r in rows], [r[metric] for r in rows], marker="o",
                    label=name)
        ax.set_yscale("log")
        ax.set_xticks(sorted({r["n_basis"] for r in sweep}))
        ax.set(xlabel="bases N per neuron", ylabel=metric.replace("_", " ") + " (ratio)"
               if metric == "rel_error" else "max absolute error (output units)",
               title=f"{metric.replace('_', ' ')} vs bases (T={t}, MiniLM inputs)")
    axes[1].axhline(bar, color="k", ls=":", label=f"bar {bar:g}")
    axes[1].legend()
    return fig


def plot_attribution(attr: list[dict], timesteps: int):
    """Error with one primitive spiking (the rest exact) vs all spiking, per composite."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for ax, name in zip(axes, ("softmax", "layernorm")):
        rows = _select(attr, operator=name, timesteps=timesteps)
        ax.bar([r["spiking"] for r in rows], [r["rel_error"] for r in rows], color="C1")
        ax.set_yscale("log")
        ax.tick_params(axis="x", rotation=30)
        ax.set(xlabel="primitive spiking (all others exact)", ylabel="relative error",
               title=f"{name}: which primitive dominates (T={timesteps}, MiniLM)")
    return fig


def plot_firing_rates(rows: list[dict]):
    """Firing rate per primitive on MiniLM; the paper's ViT-M/16 values where Table XI has one."""
    fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
    labels = [r["table_xi_name"] or f"{r['operator']}:{r['primitive']}" for r in rows]
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [100 * (r["firing_rate"] or 0) for r in rows], 0.4,
           label="measured (MiniLM activations)")
    ax.bar(x + 0.2, [r["paper_vit_m16_percent"] or np.nan for r in rows], 0.4,
           label="paper, ViT-M/16 (published, Table XI)")
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=7)
    ax.set(xlabel="primitive (appendix Table XI's name where it has one, else operator:primitive)",
           ylabel="firing rate (% of N x T slots)",
           title=f"Firing rate per primitive, T={rows[0]['timesteps']}")
    ax.legend()
    return fig


def plot_step_errors(steps: list[dict]):
    """Error after t of T steps with one primitive (or all) spiking, softmax and LayerNorm."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
    for ax, name in zip(axes, ("softmax", "layernorm")):
        rows = _select(steps, operator=name)
        prims = list(dict.fromkeys(r["primitive"] for r in rows))
        ts = sorted({r["step"] for r in rows})
        errors = {p: [r["rel_error"] for r in rows if r["primitive"] == p] for p in prims}
        plot_primitive_steps(errors, ts, ax=ax, title=f"{name}: error as steps are added "
                                         f"(T={rows[0]['timesteps'] if rows else '?'}, MiniLM)")
    return fig


def plot_primitive_steps(errors: dict, steps, ax=None, title: str = "",
                         metric="relative error"):
    """Error of the operator with one primitive (or all) read out after t steps, vs t."""
    if ax is None:
        ax = plt.subplots(figsize=(6, 4), layout="constrained")[1]
    for key, values in errors.items():
        style = {"color": "k", "lw": 2} if key == composite.ALL else {"lw": 1, "marker": "."}
        label = "all primitives" if key == composite.ALL else f"{key} alone (others exact)"
        ax.semilogy(list(steps), [max(v, 1e-16) for v in values], label=label, **style)
    ax.set(xlabel="time steps used t (of T)", ylabel=f"{metric} vs exact (dimensionless)",
           title=title or "Error contributed by each primitive as steps are added")
    ax.legend(fontsize=7)
    return ax.figure


def plot_row(y, reference, t: int, ax=None, title: str = ""):
    """One row of the operator's output after t steps against its exact output."""
    if ax is None:
        ax = plt.subplots(figsize=(6, 4), layout="constrained")[1]
    idx = range(len(reference))
    ax.plot(idx, reference.double().numpy(), "k--", lw=1, label="exact")
    ax.plot(idx, y.double().numpy(), lw=1, marker=".", label=f"all primitives after t={t}")
    ax.set(xlabel="position in the row (index)", ylabel="output (operator units)",
           title=title or f"One row after t={t} steps vs exact")
    ax.legend(fontsize=7)
    return ax.figure
