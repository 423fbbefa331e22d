"""Stand-in models, trained here, one for each row of the paper's Tables 1-4.

No checkpoint of the paper's models (RoBERTa fine-tuned on SST-2, GPT-2 346M, ViT-B/16,
VGG-16, ResNet-34) can be downloaded here, so each row gets an honest stand-in of the same
family, trained deterministically for a seed by `load(name, seed)`, cached on disk
(`mbe.paths.model_dir()`, keyed and integrity-checked like the fit cache) and labelled as a
stand-in wherever it appears (`StandIn.stands_for` names the paper's row it stands for):

    minilm-sst2 / -sst5 / -mr / -subj   all-MiniLM-L6-v2 (real, pretrained) with a
                                        classification head, fine-tuned on the set
    roberta-sst2                        RobertaForSequenceClassification with MiniLM's
                                        pretrained encoder (architectures.roberta_from_minilm),
                                        fine-tuned on SST-2
    gpt2-wikitext                       a small GPT2LMHeadModel and a BPE trained here on the
                                        WikiText-2 validation file and public-domain text
    vit-fmnist, vgg-fmnist, resnet-fmnist   a small ViT and VGG-/ResNet-style CNNs trained on
                                        Fashion-MNIST

A cache key holds everything that decides the model: the stand-in's whole specification
(architecture, size, data set and split, recipe), the seed, a SHA-256 of the training data,
and the torch and transformers versions. `spec.updated(...)` makes tiny variants for tests.
"""
from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import asdict, dataclass, field, replace
from importlib.metadata import version

import torch
import torch.nn.functional as F
from torch import nn

from ..data import load_fashion_mnist, load_text, load_wikitext, tokens
from ..paths import digest, model_dir, read_entry, write_entry
from . import architectures
from .corpora import resolve
from .training import Recipe, bucketed_order, train

FORMAT_VERSION = 2  # 2: the initial weights are drawn from the seed
TASKS = ("text", "language", "image")


@dataclass(frozen=True)
class StandIn:
    """One stand-in: what it stands for, its architecture and size, its data and recipe."""

    name: str
    stands_for: str          # the paper's row, e.g. "RoBERTa-B (125M), SST-2"
    task: str                # "text", "language" or "image"
    dataset: str             # `mbe.data` name: sst2, sst5, mr, subj, wikitext2, fashion_mnist
    architecture: str        # minilm, roberta-minilm, bert, roberta, gpt2, vit, vgg, resnet
    size: dict = field(default_factory=dict)   # architecture hyper-parameters
    recipe: Recipe = Recipe()
    timesteps: int = 16      # the paper's T for this row (its CNN rows use 10)
    max_length: int = 64     # text: tokens per sentence; language: the context length
    split: dict = field(default_factory=dict)  # MR / Subj folds: {"folds", "fold", "seed"}
    subset: int | None = None  # train on the first `subset` examples only (tiny runs)
    paper_rows: dict = field(default_factory=dict)  # table -> the row or column it stands for

    def updated(self, **changes) -> "StandIn":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


_FOLDS = {"folds": 10, "fold": 0, "seed": 0}
_MINILM_RECIPE = Recipe(epochs=1, batch_size=32, lr=8e-5)


def _text(name, stands_for, dataset, architecture="minilm", epochs=1) -> StandIn:
    rows = {"table_2": dataset} | ({"table_4": "RoBERTa-B"} if dataset == "mr" else {})
    return StandIn(name, stands_for, "text", dataset, architecture,
                   recipe=replace(_MINILM_RECIPE, epochs=epochs),
                   split=_FOLDS if dataset in ("mr", "subj") else {}, paper_rows=rows)


