"""Figures of one neuron, and of the neuron tables, one function each. Each takes an optional
matplotlib Axes and returns the Figure.

Data come from `mbe.core.analysis` (neurons) or from result records (tables); nothing is computed
here that a reader could not recompute from those.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import LogNorm
from matplotlib.ticker import MaxNLocator

from ..core import analysis, targets
from ..core.fitting import kept_epoch
from ..core.neuron import F64
from ..studies.neuron import TABLE_X_FUNCTIONS

KERNEL_NAMES = {"d": "intensity d_n[t]", "r": "reset r_n[t]", "vth": "threshold Vth_n[t]"}


def _axes(ax, figsize=(6, 4)):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax.figure, ax


def _label(neuron) -> str:
    return f"{neuron.meta.get('target', 'neuron')}, N={neuron.n_basis}, T={neuron.timesteps}"


def plot_kernels(neuron, axes=None):
    """The kernels d, r and Vth of every basis over t (Eq. 4), one panel each.

    The y axis is logarithmic, on which Eq. 4's exponential decay is a straight line (linear
    when a kernel is not positive, as a trained FS neuron's can be). A figure made here names
    the neuron once, above the panels."""
    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), layout="constrained")
        fig.suptitle(f"Kernels of Eq. 4: {_label(neuron)}")
    fig = axes[0].figure
    kern = neuron.kernels()._asdict()
    t = np.arange(neuron.timesteps)
    for ax, (key, table) in zip(axes, kern.items()):
        for n in range(table.shape[1]):
            ax.plot(t, table[:, n].numpy(), marker=".", label=f"basis {n}")
        ax.set_yscale("log" if bool((table > 0).all()) else "linear")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(xlabel="time step t", ylabel=f"{KERNEL_NAMES[key]} (input units)",
               title=KERNEL_NAMES[key])
    axes[0].legend(ncols=2)
    return fig


def plot_raster(neuron, x, ax=None):
    """Spikes s_n[t] of every basis (rows: basis, then step) against the input x."""
    fig, ax = _axes(ax, (7, 4))
    x = x.to(F64)
    _, spikes = neuron.simulate(x)
    n, t = spikes.shape[-2:]
    image = spikes.reshape(len(x), n * t).T.numpy()
    ax.imshow(image, aspect="auto", interpolation="nearest", cmap="Greys",
              extent=(float(x[0]), float(x[-1]), n * t - 0.5, -0.5))
    ax.set_yticks([i * t + t / 2 - 0.5 for i in range(n)], [f"basis {i}" for i in range(n)])
    for i in range(1, n):
        ax.axhline(i * t - 0.5, color="tab:red", lw=0.5)
    ax.set(xlabel="input x", ylabel="basis n, time step t (top to bottom)",
           title=f"Spike raster s_n[t] (black = spike): {_label(neuron)}")
    return fig


def plot_fit(neuron, target, x, ax=None):
    """Target vs the neuron's output, with the MSE on these points in the title."""
    fig, ax = _axes(ax)
    x = x.to(F64)
    # the float64 simulation equals neuron(x) exactly, without building its staircase
    y, out = targets.evaluate(target, x), neuron.simulate(x)[0]
    ax.plot(x.numpy(), y.numpy(), "k--", lw=1, label="target f(x)")
    ax.plot(x.numpy(), out.numpy(), lw=1, label="neuron output f_hat(x)")
    ax.set(xlabel="input x", ylabel="output (target units)",
           title=f"Fit: {_label(neuron)}, MSE {float(((out - y) ** 2).mean()):.2e}")
    ax.legend()
    return fig


def plot_partial(neuron, target, x, ax=None, steps=None):
    """The decoded output after t steps (coarse to fine, Fig. 3's idea) against the target."""
    fig, ax = _axes(ax)
    x = x.to(F64)
    partial = analysis.partial_outputs(neuron, x)
    steps = steps or sorted({1, 2, 4, 8, neuron.timesteps} & set(range(1, neuron.timesteps + 1)))
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(steps)))
    for c, t in zip(colours, steps):
        ax.plot(x.numpy(), partial[t].numpy(), color=c, lw=1, label=f"after t={t} steps")
    ax.plot(x.numpy(), targets.evaluate(target, x).numpy(), "k--", lw=1, label="target")
    ax.set(xlabel="input x", ylabel="decoded output (target units)",
           title=f"Partial reconstruction after t steps: {_label(neuron)}")
    ax.legend(fontsize=8)
    return fig


