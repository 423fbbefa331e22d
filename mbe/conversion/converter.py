from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from ..native import loader
from ..ops.config import ConversionConfig, check_mode, config_of
from . import calibrate as _calibrate
from . import ledger, replace
from .ledger import Report
from .sites import ConversionError, Site, shared_domains


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


def sites_of(model: nn.Module) -> list[Site]:
    """Every spiking site of a converted model."""
    return [m for m in model.modules() if isinstance(m, Site)]


def set_mode(model: nn.Module, mode: str) -> nn.Module:
    """Switch every spiking operator of a converted model to `mode`; returns the model."""
    check_mode(mode)
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


def convert(model: nn.Module, calibration, timesteps: int | None = None,
            mode: str | None = None, *, config: ConversionConfig | None = None,
            keep_float=(), measure=None, **settings):
    """Convert `model`; return (spiking model, `Report`). See the module docstring.

    calibration: an iterable of batches as the model takes them (what a tokenizer or image
    processor returns, a dict, a tuple of arguments, or a tensor).
    config: a `ConversionConfig` (T, mode, neuron kind, fitting variant, N per primitive
    family, margin); `timesteps`, `mode` and any of its other fields given as keywords
    (`activation_basis=4`, `neuron="fs"`, `variant="paper"`, ...) override it. Every
    operator is built from that one configuration.
    keep_float: module paths (from `model.named_modules()`) to keep in floating point.
    measure: batches on which the ledger is measured (default: the first calibration batch).
    """
    given = {k: v for k, v in (("timesteps", timesteps), ("mode", mode)) if v is not None}
    cfg = config_of(config, {**given, **settings})
    batches = _calibrate.batches_of(calibration)
    measured = batches[:1] if measure is None else _calibrate.batches_of(measure)
    family = family_of(model)
    snn = copy.deepcopy(model).eval()
    keep = replace.check_keep_float(snn, keep_float)

    sites, floats = _find_sites(snn, family, batches[0], keep)
    seen = _calibrate.calibrate(snn, sites, batches, keep, cfg)
    unreached = [s for s in sites if not s.ranges]
    sites = [s for s in sites if s.ranges]
    domains = shared_domains(sites, cfg.margin)
    for site in sites:
        site.build(cfg, domains)

    clean, situ, output, order = ledger.measure(snn, sites, measured)
    sites.sort(key=lambda s: order.get(s, len(order)))
    floats = _unreached(unreached) + floats + _sums(snn, seen)
    report = Report(
        model=_describe(model, family),
        settings={**cfg.to_dict(), "keep_float": sorted(keep),
                  "activation_domains": {k: "per site" if cfg.fit_to == "calibration"
                                         else "default" if v is None else list(v)
                                         for k, v in domains.items()}},
        calibration={**_calibrate.fingerprint(batches), "margin": cfg.margin},
        sites=[ledger.spiking_record(s, clean[s], situ[s]) for s in sites]
        + [ledger.float_record(f) for f in floats],
        output_error=output, measured_on={**_calibrate.fingerprint(measured),
                                          **execution(snn)})
    return snn, report


def execution(model: nn.Module) -> dict:
    """Where a model's operators run: its device and the path they take there ("compiled"
    loops or "torch", `mbe.native.loader.path_for`)."""
    device = _calibrate.device_of(model) or torch.device("cpu")
    return {"device": str(device), "path": loader.path_for(device)}


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
