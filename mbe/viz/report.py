"""Rebuild ``RESULTS.md`` from the JSON files in ``results/``.

Usage: ``python -m mbe.viz.report [--results DIR] [--out FILE]``.

Each results file is rendered by a function registered under its file name::

    @renderer("operators.json", "Spiking operators")
    def _render_operators(data) -> str: ...

Files without a renderer are listed as "not rendered". The paper's numbers appear
only in columns labelled "(published)"; this project's numbers in columns
labelled "(measured)".
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import records
from ..conversion.ledger import Report
from ..ops import DEFAULT_DOMAINS
from .markdown import fmt_domain, fmt_ratio, fmt_sci, table
from .operator_tables import render as render_operators
from . import paper_tables

__all__ = ["RENDERERS", "renderer", "render", "main"]

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]
_ROOT = _PACKAGE_ROOT if (_PACKAGE_ROOT / "pyproject.toml").exists() else Path.cwd()

#: results file name -> (section title, function turning the loaded JSON into markdown)
RENDERERS: dict[str, tuple[str, Callable[[Any], str]]] = {}


def renderer(file_name: str, title: str):
    """Register ``fn(data) -> markdown`` as the renderer of ``results/<file_name>``."""

    def register(fn: Callable[[Any], str]) -> Callable[[Any], str]:
        RENDERERS[file_name] = (title, fn)
        return fn

    return register


# ---------------------------------------------------------------- renderers

#: The scoring of the paper's Table X (a uniform grid over each function's domain); records
#: scored otherwise (GELU's realistic scorings) have no published counterpart.
PUBLISHED_SCORING = "uniform"

_FUNCTION_ORDER = ["gelu", "rsqrt", "reciprocal", "exp2", "silu"]


def _function_key(name: str) -> tuple[int, str]:
    return (_FUNCTION_ORDER.index(name) if name in _FUNCTION_ORDER else len(_FUNCTION_ORDER), name)


@renderer("table_x.json", "Table X: neuron fitting MSE vs number of bases")
def render_table_x(data: list[dict]) -> str:
    groups: dict[tuple[str, Any], dict[tuple, dict[str, Any]]] = {}
    for rec in data:
        scoring = rec.get("scoring") or "uniform"
        group = groups.setdefault((scoring, rec.get("timesteps")), {})
        decay = bool(rec.get("decay", True))
        key = (rec["function"], tuple(rec["domain"]), not decay, rec["n_basis"])
        row = group.setdefault(key, {"paper_mse": None})
        if rec.get("paper_mse") is not None:
            row["paper_mse"] = rec["paper_mse"]
        row[rec.get("variant", "paper")] = rec.get("mse")

    def scoring_key(item):
        (scoring, timesteps), _ = item
        return (scoring != PUBLISHED_SCORING, scoring, timesteps if timesteps is not None else -1)

    parts = []
    for (scoring, timesteps), group in sorted(groups.items(), key=scoring_key):
        published = scoring == PUBLISHED_SCORING  # the paper scores Table X only this way
        rows = []
        for key in sorted(group, key=lambda k: (_function_key(k[0]), k[1], k[2], k[3])):
            function, domain, no_decay, n_basis = key
            row = group[key]
            n_label = f"{n_basis}, no decay" if no_decay else str(n_basis)
            measured = [fmt_sci(row.get("paper")), fmt_sci(row.get("best"))]
            rows.append([function, fmt_domain(domain), n_label]
                        + ([fmt_sci(row["paper_mse"])] if published else []) + measured
                        + ([fmt_ratio(row.get("best"), row["paper_mse"])] if published else []))
        header = (["function", "domain", "N"] + (["paper MSE (published)"] if published else [])
                  + ["paper-literal neuron MSE (measured)", "best neuron MSE (measured)"]
                  + (["best / paper"] if published else []))
        note = "" if published else (
            "The paper publishes Table X on its uniform training domain only: these scorings "
            "have no published counterpart, so no published column or ratio is shown.\n\n")
        t_label = f", T={timesteps}" if timesteps is not None else ""
        parts.append(f"#### Scoring: {scoring}{t_label}\n\n{note}" + table(header, rows))
    return "\n\n".join(parts) if parts else "_No records._"


@renderer("fs_baseline.json", "FS baseline: EDI and GSO")
def render_fs_baseline(data: list[dict]) -> str:
    edi = [r for r in data if r.get("experiment") == "edi"]
    gso = [r for r in data if r.get("experiment") == "gso"]
    parts = []
    if edi:
        rows = [[r["init"], fmt_domain(r["domain"]), fmt_sci(r["paper_mse"]), fmt_sci(r["mse"]),
                 _fmt(r.get("kept_epoch"), "d")]
                + [fmt_sci(r.get(k)) for k in ("train_mse_initial",
                                               "train_mse_after_first_epoch",
                                               "train_mse_last_epoch")]
                for r in edi]
        parts.append(
            "#### EDI: FS neuron on ReLU, T=16\n\nA fit returns its lowest training MSE's "
            "epoch; epoch 0 is the initialisation, untrained (for ReLU the binary one is "
            "already the T-bit binary expansion). The trained neuron is the last epoch's.\n\n"
            + table(["initialisation", "domain", "MSE (published)",
                     "MSE of the returned neuron (measured)", "epoch returned",
                     "training MSE at epoch 0 (measured)", "after epoch 1 (measured)",
                     "after the last epoch (measured)"], rows))
    if gso:
        rows = [[r["neuron"], str(r["n_basis"]), fmt_domain(r["scored_on"]), fmt_sci(r["mse"]),
                 fmt_sci(r.get("mse_below_zero")), fmt_sci(r.get("mse_from_zero")),
                 _fmt(r.get("min_output_below_zero"), ".3f"), _fmt(r.get("max_abs_error"), ".3f"),
                 _fmt(r.get("x_at_max_abs_error"), ".2f")]
                for r in gso]
        parts.append(
            "#### GSO: GELU fitted on (-120, 10), scored over the domain and near 0\n\n"
            "GELU's negative dip (about -0.17 near x = -0.75) is out of reach of a neuron that "
            "outputs nothing negative for x < 0.\n\n"
            + table(["neuron", "N", "scored on", "MSE (measured)", "MSE over x < 0 (measured)",
                     "MSE over x >= 0 (measured)", "lowest output over x < 0 (measured)",
                     "largest abs error (measured)", "at x"], rows))
    return "\n\n".join(parts) if parts else "_No records._"


def _fmt(value, spec: str) -> str:
    """value in the format spec, or a dash where the record lacks it (an older record)."""
    return "–" if value is None else format(value, spec)


@renderer("option_ablation.json", "What each option of the best variant buys")
def render_option_ablation(data: list[dict]) -> str:
    cells = list(dict.fromkeys((r["function"], r["n_basis"]) for r in data))
    steps = list(dict.fromkeys(r["step"] for r in data))
    mse = {(r["step"], r["function"], r["n_basis"]): r["mse"] for r in data}
    published = {(r["function"], r["n_basis"]): r.get("paper_mse") for r in data}
    header = ["configuration"] + [f"{f} N={n} MSE (measured)" for f, n in cells]
    rows = [[s] + [fmt_sci(mse.get((s, f, n))) for f, n in cells] for s in steps]
    rows.append(["paper's Table X (published)"] + [fmt_sci(published[c]) for c in cells])
    text = ("Each row adds one option to the row above (the last two branch off the best "
            "variant). T=16, scored on a dense uniform grid.\n\n" + table(header, rows))
    for f, n in cells:  # where the error lies, for a domain on both sides of 0 (GELU's)
        recs = [r for r in data if (r["function"], r["n_basis"]) == (f, n)
                and r.get("mse_below_zero") is not None]
        if recs:
            text += (f"\n\n{f} N={n}: where the error lies, and the inputs that make a basis "
                     "fire (measured)\n\n" + table(
                         ["configuration", "MSE over x < 0", "MSE over x >= 0",
                          "largest abs error", "at x", "output there", "a basis fires on"],
                         [[r["step"], fmt_sci(r["mse_below_zero"]), fmt_sci(r["mse_from_zero"]),
                           f"{r['max_abs_error']:.3g}", f"{r['x_at_max_abs_error']:.3g}",
                           f"{r['output_at_max_abs_error']:.3g}",
                           fmt_domain(r["fires_on"]) if r.get("fires_on") else "nowhere"]
                          for r in recs]))
    return text


@renderer("operators.json", "Spiking operators: conversion error, firing rates, energy")
def _render_operators(data: dict) -> str:
    return render_operators(data)


@renderer("conversion.json", "Converted models: ANN vs SNN sentence embeddings")
def render_conversion(data: list[dict]) -> str:
    header = ["model", "mode", "T", "activation N", "sentences", "mean cosine (measured)",
              "min cosine (measured)", "SNN seconds", "ANN seconds", "SNN / ANN time"]
    rows = [[r["model"], r["mode"], str(r["timesteps"]), str(r["activation_basis"]),
             str(r["n_sentences"]),
             f"{r['mean_cosine']:.5f}", f"{r['min_cosine']:.5f}", f"{r['seconds']:.2f}",
             f"{r['ann_seconds']:.2f}", fmt_ratio(r["seconds"], r["ann_seconds"])]
            for r in data]
    return ("Cosine similarity between each sentence's ANN and converted-SNN embedding "
            "(mean-pooled last hidden states), on real sentences held out from "
            "calibration.\n\n" + table(header, rows)) if rows else "_No records._"


@renderer("calibration.json", "Calibrated conversion of MiniLM: per-site fitting, per-channel "
          "LayerNorm, error budgets")
def render_calibration(data: list[dict]) -> str:
    header = ["configuration", "T", "activation N", "identity N", "mean cosine (measured)",
              "min cosine (measured)", "spikes on calibration (measured)",
              "energy, % of the ANN (measured)", "convert seconds"]
    rows = []
    for r in data:
        budget = (r.get("config") or {}).get("error_budget")
        n, n_id = str(r["activation_basis"]), str(r["config"]["identity_basis"])
        if budget is not None:
            n = "per site: " + ", ".join(str(s["n_basis"]) for s in r["activation_sites"]) + \
                f" (budget {budget:g})"
            chosen = [c["n_basis"] for c in r.get("budget_choices", [])
                      if c["operator"] not in DEFAULT_DOMAINS]
            if chosen:
                low, high = min(chosen), max(chosen)
                n_id = f"per operator: {low}" + ("" if low == high else f"-{high}")
        energy = r.get("energy")
        rows.append([r["configuration"], str(r["timesteps"]), n, n_id, f"{r['mean_cosine']:.5f}",
                     f"{r['min_cosine']:.5f}", _fmt(r["spikes"], ",d"),
                     "-" if energy is None else f"{energy['whole_model_percent']:.2f}",
                     f"{r['convert_seconds']:.1f}"])
    return ("Cosine similarity between each sentence's ANN and converted-SNN embedding, on "
            "real sentences held out from calibration (notebook 05). Energy: the whole "
            "model's E_SNN / E_ANN on the first calibration batch, under the convention that "
            "reproduces the paper's 13.7 % GELU figure.\n\n"
            + table(header, rows)) if rows else "_No records._"


@renderer("conversion_ledger.json", "Conversion ledger (every site of one converted model)")
def render_conversion_ledger(data: dict) -> str:
    return Report.from_dict(data).to_markdown()


@renderer("explorer.json", "Explorer: one neuron, and its error vs (N, T)")
def render_explorer(data: dict) -> str:
    opts = ", ".join(f"{k}={v}" for k, v in data["options"].items())
    text = (f"{data['target']} on {fmt_domain(data['domain'])}, N={data['n_basis']}, "
            f"T={data['timesteps']}, {data['variant']} variant ({opts}), fit with "
            f"{data['fit_options']}: MSE {fmt_sci(data['grid_mse'])} (measured) on "
            f"{data['points']:,} grid points.")
    grid = data.get("nt_grid")
    if grid:
        header = ["N \\ T"] + [f"T={t} MSE (measured)" for t in grid["t_values"]]
        rows = [[str(n)] + [fmt_sci(v) for v in row]
                for n, row in zip(grid["n_values"], grid["mse"])]
        text += (f"\n\nError vs (N, T), each cell one fit scored on {grid['points']:,} uniform "
                 "points:\n\n" + table(header, rows))
    for rec in data.get("composite") or []:
        steps = rec["steps"]
        shown = [t for t in steps if t in (1, 2, 4, 8) or t == steps[-1]]
        header = ["read out after t steps"] + [f"t={t} rel. error (measured)" for t in shown]
        rows = [[name] + [fmt_sci(errors[steps.index(t)]) for t in shown]
                for name, errors in rec["rel_error"].items()]
        text += (f"\n\n{rec['operator']} (T={rec['timesteps']}, N={rec['n_basis']}, "
                 f"{rec['rows']} rows of {rec['length']}, input scale {rec['input_scale']:g}): "
                 "one primitive read out after t steps with the others exact, then all:\n\n"
                 + table(header, rows))
    return text


@renderer("tour.json", "Tour: from one spiking neuron to a converted Transformer block")
def render_tour(data: dict) -> str:
    steps, short = data["step_mse"], data["short_fit"]
    t_long, t_short = len(steps), short["timesteps"]
    shown = [t for t in range(1, t_long + 1) if t in (1, 2, 4, 8) or t == t_long]
    step_table = table(
        ["GELU neuron"] + [f"t={t} MSE (measured)" for t in shown],
        [[f"fitted for T={t_long}"] + [fmt_sci(steps[t - 1]) for t in shown],
         [f"fitted for T={t_short}"] + [fmt_sci(short["step_mse"][t - 1]) if t <= t_short
                                        else "–" for t in shown]])
    b = data["block"]
    block = table(["block", "mode", "T", "GELU N", "sentences", "1 - mean cosine (measured)",
                   "1 - worst cosine (measured)", "max abs diff (measured)", "seconds"],
                  [[b["model"], b["mode"], str(b["timesteps"]), str(b["activation_basis"]),
                    str(b["n_sentences"]), fmt_sci(1 - b["mean_cosine"]),
                    fmt_sci(1 - b["min_cosine"]), fmt_sci(b["max_abs_diff"]),
                    f"{b['total_seconds']:.1f}"]])
    return (render_fs_baseline(data["neurons"])
            + "\n\n#### The MBE GELU neuron read out after t steps\n\n" + step_table
            + "\n\n#### A converted Transformer block vs the ANN block\n\n" + block
            + f"\n\nThe whole tour ran in {data['run']['seconds']:.0f} s.")


def _render_energy(data: list[dict]) -> str:
    from ..studies.energy import paper_convention
    return paper_tables.render_energy(data, paper_convention().name)


#: The table notebooks' results (10-15), rendered beside the paper's published values.
for _name, _title, _render in (
        ("table1.json", "Table 1: vision (stand-ins beside the paper's ImageNet rows)",
         paper_tables.render_table1),
        ("table2.json", "Table 2: NLU (stand-ins beside the paper's RoBERTa-B rows)",
         paper_tables.render_table2),
        ("table3.json", "Table 3: NLG, WikiText-2 perplexity", paper_tables.render_table3),
        ("table4.json", "Table 4: the timestep sweep", paper_tables.render_table4),
        ("fig6b.json", "Fig. 6(b): accuracy and energy against the activation neurons' N",
         paper_tables.render_fig6b),
        ("table6.json", "Appendix Table VI: learned parameters per neuron",
         paper_tables.render_table6),
        ("energy.json", "Energy: whole converted models, per operator", _render_energy),
        ("calibrated.json", "Calibrated conversion: every stand-in at small T",
         paper_tables.render_calibrated)):
    renderer(_name, _title)(_render)


# ---------------------------------------------------------------- assembly


def _commits(data: Any) -> set[str]:
    """Every ``run`` record's commit (marked ``+dirty`` where applicable) found in ``data``."""
    found: set[str] = set()
    if isinstance(data, dict):
        run = data.get("run")
        if isinstance(run, dict) and "commit" in run:
            commit = run.get("commit")
            label = commit[:12] if commit else "none (no git commit)"
            if run.get("dirty"):
                label += "+dirty"
            found.add(label)
        for value in data.values():
            found |= _commits(value)
    elif isinstance(data, list):
        for value in data:
            found |= _commits(value)
    return found


