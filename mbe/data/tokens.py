"""Text to model inputs: classification batches, language-model windows, a small BPE.

- `text_batches`: tokenised, padded batches (input_ids, attention_mask, labels) of a
  sentence set, in a given order (the evaluation sorts by length: less padding, same
  predictions, since padding is masked).
- `lm_windows`: the sliding-window protocol of a perplexity: windows of at most `context`
  tokens starting every `stride` tokens; each window scores only the tokens the previous
  window did not, so every token is predicted once, with at least `context - stride` tokens
  of context (except at the start).
- `train_bpe`: a byte-level BPE tokenizer trained on given text with `tokenizers`, as a
  transformers `PreTrainedTokenizerFast` (one end-of-text token, also used for padding).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


def text_batches(tokenizer, texts: list[str], labels: list[int] | None = None, *,
                 batch_size: int, max_length: int, order: list[int] | None = None
                 ) -> list[dict]:
    """Batches of `texts` (and `labels`) taken in `order` (default: as given), each padded
    to its longest sequence, sequences cut at `max_length` tokens."""
    order = list(range(len(texts))) if order is None else list(order)
    out = []
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        batch = dict(tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                               max_length=max_length, return_tensors="pt"))
        batch.pop("token_type_ids", None)
        if labels is not None:
            batch["labels"] = torch.tensor([labels[i] for i in idx])
        out.append(batch)
    return out


def by_length(tokenizer, texts: list[str], max_length: int) -> list[int]:
    """Indices of `texts` from the shortest to the longest tokenisation (stable)."""
    lengths = [min(len(ids), max_length) for ids in tokenizer(texts)["input_ids"]]
    return sorted(range(len(texts)), key=lambda i: lengths[i])


@dataclass(frozen=True)
class Window:
    """Tokens [begin, end) of a stream; the last `scored` of them are predicted here."""

    begin: int
    end: int
    scored: int


def lm_windows(n_tokens: int, context: int, stride: int) -> list[Window]:
    """The sliding windows over a stream of `n_tokens` (module docstring). The first token
    has no context and is never scored, so `n_tokens - 1` tokens are scored in all."""
    if not 1 <= stride <= context:
        raise ValueError(f"stride={stride!r} must be between 1 and context={context}")
    windows, scored_to = [], 1
    for begin in range(0, n_tokens - 1, stride):
        end = min(begin + context, n_tokens)
        if end > scored_to:
            windows.append(Window(begin, end, end - scored_to))
            scored_to = end
        if end == n_tokens:
            break
    return windows


def window_batches(ids: Tensor, windows: list[Window], batch_size: int) -> list[dict]:
    """Windows grouped into batches of equal length (input_ids, labels with -100 on the
    context-only tokens): the last, shorter windows form their own batches."""
    groups: dict[int, list[Window]] = {}
    for w in windows:
        groups.setdefault(w.end - w.begin, []).append(w)
    out = []
    for length, group in groups.items():
        for start in range(0, len(group), batch_size):
            chunk = group[start:start + batch_size]
            inputs = torch.stack([ids[w.begin:w.end] for w in chunk])
            labels = inputs.clone()
            for row, w in enumerate(chunk):
                labels[row, :length - w.scored] = -100
            out.append({"input_ids": inputs, "labels": labels})
    return out


EOT = "<|endoftext|>"


def train_bpe(texts: list[str], vocab_size: int):
    """A byte-level BPE tokenizer of `vocab_size` tokens trained on `texts` (module
    docstring); deterministic for the same texts."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOT],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    bpe.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=EOT, bos_token=EOT,
                                   unk_token=EOT, pad_token=EOT)
