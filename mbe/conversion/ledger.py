"""The conversion ledger: every site of a converted model, spiking or kept in float, and why.

For each spiking site: module path, operation, the primitives of `mbe.ops` it uses (with N and
T), the calibrated ranges and the fraction of inputs outside the primitives' domains, firing
rate, SOPs and threshold comparisons, and its error against the ANN both in situ (the site's
output in the converted network against the same site's output in the ANN: upstream errors
included) and on clean inputs (the site's own error, fed the ANN's inputs). For each
float-kept site: what it is and why it stays in float.

SOPs count one accumulate per spike (Eq. 7 adds d[t] once per spike) plus one per coincident
spike pair of a spike multiplication (each 1 in S adds one entry of D, Eq. 11): see
docs/decisions.md ("Converting models").
Errors and counts are measured on the `measure` batches (default: the first calibration
batch), in the mode the model was converted to.
"""
from __future__ import annotations

import html
import math
from dataclasses import asdict, dataclass, field, fields

import torch
from torch import Tensor, nn

from .. import records
from .calibrate import first_tensor, run
from .replace import FloatSite
from .sites import Site


class ErrorStats:
    """Accumulated |spiking - reference| over every call of a site."""

    def __init__(self) -> None:
        self.n = self.non_finite = 0
        self.sum_abs = self.sum_sq = self.sum_sq_ref = 0.0
        self.max_abs = 0.0

    def add(self, out: Tensor, ref: Tensor) -> None:
        out, ref = out.detach().double(), ref.detach().double()
        finite = torch.isfinite(out) & torch.isfinite(ref)
        self.non_finite += int((~finite).sum())
        diff = (out - ref)[finite]
        self.n += diff.numel()
        if diff.numel():
            self.sum_abs += float(diff.abs().sum())
            self.sum_sq += float((diff * diff).sum())
            self.sum_sq_ref += float((ref[finite] ** 2).sum())
            self.max_abs = max(self.max_abs, float(diff.abs().max()))

    def to_dict(self) -> dict:
        """mae, max_abs, rel_rms = ||out - ref|| / ||ref||, and the non-finite count."""
        if not self.n:
            return {"mae": None, "max_abs": None, "rel_rms": None,
                    "non_finite": self.non_finite}
        rel = math.sqrt(self.sum_sq / self.sum_sq_ref) if self.sum_sq_ref else None
        return {"mae": self.sum_abs / self.n, "max_abs": self.max_abs, "rel_rms": rel,
                "non_finite": self.non_finite}


def _set_probes(sites: list[Site], probe) -> None:
    for site in sites:
        site.probe = probe


def measure(model: nn.Module, sites: list[Site], batches: list):
    """(clean errors, in-situ errors, model-output error, call order) over `batches`.

    Pass 1 runs every site on its reference face (the network computes the ANN), evaluating
    its spiking face on the same clean inputs and storing the reference outputs. Pass 2 runs
    the spiking network, with every op's statistics reset first, and compares each site's
    output with the stored one, call by call.
    """
    clean = {site: ErrorStats() for site in sites}
    situ = {site: ErrorStats() for site in sites}
    stored: dict[Site, list[Tensor]] = {site: [] for site in sites}
    order: dict[Site, int] = {}

    def clean_probe(site: Site, args: tuple, out) -> None:
        ref = site.output_tensor(out)
        clean[site].add(site.output_tensor(site.spiking(*args)), ref)
        stored[site].append(ref)

    def situ_probe(site: Site, args: tuple, out) -> None:
        order.setdefault(site, len(order))
        situ[site].add(site.output_tensor(out), stored[site].pop(0))

    output = ErrorStats()
    try:
        with torch.no_grad():
            for site in sites:
                site.phase = "reference"
            _set_probes(sites, clean_probe)
            references = [first_tensor(run(model, b)) for b in batches]
            for site in sites:
                site.phase = "spiking"
                for op in site.spiking_ops().values():
                    op.reset_stats()
                    op.record = True  # count spikes on the fast path too
            _set_probes(sites, situ_probe)
            for batch, ref in zip(batches, references):
                output.add(first_tensor(run(model, batch)), ref)
    finally:
        _set_probes(sites, None)
        for site in sites:
            site.phase = "spiking"
            for op in site.spiking_ops().values():
                op.record = False
    return clean, situ, output.to_dict(), order


