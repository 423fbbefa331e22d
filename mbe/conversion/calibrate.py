"""Calibration (the paper's Algorithm 1, "collect intervals R"): run the ANN on batches.

Batches are passed to the model as it takes them: a mapping of tensors as keyword arguments
(a dict, or what a Hugging Face tokenizer or image processor returns: a `BatchEncoding` or
`BatchFeature`, which are mappings but not dicts), a tuple or list as positional arguments, a
tensor as the one argument.
Every forward runs under an `Audit`, so calibration also proves that no nonlinear call
escaped conversion.
"""
from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Mapping

import torch
from torch import Tensor, nn

from ..ops import ConversionConfig
from .functional import Audit
from .replace import kept
from .sites import ConversionError, Site


_TEXT_FIX = ("tokenize the text first, e.g. calibration=[tokenizer(texts, padding=True, "
             "return_tensors='pt')]")


def batches_of(calibration) -> list:
    """The calibration batches as a list (checked: an iterable of batches, not one batch, and
    no batch a raw string)."""
    if isinstance(calibration, (str, bytes)):
        raise TypeError("calibration must be an iterable of batches, got a string: "
                        f"{_TEXT_FIX}")
    if isinstance(calibration, (Tensor, Mapping)) or not isinstance(calibration, Iterable):
        raise TypeError("calibration must be an iterable of batches (e.g. a list or a "
                        f"DataLoader), got a {type(calibration).__name__}: wrap one batch "
                        "as [batch]")
    batches = list(calibration)
    if not batches:
        raise ValueError("calibration is empty: pass at least one batch of real inputs")
    if any(isinstance(b, (str, bytes)) for b in batches):
        raise TypeError(f"calibration batches are strings, not model inputs: {_TEXT_FIX}")
    return batches


def run(model: nn.Module, batch):
    """One forward on a batch, called the way the batch's type says, its tensors first moved
    to the model's device (as `accelerate` does: a tokenizer's CPU output feeds a CUDA model)."""
    batch = to_device(batch, device_of(model))
    if isinstance(batch, Mapping):
        return model(**batch)
    if isinstance(batch, (tuple, list)):
        return model(*batch)
    return model(batch)


def device_of(model: nn.Module) -> torch.device | None:
    """The device of the model's first parameter or buffer (None: it has neither)."""
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    return None if first is None else first.device


def to_device(batch, device: torch.device | None):
    """batch with every tensor in it (in mappings, tuples and lists) on device."""
    if device is None:
        return batch
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, device) for b in batch)
    return batch


def first_tensor(output) -> Tensor:
    """The model's main output: logits / last hidden state / the tensor itself."""
    if isinstance(output, Tensor):
        return output
    if isinstance(output, Mapping):
        return next(v for v in output.values() if isinstance(v, Tensor))
    return first_tensor(output[0])


def _tensors(batch) -> list[Tensor]:
    if isinstance(batch, Tensor):
        return [batch]
    if isinstance(batch, Mapping):
        return [t for k in sorted(batch) for t in _tensors(batch[k])]
    if isinstance(batch, (tuple, list)):
        return [t for b in batch for t in _tensors(b)]
    return []


def fingerprint(batches: list) -> dict:
    """What calibrated the model: batch count, items, the first batch's shapes, a SHA-256."""
    digest = hashlib.sha256()
    items = 0
    for batch in batches:
        tensors = _tensors(batch)
        items += int(tensors[0].shape[0]) if tensors and tensors[0].dim() else 1
        for t in tensors:
            # raw bytes (numpy has no bfloat16)
            digest.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()
                          .tobytes())
    first = batches[0]
    shapes = ({k: list(v.shape) for k, v in first.items() if isinstance(v, Tensor)}
              if isinstance(first, Mapping) else [list(t.shape) for t in _tensors(first)])
    return {"batches": len(batches), "items": items, "first_batch_shapes": shapes,
            "sha256": digest.hexdigest()}


def audit(model: nn.Module, batches: list) -> Audit:
    """Run `batches` under an `Audit` (no gradients) and return it."""
    with torch.no_grad(), Audit(model) as seen:
        for batch in batches:
            run(model, batch)
    return seen


def calibrate(model: nn.Module, sites: list[Site], batches: list,
              keep_float: frozenset[str], config: ConversionConfig | None = None) -> Audit:
    """Record every site's operand ranges over all batches (and the histograms that building
    it from `config` will use, `Site.binned_operands`); fail on anything unconverted."""
    for site in sites:
        site.recording = True
        site.binning = frozenset() if config is None else site.binned_operands(config)
    try:
        seen = audit(model, batches)
    finally:
        for site in sites:
            site.recording, site.binning = False, frozenset()
    missed = sorted({f.path for f in seen.findings.values() if not kept(f.path, keep_float)})
    if missed:
        raise ConversionError(f"calibration reached nonlinear operations at {missed} that the "
                              "first batch did not: pass a first calibration batch that "
                              "exercises every branch, or keep_float these modules")
    return seen
