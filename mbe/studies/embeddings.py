"""Sentence embeddings of a converted text encoder against the ANN's, on real sentences.

The sentences are real English prose (`mbe.studies.corpora.real_sentences`). Embeddings are
the attention-masked mean of the last hidden states (the all-MiniLM-L6-v2 recipe); agreement
is the cosine similarity between a sentence's ANN and SNN embeddings.
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..conversion import ConversionConfig, convert
from .corpora import MINILM

def batches(tokenizer, sentences: list[str], batch_size: int, max_length: int) -> list[dict]:
    """Tokenised batches (dicts of input_ids and attention_mask), padded per batch."""
    return [dict(tokenizer(sentences[i:i + batch_size], padding=True, truncation=True,
                           max_length=max_length, return_tensors="pt"))
            for i in range(0, len(sentences), batch_size)]


def embed(model: nn.Module, batches: list[dict]) -> tuple[Tensor, float]:
    """Mean-pooled last hidden states of every sentence, and the seconds the forwards took."""
    outs, seconds = [], 0.0
    with torch.no_grad():
        for batch in batches:
            keep = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask")}
            start = time.perf_counter()
            hidden = model(**keep)[0]
            seconds += time.perf_counter() - start
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            outs.append((hidden * mask).sum(1) / mask.sum(1))
    return torch.cat(outs), seconds


def agreement(ann: Tensor, snn: Tensor) -> dict:
    """Cosine similarity per sentence between ANN and SNN embeddings: mean and min."""
    cos = F.cosine_similarity(ann.double(), snn.double(), dim=-1)
    return {"mean_cosine": float(cos.mean()), "min_cosine": float(cos.min()),
            "max_abs_diff": float((ann - snn).abs().max())}


def check_parameters(model, timesteps_list, n_sentences, n_calibration, batch_size,
                     max_length, spike_check, activation_basis) -> None:
    """Fail early, naming the parameter and the fix, before any model is loaded."""
    if not isinstance(model, str) or not model:
        raise ValueError(f"model={model!r}: give a Hugging Face id or a local path "
                         f"(default {MINILM!r})")
    if not timesteps_list or any(not isinstance(t, int) or not 1 <= t <= 32
                                 for t in timesteps_list):
        raise ValueError(f"timesteps_list={timesteps_list!r}: give integers from 1 to 32 "
                         "(the paper sweeps 8, 10, 12, 16)")
    for name, value, low in (("n_sentences", n_sentences, 1),
                             ("n_calibration", n_calibration, 1),
                             ("batch_size", batch_size, 1), ("max_length", max_length, 8),
                             ("spike_check", spike_check, 0),
                             ("activation_basis", activation_basis, 1)):
        if not isinstance(value, int) or value < low:
            raise ValueError(f"{name}={value!r}: give an integer >= {low}")


def compare(ann: nn.Module, calibration: list[dict], evaluation: list[dict], *,
            model_name: str, timesteps: int | None = None, mode: str = "mbe",
            activation_basis: int = 8, config: ConversionConfig | None = None):
    """Convert `ann` at `timesteps` (or with a whole `config`, which then gives T, mode and
    N), embed the evaluation sentences with both, compare.

    Returns (record, converted model, ledger report). The record holds the model, T, mode,
    the activation neurons' N, sentence count, mean / min cosine, the SNN's and the ANN's
    forward seconds (measured back to back) and the conversion seconds (and, with `config`,
    the configuration's fields under "config").
    """
    if config is None:
        config = ConversionConfig(timesteps=timesteps, mode=mode,
                                  activation_basis=activation_basis)
        extra = {}
    else:
        extra = {"config": config.to_dict()}
    start = time.perf_counter()
    snn, report = convert(ann, calibration, config=config)
    converted = time.perf_counter() - start
    reference, ann_seconds = embed(ann, evaluation)
    emb, seconds = embed(snn, evaluation)
    record = {"model": model_name, "timesteps": config.timesteps, "mode": config.mode,
              "activation_basis": config.activation_basis, "n_sentences": len(emb), **extra,
              **agreement(reference, emb), "seconds": seconds, "ann_seconds": ann_seconds,
              "convert_seconds": converted}
    return record, snn, report