def _primitives(site: Site) -> dict:
    """Every primitive of the site's operators ("op.name" where the site has several): its
    statistics (`SpikingOp.report`) and what it is (`SpikingOp.describe`, read from it)."""
    found = site.spiking_ops()
    return {f"{op_name}.{name}" if len(found) > 1 else name: {**stats, **op.describe()[name]}
            for op_name, op in found.items()
            for name, stats in op.report()["primitives"].items()}


def _total(prims: dict, key: str):
    """Sum of `key` over the primitives; None if any primitive did not measure it."""
    values = [p.get(key) for p in prims.values()]
    return None if not values or any(v is None for v in values) else sum(values)


def _fraction_outside(prims: dict):
    """Inputs outside their primitive's range, over the primitives that measured it."""
    measured = {k: p for k, p in prims.items() if p.get("outside") is not None}
    return _ratio(_total(measured, "outside"), _total(measured, "seen"))


def _ratio(num, den):
    return None if num is None or not den else num / den


def spiking_record(site: Site, clean: ErrorStats, situ: ErrorStats) -> dict:
    """The ledger entry of one spiking site (JSON-ready); None where the ops did not measure
    a quantity (e.g. ranges and spikes in "exact" mode)."""
    reports = {name: op.report() for name, op in site.spiking_ops().items()}
    prims = _primitives(site)
    slots = sum(p["seen"] * p["n_basis"] * p["timesteps"] for p in prims.values())
    spikes = _total(prims, "spikes")
    products = {n: r["products"] for n, r in reports.items() if "products" in r}
    coincidences = _total(products, "coincidences") if products else 0
    sops = None if spikes is None or coincidences is None else spikes + coincidences
    keep = ("target", "neuron", "variant", "n_basis", "timesteps", "domain", "objective",
            "exact", "fraction_outside", "firing_rate", "spikes", "comparisons", "min_seen",
            "max_seen")
    return {
        "path": site.path, "operation": site.operation, "module": site.module_class,
        "via": site.via, "execution": "spiking", "reason": None,
        "primitives": {name: {k: p.get(k) for k in keep}
                       | {k: p[k] for k in ("scale", "channel_exponents") if k in p}
                       for name, p in prims.items()},
        "observed": {name: rng.bounds() for name, rng in site.ranges.items()},
        "calibrated": {name: list(rng) for name, rng in site.calibrated.items()},
        "fraction_outside": _fraction_outside(prims),
        "firing_rate": _ratio(spikes, slots),
        "spikes": spikes, "coincidences": coincidences, "sops": sops,
        "comparisons": _total(prims, "comparisons"),
        "error_in_situ": situ.to_dict(), "error_clean": clean.to_dict(),
        "budget": site.budget,
    }


def float_record(site: FloatSite) -> dict:
    return {"path": site.path, "operation": site.operation, "module": site.module,
            "via": "module" if site.calls_per_forward is None else "functional call",
            "execution": "float", "reason": site.reason,
            "calls_per_forward": site.calls_per_forward}


