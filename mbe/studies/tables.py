"""The rows of the paper's Tables 1-4 (and Fig. 6(b), appendix Table V): a model, its data,
a conversion configuration, and one JSON record.

A `Task` is a model with what evaluating it needs: calibration batches (from the training
split, or held out of the evaluation data where there is no training split), evaluation
batches with their labels, and the metric. Tasks come from stand-ins (`text_task`,
`language_task`, `image_task` given a `mbe.studies.standins.Trained`) or from a real
checkpoint (`checkpoint_task`: a Hugging Face id or local path, and a data set: a `mbe.data`
name, a `datasets` name, or an ImageNet-style image folder); both run the same code.

`row(task, config)` converts the model (`mbe.convert` with `config`, passed through unchanged;
stand-ins' converted models are cached, keyed by the stand-in, the configuration, the
calibration data and the package's source), evaluates it in the configuration's mode and
returns the record:

    model, stands_for, kind ("stand-in" or "real"), dataset, split, n_examples, timesteps,
    config (the whole ConversionConfig), configuration (its label), metric, ann, snn, delta
    (snn - ann), ann_seconds and snn_seconds (the same batches), convert_seconds, seconds
    (the row's total), protocol (how the metric was computed), output_error, cached

Accuracy is top-1 in percent; perplexity is exp(mean negative log-likelihood) over the scored
tokens, with the sliding windows of `mbe.data.tokens.lm_windows`.
"""
from __future__ import annotations

import hashlib
import io
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..conversion import ConversionConfig, Report, convert
from ..conversion.calibrate import fingerprint, first_tensor, run
from ..data import (TEXT_SOURCES, DataNotFound, load_fashion_mnist, load_image_folder,
                    load_text, load_wikitext, tokens)
from ..data.sources import public
from ..data.wikitext import detokenize
from ..paths import model_dir, read_entry, write_entry
from . import parallel, standins
from .standins import Trained

METRICS = ("accuracy", "perplexity")


@dataclass
class Task:
    """A model and its evaluation (module docstring). `evaluation` holds (inputs, labels)
    pairs for accuracy and window batches (input_ids, labels) for perplexity."""

    model: nn.Module
    name: str
    stands_for: str
    kind: str
    dataset: str
    split: str
    metric: str
    calibration: list
    evaluation: list
    n_examples: int
    protocol: dict = field(default_factory=dict)
    cache_key: str | None = None    # stand-ins: their model-cache key (converted models cached)
    paper_rows: dict = field(default_factory=dict)  # table -> the paper's row it stands for
    timesteps: int = 16             # the paper's T for this row (its CNN rows: 10)
    preprocess: object = None       # what turns the data into inputs (tokenizer, ...)
    ann: tuple[float, float] | None = None   # (value, seconds), once measured

    def ann_score(self) -> tuple[float, float]:
        """The ANN's metric and seconds (measured once, then kept)."""
        if self.ann is None:
            self.ann = score(self.model, self)
        return self.ann


class Batches:
    """A sequence of `n` batches made on access by `make(i)`: an image folder's 50,000
    images are read and preprocessed a batch at a time, never all at once."""

    def __init__(self, n: int, make):
        self.n, self.make = n, make

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return self.make(i)


# -- scoring ---------------------------------------------------------------------------------
def score(model: nn.Module, task: Task) -> tuple[float, float]:
    """(metric, seconds of the forwards) of `model` on the task's evaluation batches.

    Launched as several processes (`mbe.studies.parallel`), each evaluates its share of the
    batches on its own device, the model moved there; per-batch sums are gathered and added
    in batch order, so the metric equals the single process's. Seconds add up every
    process's forwards."""
    state = parallel.processes()
    if state is not None:
        model.to(state.device)
    done = []
    with torch.no_grad():
        for i in parallel.share(len(task.evaluation), state):
            inputs, labels = task.evaluation[i]
            start = time.perf_counter()
            logits = first_tensor(run(model, inputs))
            seconds = time.perf_counter() - start
            labels = labels.to(logits.device)
            if task.metric == "accuracy":
                done.append((i, (float((logits.argmax(-1) == labels).sum()), len(labels),
                                 seconds)))
            else:
                done.append((i, (*_nll(logits, labels), seconds)))
    total, count, seconds = 0.0, 0, 0.0
    for _, (batch_total, batch_count, batch_seconds) in parallel.gather(done, state):
        total += batch_total
        count += batch_count
        seconds += batch_seconds
    value = 100.0 * total / count if task.metric == "accuracy" else math.exp(total / count)
    return value, seconds


