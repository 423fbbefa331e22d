"""Markdown of the paper's main tables from this project's records, beside the published ones.

Each renderer takes the records a table notebook wrote (`mbe.studies.tables.row`) and returns
Markdown. Measured numbers sit in columns labelled "(measured)"; the paper's, read from
`mbe/paper_values.json` through `mbe.paper`, in columns labelled "(published)". A stand-in is
named as such in every row: its "stands for" column says which of the paper's rows it
replaces, never that it is that model.
"""
from __future__ import annotations

from .. import paper
from .markdown import fmt_ratio, table

DASH = "–"


def _num(x, digits: int = 2) -> str:
    return DASH if x is None else f"{x:.{digits}f}"


def _signed(x, digits: int = 2) -> str:
    return DASH if x is None else f"{x:+.{digits}f}"


def _model(r: dict) -> str:
    return f"{r['model']} ({r['kind']})"


def _configuration(r: dict) -> str:
    c = r["config"]
    neuron = "FS" if c["neuron"] == "fs" else f"MBE {c['variant']}, activation N={c['activation_basis']}"
    return f"{r['configuration']}: {neuron}"


def _published(table_key: str, paper_row: str | None, field: str, match: str = "arch"):
    if paper_row is None:
        return None
    rows = paper.values()[table_key]["rows"]
    hit = next((x for x in rows if x.get(match) == paper_row), None)
    return None if hit is None else hit.get(field)


def _time_ratio(r: dict) -> str:
    return fmt_ratio(r["snn_seconds"], r["ann_seconds"])


def render_table1(records: list[dict]) -> str:
    """Table 1 (vision): accuracy of each model and its conversion, beside the paper's
    ImageNet rows."""
    header = ["model", "stands for (paper's row)", "data", "T", "configuration",
              "ANN % (measured)", "SNN % (measured)", "Δ (measured)", "SNN / ANN time",
              "paper ANN % (published)", "paper SNN % (published)", "paper Δ (published)"]
    rows = [[_model(r), r["stands_for"], f"{r['dataset']} {r['split']} ({r['n_examples']:,})",
             str(r["timesteps"]), _configuration(r), _num(r["ann"]), _num(r["snn"]),
             _signed(r["delta"]), _time_ratio(r),
             _num(_published("table_1", r.get("paper_row"), "ann")),
             _num(_published("table_1", r.get("paper_row"), "snn")),
             _signed(_published("table_1", r.get("paper_row"), "delta"))]
            for r in records]
    return ("The paper's rows are ImageNet top-1 with its checkpoints; the measured rows are "
            "the models named, on the data named.\n\n" + table(header, rows))


def _table2_published(dataset: str, category: str):
    rows = paper.values()["table_2"]["rows"]
    hit = next((x for x in rows if x["category"] == category and x["params_m"] == 125), None)
    return None if hit is None else hit.get(dataset)


def render_table2(records: list[dict]) -> str:
    """Table 2 (NLU): accuracy per data set, beside the paper's RoBERTa-B (125M) rows."""
    header = ["model", "stands for (paper's row)", "data", "T", "configuration",
              "ANN % (measured)", "SNN % (measured)", "Δ (measured)", "SNN / ANN time",
              "RoBERTa-B ANN % (published)", "RoBERTa-B SNN % (published)"]
    rows = [[_model(r), r["stands_for"], f"{r['dataset']} {r['split']} ({r['n_examples']:,})",
             str(r["timesteps"]), _configuration(r), _num(r["ann"]), _num(r["snn"]),
             _signed(r["delta"]), _time_ratio(r),
             _num(_table2_published(r.get("paper_row"), "ANN")),
             _num(_table2_published(r.get("paper_row"), "Ours"))]
            for r in records]
    return table(header, rows)


def render_table3(data: dict) -> str:
    """Table 3 (NLG): perplexity, with the unigram baseline, beside the paper's GPT-2."""
    records = data["rows"]
    published = {x["category"]: x for x in paper.values()["table_3"]["rows"]}
    header = ["model", "stands for (paper's row)", "data", "T", "configuration",
              "ANN ppl (measured)", "SNN ppl (measured)", "change % (measured)",
              "SNN / ANN time", "GPT-2 ANN ppl (published)", "GPT-2 SNN ppl (published)"]
    rows = [[_model(r), r["stands_for"], f"{r['dataset']} {r['split']}", str(r["timesteps"]),
             _configuration(r), _num(r["ann"]), _num(r["snn"]),
             _signed(100 * r["delta"] / r["ann"]), _time_ratio(r),
             _num(published["ANN"].get(r.get("paper_row"))),
             _num(published["Ours"].get(r.get("paper_row")))]
            for r in records]
    base = data.get("unigram")
    text = table(header, rows)
    if base:
        text += (f"\n\nA unigram baseline (add-one smoothed token frequencies of the same "
                 f"training text, same tokenizer) scores perplexity {base['perplexity']:.1f} "
                 f"(measured) on the same {base['scored_tokens']:,} test tokens.")
    if records:
        p = records[0]["protocol"]
        text += (f"\n\nProtocol: {p['tokenizer']} ({p['vocab']:,} tokens), windows of "
                 f"{p['context']} tokens every {p['stride']} (each token predicted once), "
                 f"{p['scored_tokens']:,} scored tokens; perplexity per token.")
    return text


