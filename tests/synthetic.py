"""Small synthetic data sets in the real formats, so that no test needs the real ones.

`write_data_dir(root)` lays out a data directory as `mbe.data` expects it:

    sentence-classification/  stsa.binary.{train,dev,test}, stsa.fine.{train,dev,test} (UTF-8,
                              "<label> <sentence>"), rt-polarity.{neg,pos} and
                              subj.{objective,subjective} (Latin-1, with NEL characters and
                              accented letters inside sentences)
    wikitext-2/               test.txt, valid.txt (word level, `<unk>`, ` @-@ ` marks)
    fashion-mnist/            the four idx files, gzip-compressed, 28 x 28 images whose
                              brightness pattern depends on the class

Sentences carry their class in their words ("good", "bad", ...), so a tiny model can learn.

`tiny_bert()` and `token_batches()`: a one-layer random-init BERT with every primitive family
(GELU, softmax's 2^x and 1/x, LayerNorm's 1/sqrt, identity encoders) and its token batches.
"""
from __future__ import annotations

import gzip
import random
import struct
from pathlib import Path

import torch

POSITIVE = ["good", "great", "fine", "lovely", "superb", "fun"]
NEGATIVE = ["bad", "awful", "dull", "poor", "weak", "boring"]
FILLER = ["the", "film", "was", "a", "story", "of", "actors", "and", "it", "plot", "café"]
NEL = "\x85"


def sentence(rng: random.Random, label: int, n_classes: int = 2) -> str:
    words = [rng.choice(FILLER) for _ in range(rng.randint(4, 9))]
    cue = POSITIVE if label >= n_classes / 2 else NEGATIVE
    for _ in range(1 + int(abs(label - (n_classes - 1) / 2))):
        words.insert(rng.randrange(len(words) + 1), rng.choice(cue))
    return " ".join(words) + " ."


SIZES = {"train": 96, "dev": 24, "test": 40}


def _labelled(path: Path, rng: random.Random, n: int, n_classes: int) -> None:
    lines = [f"{i % n_classes} {sentence(rng, i % n_classes, n_classes)}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _by_class(path: Path, rng: random.Random, n: int, label: int) -> None:
    lines = [sentence(rng, label) for _ in range(n)]
    lines[3] = lines[3].replace(" of ", f" of{NEL}", 1) if " of " in lines[3] else \
        lines[3] + f"{NEL}end"
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))


WIKI = (" = Robert <unk> = \n \n Robert <unk> is an English film , television and theatre "
        "actor . He had a guest @-@ starring role on the television series The Bill in 2000 "
        ". This was followed by a starring role in the play Herons , in 1 @,@ 001 seats . \n")


def _idx(path: Path, tensor: torch.Tensor, magic: int) -> None:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", s) for s in tensor.shape)
    path.write_bytes(gzip.compress(header + tensor.numpy().tobytes()))


def fashion(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` 28 x 28 uint8 images: class k lights row band k, plus noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    images = torch.randint(0, 60, (n, 28, 28), generator=g)
    for i, k in enumerate(labels.tolist()):
        images[i, 2 * k + 4:2 * k + 7] += 180
    return images.clamp(0, 255).to(torch.uint8), labels.to(torch.uint8)


def write_data_dir(root: Path) -> Path:
    rng = random.Random(0)
    text = root / "sentence-classification"
    text.mkdir(parents=True)
    for stem, k in (("stsa.binary", 2), ("stsa.fine", 5)):
        for split, n in SIZES.items():
            _labelled(text / f"{stem}.{split}", rng, n, k)
    for name, label in (("rt-polarity.neg", 0), ("rt-polarity.pos", 1),
                        ("subj.objective", 0), ("subj.subjective", 1)):
        _by_class(text / name, rng, 60, label)
    wiki = root / "wikitext-2"
    wiki.mkdir()
    (wiki / "test.txt").write_text(WIKI * 30, encoding="utf-8")
    (wiki / "valid.txt").write_text(WIKI.replace("Robert", "Simon") * 30, encoding="utf-8")
    fm = root / "fashion-mnist"
    fm.mkdir()
    for stem, n, seed in (("train", 300, 0), ("t10k", 100, 1)):
        images, labels = fashion(n, seed)
        _idx(fm / f"{stem}-images-idx3-ubyte.gz", images, 0x0803)
        _idx(fm / f"{stem}-labels-idx1-ubyte.gz", labels, 0x0801)
    return root


def tiny_bert():
    """A one-layer random-init BERT (hidden 16, two heads), in eval mode, seeded."""
    from transformers import BertConfig, BertModel
    torch.manual_seed(0)
    return BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                                num_attention_heads=2, intermediate_size=32,
                                max_position_embeddings=32), add_pooling_layer=False).eval()


def token_batches() -> list[dict]:
    """One batch of 3 x 10 token ids for `tiny_bert`, no padding."""
    ids = torch.randint(0, 50, (3, 10), generator=torch.Generator().manual_seed(0))
    return [{"input_ids": ids, "attention_mask": torch.ones_like(ids)}]