def _nll(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, int]:
    """Summed negative log-likelihood of the scored next tokens (labels != -100)."""
    logits, target = logits[:, :-1].double(), labels[:, 1:]
    keep = target != -100
    logp = F.log_softmax(logits[keep], -1)
    return float(-logp.gather(1, target[keep].unsqueeze(1)).sum()), int(keep.sum())


# -- tasks from stand-ins --------------------------------------------------------------------
def eval_text_batches(tokenizer, texts, labels, batch_size, max_length):
    """Evaluation batches sorted by length (less padding; padding is masked, so the
    predictions do not depend on the order)."""
    order = tokens.by_length(tokenizer, texts, max_length)
    batches = tokens.text_batches(tokenizer, texts, labels, batch_size=batch_size,
                                  max_length=max_length, order=order)
    return [({k: v for k, v in b.items() if k != "labels"}, b["labels"]) for b in batches]


def calibration_texts(tokenizer, texts, n, batch_size, max_length, seed):
    """`n` texts drawn with `seed`, as model inputs (no labels)."""
    picked = random.Random(seed).sample(texts, min(n, len(texts)))
    return [inputs for inputs, _ in eval_text_batches(tokenizer, picked, [0] * len(picked),
                                                  batch_size, max_length)]


def text_task(trained: Trained, *, data_dir=None, n_calibration: int = 64,
              batch_size: int = 64, max_examples: int | None = None, seed: int = 0) -> Task:
    """A text stand-in on its data set's test split; calibration from its training split."""
    spec = trained.spec
    test = load_text(spec.dataset, "test", data_dir=data_dir, **spec.split)
    train = load_text(spec.dataset, "train", data_dir=data_dir, **spec.split)
    texts, labels = _first(test.texts, max_examples), _first(test.labels, max_examples)
    tok = trained.preprocess
    return Task(trained.model, spec.name, spec.stands_for, "stand-in", spec.dataset, "test",
                "accuracy",
                calibration_texts(tok, train.texts, n_calibration, 32, spec.max_length, seed),
                eval_text_batches(tok, texts, labels, batch_size, spec.max_length), len(texts),
                {"max_length": spec.max_length, "split_rule": test.split_rule,
                 "calibration": f"{n_calibration} training sentences (seed {seed})"},
                trained.info["cache_key"])


def _first(items, n):
    return items if n is None else items[:n]


def language_task(trained: Trained, *, data_dir=None, stride: int | None = None,
                  batch_size: int = 16, max_examples: int | None = None,
                  n_calibration: int = 8, seed: int = 0) -> Task:
    """The language stand-in on the WikiText-2 test file (its first `max_examples` tokens,
    default all), scored in windows of its context length every `stride` tokens (default:
    the context length, non-overlapping windows); calibration on `n_calibration` windows
    drawn with `seed` from the validation file (its training text)."""
    spec = trained.spec
    context = spec.max_length
    return _language(trained.model, trained.preprocess, spec.name, spec.stands_for,
                     "stand-in", data_dir, context, stride or context, batch_size,
                     max_examples, n_calibration, False, seed, trained.info["cache_key"])