def plot_step_error(neuron, target, x, ax=None, label=None):
    """MSE of the partial reconstruction after t = 1..T steps (log scale). Pass the Axes of an
    earlier call and a label to draw several neurons on one figure."""
    fig, ax = _axes(ax)
    x = x.to(F64)
    y = targets.evaluate(target, x)
    err = ((analysis.partial_outputs(neuron, x)[1:] - y) ** 2).mean(1)
    ax.semilogy(np.arange(1, neuron.timesteps + 1), err.numpy(), marker="o", label=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="time steps used t", ylabel="MSE (target units squared)",
           title="Error vs time steps" + ("" if label else f": {_label(neuron)}"))
    if label:
        ax.legend()
    return fig


def plot_error_heatmap(neuron, target, x, ax=None):
    """MSE keeping bases 0..n (rows) and steps 0..t (columns), log colour scale."""
    fig, ax = _axes(ax, (7, 3.8))
    err = analysis.error_by_basis_and_step(neuron, target, x.to(F64)).numpy()
    im = ax.imshow(err, aspect="auto", origin="lower", norm=LogNorm(),
                   extent=(0.5, neuron.timesteps + 0.5, -0.5, neuron.n_basis - 0.5))
    fig.colorbar(im, ax=ax, label="MSE (target units squared)")
    ax.set_yticks(range(neuron.n_basis), [str(n + 1) for n in range(neuron.n_basis)])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="time steps used t", ylabel="bases used (the first n)",
           title=f"Error per basis and per time step: {_label(neuron)}")
    return fig


def plot_contributions(neuron, x, target=None, ax=None):
    """Each basis's contribution w_n * o_n[T] to the output (Eq. 8), and the bias; with a
    target, also their sum (the neuron's output) against the target."""
    fig, ax = _axes(ax, (7, 4.5))
    x = x.to(F64)
    contrib = analysis.basis_contributions(neuron, x)
    for n, c in enumerate(contrib):
        ax.plot(x.numpy(), c.numpy(), lw=1, label=f"basis {n}")
    bias = float(neuron.readout().bias)
    ax.axhline(bias, color="k", ls=":", lw=1, label="bias b")
    if target is not None:
        ax.plot(x.numpy(), (contrib.sum(0) + bias).numpy(), color="k", lw=2, alpha=0.5,
                label="sum of the bases + b")
        ax.plot(x.numpy(), targets.evaluate(target, x).numpy(), "k--", lw=1, label="target")
    ax.set(xlabel="input x", ylabel="contribution (target units)",
           title=f"Contribution of each basis: {_label(neuron)}")
    ax.legend(ncols=2)
    return fig


def plot_abs_error(curves: dict, x, ax=None, title="Absolute error"):
    """|f_hat(x) - f(x)| for several labelled neurons against x (log scale)."""
    fig, ax = _axes(ax)
    for label, err in curves.items():
        ax.semilogy(x.numpy(), np.maximum(err.numpy(), 1e-12), lw=1, label=label)
    ax.set(xlabel="input x", ylabel="absolute error (target units)", title=title)
    ax.legend()
    return fig


def plot_gso(neurons: dict, x, ax=None):
    """GSO (Fig. 2's picture): |error| of GELU against x for each neuron ({name: neuron},
    e.g. `mbe.studies.neuron.gso`'s FS and MBE), log scale."""
    x = x.to(F64)
    target = targets.evaluate("gelu", x)
    curves = {f"{name.upper()} (N={n.n_basis}, T={n.timesteps})":
              (n.simulate(x)[0] - target).abs() for name, n in neurons.items()}
    return plot_abs_error(curves, x, ax, title="GSO: |error| of GELU near zero, FS vs MBE")


def plot_histories(histories: dict, ax=None, title="Training loss", published=None):
    """Training MSE per epoch for several labelled fits, from epoch 0 (the initialisation),
    on a log scale. Each fit's kept epoch (its lowest MSE, which the fit returns) is circled;
    `published` ({label: MSE}) draws the paper's values as dashed lines in the same colours."""
    fig, ax = _axes(ax, (7, 4.5))
    for label, hist in histories.items():
        line = ax.semilogy(np.arange(len(hist)), hist, lw=1, label=label)[0]
        kept = kept_epoch(hist)
        ax.plot(kept, hist[kept], "o", mfc="none", ms=9, color=line.get_color(),
                label=f"{label}: kept epoch {kept}")
        if published and label in published:
            ax.axhline(published[label], color=line.get_color(), ls="--", lw=1,
                       label=f"{label}: paper (published)")
    ax.set(xlabel="epoch (0 = the initialisation)", ylabel="training MSE (target units squared)",
           title=title)
    ax.legend(fontsize=8)
    return fig


