"""Accuracy of a converted sequence classifier against its ANN, on labelled batches.

Works with any Hugging Face sequence classifier (`...ForSequenceClassification`, or any model
whose first output is the logits) and batches of what its tokenizer returns, each with a
`labels` tensor: the labels are scored, never passed to the model (a loss would be one more
nonlinear call to convert). The data layer supplies the texts and labels; `batches` tokenises
them.

A record gives the ANN's and the SNN's accuracy in percent, the points lost (ANN - SNN), and
how often the two predict the same class.
"""
from __future__ import annotations

import time

import torch
from torch import Tensor, nn

from ..conversion import ConversionConfig, convert


def batches(tokenizer, texts: list[str], labels: list[int], batch_size: int,
            max_length: int) -> list[dict]:
    """Tokenised batches (input_ids, attention_mask, labels), padded per batch."""
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels: give one label a text")
    out = []
    for i in range(0, len(texts), batch_size):
        batch = dict(tokenizer(texts[i:i + batch_size], padding=True, truncation=True,
                               max_length=max_length, return_tensors="pt"))
        batch["labels"] = torch.tensor(labels[i:i + batch_size])
        out.append(batch)
    return out


def model_inputs(batch: dict) -> dict:
    """The batch without its labels: what the model is called with."""
    return {k: v for k, v in batch.items() if k != "labels"}


def predict(model: nn.Module, batches: list[dict]) -> tuple[Tensor, float]:
    """The predicted class of every example, and the seconds the forwards took."""
    preds, seconds = [], 0.0
    with torch.no_grad():
        for batch in batches:
            start = time.perf_counter()
            out = model(**model_inputs(batch))
            seconds += time.perf_counter() - start
            logits = out.logits if hasattr(out, "logits") else out[0]
            preds.append(logits.argmax(-1))
    return torch.cat(preds), seconds


def labels_of(batches: list[dict]) -> Tensor:
    if any("labels" not in b for b in batches):
        raise ValueError("every evaluation batch needs a 'labels' tensor (see `batches`)")
    return torch.cat([b["labels"] for b in batches])


def accuracy(model: nn.Module, batches: list[dict]) -> float:
    """Accuracy in percent on labelled batches."""
    return 100.0 * float((predict(model, batches)[0] == labels_of(batches)).double().mean())


def compare(ann: nn.Module, calibration: list[dict], evaluation: list[dict], *,
            config: ConversionConfig, model_name: str, ann_predictions: Tensor | None = None):
    """Convert `ann` with `config` (calibrated on `calibration`, labels dropped) and score both
    on `evaluation`. Returns (record, converted model, ledger report). ann_predictions: the
    ANN's predictions on `evaluation` when already computed (they do not depend on config).
    """
    labels = labels_of(evaluation)
    start = time.perf_counter()
    snn, report = convert(ann, [model_inputs(b) for b in calibration], config=config)
    converted = time.perf_counter() - start
    if ann_predictions is None:
        ann_predictions = predict(ann, evaluation)[0]
    snn_predictions, seconds = predict(snn, evaluation)
    ann_acc = 100.0 * float((ann_predictions == labels).double().mean())
    snn_acc = 100.0 * float((snn_predictions == labels).double().mean())
    record = {"model": model_name, **config.to_dict(), "n_examples": len(labels),
              "ann_accuracy": ann_acc, "snn_accuracy": snn_acc, "loss_points": ann_acc - snn_acc,
              "agreement": 100.0 * float((snn_predictions == ann_predictions).double().mean()),
              "seconds": seconds, "convert_seconds": converted}
    return record, snn, report