def render(results_dir: str | Path) -> str:
    """Markdown for every results file in ``results_dir``."""
    results_dir = Path(results_dir)
    files = sorted(results_dir.glob("*.json")) if results_dir.is_dir() else []
    order = list(RENDERERS)  # the notebooks' order: neuron, operators, conversion, explorer
    files.sort(key=lambda p: order.index(p.name) if p.name in order else len(order))
    sections, unknown, commits = [], [], set()
    for path in files:
        if path.name not in RENDERERS:
            unknown.append(path.name)
            continue
        title, fn = RENDERERS[path.name]
        data = records.load(path)
        commits |= _commits(data)
        sections.append(f"## {title}\n\nFrom `results/{path.name}`.\n\n{fn(data).rstrip()}")

    commit_text = ", ".join(f"`{c}`" for c in sorted(commits)) if commits else "none recorded"
    out = [
        "# Results",
        "",
        "Generated by `python -m mbe.viz.report` from `results/*.json` (run `make reproduce`); "
        "do not edit by hand.",
        "",
        f"Commit(s) that produced these results: {commit_text}.",
        "",
        "The paper's numbers appear only in columns labelled **(published)** "
        "(from `mbe/paper_values.json`); columns labelled **(measured)** are this "
        "project's runs.",
    ]
    if not sections:
        out += ["", "_No rendered results yet._"]
    for section in sections:
        out += ["", section]
    if unknown:
        out += ["", "## Not rendered", ""]
        out += [f"- `results/{name}`" for name in unknown]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description="Rebuild RESULTS.md from results/*.json.")
    parser.add_argument("--results", type=Path, default=_ROOT / "results", help="results directory")
    parser.add_argument("--out", type=Path, default=_ROOT / "RESULTS.md", help="markdown file to write")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(args.results), encoding="utf-8")
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
