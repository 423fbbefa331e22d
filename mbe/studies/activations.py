"""Real inputs for the operators: what the pretrained all-MiniLM-L6-v2 feeds its nonlinearities.

`capture(n)` runs the model (`mbe.studies.corpora.load_encoder`) on n real English sentences
(`corpora.docstring_sentences`) and records, through forward hooks (the model is not
modified):

- the inputs of every FFN GELU (tokens that are not padding),
- the inputs of every LayerNorm with its weight, bias and eps (non-padding tokens),
- per attention layer: Q, K, V (batch, heads, tokens, 64), the attention scores
  Q K^T / sqrt(64) that enter the softmax, the additive attention mask, and the softmax output.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from .corpora import docstring_sentences, load_encoder

@dataclass
class LayerNormSite:
    name: str
    inputs: Tensor  # (tokens, 384), padding removed
    module: torch.nn.LayerNorm


@dataclass
class AttentionSite:
    layer: int
    q: Tensor       # (batch, heads, L, head_dim)
    k: Tensor
    v: Tensor
    scores: Tensor  # Q K^T * scaling, before the mask: (batch, heads, L, L)
    mask: Tensor    # additive, broadcastable to scores
    probs: Tensor   # the model's softmax output


@dataclass
class Activations:
    sentences: list[str]
    token_mask: Tensor                       # (batch, L) bool, True = real token
    gelu: Tensor                             # 1-D: every FFN GELU input on a real token
    layernorm: list[LayerNormSite] = field(default_factory=list)
    attention: list[AttentionSite] = field(default_factory=list)

    def summary(self) -> dict:
        return {"sentences": len(self.sentences), "tokens": int(self.token_mask.sum()),
                "gelu_inputs": self.gelu.numel(),
                "layernorm_sites": len(self.layernorm), "attention_layers": len(self.attention),
                "gelu_range": [float(self.gelu.min()), float(self.gelu.max())]}


def _heads(x: Tensor, head_dim: int) -> Tensor:
    b, length, _ = x.shape
    return x.view(b, length, -1, head_dim).transpose(1, 2)


def capture(n_sentences: int = 64, max_length: int = 128, model=None, tokenizer=None
            ) -> Activations:
    """Run MiniLM on `docstring_sentences(n_sentences)` (one padded batch) and record the
    operators' inputs (see the module docstring)."""
    if model is None:
        tokenizer, model = load_encoder(attn_implementation="eager")
    text = docstring_sentences(n_sentences)
    batch = tokenizer(text, padding=True, truncation=True, max_length=max_length,
                      return_tensors="pt")
    keep = batch["attention_mask"].bool()
    store: dict[str, list] = {"gelu": [], "ln": [], "attn": []}
    hooks = []

    def on_gelu(_m, args):
        store["gelu"].append(args[0][keep].reshape(-1))

    def on_ln(name):
        def hook(m, args):
            store["ln"].append(LayerNormSite(name, args[0][keep].clone(), m))
        return hook

    for name, m in model.named_modules():
        if name.endswith("intermediate_act_fn"):
            hooks.append(m.register_forward_pre_hook(on_gelu))
        elif isinstance(m, torch.nn.LayerNorm):
            hooks.append(m.register_forward_pre_hook(on_ln(name)))
        elif name.endswith("attention.self"):
            hooks += _attention_hooks(m, store["attn"])
    try:
        with torch.no_grad():
            model(**batch)
    finally:
        for h in hooks:
            h.remove()
    return Activations(text, keep, torch.cat(store["gelu"]), store["ln"], store["attn"])


def _attention_hooks(attn, sites: list) -> list:
    """Hooks recording Q, K, V (projection outputs), the mask and the softmax output."""
    got: dict[str, Tensor] = {}
    d = attn.attention_head_size

    def proj(name):
        def hook(_m, _args, out):
            got[name] = _heads(out, d)
        return hook

    def pre(_m, _args, kwargs):
        got["mask"] = kwargs.get("attention_mask")

    def post(_m, _args, out):
        q, k = got["q"], got["k"]
        mask = got["mask"]
        if mask is None:
            mask = torch.zeros(())
        elif mask.dtype == torch.bool:
            mask = torch.zeros(mask.shape).masked_fill(~mask, torch.finfo(q.dtype).min)
        scores = torch.matmul(q, k.transpose(2, 3)) * attn.scaling
        sites.append(AttentionSite(len(sites), q, k, got["v"], scores, mask, out[1]))

    return [attn.query.register_forward_hook(proj("q")), attn.key.register_forward_hook(proj("k")),
            attn.value.register_forward_hook(proj("v")),
            attn.register_forward_pre_hook(pre, with_kwargs=True), attn.register_forward_hook(post)]
