"""The neuron experiments of the paper's appendix, as functions that return records.

Each function fits through `mbe.fit` (cached), scores on dense grids, and returns plain dicts
ready for `mbe.records.save`. The paper's published value sits beside each measurement
under a key that says so (`paper_mse`), read from `mbe.paper`.
"""
from __future__ import annotations

import time

from .. import paper
from ..core import analysis
from ..core.fitting import fit, kept_epoch

TABLE_X_FUNCTIONS = ("gelu", "rsqrt", "reciprocal", "exp2")


def check_parameters(functions, n_values, timesteps, points, epochs=None, samples=None) -> None:
    """Fail early, naming the parameter and the fix, before any fitting starts."""
    unknown = [f for f in functions if f not in TABLE_X_FUNCTIONS]
    if unknown or not functions:
        raise ValueError(f"functions={list(functions)!r}: each must be one of "
                         f"{list(TABLE_X_FUNCTIONS)} (the functions of Table X)")
    if not n_values or any(not isinstance(n, int) or n < 1 for n in n_values):
        raise ValueError(f"n_values={list(n_values)!r}: give a non-empty list of integers >= 1")
    if not isinstance(timesteps, int) or not 1 <= timesteps <= 32:
        raise ValueError(f"timesteps={timesteps!r}: give an integer from 1 to 32 (paper: 16)")
    if not isinstance(points, int) or points < 1_000:
        raise ValueError(f"points={points!r}: score on at least 1,000 points "
                         "(the published comparison uses 100,001)")
    for name, value in (("epochs", epochs), ("samples", samples)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{name}={value!r}: give a positive integer, or None for the "
                             "variant's own recipe")


def fit_options(epochs=None, samples=None) -> dict:
    """Overrides of the variants' recipes (None keeps the recipe: 200 epochs, 10,000 samples)."""
    return {k: v for k, v in (("epochs", epochs), ("samples", samples)) if v is not None}


def decay_effect(records: list[dict]) -> list[dict]:
    """For each function and variant: MSE without decay / MSE with decay, at the same N."""
    out = []
    for r in records:
        if r["decay"] or r.get("scoring", "uniform") != "uniform":
            continue
        match = [q for q in records if q["decay"] and q["function"] == r["function"]
                 and q["variant"] == r["variant"] and q["n_basis"] == r["n_basis"]
                 and q.get("scoring", "uniform") == "uniform"]
        if match:
            out.append({"function": r["function"], "variant": r["variant"],
                        "n_basis": r["n_basis"], "mse_decay": match[0]["mse"],
                        "mse_no_decay": r["mse"], "ratio": r["mse"] / match[0]["mse"]})
    return out


def _score_record(neuron, target, domain, scoring: str, points: int, seed: int) -> float:
    return analysis.mse(neuron, target, analysis.scoring_points(scoring, domain, points, seed))


def fit_and_score(function: str, domain, n_basis: int, timesteps: int, *, variant: str,
                  decay: bool = True, scorings=("uniform",), points: int = 100_001,
                  seed: int = 0, paper_mse: float | None = None, **fit_options) -> list[dict]:
    """Fit one cell and score it under each scoring: one record per scoring."""
    start = time.perf_counter()
    neuron = fit(function, domain, n_basis, timesteps, seed=seed, variant=variant,
                 decay=decay, progress=False, **fit_options)
    wall = time.perf_counter() - start
    base = {"function": function, "domain": list(domain), "n_basis": n_basis,
            "timesteps": timesteps, "decay": decay, "variant": variant,
            "paper_mse": paper_mse,
            # seconds of the fit itself (recorded at fit time; a cache hit costs ~0)
            "fit_seconds": neuron.meta["fit_seconds"], "wall_seconds": wall,
            "train_mse": neuron.meta["train_mse"]}
    return [{**base, "scoring": s, "points": points,
             "mse": _score_record(neuron, function, domain, s, points, seed)}
            for s in scorings]


def table_x(functions=TABLE_X_FUNCTIONS, n_values=(1, 2, 4, 6, 8), timesteps: int = 16,
            variants=("paper", "best"), no_decay_n: int | None = 8, seed: int = 0,
            points: int = 100_001, gelu_scorings=("uniform", "normal_1.5", "uniform_-6_10"),
            **fit_options) -> list[dict]:
    """Appendix Table X: MSE at T for each function and N, both variants, plus no decay."""
    records = []
    for fn in functions:
        domain = paper.table_x_domain(fn)
        scorings = gelu_scorings if fn == "gelu" else ("uniform",)
        cells = [(n, True, paper.table_x_mse(fn, n)) for n in n_values]
        if no_decay_n is not None:
            cells.append((no_decay_n, False, paper.table_x_mse(fn, "no_decay_n8")
                          if no_decay_n == 8 else None))
        for n, decay, published in cells:
            for variant in variants:
                records += fit_and_score(fn, domain, n, timesteps, variant=variant, decay=decay,
                                         scorings=scorings, points=points, seed=seed,
                                         paper_mse=published, **fit_options)
    return records


def table_vii(n_basis: int = 4, timesteps: int = 16, variants=("paper", "best"), seed: int = 0,
              points: int = 100_001, **fit_options) -> list[dict]:
    """Appendix Table VII: SiLU on three intervals (N is not stated by the paper)."""
    records = []
    for row in paper.values()["table_vii"]["rows"]:
        for variant in variants:
            records += fit_and_score("silu", tuple(row["domain"]), n_basis, timesteps,
                                     variant=variant, points=points, seed=seed,
                                     paper_mse=row["mse"], **fit_options)
    return records


