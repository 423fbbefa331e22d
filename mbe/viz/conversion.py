"""Figures of converted models (notebooks 00 and 03), one function each, returning the Figure:
from a conversion ledger (`mbe.conversion.ledger.Report`) or embedding-agreement records
(`mbe.studies.embeddings`)."""
from __future__ import annotations

import matplotlib.pyplot as plt

from ..conversion.ledger import Report


def plot_error_growth(report: Report, ax=None):
    """Relative RMS error of every spiking site, in situ and clean, in network order (top to
    bottom, one labelled row per site, so the labels read horizontally); returns the Figure."""
    sites = report.spiking
    if ax is None:
        ax = plt.subplots(figsize=(10, 1.6 + 0.32 * len(sites)), layout="constrained")[1]
    rows = list(range(len(sites)))
    for key, label, marker in (("error_in_situ", "in situ (upstream errors included)", "o"),
                               ("error_clean", "clean inputs (the site alone)", "x")):
        ax.semilogx([s[key]["rel_rms"] or float("nan") for s in sites], rows, marker,
                    label=label, linestyle="-" if key == "error_in_situ" else "none")
    ax.set_yticks(rows, [f"{s['path']} ({s['operation']})" for s in sites])
    ax.set_ylim(len(sites) - 0.5, -0.5)  # the first site at the top
    ax.grid(axis="x", which="major", lw=0.5, alpha=0.5)
    ax.set_xlabel("relative RMS error vs ANN (ratio, log scale)")
    ax.set_title(f"Error site by site, in network order: {report.model['class']}\n"
                 f"at T={report.settings['timesteps']} ({report.settings['mode']} mode)")
    ax.legend(fontsize=9)
    return ax.figure


def plot_cosine_vs_timesteps(records: list[dict], ax=None):
    """1 - cosine similarity (ANN vs SNN embeddings, mean and worst sentence) against T, per
    activation N, on a log scale; returns the Figure."""
    if ax is None:
        ax = plt.subplots(figsize=(6.5, 4.5), layout="constrained")[1]
    spiking = [r for r in records if r["mode"] != "exact"]
    for n in sorted({r["activation_basis"] for r in spiking}):
        rows = sorted((r for r in spiking if r["activation_basis"] == n),
                      key=lambda r: r["timesteps"])
        t = [r["timesteps"] for r in rows]
        line = ax.semilogy(t, [1 - r["mean_cosine"] for r in rows], "o-",
                           label=f"mean over sentences, activation N={n}")[0]
        ax.semilogy(t, [1 - r["min_cosine"] for r in rows], "x--", color=line.get_color(),
                    label=f"worst sentence, activation N={n}")
    ax.set_xticks(sorted({r["timesteps"] for r in spiking}))
    ax.set_xlabel("time steps T")
    ax.set_ylabel("1 - cosine similarity, ANN vs SNN (log scale)")
    ax.set_title(f"Sentence-embedding disagreement of converted {records[0]['model']} vs T")
    ax.legend(fontsize=8)
    return ax.figure
