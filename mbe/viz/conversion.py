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


def plot_site_inputs(calibrated, uniform, kind: str = "gelu", max_sites: int = 6,
                     coverage: float = 0.999):
    """Per activation site of `kind`: the histogram of the inputs calibration recorded there
    (grey, right axis), and the absolute error |neuron(x) - f(x)| of the uniform neuron and of
    the neuron fitted to those inputs (log scale, left axis), over the central `coverage` of
    the inputs. `calibrated` and `uniform` are the same model converted with
    fit_to="calibration" and "uniform" (`mbe.convert`); returns the Figure."""
    import torch

    from ..conversion import sites_of
    from ..core import targets

    pairs = [(c, u) for c, u in zip(sites_of(calibrated), sites_of(uniform))
             if getattr(c, "kind", None) == kind and "x" in c.histograms][:max_sites]
    if not pairs:
        raise ValueError(f"no {kind} site with a histogram of its inputs: convert with "
                         "fit_to='calibration', which keeps one per site")
    cols = min(3, len(pairs))
    rows = -(-len(pairs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False,
                             layout="constrained")
    for ax, (site_c, site_u) in zip(axes.flat, pairs):
        edges, counts = site_c.histograms["x"].bins()
        cdf = counts.cumsum(0) / counts.sum()
        tail = (1 - coverage) / 2
        lo = float(edges[int(torch.searchsorted(cdf, torch.tensor(tail, dtype=cdf.dtype)))])
        hi = float(edges[int(torch.searchsorted(cdf, torch.tensor(1 - tail,
                                                                  dtype=cdf.dtype))) + 1])
        x = torch.linspace(lo, hi, 4001, dtype=torch.float64)
        exact = targets.evaluate(kind, x)
        for site, label, style in ((site_u, "uniform fit", "-"),
                                   (site_c, "fitted to these inputs", "-")):
            err = (site.op.neuron(kind)(x) - exact).abs().clamp_min(1e-12)
            ax.semilogy(x, err, style, lw=0.8, label=label)
        twin = ax.twinx()  # the 2^16 fine bins regrouped into 80 equal ones for display
        centres = 0.5 * (edges[1:] + edges[:-1])
        shown, grid = torch.histogram(centres, bins=80, range=(lo, hi),
                                      weight=counts.to(centres.dtype))
        twin.stairs(shown / counts.sum(), grid, fill=True, color="0.6", alpha=0.35)
        twin.set_yticks([])
        ax.set_xlim(lo, hi)
        ax.set_title(site_c.path.replace("encoder.", "").replace(".intermediate", ""),
                     fontsize=8)
        ax.set_xlabel("input x")
        ax.set_ylabel(f"|neuron - {kind}| (log)")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7, loc="upper left")
    for ax in list(axes.flat)[len(pairs):]:
        ax.set_visible(False)
    fig.suptitle(f"Each {kind} site: its inputs (grey: density) and each neuron's error there, "
                 f"over the central {100 * coverage:g} % of the inputs", fontsize=10)
    return fig


def plot_operation_errors(records: list[dict], ax=None):
    """The worst clean relative RMS error of each operation (the site alone, on the ANN's
    inputs), one group of bars per operation, one bar per record (its `configuration` and T):
    which primitive limits the model. Returns the Figure."""
    if ax is None:
        ax = plt.subplots(figsize=(8, 4), layout="constrained")[1]
    ops = sorted({op for r in records for op in r["operation_errors"]})
    width = 0.8 / len(records)
    for i, r in enumerate(records):
        ax.bar([j + i * width for j in range(len(ops))],
               [r["operation_errors"].get(op, float("nan")) for op in ops], width,
               label=f"{r['configuration']}, T={r['timesteps']}, N={r['activation_basis']}")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(ops))], ops)
    ax.set_yscale("log")
    ax.set_ylabel("worst clean relative RMS error (log)")
    ax.set_title("Which operation limits the model")
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    return ax.figure


def plot_cosine_by_configuration(records: list[dict], ax=None):
    """1 - mean cosine (ANN vs SNN embeddings) against T, one line per configuration and
    activation N; budgeted records are marked separately. Returns the Figure."""
    if ax is None:
        ax = plt.subplots(figsize=(7, 4.5), layout="constrained")[1]
    def key(r):
        budget = (r.get("config") or {}).get("error_budget")
        n = f"N={r['activation_basis']}" if budget is None else f"budget {budget:g}"
        return f"{r['configuration']}, {n}"
    for label in dict.fromkeys(key(r) for r in records):
        rows = sorted((r for r in records if key(r) == label), key=lambda r: r["timesteps"])
        ax.semilogy([r["timesteps"] for r in rows], [1 - r["mean_cosine"] for r in rows],
                    "o-" if len(rows) > 1 else "s", label=label)
    ax.set_xticks(sorted({r["timesteps"] for r in records}))
    ax.set_xlabel("time steps T")
    ax.set_ylabel("1 - mean cosine, ANN vs SNN (log scale)")
    ax.set_title(f"Converted {records[0]['model']}: disagreement vs T, per configuration")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return ax.figure
