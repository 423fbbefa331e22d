"""The steps of the teaching tour (notebooks/00_tour.ipynb), each returning data to plot.

1-3. The Few-Spikes neuron (Eqs. 1-3) and its two failure modes, EDI and GSO, beside one MBE
     neuron (`mbe.studies.neuron.edi`, `gso`: every fit through `mbe.fit`, cached);
4-6. that MBE neuron's kernels, bases and time steps (`mbe.viz`);
7.   a converted Transformer block: the first block of the real all-MiniLM-L6-v2, converted
     by `mbe.convert` and compared with the ANN block on real sentences.
"""
from __future__ import annotations

import copy
import time

from ..core import analysis, targets
from ..ops import MODES
from . import corpora, embeddings
from . import neuron as neuron_study


def check_parameters(timesteps, n_basis, samples, epochs, points, conversion_mode,
                     n_sentences, max_length) -> None:
    """The tour's parameters, checked before anything runs (clear errors naming the fix)."""
    for name, value, lo, hi in (("timesteps", timesteps, 2, 32), ("n_basis", n_basis, 1, 16),
                                ("samples", samples, 100, 1_000_000),
                                ("points", points, 1_000, 10_000_000),
                                ("n_sentences", n_sentences, 1, 1_000),
                                ("max_length", max_length, 8, 512)):
        if not isinstance(value, int) or not lo <= value <= hi:
            raise ValueError(f"{name}={value!r}: give an integer from {lo} to {hi}")
    if epochs is not None and (not isinstance(epochs, int) or epochs < 1):
        raise ValueError(f"epochs={epochs!r}: give a positive integer, or None for the recipe")
    if conversion_mode not in MODES:
        raise ValueError(f"conversion_mode={conversion_mode!r}: use one of {MODES}")


def neurons(timesteps: int, n_basis: int, seed: int, points: int, **fit_options) -> dict:
    """Steps 1-3: EDI (FS on ReLU, random vs binary init) and GSO (FS vs MBE on GELU)."""
    edi_records, edi = neuron_study.edi(timesteps=timesteps, seed=seed, points=points,
                                        **fit_options)
    gso_records, gso = neuron_study.gso(n_basis=n_basis, timesteps=timesteps, seed=seed,
                                        points=points, **fit_options)
    return {"records": edi_records + gso_records, "edi": edi, "fs": gso["fs"],
            "mbe": gso["mbe"]}


def step_errors(neuron, target, x) -> list[float]:
    """Step 6: MSE of the partial reconstruction after t = 1..T steps."""
    y = targets.evaluate(target, x)
    partial = analysis.partial_outputs(neuron, x)[1:]
    return ((partial - y) ** 2).mean(1).tolist()


def first_block(model):
    """A copy of a BERT-style encoder keeping only its first Transformer block."""
    block = copy.deepcopy(model)
    block.encoder.layer = block.encoder.layer[:1]
    block.config.num_hidden_layers = 1
    return block


def converted_block(timesteps: int, mode: str, n_sentences: int, max_length: int,
                    seed: int = 0):
    """Step 7: all-MiniLM-L6-v2's first block converted; (record, converted model, report).

    Calibration and evaluation use disjoint real sentences (n_sentences each); the record
    holds the cosine similarity of each sentence's ANN and SNN embedding (mean-pooled block
    outputs) and the seconds each part took.
    """
    start = time.perf_counter()
    tokenizer, model = corpora.load_encoder()
    ann = first_block(model)
    sentences = corpora.real_sentences(2 * n_sentences, seed=seed)
    calibration, evaluation = (embeddings.batches(tokenizer, part, n_sentences, max_length)
                               for part in (sentences[:n_sentences], sentences[n_sentences:]))
    record, snn, report = embeddings.compare(ann, calibration, evaluation,
                                             model_name="all-MiniLM-L6-v2, block 0",
                                             timesteps=timesteps, mode=mode)
    record["total_seconds"] = time.perf_counter() - start
    return record, snn, report
