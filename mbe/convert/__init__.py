"""Convert a trained model to a spiking one without changing a single weight.

    snn, report = mbe.convert(model, calibration, timesteps=16, mode="mbe")

`model` is a Hugging Face model (ViT, BERT, RoBERTa, GPT-2, ... by class and configuration),
a timm Vision Transformer (when timm is installed) or a plain torch model (the CNNs of the
paper's Table 1). `calibration` is an iterable of batches as the model takes them (a dict of
tensors for Hugging Face models, a tensor for CNNs). The input model is deep-copied and left
untouched; the copy gets its nonlinear operations swapped for spiking sites.

The steps follow the paper's Algorithm 1:
1. find the sites: modules by class (`hf`, `timm`, `cnn`), attention through transformers'
   registry, and every other nonlinear call by auditing a forward (`functional`); anything
   that cannot be converted raises, naming the module and how to proceed (`keep_float`);
2. calibrate: run the batches, recording every site operand's range ("collect intervals R");
3. build the spiking operators of `mbe.ops` from those ranges (plus a margin);
4. measure the ledger (`ledger.Report`): every site, spiking or float, with its error.

Modes: "exact" (every neuron replaced by its exact function: equals the ANN to float
tolerance), "mbe" (the fitted neurons, fast path) and "spike" (time-stepped simulation; the
same numbers as "mbe", plus spike counts). `set_mode` switches a converted model.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import warnings

from torch import nn

from . import calibrate as _calibrate
from . import ledger, replace
from .ledger import Report
from .sites import MODES, ConversionError, Settings, Site, shared_domains

__all__ = ["convert", "set_mode", "sites_of", "family_of", "Report", "ConversionError"]


def family_of(model: nn.Module):
    """The adapter module for a model, by the library its class comes from: `timm`, `hf`
    (transformers) or `cnn` (plain torch). Imported on demand, so timm stays optional."""
    origins = {cls.__module__.split(".")[0] for cls in type(model).__mro__}
    if "timm" in origins:
        from . import timm as family
    elif "transformers" in origins:
        from . import hf as family
    else:
        from . import cnn as family
    return family


def _settings(timesteps, mode, margin, activation_basis, identity_basis, variant) -> Settings:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    for name, value in (("timesteps", timesteps), ("activation_basis", activation_basis),
                        ("identity_basis", identity_basis)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be a finite number >= 0 (a fraction of each "
                         f"calibrated range's width), got {margin!r}")
    return Settings(timesteps, mode, float(margin), activation_basis, identity_basis, variant)


def sites_of(model: nn.Module) -> list[Site]:
    """Every spiking site of a converted model."""
    return [m for m in model.modules() if isinstance(m, Site)]


def set_mode(model: nn.Module, mode: str) -> nn.Module:
    """Switch every spiking operator of a converted model to `mode`; returns the model."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    sites = sites_of(model)
    if not sites:
        raise ValueError("this model has no spiking sites: convert it with mbe.convert first")
    for site in sites:
        site.set_mode(mode)
    return model


def _describe(model: nn.Module, family) -> dict:
    config = getattr(model, "config", None)
    keys = ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
            "intermediate_size", "hidden_act", "activation_function", "n_layer", "n_embd",
            "n_head", "vocab_size", "image_size", "patch_size", "num_labels")
    summary = None if config is None else {k: getattr(config, k) for k in keys
                                            if hasattr(config, k)}
    return {"class": type(model).__name__, "family": family.NAME,
            "parameters": sum(p.numel() for p in model.parameters()), "config": summary}


def convert(model: nn.Module, calibration, timesteps: int = 16, mode: str = "mbe", *,
            keep_float=(), margin: float = 0.05, activation_basis: int = 8,
            identity_basis: int = 8, variant: str = "best", measure=None):
    """Convert `model`; return (spiking model, `Report`). See the module docstring.

    keep_float: module paths (from `model.named_modules()`) to keep in floating point.
    margin: calibrated ranges are widened by this fraction of their width on each side.
    activation_basis / identity_basis: N of the activation neurons (paper: 4; default 8, see
    docs/decisions.md) and of the identity encoders in spike multiplies (paper: 8).
    variant: the neuron fitting recipe.
    measure: batches on which the ledger is measured (default: the first calibration batch).
    """
    settings = _settings(timesteps, mode, margin, activation_basis, identity_basis, variant)
    batches = _calibrate.batches_of(calibration)
    measured = batches[:1] if measure is None else _calibrate.batches_of(measure)
    family = family_of(model)
    snn = copy.deepcopy(model).eval()
    keep = replace.check_keep_float(snn, keep_float)

    sites, floats = _find_sites(snn, family, batches[0], keep)
    seen = _calibrate.calibrate(snn, sites, batches, keep)
    unreached = [s for s in sites if not s.ranges]
    sites = [s for s in sites if s.ranges]
    settings = dataclasses.replace(settings, domains=shared_domains(sites, settings))
    for site in sites:
        site.build(settings)

    clean, situ, output, order = ledger.measure(snn, sites, measured)
    sites.sort(key=lambda s: order.get(s, len(order)))
    floats = _unreached(unreached) + floats + _sums(snn, seen)
    report = Report(
        model=_describe(model, family),
        settings={"timesteps": timesteps, "mode": mode, "margin": settings.margin,
                  "activation_basis": activation_basis, "identity_basis": identity_basis,
                  "variant": variant, "keep_float": sorted(keep),
                  "activation_domains": {k: "default" if v is None else list(v)
                                         for k, v in settings.domains.items()}},
        calibration={**_calibrate.fingerprint(batches), "margin": settings.margin},
        sites=[ledger.spiking_record(s, clean[s], situ[s]) for s in sites]
        + [ledger.float_record(f) for f in floats],
        output_error=output, measured_on=_calibrate.fingerprint(measured))
    return snn, report


def _find_sites(snn: nn.Module, family, first_batch, keep: frozenset[str]):
    """Install every site (modules, attention, audited functional calls) in `snn`; return
    (sites, float-kept records). Raises if something cannot be converted, or nothing can."""
    sites, floats = replace.install_module_sites(snn, family, keep)
    sites += family.prepare(snn)
    found = _calibrate.audit(snn, [first_batch])
    functional, kept = replace.install_functional_sites(snn, found.findings, keep,
                                                        found.forwards)
    sites += functional
    if not sites:
        raise ConversionError(
            f"found nothing to convert in {type(snn).__name__}: no supported activation, "
            "softmax, LayerNorm, attention or max pooling ran during calibration. Check that "
            "the calibration batches reach the model's layers, and that its nonlinearities "
            "are torch operations (not, e.g., compiled or scripted code)")
    return sites, floats + kept


def _unreached(sites: list[Site]) -> list[replace.FloatSite]:
    """Sites calibration never ran: they keep the ANN's function; warn, and list them."""
    if sites:
        warnings.warn(f"calibration never reached {[s.path for s in sites]}: they keep "
                      "computing the ANN's float function (listed in the report)",
                      stacklevel=3)
    return [replace.FloatSite(s.path, s.operation, s.module_class, replace.REASONS["unreached"])
            for s in sites]


def _sums(snn: nn.Module, seen) -> list[replace.FloatSite]:
    """The audited sums of two activations (residual adds), per module."""
    return [replace.FloatSite(path, "sum", type(snn.get_submodule(path)).__name__,
                              replace.REASONS["sum"], calls / max(seen.forwards, 1))
            for path, calls in seen.sums.items()]
