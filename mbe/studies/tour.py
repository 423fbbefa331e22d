"""The steps of the teaching tour (notebooks/00_tour.ipynb), each returning data to plot, and
the sentences that print each step's numbers beside its claim.

1-3. The Few-Spikes neuron (Eqs. 1-3) and its two failure modes, EDI and GSO, beside one MBE
     neuron (`mbe.studies.neuron.edi`, `gso`: every fit through `mbe.fit`, cached);
4-7. that MBE neuron's kernels, spikes, bases and time steps (`mbe.viz`), and a second MBE
     neuron fitted for half the time steps, to set against the first one stopped early;
8.   a converted Transformer block: the first block of the real all-MiniLM-L6-v2, converted
     by `mbe.convert` and compared with the ANN block on real sentences.
"""
from __future__ import annotations

import copy
import time

from ..core import analysis, targets
from ..core.fitting import fit
from ..ops import MODES
from . import corpora, embeddings
from . import neuron as neuron_study


def check_parameters(timesteps, n_basis, samples, epochs, points, conversion_mode,
                     n_sentences, max_length, activation_basis) -> None:
    """The tour's parameters, checked before anything runs (clear errors naming the fix)."""
    for name, value, lo, hi in (("timesteps", timesteps, 2, 32), ("n_basis", n_basis, 1, 16),
                                ("activation_basis", activation_basis, 1, 16),
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
    """Steps 1-3 and 7: EDI (FS on ReLU, random vs binary init), GSO (FS vs MBE on GELU), and
    the MBE GELU neuron fitted again for timesteps // 2 steps ("short"). Fits not yet in the
    cache show a progress bar."""
    edi_records, edi = neuron_study.edi(timesteps=timesteps, seed=seed, points=points,
                                        progress=True, **fit_options)
    gso_records, gso = neuron_study.gso(n_basis=n_basis, timesteps=timesteps, seed=seed,
                                        points=points, progress=True, **fit_options)
    short = fit("gelu", gso["mbe"].domain, n_basis, timesteps // 2, seed=seed, **fit_options)
    return {"records": edi_records + gso_records, "edi": edi, "fs": gso["fs"],
            "mbe": gso["mbe"], "short": short}


def step_errors(neuron, target, x) -> list[float]:
    """Step 7: MSE of the partial reconstruction after t = 1..T steps."""
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
                    activation_basis: int, seed: int = 0):
    """Step 8: all-MiniLM-L6-v2's first block converted, its GELU by an MBE neuron of
    `activation_basis` bases; (record, converted model, report).

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
                                             timesteps=timesteps, mode=mode,
                                             activation_basis=activation_basis)
    record["total_seconds"] = time.perf_counter() - start
    return record, snn, report


# -- each step's numbers, in words ---------------------------------------------------------------
def say_edi(records: list[dict]) -> str:
    """Step 2: each initialisation's MSE, which epoch the fit kept, and its training MSE at
    epoch 0 (the initialisation), after the first epoch and after the last, beside the
    paper's."""
    lines = []
    for r in (r for r in records if r["experiment"] == "edi"):
        kept = ("epoch 0: the initialisation, untrained" if r["kept_epoch"] == 0
                else f"epoch {r['kept_epoch']} of {r['epochs']}")
        lines.append(f"{r['init']} init: MSE {r['mse']:.2e} (measured; the neuron of {kept}) "
                     f"vs {r['paper_mse']:.1e} (published)\n"
                     f"    training MSE at epoch 0 {r['train_mse_initial']:.1e}, after "
                     f"epoch 1 {r['train_mse_after_first_epoch']:.1e}, after epoch "
                     f"{r['epochs']} {r['train_mse_last_epoch']:.1e}")
    return "\n".join(lines)


def say_gso(records: list[dict]) -> str:
    """Step 3: near zero, each neuron's largest error and where, and over x < 0 and x >= 0 its
    MSE, with its lowest output over x < 0."""
    lines = []
    for r in (r for r in records if r["experiment"] == "gso" and r["scoring"] == "near_zero"):
        lo, hi = r["scored_on"]
        lines.append(
            f"{r['neuron'].upper()} (N={r['n_basis']}) on [{lo:g}, {hi:g}]: largest |error| "
            f"{r['max_abs_error']:.3f} at x = {r['x_at_max_abs_error']:.2f}, where GELU is "
            f"{r['target_at_max_abs_error']:.3f} and the neuron outputs "
            f"{r['output_at_max_abs_error']:.3f}\n"
            f"    over x < 0: MSE {r['mse_below_zero']:.1e}, lowest output "
            f"{r['min_output_below_zero']:.3f}; over x >= 0: MSE {r['mse_from_zero']:.1e}")
    return "\n".join(lines)


def say_steps(step_mse: list[float], short_mse: list[float]) -> str:
    """Step 7: how much the MSE falls over the first and over the last quarter of the T
    steps, and the T-step neuron stopped at T/2 against a neuron fitted for T/2 steps."""
    t, half, k = len(step_mse), len(short_mse), max(len(step_mse) // 4, 1)
    return (f"T={t} neuron: MSE after t=1 {step_mse[0]:.1e}, t={half} {step_mse[half - 1]:.1e}, "
            f"t={t} {step_mse[-1]:.1e}; from t=1 to t={k + 1} it falls "
            f"{step_mse[0] / step_mse[k]:.3g}-fold, from t={t - k} to t={t} "
            f"{step_mse[t - k - 1] / step_mse[-1]:.3g}-fold\n"
            f"stopped at t={half}: MSE {step_mse[half - 1]:.1e}; a neuron fitted for T={half}: "
            f"{short_mse[-1]:.1e}, {short_mse[-1] / step_mse[-1]:.3g} times the T={t} "
            f"neuron's {step_mse[-1]:.1e}")


def say_block(record: dict) -> str:
    """Step 8: 1 - cosine similarity of the ANN's and the SNN's sentence embeddings."""
    return (f"1 - cosine of each sentence's ANN and SNN embedding: mean "
            f"{1 - record['mean_cosine']:.1e}, worst {1 - record['min_cosine']:.1e} "
            f"(GELU N={record['activation_basis']}, T={record['timesteps']}, "
            f"{record['mode']} mode, {record['n_sentences']} sentences)")