STANDINS: dict[str, StandIn] = {s.name: s for s in (
    _text("minilm-sst2", "RoBERTa-B (125M), SST-2", "sst2"),
    _text("minilm-sst5", "RoBERTa-B (125M), SST-5", "sst5", epochs=2),
    _text("minilm-mr", "RoBERTa-B (125M), MR", "mr"),
    _text("minilm-subj", "RoBERTa-B (125M), Subj", "subj"),
    _text("roberta-sst2", "RoBERTa-B (125M), SST-2: the RoBERTa architecture", "sst2",
          architecture="roberta-minilm"),
    StandIn("gpt2-wikitext", "GPT-2 (346M), WikiText-2", "language", "wikitext2", "gpt2",
            size={"n_layer": 4, "n_embd": 256, "n_head": 4, "vocab_size": 8192},
            recipe=Recipe(epochs=6, batch_size=16, lr=1e-3, weight_decay=0.1, warmup=0.05),
            max_length=128, paper_rows={"table_3": "wikitext2", "table_4": "GPT-2"}),
    StandIn("vit-fmnist", "ViT-B/16 (86M), ImageNet", "image", "fashion_mnist", "vit",
            size={"patch_size": 4, "hidden_size": 96, "num_hidden_layers": 4,
                  "num_attention_heads": 4, "intermediate_size": 192},
            recipe=Recipe(epochs=12, batch_size=128, lr=2e-3, weight_decay=0.05, warmup=0.1),
            paper_rows={"table_1": "ViT-B/16", "table_4": "ViT-B/16"}),
    StandIn("vgg-fmnist", "VGG-16 (138M), ImageNet", "image", "fashion_mnist", "vgg",
            recipe=Recipe(epochs=4, batch_size=128, lr=3e-3, weight_decay=5e-4, warmup=0.05),
            timesteps=10, paper_rows={"table_1": "VGG16"}),
    StandIn("resnet-fmnist", "ResNet-34 (22M), ImageNet", "image", "fashion_mnist", "resnet",
            recipe=Recipe(epochs=4, batch_size=128, lr=3e-3, weight_decay=5e-4, warmup=0.05),
            timesteps=10, paper_rows={"table_1": "ResNet-34"}),
)}

#: Tiny sizes of each architecture, for tests and quick notebook runs (`tiny`).
_TINY_TEXT = {"vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 1,
              "num_attention_heads": 4, "intermediate_size": 64,
              "max_position_embeddings": 66, "pad_token_id": 0}
_TINY = {
    "text": lambda s: s.updated(architecture="roberta" if "roberta" in s.architecture
                                else "bert", size=_TINY_TEXT),
    "language": lambda s: s.updated(size={"n_layer": 1, "n_embd": 32, "n_head": 2,
                                          "vocab_size": 300}, max_length=32),
    "image": lambda s: s.updated(size={
        "vit": {"patch_size": 7, "hidden_size": 16, "num_hidden_layers": 1,
                "num_attention_heads": 2, "intermediate_size": 32},
        "vgg": {"stages": ((4, 1), (8, 1)), "hidden": 16},
        "resnet": {"stages": ((4, 1), (8, 1)), "stem": 4}}[s.architecture]),
}


def tiny(name_or_spec: str | StandIn, subset: int = 64) -> StandIn:
    """A tiny variant of a stand-in (random-initialised, a few dozen training examples, a
    few steps), for tests and quick notebook runs: same code path, seconds to train."""
    spec = spec_of(name_or_spec)
    return _TINY[spec.task](spec).updated(
        name=f"{spec.name}-tiny", subset=subset,
        recipe=replace(spec.recipe, epochs=1, batch_size=16, max_steps=4))


def spec_of(name_or_spec: str | StandIn) -> StandIn:
    if isinstance(name_or_spec, StandIn):
        return name_or_spec
    if name_or_spec not in STANDINS:
        raise ValueError(f"unknown stand-in {name_or_spec!r}: use one of {sorted(STANDINS)}")
    return STANDINS[name_or_spec]


# -- the trained model and what it needs to read its inputs ---------------------------------
@dataclass
class Trained:
    """A stand-in ready to evaluate: the model (eval mode), what prepares its inputs (a
    tokenizer, or the images' mean and std), and where it came from."""

    spec: StandIn
    model: nn.Module
    preprocess: object
    info: dict

    @property
    def kind(self) -> str:
        return "stand-in"


