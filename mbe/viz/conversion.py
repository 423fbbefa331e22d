"""Figures of converted models (notebooks 00 and 03), one function each, returning the Figure:
from a conversion ledger (`mbe.conversion.ledger.Report`) or embedding-agreement records
(`mbe.studies.embeddings`)."""
from __future__ import annotations

import matplotlib.pyplot as plt

from ..conversion.ledger import Report


def plot_error_growth(report: Report, ax=None):
    """Relative RMS error of every spiking site, in situ and clean, in network order;
    returns the Figure."""
    if ax is None:
        ax = plt.subplots(figsize=(10, 5), layout="constrained")[1]
    sites = report.spiking
    idx = range(len(sites))
    for key, label, marker in (("error_in_situ", "in situ (upstream errors included)", "o"),
                               ("error_clean", "clean inputs (the site alone)", "x")):
        ax.semilogy(idx, [s[key]["rel_rms"] or float("nan") for s in sites], marker,
                    label=label, linestyle="-" if key == "error_in_situ" else "none")
    ax.set_xticks(list(idx), [f"{s['path']} ({s['operation']})" for s in sites], rotation=90,
                  fontsize=6)
    ax.set_xlabel("converted site, in network order")
    ax.set_ylabel("relative RMS error vs ANN (ratio)")
    ax.set_title(f"Error growth through {report.model['class']} at "
                 f"T={report.settings['timesteps']} ({report.settings['mode']} mode)")
    ax.legend()
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