def _language(model, tokenizer, name, stands_for, kind, data_dir, context, stride, batch_size,
              max_tokens, n_calibration, raw, seed, cache_key) -> Task:
    test = load_wikitext("test", data_dir=data_dir).text
    valid = load_wikitext("valid", data_dir=data_dir).text
    if raw:
        test, valid = detokenize(test), detokenize(valid)
    ids = torch.tensor(tokenizer(test)["input_ids"])
    ids = ids[:max_tokens] if max_tokens else ids
    windows = tokens.lm_windows(len(ids), context, stride)
    batches = tokens.window_batches(ids, windows, batch_size)
    valid_ids = torch.tensor(tokenizer(valid)["input_ids"])
    blocks = valid_ids[:len(valid_ids) // context * context].view(-1, context)
    pick = torch.randperm(len(blocks), generator=torch.Generator().manual_seed(seed))
    calibration = [{"input_ids": blocks[pick[:n_calibration]]}]
    scored = sum(w.scored for w in windows)
    return Task(model, name, stands_for, kind, "wikitext2", "test", "perplexity", calibration,
                [({"input_ids": b["input_ids"]}, b["labels"]) for b in batches],
                scored, {"tokenizer": type(tokenizer).__name__, "vocab": len(tokenizer),
                         "context": context, "stride": stride, "scored_tokens": scored,
                         "words": None if max_tokens else len(test.split()),
                         "detokenized": raw,
                         "calibration": f"{n_calibration} windows of the validation file "
                                        f"(seed {seed})"},
                cache_key, preprocess=tokenizer)


def image_task(trained: Trained, *, data_dir=None, n_calibration: int = 256,
               batch_size: int = 250, max_examples: int | None = None, seed: int = 0) -> Task:
    """An image stand-in on the Fashion-MNIST test split; calibration from the training
    split."""
    spec = trained.spec
    norm = trained.preprocess
    test = load_fashion_mnist("test", data_dir=data_dir)
    train = load_fashion_mnist("train", data_dir=data_dir)
    n = len(test) if max_examples is None else min(max_examples, len(test))
    hf = hasattr(trained.model, "config")
    wrap = (lambda x: {"pixel_values": x}) if hf else (lambda x: x)
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    cal = norm(train.images[pick[:n_calibration]])
    evaluation = [(wrap(norm(test.images[i:i + batch_size])), test.labels[i:i + batch_size])
                  for i in range(0, n, batch_size)]
    return Task(trained.model, spec.name, spec.stands_for, "stand-in", "fashion_mnist", "test",
                "accuracy", [wrap(c) for c in cal.split(64)], evaluation, n,
                {"normalisation": {"mean": norm.mean, "std": norm.std},
                 "calibration": f"{n_calibration} training images (seed {seed})"},
                trained.info["cache_key"])


# -- tasks from real checkpoints -------------------------------------------------------------
def checkpoint_task(model: str, dataset: str, *, stands_for: str = "", data_dir=None,
                    n_calibration: int = 64, batch_size: int = 32,
                    max_examples: int | None = None, max_length: int = 128,
                    stride: int | None = None, raw_text: bool = False, seed: int = 0) -> Task:
    """A real checkpoint (Hugging Face id or local path) on a data set: a `mbe.data` text set
    ("sst2", "sst5", "mr", "subj"), "wikitext2", "fashion_mnist", a `datasets` name with
    text and label columns, or an ImageNet-style image folder. The model's class decides the
    task: a causal LM is scored by perplexity, a sequence or image classifier by accuracy."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model)
    architecture = (config.architectures or [""])[0]
    label = stands_for or model
    if "CausalLM" in architecture or "LMHead" in architecture:
        from transformers import AutoModelForCausalLM, AutoTokenizer
        lm = AutoModelForCausalLM.from_pretrained(model).eval()
        tokenizer = AutoTokenizer.from_pretrained(model)
        context = min(max_length, getattr(lm.config, "n_positions", max_length))
        return _language(lm, tokenizer, model, label, "real", data_dir, context,
                         stride or context, batch_size, max_examples, 8, raw_text, seed, None)
    if "ImageClassification" in architecture:
        return _image_checkpoint(model, dataset, label, data_dir, n_calibration, batch_size,
                                 max_examples, seed)
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    classifier = AutoModelForSequenceClassification.from_pretrained(model).eval()
    tokenizer = AutoTokenizer.from_pretrained(model)
    train, test = _text_splits(dataset, data_dir)
    texts, labels = _first(test[0], max_examples), _first(test[1], max_examples)
    return Task(classifier, model, label, "real", dataset, "test", "accuracy",
                calibration_texts(tokenizer, train[0], n_calibration, 32, max_length, seed),
                eval_text_batches(tokenizer, texts, labels, batch_size, max_length), len(texts),
                {"max_length": max_length, "labels": "the checkpoint's class ids are taken "
                 "as the data set's label ids"})


def _text_splits(dataset: str, data_dir):
    """((train texts, labels), (test texts, labels)) of a `mbe.data` set or a `datasets`
    name (columns "text" or "sentence", and "label"; test: "test", else "validation")."""
    if dataset in TEXT_SOURCES:
        train, test = (load_text(dataset, s, data_dir=data_dir) for s in ("train", "test"))
        return (train.texts, train.labels), (test.texts, test.labels)
    loaded = public(dataset, missing=lambda why: DataNotFound(
        f"text data set {dataset!r} is not one of mbe.data's ({sorted(TEXT_SOURCES)}) and "
        f"could not be loaded as a Hugging Face `datasets` name: {why}"))
    test_split = "test" if "test" in loaded else "validation"
    out = []
    for split in ("train", test_split):
        rows = loaded[split]
        column = "text" if "text" in rows.column_names else "sentence"
        out.append((list(rows[column]), [int(y) for y in rows["label"]]))
    if min(out[1][1]) < 0:
        raise ValueError(f"{dataset}: the {test_split} split has no labels (label -1): "
                         "give a data set whose evaluation split is labelled")
    return tuple(out)


def _image_checkpoint(model, dataset, label, data_dir, n_calibration, batch_size, max_examples,
                      seed) -> Task:
    """An image classifier on an image folder (calibration: `n_calibration` images drawn
    with `seed` and held out of the evaluation) or on Fashion-MNIST."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    classifier = AutoModelForImageClassification.from_pretrained(model).eval()
    processor = AutoImageProcessor.from_pretrained(model)

    def pixels(images):
        return {"pixel_values": processor(images=images, return_tensors="pt")["pixel_values"]}

    if dataset == "fashion_mnist":
        test = load_fashion_mnist("test", data_dir=data_dir)
        images = [_grey_to_rgb(im) for im in test.images]
        labels = test.labels.tolist()
        cal_images = [_grey_to_rgb(im) for im in load_fashion_mnist(
            "train", data_dir=data_dir).images[:n_calibration]]
        held = list(range(len(images)))
    else:
        folder = load_image_folder(Path(dataset))
        order = list(range(len(folder)))
        random.Random(seed).shuffle(order)
        cal_images = [folder.image(i) for i in order[:n_calibration]]
        held = sorted(order[n_calibration:])
        images, labels = folder, folder.labels
    held = _first(held, max_examples)
    read = (lambda i: images[i]) if isinstance(images, list) else images.image
    evaluation = Batches(len(range(0, len(held), batch_size)), lambda b: (
        pixels([read(i) for i in held[b * batch_size:(b + 1) * batch_size]]),
        torch.tensor([labels[i] for i in held[b * batch_size:(b + 1) * batch_size]])))
    calibration = [pixels(cal_images[s:s + batch_size])
                   for s in range(0, len(cal_images), batch_size)]
    return Task(classifier, model, label, "real", str(dataset), "test", "accuracy",
                calibration, evaluation, len(held),
                {"preprocessing": type(processor).__name__,
                 "calibration": f"{n_calibration} images (seed {seed}), held out"})


def _grey_to_rgb(image: torch.Tensor):
    from PIL import Image

    return Image.fromarray(image.numpy()).convert("RGB")


# -- conversion, cached ----------------------------------------------------------------------
def _source_digest() -> str:
    """SHA-256 of the package's source (Python and C): a converted model pickles the
    package's objects, so a cached one is valid only for the code that built it."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parents[1]
    for path in sorted(root.rglob("*")):
        if path.suffix in (".py", ".c", ".h", ".json"):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def converted(task: Task, config: ConversionConfig) -> tuple[nn.Module, Report, float, bool]:
    """(spiking model, report, seconds, whether it came from the cache) of the task's model
    under `config`. Stand-ins' converted models are cached in the model cache."""
    key = None
    if task.cache_key is not None:
        key = {"format": 1, "standin": task.cache_key, "config": config.to_dict(),
               "calibration": fingerprint(task.calibration)["sha256"],
               "source": _source_digest()}
        blob = read_entry(model_dir(), key, "cached converted model", "it will be converted "
                          "again")
        if blob is not None:
            start = time.perf_counter()
            snn, report = torch.load(io.BytesIO(blob), weights_only=False)
            return snn, Report.from_dict(report), time.perf_counter() - start, True
    start = time.perf_counter()
    snn, report = convert(task.model, task.calibration, config=config)
    seconds = time.perf_counter() - start
    if key is not None:
        buf = io.BytesIO()
        torch.save((snn, report.to_dict()), buf)
        write_entry(model_dir(), key, buf.getvalue())
    return snn, report, seconds, False


def row(task: Task, config: ConversionConfig, configuration: str = "default",
        table: str | None = None) -> dict:
    """Convert, evaluate, compare: one record (module docstring). `table` ("table_1", ...)
    picks the paper's row the record is compared with (`paper_row`)."""
    ann, ann_seconds = task.ann_score()
    snn_model, report, convert_seconds, cached = converted(task, config)
    snn, snn_seconds = score(snn_model, task)
    return {"model": task.name, "stands_for": task.stands_for, "kind": task.kind,
            "dataset": task.dataset, "split": task.split, "n_examples": task.n_examples,
            "timesteps": config.timesteps, "config": config.to_dict(),
            "configuration": configuration, "metric": task.metric, "ann": ann, "snn": snn,
            "delta": snn - ann, "ann_seconds": ann_seconds, "snn_seconds": snn_seconds,
            "convert_seconds": convert_seconds, "cached": cached,
            "seconds": convert_seconds + snn_seconds, "protocol": task.protocol,
            "output_error": report.output_error,
            "paper_row": task.paper_rows.get(table) if table else None}


# -- what a table notebook runs --------------------------------------------------------------
CONFIGURATIONS = ("default", "paper", "fs")


def configuration(label: str, timesteps: int, base: ConversionConfig | None = None
                  ) -> ConversionConfig:
    """The configuration a row is converted with: "default" (the project's, `base` or
    `ConversionConfig()`), "paper" (`ConversionConfig.paper()`: GELU N = 4, the paper's
    recipe) or "fs" (Few-Spikes neurons in place of MBE: appendix Table V), at `timesteps`."""
    if label == "default":
        return (base or ConversionConfig()).updated(timesteps=timesteps)
    if label == "paper":
        return ConversionConfig.paper(timesteps=timesteps)
    if label == "fs":
        return ConversionConfig(timesteps=timesteps, neuron="fs")
    raise ValueError(f"configuration {label!r}: use one of {CONFIGURATIONS}")


_BUILDERS = {"text": text_task, "language": language_task, "image": image_task}


def standin_task(name: str, *, quick: bool = False, seed: int = 0, data_dir=None, log=print,
                 fold: int | None = None, **options) -> Task:
    """The task of a stand-in (its tiny variant with `quick`), trained or from the cache;
    `fold` picks another test fold of a set without an official split (MR, Subj: one
    stand-in per fold, named with its fold; the stand-in's own fold, 0, is the stand-in
    itself, trained once for every notebook); `options` go to its task builder
    (`max_examples`, `batch_size`)."""
    spec = standins.tiny(name) if quick else standins.spec_of(name)
    if fold is not None and spec.split and fold != spec.split["fold"]:
        # another fold is another model; the stand-in's own fold is the stand-in itself
        spec = spec.updated(name=f"{spec.name}-fold{fold}", split={**spec.split, "fold": fold})
    trained = standins.load(spec, seed, data_dir=data_dir, log=log)
    task = _BUILDERS[spec.task](trained, data_dir=data_dir, **options)
    task.paper_rows, task.timesteps = dict(spec.paper_rows), spec.timesteps
    task.protocol["training"] = {k: trained.info[k] for k in ("n_parameters", "train_seconds",
                                                             "trained_now")}
    return task


def check_parameters(standin_names, checkpoint: str, timesteps_list, configurations,
                     max_examples, n_calibration: int, batch_size: int,
                     task: str | None, folds=(0,)) -> None:
    """Fail early, naming the parameter and the fix, before any model is loaded or trained."""
    if not folds or any(not isinstance(f, int) or not 0 <= f < 10 for f in folds):
        raise ValueError(f"folds={folds!r}: give test folds from 0 to 9 (of 10), e.g. [0]")
    known = [n for n, s in standins.STANDINS.items() if task is None or s.task == task]
    unknown = [n for n in standin_names if n not in known]
    if unknown or not isinstance(standin_names, (list, tuple)):
        raise ValueError(f"standins={standin_names!r}: choose from {known}")
    if not isinstance(checkpoint, str):
        raise ValueError(f"checkpoint={checkpoint!r}: give a Hugging Face id or a local path, "
                         "or '' for the stand-ins")
    if not standin_names and not checkpoint:
        raise ValueError("standins=[] and checkpoint='': nothing to evaluate; name stand-ins "
                         "or a checkpoint")
    if not timesteps_list or any(t is not None and (not isinstance(t, int) or not 1 <= t <= 32)
                                 for t in timesteps_list):
        raise ValueError(f"timesteps={timesteps_list!r}: give integers from 1 to 32 (None: "
                         "each row's T in the paper)")
    bad = [c for c in configurations if c not in CONFIGURATIONS]
    if bad or not configurations:
        raise ValueError(f"configurations={configurations!r}: choose from {CONFIGURATIONS}")
    if max_examples is not None and (not isinstance(max_examples, int) or max_examples < 1):
        raise ValueError(f"max_examples={max_examples!r}: give a positive integer, or None "
                         "for the whole test split")
    for name, value in (("n_calibration", n_calibration), ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r}: give a positive integer")


def tasks(standin_names, *, table: str, checkpoint: str = "", dataset: str = "",
          paper_row: str | None = None, timesteps: int = 16, quick: bool = False,
          seed: int = 0, data_dir=None, checkpoint_options: dict | None = None,
          folds: list[int] | None = None, **options) -> list[Task]:
    """The tasks of a table notebook: the real `checkpoint` on `dataset` when one is given
    (compared with the paper's `paper_row` of `table`, at `timesteps`), else the stand-ins
    (their tiny variants with `quick`), those of sets without an official split once per
    test fold in `folds` (default: their own, fold 0). `options` go to every task builder;
    `checkpoint_options` to `checkpoint_task` only."""
    if checkpoint:
        task = checkpoint_task(checkpoint, dataset, data_dir=data_dir, seed=seed,
                               stands_for=paper_row or checkpoint,
                               **{**options, **(checkpoint_options or {})})
        task.paper_rows, task.timesteps = {table: paper_row}, timesteps
        return [task]
    return [standin_task(name, quick=quick, seed=seed, data_dir=data_dir, fold=fold, **options)
            for name in standin_names
            for fold in (folds if folds and standins.spec_of(name).split else [None])]


def rows(task_list: list[Task], configurations, table: str, timesteps: int | None = None,
         base: ConversionConfig | None = None, log=print) -> list[dict]:
    """Every task under every configuration (`configuration`; "default" is `base`), at
    `timesteps` (default: each task's own T)."""
    out = []
    for task in task_list:
        for label in configurations:
            config = configuration(label, timesteps or task.timesteps, base)
            rec = row(task, config, label, table)
            if log:
                log(f"{rec['model']} T={rec['timesteps']} {label}: ANN {rec['ann']:.2f}, "
                    f"SNN {rec['snn']:.2f} ({rec['seconds']:.0f} s)")
            out.append(rec)
    return out
