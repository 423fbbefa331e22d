"""What calibration buys a converted text encoder (notebook 05): neurons fitted to each site's
inputs, per-channel LayerNorm scales, and error budgets, measured on sentence embeddings.

A configuration here is a label and the fields it changes in the project's default
`ConversionConfig` (`CONFIGURATIONS`); `config_for` adds T, the activation neurons' N and an
error budget. `compare` converts and scores one configuration (`mbe.studies.embeddings`) and
adds to its record what the ledger says: every activation site's neuron (N, objective,
domain, clean and in-situ error, how a budget chose it), every choice an error budget made
(`budget_choices`: each operator's N, activation neurons and identity encoders alike), the
worst clean error of each operation, the spikes the whole model fired on the calibration
batches, and its energy against the ANN's on the first of them (`energy_ratio`).
"""
from __future__ import annotations

from torch import nn

from ..conversion import ConversionConfig, Report
from ..ops import DEFAULT_DOMAINS
from . import embeddings, energy

#: label -> the fields it changes in the default configuration.
CONFIGURATIONS: dict[str, dict] = {
    "uniform": {},  # the default: activation neurons fitted uniformly on one domain per kind
    "calibrated": {"fit_to": "calibration"},
    "calibrated + channel LayerNorm": {"fit_to": "calibration", "layernorm_scale": "channel"},
}


def config_for(label: str, timesteps: int, activation_basis: int | None = None,
               error_budget: float | None = None) -> ConversionConfig:
    """The configuration `label` (`CONFIGURATIONS`) at `timesteps`, with the activation
    neurons' N (default: the default's) and an error budget (calibrated labels only)."""
    if label not in CONFIGURATIONS:
        raise ValueError(f"configuration {label!r}: choose from {list(CONFIGURATIONS)}")
    fields = {**CONFIGURATIONS[label], "timesteps": timesteps, "error_budget": error_budget}
    if activation_basis is not None:
        fields["activation_basis"] = activation_basis
    return ConversionConfig(**fields)


def activation_sites(report: Report) -> list[dict]:
    """Every activation site of a ledger: path, kind, its neuron's N, objective and domain,
    its clean and in-situ relative RMS errors, and how an error budget chose it (or None)."""
    out = []
    for s in report.spiking:
        if s["operation"] not in DEFAULT_DOMAINS:  # not an activation site
            continue
        (kind, prim), = s["primitives"].items()
        out.append({"path": s["path"], "kind": kind, "n_basis": prim["n_basis"],
                    "objective": prim["objective"], "domain": prim["domain"],
                    "error_clean": s["error_clean"]["rel_rms"],
                    "error_in_situ": s["error_in_situ"]["rel_rms"],
                    "budget": (s.get("budget") or {}).get(kind)})
    return out


def budget_choices(report: Report) -> list[dict]:
    """Every choice an error budget made, site by site: path, operator (an activation kind,
    or the operator whose identity encoders it sized: "qk", "softmax", "av", "layernorm"),
    the N chosen, its error, whether it met the budget, and every N tried."""
    return [{"path": s["path"], "operator": name, **chosen}
            for s in report.spiking for name, chosen in (s.get("budget") or {}).items()]


def operation_errors(report: Report) -> dict[str, float]:
    """operation -> the largest clean relative RMS error of its sites (the site alone, fed
    the ANN's inputs): which primitive limits the model."""
    worst: dict[str, float] = {}
    for s in report.spiking:
        err = s["error_clean"]["rel_rms"]
        if err is not None:
            worst[s["operation"]] = max(err, worst.get(s["operation"], 0.0))
    return worst


def total_spikes(report: Report) -> int | None:
    """Spikes of every spiking site on the calibration batches (None where one was not
    measured)."""
    spikes = [s["spikes"] for s in report.spiking]
    return None if any(x is None for x in spikes) else int(sum(spikes))


def energy_ratio(ann: nn.Module, snn: nn.Module, batch: dict) -> dict:
    """E_SNN / E_ANN (%) of the whole model and of its spiking operators alone on one batch,
    under the convention that reproduces the paper's 13.7 % GELU figure
    (`energy.paper_convention`, 45 nm float32 energies)."""
    rec, = energy.model_energy(ann, snn, batch, conventions=[energy.paper_convention()])
    return {key: rec[key] for key in ("convention", "preset", "whole_model_percent",
                                      "spiking_operators_percent")}


def compare(ann: nn.Module, calibration: list[dict], evaluation: list[dict], *, label: str,
            config: ConversionConfig, model_name: str):
    """Convert and score one configuration: (record, converted model, ledger report). The
    record is `embeddings.compare`'s with the label, the activation sites, the budget's
    choices, the worst clean error per operation, the total spikes and the model's output
    error on the calibration batches, and the energy ratio on the first of them."""
    record, snn, report = embeddings.compare(ann, calibration, evaluation,
                                             model_name=model_name, config=config)
    record.update(configuration=label, activation_sites=activation_sites(report),
                  budget_choices=budget_choices(report),
                  operation_errors=operation_errors(report), spikes=total_spikes(report),
                  output_error=report.output_error,
                  energy=energy_ratio(ann, snn, calibration[0]))
    return record, snn, report
