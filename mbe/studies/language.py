"""What a language model's perplexity is measured against: a unigram baseline.

`unigram_baseline(task)`: token frequencies of the WikiText-2 validation file (tokenised by
the task's own tokenizer), add-one smoothed over the whole vocabulary, scored on exactly the
test tokens the task scores. A model that has learned nothing beyond word frequencies scores
about this perplexity.
"""
from __future__ import annotations

import math

import torch

from ..data import load_wikitext
from ..data.wikitext import detokenize


def unigram_baseline(task, data_dir=None) -> dict:
    """The baseline's perplexity on the task's scored tokens (module docstring)."""
    tokenizer = task.preprocess
    text = load_wikitext("valid", data_dir=data_dir).text
    text = detokenize(text) if task.protocol.get("detokenized") else text
    counts = torch.bincount(torch.tensor(tokenizer(text)["input_ids"]),
                            minlength=len(tokenizer)).double() + 1.0
    logp = (counts / counts.sum()).log()
    nll, scored = 0.0, 0
    for _, labels in task.evaluation:
        target = labels[:, 1:]
        target = target[target != -100]
        nll -= float(logp[target].sum())
        scored += target.numel()
    return {"perplexity": math.exp(nll / scored), "scored_tokens": scored,
            "fitted_on": "WikiText-2 validation file, add-one smoothing",
            "vocab": len(tokenizer)}