def edi(domain=(-1.0, 1.0), timesteps: int = 16, seed: int = 0, points: int = 100_001,
        progress: bool = False, **fit_options) -> tuple[list[dict], dict]:
    """EDI: the FS neuron fitted to ReLU from random vs binary initialisation (Fig. 1).

    A fit returns the parameters of its lowest training MSE, which can be those of epoch 0,
    the initialisation itself: for ReLU on [0, a) the binary initialisation is already the
    exact T-bit binary expansion, and training only moves it away. So each record says which
    epoch was kept and the training MSE at epoch 0, after epoch 1 and after the last epoch,
    beside the MSE of the kept neuron on the scoring grid (`mse`) and the paper's
    (`paper_mse`). Returns (records, {init: neuron}) for plotting the training histories.
    """
    published = paper.values()["edi"]
    neurons, records = {}, []
    for init in ("random", "binary"):
        neuron = fit("relu", domain, timesteps=timesteps, neuron="fs", init=init, seed=seed,
                     progress=progress, **fit_options)
        neurons[init] = neuron
        history = neuron.meta["history"]
        x = analysis.scoring_points("uniform", domain, points)
        records.append({"experiment": "edi", "function": "relu", "domain": list(domain),
                        "neuron": "fs", "init": init, "timesteps": timesteps,
                        "mse": analysis.mse(neuron, "relu", x),
                        "paper_mse": published[f"{init}_init_mse"],
                        "fit_seconds": neuron.meta["fit_seconds"],
                        "epochs": len(history) - 1,
                        "kept_epoch": kept_epoch(history),
                        "train_mse_initial": history[0],
                        "train_mse_after_first_epoch": history[min(1, len(history) - 1)],
                        "train_mse_last_epoch": history[-1]})
    return records, neurons


def gso(domain=(-120.0, 10.0), near_zero=(-4.0, 4.0), n_basis: int = 4, timesteps: int = 16,
        seed: int = 0, points: int = 100_001, progress: bool = False,
        **fit_options) -> tuple[list[dict], dict]:
    """GSO: FS (binary init) vs MBE on GELU, scored over the domain and near zero (Fig. 2).

    Each record also holds where the neuron errs (`mbe.core.analysis.error_profile`): its
    largest error and where, its lowest output, and the MSE below and from zero, which tell a
    sign problem (GELU's negative dip, out of reach of a neuron without negative outputs) from
    a resolution problem.
    """
    neurons = {"fs": fit("gelu", domain, timesteps=timesteps, neuron="fs", init="binary",
                         seed=seed, progress=progress, **fit_options),
               "mbe": fit("gelu", domain, n_basis, timesteps, seed=seed, progress=progress,
                          **fit_options)}
    records = []
    for name, neuron in neurons.items():
        for label, dom in (("uniform", domain), ("near_zero", near_zero)):
            x = analysis.scoring_points("uniform", dom, points)
            records.append({"experiment": "gso", "function": "gelu", "domain": list(domain),
                            "scored_on": list(dom), "scoring": label, "neuron": name,
                            "n_basis": neuron.n_basis, "timesteps": timesteps,
                            "mse": analysis.mse(neuron, "gelu", x),
                            **analysis.error_profile(neuron, "gelu", x)})
    return records, neurons


#: From the paper's recipe to the best variant, one named option at a time (cumulative).
OPTION_STEPS = (
    ("paper recipe", {}),
    ("+ output bias", {"bias": True}),
    ("+ signed affine input map", {"input_map": "signed_affine"}),
    ("+ per-basis amplitudes", {"alpha": "per_basis"}),
    ("+ least-squares readout", {"readout": "lstsq"}),
    ("+ greedy ramp initialisation", {"init": "ramps"}),
    ("+ lr 0.03, annealed surrogate (= best)", {"lr": 0.03, "width": (0.3, 0.01)}),
)
ABLATION_CELLS = (("gelu", 8), ("rsqrt", 1), ("reciprocal", 2), ("exp2", 4))


def option_ablation(cells=ABLATION_CELLS, timesteps: int = 16, seed: int = 0,
                    points: int = 100_001, **fit_options) -> list[dict]:
    """MSE of each cell as the paper's recipe gains the best variant's options one by one.

    Two side branches are measured from the best variant: without polarity banks
    (input_map="affine", no basis fed -x) and without decay. Each record also says where the
    neuron errs (`mbe.core.analysis.error_profile`) and the inputs at which any basis fires
    (`fires_on`), which show what an option moved.
    """
    chain, options = [], {}
    for name, step in OPTION_STEPS:
        options = {**options, **step}
        chain.append((name, dict(options)))
    chain += [("best without polarity (input_map=affine)", {**options, "input_map": "affine"}),
              ("best without decay", {**options, "decay": False})]
    records = []
    for fn, n in cells:
        domain = paper.table_x_domain(fn)
        x = analysis.scoring_points("uniform", domain, points)
        for name, opts in chain:
            neuron = fit(fn, domain, n, timesteps, seed=seed, variant="paper", progress=False,
                         **{**opts, **fit_options})
            records.append({"function": fn, "domain": list(domain), "n_basis": n,
                            "timesteps": timesteps, "step": name,
                            "options": {k: list(v) if isinstance(v, tuple) else v
                                        for k, v in opts.items()},
                            "mse": analysis.mse(neuron, fn, x),
                            "paper_mse": paper.table_x_mse(fn, n),
                            "fit_seconds": neuron.meta["fit_seconds"],
                            **analysis.error_profile(neuron, fn, x),
                            "fires_on": analysis.firing_range(neuron, x)})
    return records
