"""Markdown tables of the operator study (results/operators.json), for RESULTS.md and the
notebook. The paper's values appear only in columns labelled as published."""
from __future__ import annotations

from .markdown import fmt_sci, table


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.2f}"


def errors_table(errors: list[dict], neuron: str = "mbe") -> str:
    """One row per operator and input set; per T: max abs / mean abs / relative error."""
    rows = [r for r in errors if r["neuron"] == neuron]
    ts = sorted({r["timesteps"] for r in rows})
    keys = []
    for r in rows:
        key = (r["operator"], r.get("site") or "", r["inputs"])
        if key not in keys:
            keys.append(key)
    header = ["operator", "inputs"] + [f"T={t}: max abs / mean abs / rel (measured)" for t in ts]
    body = []
    for op, site, inputs in keys:
        cells = []
        for t in ts:
            r = next((r for r in rows if (r["operator"], r.get("site") or "", r["inputs"],
                                          r["timesteps"]) == (op, site, inputs, t)), None)
            cells.append("–" if r is None else " / ".join(
                fmt_sci(r[k]) for k in ("max_abs_error", "mean_abs_error", "rel_error")))
        body.append([op + (f" ({site})" if site else ""), inputs] + cells)
    return table(header, body)


def extras_table(errors: list[dict]) -> str:
    """Softmax row sums, GELU inside its calibrated domain, and firing rates (MBE)."""
    header = ["operator", "inputs", "T", "softmax max abs(row sum - 1)",
              "max abs error inside the domain", "fraction outside", "firing rate (%)"]
    body = [[r["operator"] + (f" ({r['site']})" if r.get("site") else ""), r["inputs"],
             str(r["timesteps"]), fmt_sci(r.get("row_sum_max_dev")),
             fmt_sci(r.get("max_abs_error_in_domain")), fmt_sci(r.get("fraction_outside")),
             _pct(r["firing_rate"])]
            for r in errors if r["neuron"] == "mbe"]
    return table(header, body)


def fs_table(errors: list[dict]) -> str:
    """Fig. 6(a): relative error of FS vs MBE primitives, per operator, T and input set."""
    mbe = {(r["operator"], r["inputs"], r["timesteps"]): r for r in errors if r["neuron"] == "mbe"}
    body = []
    for r in errors:
        if r["neuron"] != "fs":
            continue
        m = mbe.get((r["operator"], r["inputs"], r["timesteps"]))
        body.append([r["operator"], r["inputs"], str(r["timesteps"]), fmt_sci(r["rel_error"]),
                     fmt_sci(m and m["rel_error"]),
                     "–" if not m else f"{r['rel_error'] / m['rel_error']:.3g}"])
    return table(["operator", "inputs", "T", "FS rel error (measured)",
                   "MBE rel error (measured)", "FS / MBE"], body)


def firing_table(rows: list[dict]) -> str:
    body = [[r["table_xi_name"] or "–", f"{r['operator']}: {r['primitive']}", str(r["n_basis"]),
             _pct(r["firing_rate"]),
             "–" if r["paper_vit_m16_percent"] is None else f"{r['paper_vit_m16_percent']:.2f}"]
            for r in rows]
    return table(["Table XI name", "primitive here", "N", "firing rate % (measured, MiniLM)",
                   "firing rate % (published, ViT-M/16)"], body)


def energy_table(rows: list[dict]) -> str:
    body = [[r["convention"], f"{r['gelu_energy_ratio_percent']:.2f}",
             f"{r['gelu_ratio_at_paper_rate_percent']:.2f}",
             "yes" if r["reproduces_paper_gelu_ratio"] else "no",
             f"{r['softmax_energy_ratio_percent']:.1f}",
             f"{r['layernorm_energy_ratio_percent']:.1f}",
             f"{r['q@k^T_energy_ratio_percent']:.1f}", f"{r['attn@v_energy_ratio_percent']:.1f}"]
            for r in rows]
    first = rows[0] if rows else {}
    header = ["convention",
              f"GELU % (measured, N={first.get('gelu_n_basis')}, T={first.get('gelu_timesteps')})",
              "GELU % at the paper's firing rate and 70 FLOPs (counted)",
              f"gives the published {first.get('paper_gelu_energy_ratio_percent')} %",
              "softmax %", "LayerNorm %", "Q K^T %", "attn V %"]
    return table(header, body)


#: (label, operator, inputs, field, threshold): the accuracy bars at the largest T.
BARS = (("softmax max abs error", "softmax", "minilm", "max_abs_error", 1e-2),
        ("softmax max abs(row sum - 1)", "softmax", "minilm", "row_sum_max_dev", 2e-2),
        ("LayerNorm relative error", "layernorm", "minilm", "rel_error", 1e-2),
        ("GELU max abs error (calibrated range)", "gelu", "minilm", "max_abs_error", 1e-2),
        ("GELU max abs error inside its domain", "gelu", "uniform", "max_abs_error_in_domain",
         1e-2))


def bars_table(errors: list[dict], timesteps: int, sweep: list[dict] = ()) -> str:
    """The accuracy bars at `timesteps`, from the T sweep (the notebook's N) and, for the
    GELU bar, from each N of the basis sweep."""
    found = []
    for label, op, inputs, key, limit in BARS:
        rows = [r for r in errors if (r["operator"], r["inputs"], r["neuron"], r["timesteps"])
                == (op, inputs, "mbe", timesteps)][:1]
        if op == "gelu" and inputs == "minilm":
            shown = {r["n_basis"] for r in rows}
            rows += sorted((r for r in sweep if r["operator"] == "gelu" and r["timesteps"]
                            == timesteps and r["n_basis"] not in shown),
                           key=lambda r: r["n_basis"])
        found += [(label, r, key, limit) for r in rows] or [(label, None, key, limit)]
    body = []
    for label, r, key, limit in found:
        value = None if r is None else r.get(key)
        ok = "–" if value is None else ("yes" if value <= limit else "**no**")
        body.append([label, "–" if r is None else r["inputs"],
                     "–" if r is None else str(r["n_basis"]), str(timesteps), fmt_sci(limit),
                     fmt_sci(value), ok])
    return table(["bar", "inputs", "N", "T", "limit", "measured", "met"], body)


def render(data: dict) -> str:
    t_max = max(r["timesteps"] for r in data["errors"])
    parts = ["### Accuracy bars", bars_table(data["errors"], t_max, data.get("basis_sweep", ())),
             "### Conversion error (MBE)", errors_table(data["errors"]),
             "### Softmax row sums, in-domain GELU error, firing rates",
             extras_table(data["errors"]),
             "### Fig. 6(a): FS vs MBE primitives", fs_table(data["errors"])]
    if data.get("firing_rates"):
        parts += ["### Firing rates in the layout of appendix Table XI",
                  firing_table(data["firing_rates"])]
    if data.get("energy"):
        parts += ["### Energy: E_SNN / E_ANN under every convention (45 nm FP32)",
                  energy_table(data["energy"])]
    return "\n\n".join(parts)