def load(name_or_spec: str | StandIn, seed: int = 0, *, data_dir=None, train_missing=True,
         log=print) -> Trained:
    """The stand-in for `seed`: from the model cache if there, else trained now and cached.
    With `train_missing=False` a missing entry is an error instead (nothing is trained)."""
    spec = spec_of(name_or_spec)
    train_data = _training_data(spec, data_dir)
    key = {"format": FORMAT_VERSION, "standin": spec.to_dict(), "seed": seed,
           "data": _fingerprint(train_data),
           "versions": {p: version(p) for p in ("torch", "transformers")}}
    blob = read_entry(model_dir(), key, "cached stand-in", "it will be retrained")
    if blob is not None:
        state = torch.load(io.BytesIO(blob), weights_only=True)
        model, preprocess = _build(spec, state["preprocess"])
        model.load_state_dict(state["weights"])
        info = state["info"] | {"trained_now": False}
    elif not train_missing:
        raise FileNotFoundError(f"stand-in {spec.name!r} (seed {seed}) is not in the model "
                                f"cache {model_dir()}: run with train_missing=True to train it")
    else:
        if log:
            log(f"training stand-in {spec.name} (seed {seed}): not in the model cache")
        model, preprocess, info = _train(spec, train_data, seed, log)
        buf = io.BytesIO()
        torch.save({"weights": model.state_dict(), "preprocess": preprocess, "info": info}, buf)
        write_entry(model_dir(), key, buf.getvalue())
        info = info | {"trained_now": True}
    info = info | {"cache_key": digest(key)}
    return Trained(spec, model.eval(), _preprocessor(spec, preprocess), info)


def _fingerprint(train_data) -> str:
    """SHA-256 of the training data: tensors by their bytes, everything else as JSON."""
    h = hashlib.sha256()
    items = sorted(train_data.items()) if isinstance(train_data, dict) else [("", train_data)]
    for name, value in items:
        h.update(name.encode())
        h.update(value.numpy().tobytes() if isinstance(value, torch.Tensor)
                 else json.dumps(value).encode())
    return h.hexdigest()


def _training_data(spec: StandIn, data_dir):
    """What the stand-in is trained on, as plain data (hashed into the cache key)."""
    if spec.task == "text":
        s = load_text(spec.dataset, "train", data_dir=data_dir, **spec.split)
        pick = _spread(len(s), spec.subset)
        return {"texts": [s.texts[i] for i in pick], "labels": [s.labels[i] for i in pick],
                "n_classes": len(s.classes)}
    if spec.task == "language":
        texts = language_corpus(data_dir)
        return [texts[i] for i in _spread(len(texts), spec.subset)]
    images = load_fashion_mnist("train", data_dir=data_dir)
    pick = torch.tensor(_spread(len(images), spec.subset))
    return {"images": images.images[pick], "labels": images.labels[pick]}


def _spread(n: int, subset: int | None) -> list[int]:
    """Every index, or `subset` evenly spaced ones (so a subset holds every class)."""
    if not subset or subset >= n:
        return list(range(n))
    return [i * n // subset for i in range(subset)]


# -- building ---------------------------------------------------------------------------------
def _build(spec: StandIn, preprocess):
    """The untrained model of `spec` (pretrained where its architecture starts from MiniLM)
    and the `preprocess` state it was trained with."""
    arch, size = spec.architecture, dict(spec.size)
    if spec.task == "text":
        from transformers import (BertConfig, BertForSequenceClassification, RobertaConfig,
                                  RobertaForSequenceClassification)
        n = preprocess["n_classes"]
        if arch in ("minilm", "roberta-minilm"):
            model = BertForSequenceClassification.from_pretrained(resolve("all-MiniLM-L6-v2"),
                                                                  num_labels=n)
            model = architectures.roberta_from_minilm(model) if arch == "roberta-minilm" \
                else model
        elif arch == "bert":
            model = BertForSequenceClassification(BertConfig(**size, num_labels=n))
        elif arch == "roberta":
            model = RobertaForSequenceClassification(RobertaConfig(**size, num_labels=n))
        else:
            raise ValueError(f"{spec.name}: no text architecture {arch!r}")
    elif spec.task == "language":
        from transformers import GPT2Config, GPT2LMHeadModel
        tokenizer = _bpe(preprocess["tokenizer"])
        model = GPT2LMHeadModel(GPT2Config(
            **{**size, "vocab_size": len(tokenizer)}, n_positions=spec.max_length,
            bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id))
    else:
        if arch == "vit":
            from transformers import ViTConfig, ViTForImageClassification
            model = ViTForImageClassification(ViTConfig(
                image_size=28, num_channels=1, num_labels=10, **size))
        elif arch in architectures.CNNS:
            model = architectures.CNNS[arch](in_channels=1, num_classes=10, **size)
        else:
            raise ValueError(f"{spec.name}: no image architecture {arch!r}")
    return model, preprocess


def _bpe(tokenizer_json: str):
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(tokenizer_json),
                                   eos_token=tokens.EOT, bos_token=tokens.EOT,
                                   unk_token=tokens.EOT, pad_token=tokens.EOT)