def render_table4(records: list[dict]) -> str:
    """Table 4: the timestep sweep, measured, then the paper's (published)."""
    ts = sorted({r["timesteps"] for r in records})
    models = list(dict.fromkeys((r["model"], r["kind"], r["dataset"], r["metric"])
                                for r in records))
    header = ["model", "stands for (paper's row)", "data", "metric", "ANN (measured)"] + \
        [f"T={t} (measured)" for t in ts]
    rows = []
    for key in models:
        mine = {r["timesteps"]: r for r in records
                if (r["model"], r["kind"], r["dataset"], r["metric"]) == key}
        first = next(iter(mine.values()))
        rows.append([f"{key[0]} ({key[1]})", first["stands_for"], key[2], key[3],
                     _num(first["ann"])] + [_num(mine[t]["snn"]) if t in mine else DASH
                                            for t in ts])
    pub = paper.values()["table_4"]
    pts = pub["timesteps"]
    prow = [[x["model"], x["dataset"], x["unit"], _num(x["ann"])]
            + [_num(x["snn"].get(str(t))) for t in pts] for x in pub["rows"]]
    return (table(header, rows) + "\n\nThe paper's sweep (its checkpoints and data):\n\n"
            + table(["model", "data", "metric", "ANN (published)"]
                    + [f"T={t} (published)" for t in pts], prow))


def _change(r: dict, delta) -> str:
    """A row's change against its ANN: points of accuracy, or percent of perplexity."""
    if delta is None:
        return DASH
    return _signed(delta) if r["metric"] == "accuracy" else f"{100 * delta / r['ann']:+.2f} %"


def render_calibrated(records: list[dict]) -> str:
    """Calibrated conversion (per-site fitting, per-channel LayerNorm scales) of every stand-in
    against T, beside the default configuration's change at the same T where the record of
    Table 4 has it (`default_delta`)."""
    if not records:
        return "_No records._"
    header = ["model", "data", "metric", "T", "activation N", "ANN (measured)",
              "SNN calibrated (measured)", "change, calibrated (measured)",
              "change, default (measured, table4.json)"]
    rows = [[_model(r), r["dataset"], r["metric"], str(r["timesteps"]),
             str(r["config"]["activation_basis"]), _num(r["ann"]), _num(r["snn"]),
             _change(r, r["delta"]), _change(r, r.get("default_delta"))]
            for r in records]
    c = records[0]["config"]
    return ("Change: accuracy points, or perplexity in percent of the ANN's. Configuration: "
            f"the project's default with fit_to={c['fit_to']!r} and layernorm_scale="
            f"{c['layernorm_scale']!r}.\n\n" + table(header, rows))


def render_fig6b(records: list[dict]) -> str:
    """Fig. 6(b): accuracy and energy of one model against the activation neurons' N."""
    header = ["N", "ANN % (measured)", "SNN % (measured)", "Δ (measured)",
              "GELU E_SNN/E_ANN % (measured)", "spiking operators % (measured)",
              "whole model % (measured)"]
    rows = [[str(r["n_basis"]), _num(r["ann"]), _num(r["snn"]), _signed(r["delta"]),
             _num(r["energy"]["activation_percent"]),
             _num(r["energy"]["spiking_operators_percent"]),
             _num(r["energy"]["whole_model_percent"])]
            for r in sorted(records, key=lambda r: r["n_basis"])]
    if not rows:
        return "_No records._"
    first = records[0]
    gelu = paper.values()["energy"]["gelu_example"]
    return (f"{first['model']} ({first['kind']}, stands for {first['stands_for']}) on "
            f"{first['dataset']} {first['split']}, T={first['timesteps']}; energy under "
            f"{first['energy']['convention']}. The paper (published): under 1 % loss for "
            f"N >= 4, and the GELU at N={gelu['n_basis']} costs "
            f"{gelu['energy_ratio_percent']} % of the ANN's energy.\n\n" + table(header, rows))


def render_table6(records: list[dict]) -> str:
    """Appendix Table VI: learned parameters per neuron, counted from the neurons."""
    header = ["converted model", "neuron", "target", "variant", "N", "T",
              "parameters (counted)", "formula", "formula's value"]
    rows = [[r["model"], r["neuron"], r["target"], r["variant"], str(r["n_basis"]),
             str(r["timesteps"]), str(r["n_parameters"]), r["formula"],
             str(r["formula_value"])] for r in records]
    return ("The paper's count (published, appendix Table VI, second-hand): FS 3T, MBE 5N.\n\n"
            + table(header, rows)) if rows else "_No records._"


def render_energy(records: list[dict], convention: str) -> str:
    """Whole-model and per-operator E_SNN / E_ANN of every model under `convention`."""
    chosen = [r for r in records if r["convention"] == convention]
    operations = list(dict.fromkeys(op for r in chosen for op in r["operators"]))
    header = (["model", "stands for", "whole model % (measured)",
               "spiking operators % (measured)", "spiking share of ANN energy %"]
              + [f"{op} % (measured)" for op in operations])
    rows = [[f"{r['model']} ({r['kind']})", r["stands_for"], _num(r["whole_model_percent"]),
             _num(r["spiking_operators_percent"]), _num(r["spiking_share_of_ann_percent"])]
            + [_num(r["operators"][op]["energy_ratio_percent"]) if op in r["operators"]
               else DASH for op in operations] for r in chosen]
    e = paper.values()["energy"]
    return (f"Convention: {convention}. Published: the GELU at N=4, T=16 costs "
            f"{e['gelu_example']['energy_ratio_percent']} % (AAAI), the whole ViT-M/16 "
            f"{e['vit_m16_whole_model']['energy_ratio_percent']} % (appendix Eq. 28, "
            "second-hand). Float-kept operations cost in the SNN what they cost in the ANN. "
            "Other conventions: figures/energy_conventions.png.\n\n" + table(header, rows))
