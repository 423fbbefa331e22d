"""WikiText-2 (Merity et al. 2016), the word-level release with `<unk>`: the paper's Table 3.

Files: `wikitext-2/test.txt` and `valid.txt` (the names of the pytorch/examples copy), or the
release's own `wiki.test.tokens` and `wiki.valid.tokens`; `train.txt` / `wiki.train.tokens`
where present. The text is returned as it is in the file (UTF-8): tokenised, one paragraph or
heading a line, hyphens and number separators written ` @-@ `, ` @,@ `, ` @.@ `.
`detokenize` undoes those marks for a tokenizer that expects raw text.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import sources
from .sources import Source

SPLITS = ("train", "valid", "test")
_RELEASE = {"train": "wiki.train.tokens", "valid": "wiki.valid.tokens",
            "test": "wiki.test.tokens"}
_HUB_SPLIT = {"train": "train", "valid": "validation", "test": "test"}


def _source(split: str, file: str) -> Source:
    return Source("wikitext2", f"WikiText-2 ({split})", "wikitext-2", (file,),
                  "Salesforce/wikitext", "wikitext-2-v1",
                  obtain="the word-level WikiText-2 v1 release (wikitext-2-v1.zip, or the "
                  "folder word_language_model/data/wikitext-2 of the public repository "
                  "pytorch/examples)")


@dataclass
class WikiText:
    """One split of WikiText-2 as text."""

    split: str
    text: str
    source: str

    @property
    def n_words(self) -> int:
        return len(self.text.split())

    def describe(self) -> dict:
        words = self.text.split()
        return {"dataset": "wikitext2", "split": self.split, "n_words": len(words),
                "n_unk": words.count("<unk>"), "source": self.source}


def load_wikitext(split: str = "test", *, data_dir: str | Path | None = None) -> WikiText:
    """The `split` ("train", "valid" or "test") of the word-level WikiText-2."""
    if split not in SPLITS:
        raise ValueError(f"WikiText-2 has the splits {list(SPLITS)}, not {split!r}")
    names = ("train.txt" if split == "train" else f"{split}.txt", _RELEASE[split])
    for name in names:
        folder = sources.find(_source(split, name), data_dir)
        if folder is not None:
            path = folder / name
            return WikiText(split, path.read_text(encoding="utf-8"), str(path))
    source = _source(split, " or ".join(names))
    rows = sources.hub(source, data_dir)[_HUB_SPLIT[split]]["text"]
    return WikiText(split, "".join(rows), f"{source.hub} ({source.hub_config})")


_MARKS = {" @-@ ": "-", " @,@ ": ",", " @.@ ": "."}


def detokenize(text: str) -> str:
    """The WikiText marks ` @-@ `, ` @,@ `, ` @.@ ` written as `-`, `,`, `.` again."""
    for mark, plain in _MARKS.items():
        text = text.replace(mark, plain)
    return text