def text_tokenizer():
    """The tokenizer of every text stand-in: all-MiniLM-L6-v2's WordPiece."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve("all-MiniLM-L6-v2"))


@dataclass(frozen=True)
class ImageNorm:
    """Fashion-MNIST pixels (uint8) to model inputs: /255, minus mean, over std."""

    mean: float
    std: float

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float().div(255.0)
        x = x.unsqueeze(1) if x.ndim == 3 else x
        return (x - self.mean) / self.std


def _preprocessor(spec: StandIn, preprocess):
    if spec.task == "text":
        return text_tokenizer()
    if spec.task == "language":
        return _bpe(preprocess["tokenizer"])
    return ImageNorm(preprocess["mean"], preprocess["std"])


# -- training -------------------------------------------------------------------------------
def _train(spec: StandIn, train_data, seed: int, log):
    start = time.perf_counter()
    torch.manual_seed(seed)  # the initial weights (and a pretrained model's new head)
    if spec.task == "text":
        texts, labels = train_data["texts"], train_data["labels"]
        preprocess = {"n_classes": train_data["n_classes"]}
        model, _ = _build(spec, preprocess)
        tokenizer = text_tokenizer()
        lengths = [len(ids) for ids in tokenizer(texts)["input_ids"]]

        def epoch(generator):
            order = bucketed_order(lengths, spec.recipe.batch_size, generator)
            return [tokens.text_batches(tokenizer, texts, labels, batch_size=len(idx),
                                        max_length=spec.max_length, order=idx)[0]
                    for idx in order]

        history = train(model, epoch, lambda m, b: m(**b).loss, spec.recipe, seed, log)
    elif spec.task == "language":
        tokenizer = tokens.train_bpe(train_data, spec.size["vocab_size"])
        preprocess = {"tokenizer": tokenizer.backend_tokenizer.to_str()}
        model, _ = _build(spec, preprocess)
        ids = torch.tensor(tokenizer(f"\n{tokens.EOT}\n".join(train_data))["input_ids"])
        context = spec.max_length

        def epoch(generator):
            offset = int(torch.randint(context, (1,), generator=generator))
            blocks = ids[offset:offset + (len(ids) - offset) // context * context]
            blocks = blocks.view(-1, context)[torch.randperm(len(ids[offset:]) // context,
                                                             generator=generator)]
            return [{"input_ids": b, "labels": b}
                    for b in blocks.split(spec.recipe.batch_size)]

        history = train(model, epoch, lambda m, b: m(**b).loss, spec.recipe, seed, log)
        history["train_tokens"] = len(ids)
    else:
        images, labels = train_data["images"], train_data["labels"]
        x = images.float().div(255.0)
        preprocess = {"mean": float(x.mean()), "std": float(x.std())}
        model, _ = _build(spec, preprocess)
        norm = ImageNorm(**preprocess)

        def epoch(generator):
            perm = torch.randperm(len(labels), generator=generator)
            return [(perm[i:i + spec.recipe.batch_size])
                    for i in range(0, len(perm), spec.recipe.batch_size)]

        def loss_of(m, idx):
            logits = m(norm(images[idx]))
            logits = getattr(logits, "logits", logits)
            return F.cross_entropy(logits, labels[idx])

        history = train(model, epoch, loss_of, spec.recipe, seed, log)
    info = {"name": spec.name, "stands_for": spec.stands_for, "seed": seed,
            "n_parameters": sum(p.numel() for p in model.parameters()),
            "training": history, "train_seconds": time.perf_counter() - start}
    return model, preprocess, info


# -- the language stand-in's corpus ---------------------------------------------------------
def language_corpus(data_dir=None) -> list[str]:
    """The GPT-2 stand-in's training text: the WikiText-2 validation file (in the test
    file's domain; the training split is not available offline), one document per article,
    and the Python Language Reference topics that ship with Python (real English prose)."""
    valid = load_wikitext("valid", data_dir=data_dir).text
    articles = [a for a in valid.split("\n = ") if a.strip()]
    from pydoc_data.topics import topics

    return articles + [topics[k] for k in sorted(topics)]
