"""Figures of the table notebooks (10-15), one function each, returning the Figure; drawn
from their records (`mbe.studies.tables.row`, `mbe.studies.ablations`). The paper's values,
where shown, are labelled "(published)"."""
from __future__ import annotations

import matplotlib.pyplot as plt

from .. import paper


def _label(r: dict) -> str:
    return f"{r['model']}\n({r['kind']}, {r['dataset']})"


def plot_rows(records: list[dict], title: str):
    """ANN and converted metric of every row, grouped by model, one bar per configuration."""
    models = list(dict.fromkeys(_label(r) for r in records))
    configs = list(dict.fromkeys(r["configuration"] for r in records))
    fig, ax = plt.subplots(figsize=(max(6, 1.8 * len(models)), 4.5), layout="constrained")
    width = 0.8 / (len(configs) + 1)
    ann = {_label(r): r["ann"] for r in records}
    ax.bar([i for i in range(len(models))], [ann[m] for m in models], width, label="ANN")
    for j, c in enumerate(configs, 1):
        by = {_label(r): r["snn"] for r in records if r["configuration"] == c}
        ax.bar([i + j * width for i in range(len(models))], [by.get(m, 0) for m in models],
               width, label=f"SNN, {c}")
    ax.set_xticks([i + width * len(configs) / 2 for i in range(len(models))], models,
                  fontsize=7)
    metric = records[0]["metric"] if records else ""
    ax.set_ylabel(f"{metric} (measured)" + (" %" if metric == "accuracy" else ""))
    if metric == "accuracy":
        low = min(min(r["ann"], r["snn"]) for r in records)
        ax.set_ylim(max(0, low - 10), 100)
    ax.set_title(title)
    ax.legend(fontsize=7)
    return fig


def plot_timestep_sweep(records: list[dict]):
    """Table 4: change against the ANN vs T, accuracy points (left) and relative perplexity
    (right), every measured model solid, the paper's sweep dashed (published)."""
    fig, (acc, ppl) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    models = list(dict.fromkeys(_label(r) for r in records))
    for m in models:
        rows = sorted((r for r in records if _label(r) == m), key=lambda r: r["timesteps"])
        ts = [r["timesteps"] for r in rows]
        if rows[0]["metric"] == "accuracy":
            acc.plot(ts, [r["delta"] for r in rows], "o-", label=m.replace("\n", " "))
        else:
            ppl.semilogy(ts, [r["snn"] / r["ann"] for r in rows], "o-",
                         label=m.replace("\n", " "))
    for row in paper.values()["table_4"]["rows"]:
        ts = sorted(int(t) for t in row["snn"])
        if row["unit"] == "perplexity":
            ppl.semilogy(ts, [row["snn"][str(t)] / row["ann"] for t in ts], "x--",
                         label=f"{row['model']}, {row['dataset']} (published)")
        else:
            acc.plot(ts, [row["snn"][str(t)] - row["ann"] for t in ts], "x--",
                     label=f"{row['model']}, {row['dataset']} (published)")
    acc.set_xlabel("time steps T")
    acc.set_ylabel("SNN - ANN accuracy (points)")
    acc.set_ylim(bottom=max(-100, acc.get_ylim()[0]))
    acc.set_title("Classification: accuracy change vs T")
    ppl.set_xlabel("time steps T")
    ppl.set_ylabel("SNN / ANN perplexity (log scale)")
    ppl.set_title("Language model: perplexity ratio vs T")
    for ax in (acc, ppl):
        ax.legend(fontsize=6)
        ax.grid(alpha=0.3)
    return fig


def plot_fig6b(records: list[dict]):
    """Fig. 6(b): the converted model's accuracy (left) and energy ratios (right) against
    the activation neurons' N."""
    rows = sorted(records, key=lambda r: r["n_basis"])
    n = [r["n_basis"] for r in rows]
    fig, (acc, en) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    acc.plot(n, [r["snn"] for r in rows], "o-", label="SNN (measured)")
    acc.axhline(rows[0]["ann"], color="k", ls=":", label="ANN (measured)")
    acc.set_xlabel("bases N of the activation neuron")
    acc.set_ylabel("accuracy %")
    acc.set_title(f"{rows[0]['model']} ({rows[0]['kind']}), T={rows[0]['timesteps']}")
    for key, label in (("activation_percent", "GELU alone"),
                       ("spiking_operators_percent", "all spiking operators"),
                       ("whole_model_percent", "whole model (weights in float)")):
        en.plot(n, [r["energy"][key] for r in rows], "o-", label=label)
    en.set_xlabel("bases N of the activation neuron")
    en.set_ylabel("E_SNN / E_ANN % (measured)")
    en.set_title(rows[0]["energy"]["convention"], fontsize=8)
    for ax in (acc, en):
        ax.set_xticks(n)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    return fig


def plot_energy_conventions(records: list[dict], highlight: str):
    """Whole-model and spiking-operator E_SNN / E_ANN of every model under every counting
    convention; `highlight` (the paper's) is marked."""
    models = list(dict.fromkeys((r["model"], r["kind"]) for r in records))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained", sharey=True)
    for ax, key, title in ((axes[0], "spiking_operators_percent", "spiking operators only"),
                           (axes[1], "whole_model_percent", "whole model (weights in float)")):
        for i, m in enumerate(models):
            mine = [r for r in records if (r["model"], r["kind"]) == m]
            ax.scatter([r[key] for r in mine], [i] * len(mine), s=12, alpha=0.5,
                       color="tab:blue", label="every convention" if i == 0 else None)
            hit = [r[key] for r in mine if r["convention"] == highlight]
            ax.scatter(hit, [i] * len(hit), s=60, marker="D", color="tab:red",
                       label="the paper's GELU convention" if i == 0 else None)
        ax.axvline(paper.values()["energy"]["vit_m16_whole_model"]["energy_ratio_percent"],
                   color="k", ls="--", label="ViT-M/16 whole model (published)")
        ax.set_xscale("log")
        ax.set_xlabel("E_SNN / E_ANN % (measured), log scale")
        ax.set_title(title)
        ax.legend(fontsize=7)
    axes[0].set_yticks(range(len(models)), [f"{m} ({k})" for m, k in models], fontsize=7)
    return fig