@dataclass
class Report:
    """The ledger of one conversion. `to_dict()` is JSON-ready; it renders as a table."""

    model: dict
    settings: dict
    calibration: dict
    sites: list[dict]
    output_error: dict | None = None
    measured_on: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return records._jsonable(asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> "Report":
        """The report saved by `save` (extra keys, such as a `run` record, are ignored)."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def save(self, path, run: dict | None = None) -> None:
        """Write the report as JSON, with `run` (`mbe.records.run_info`) when given."""
        records.save(path, self.to_dict() | ({"run": run} if run is not None else {}))

    @property
    def spiking(self) -> list[dict]:
        return [s for s in self.sites if s["execution"] == "spiking"]

    @property
    def floating(self) -> list[dict]:
        return [s for s in self.sites if s["execution"] == "float"]

    # -- rendering ----------------------------------------------------------------------------
    HEADER = ["path", "operation", "execution", "primitives (N×T)", "calibrated range",
              "outside", "firing rate", "SOPs", "error in situ", "error clean", "why float"]

    def rows(self) -> list[list[str]]:
        return [_row(s) for s in self.sites]

    def summary(self) -> str:
        s = self.settings
        out = self.output_error or {}
        return (f"{self.model['class']} ({self.model['family']}), T={s['timesteps']}, mode "
                f"{s['mode']}: {len(self.spiking)} spiking sites, {len(self.floating)} kept in "
                f"float; output error rel. RMS {_fmt(out.get('rel_rms'))}, max "
                f"{_fmt(out.get('max_abs'))}")

    def __str__(self) -> str:
        """A summary a reader can take in: the configuration, what spikes and what stays in
        float (by operation), the output error, and the sites with the largest error."""
        s = self.settings
        lines = [self.summary(),
                 f"  built as: T={s['timesteps']}, neuron {s.get('neuron', 'mbe')}, variant "
                 f"{s['variant']}, N activation {s['activation_basis']} / identity "
                 f"{s['identity_basis']} / arithmetic {s.get('arithmetic_basis', 8)}, margin "
                 f"{s['margin']:g}, activations fitted to {s.get('fit_to', 'uniform')}"
                 + ("" if s.get("error_budget") is None
                    else f" within an error budget of {s['error_budget']:g}"),
                 f"  spiking: {_tally(self.spiking) or 'nothing'}",
                 *([f"  runs on: {self.measured_on['device']}, {self.measured_on['path']} "
                    "path"] if "path" in self.measured_on else []),
                 f"  kept in float: {_tally(self.floating) or 'nothing'}"]
        worst = sorted((x for x in self.spiking if x["error_in_situ"]["rel_rms"] is not None),
                       key=lambda x: x["error_in_situ"]["rel_rms"], reverse=True)[:self.WORST]
        if worst:
            lines.append("  largest errors in situ (rel. RMS; clean inputs in brackets):")
            lines += [f"    {x['path']} ({x['operation']}): {_fmt(x['error_in_situ']['rel_rms'])}"
                      f" ({_fmt(x['error_clean']['rel_rms'])})" for x in worst]
        return "\n".join(lines)

    WORST = 5  # sites listed by __str__

    def to_markdown(self) -> str:
        lines = [self.summary(), "", "| " + " | ".join(self.HEADER) + " |",
                 "|" + "---|" * len(self.HEADER)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"
                  for row in self.rows()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.HEADER)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                       for row in self.rows())
        return (f"<p>{html.escape(self.summary())}</p><table><thead><tr>{head}</tr></thead>"
                f"<tbody>{body}</tbody></table>")


def _tally(sites: list[dict]) -> str:
    """"6 attention, 13 layernorm, ...": sites per operation, in order of first appearance."""
    counts: dict[str, int] = {}
    for site in sites:
        counts[site["operation"]] = counts.get(site["operation"], 0) + 1
    return ", ".join(f"{n} {op}" for op, n in counts.items())


def _fmt(x, spec: str = ".2e") -> str:
    return "–" if x is None else format(x, spec)


def _pct(x, digits: int) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}%"


def _row(s: dict) -> list[str]:
    if s["execution"] == "float":
        return [s["path"] or "<model>", s["operation"], "float", "", "", "", "", "", "", "",
                s["reason"]]
    prims = ", ".join(f"{n} {p['n_basis']}×{p['timesteps']}"
                      + (" (calibration)" if p.get("objective") == "calibration" else "")
                      for n, p in s["primitives"].items())
    ranges = " ".join(f"{n}∈[{lo:.3g}, {hi:.3g}]" for n, (lo, hi) in s["calibrated"].items())
    return [s["path"], s["operation"], "spiking", prims, ranges,
            _pct(s["fraction_outside"], 2), _pct(s["firing_rate"], 1), _fmt(s["sops"], ","),
            _fmt(s["error_in_situ"]["rel_rms"]), _fmt(s["error_clean"]["rel_rms"]), ""]