def plot_edi(neurons: dict, records: list[dict], ax=None):
    """EDI (Fig. 1's experiment): the FS neuron's training MSE from each initialisation
    (`mbe.studies.neuron.edi`'s neurons and records), with the paper's published MSEs."""
    label = "FS, {} init".format
    published = {label(r["init"]): r["paper_mse"] for r in records if r["experiment"] == "edi"}
    return plot_histories({label(k): n.meta["history"] for k, n in neurons.items()}, ax,
                          title="EDI: FS neuron on ReLU, training MSE by initialisation",
                          published=published)


def plot_table_x(records: list[dict], scoring: str = "uniform"):
    """Appendix Table X: MSE vs N per function (GELU, 1/sqrt x, 1/x, 2^x), the paper's
    published values against both measured variants. Other records (Table VII's SiLU rows)
    are drawn by `plot_table_vii`."""
    functions = [f for f in TABLE_X_FUNCTIONS if any(r["function"] == f for r in records)]
    fig, axes = plt.subplots(1, len(functions), figsize=(4 * len(functions), 3.6),
                             layout="constrained", squeeze=False)
    for ax, fn in zip(axes[0], functions):
        rows = [r for r in records if r["function"] == fn and r["decay"]
                and r.get("scoring", "uniform") == scoring]
        for variant, style in (("paper", "s-"), ("best", "o-")):
            pts = sorted((r["n_basis"], r["mse"]) for r in rows if r["variant"] == variant)
            if pts:
                ax.semilogy(*zip(*pts), style, label=f"{variant} neuron (measured)")
        pub = sorted({(r["n_basis"], r["paper_mse"]) for r in rows
                      if r.get("paper_mse") is not None})
        if pub:
            ax.semilogy(*zip(*pub), "k^--", label="paper (published)")
        ax.set(xlabel="bases N", ylabel="MSE", title=f"{fn}: MSE at T=16 ({scoring})")
    axes[0][0].legend(fontsize=7)
    return fig


def plot_table_vii(records: list[dict]):
    """Appendix Table VII: SiLU's MSE on each of its three intervals, side by side: the
    paper's published value and both measured variants (log scale)."""
    rows = [r for r in records if r["function"] == "silu"
            and r.get("scoring", "uniform") == "uniform"]
    domains = sorted({tuple(r["domain"]) for r in rows})
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    width = 0.27
    bars = [("paper (published)", lambda d: next((r["paper_mse"] for r in rows
                                                  if tuple(r["domain"]) == d), np.nan)),
            ("paper-literal neuron (measured)", lambda d: _mse(rows, d, "paper")),
            ("best neuron (measured)", lambda d: _mse(rows, d, "best"))]
    for i, (label, value) in enumerate(bars):
        ax.bar(np.arange(len(domains)) + (i - 1) * width, [value(d) for d in domains], width,
               label=label, color="0.3" if i == 0 else f"C{i - 1}")
    ax.set_xticks(np.arange(len(domains)), [f"[{lo:g}, {hi:g}]" for lo, hi in domains])
    ax.set_yscale("log")
    n, t = (rows[0]["n_basis"], rows[0]["timesteps"]) if rows else ("?", "?")
    ax.set(xlabel="input interval of SiLU", ylabel="MSE (target units squared)",
           title=f"Table VII: SiLU by interval (N={n}, T={t}; the paper does not state N)")
    ax.legend(fontsize=8)
    return fig


def _mse(rows: list[dict], domain: tuple, variant: str) -> float:
    return next((r["mse"] for r in rows if tuple(r["domain"]) == domain
                 and r["variant"] == variant), np.nan)


def plot_nt_heatmap(grid: torch.Tensor, n_values, t_values, ax=None, title="MSE vs (N, T)"):
    """log10 MSE over bases N (rows) and time steps T (columns): shows the low-T cliff."""
    fig, ax = _axes(ax, (6, 3.8))
    im = ax.imshow(grid.numpy(), origin="lower", aspect="auto", norm=LogNorm())
    ax.set_xticks(range(len(t_values)), [str(t) for t in t_values])
    ax.set_yticks(range(len(n_values)), [str(n) for n in n_values])
    fig.colorbar(im, ax=ax, label="MSE (target units squared)")
    ax.set(xlabel="time steps T", ylabel="bases N", title=title)
    return fig
