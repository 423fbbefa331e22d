"""What sits beside the main tables: Fig. 6(b), appendix Table VI, and whole-model energy.

- `basis_sweep(task, config, n_values)`: Fig. 6(b), accuracy and energy as the activation
  neurons' N varies (the paper replaces GELU with N bases and reports < 1 % loss for N >= 4).
- `parameter_counts(snn)`: appendix Table VI, the learned parameters of every fitted neuron
  of a converted model, counted from the neurons (FS: d, r, Vth per step, 3T; the paper's
  MBE: tau_d, tau_r, tau_Vth, dt, w per basis, 5N; the best variant's 9N + 1).
- `energy_records(task, snn)`: Eq. 14 for a whole converted model, per operator, under every
  convention (`mbe.studies.energy.model_energy`).
"""
from __future__ import annotations

from torch import nn

from ..conversion import ConversionConfig, sites_of
from . import energy
from .tables import Task, converted, row


def energy_batch(task: Task):
    """The batch energy is counted on: the task's middle evaluation batch (its inputs; text
    batches are sorted by length, so this one holds sentences of median length)."""
    return task.evaluation[len(task.evaluation) // 2][0]


def energy_records(task: Task, snn: nn.Module, conventions=energy.CONVENTIONS) -> list[dict]:
    """`energy.model_energy` of the task's model and `snn` on `energy_batch(task)`, each
    record labelled with the model, its kind and what it stands for."""
    label = {"model": task.name, "stands_for": task.stands_for, "kind": task.kind,
             "dataset": task.dataset}
    return [label | rec for rec in energy.model_energy(task.model, snn, energy_batch(task),
                                                       conventions)]


def basis_sweep(task: Task, config: ConversionConfig, n_values) -> list[dict]:
    """Fig. 6(b): one row per N of the activation neurons (the GELU), with the GELU's and the
    whole model's energy ratio under the paper's convention."""
    out = []
    for n in n_values:
        cfg = config.updated(activation_basis=n)
        rec = row(task, cfg, f"activation N={n}")
        snn = converted(task, cfg)[0]
        (priced,) = energy_records(task, snn, [energy.paper_convention()])
        gelu = {k: v for k, v in priced["operators"].items() if k.startswith("gelu")}
        rec["energy"] = {"convention": priced["convention"],
                         "whole_model_percent": priced["whole_model_percent"],
                         "spiking_operators_percent": priced["spiking_operators_percent"],
                         "activation_percent": next(iter(gelu.values()))["energy_ratio_percent"]
                         if gelu else None}
        out.append(rec | {"n_basis": n})
    return out


def parameter_counts(snn: nn.Module, model: str) -> list[dict]:
    """Appendix Table VI: one record per distinct fitted neuron of a converted model (the
    identity encoders are fixed, not learned, and are listed with 0)."""
    seen, out = set(), []
    for site in sites_of(snn):
        for op in site.spiking_ops().values():
            for name, info in op.describe().items():
                neuron = op.neuron(name)
                key = (info["target"], tuple(info["domain"] or ()), info["variant"],
                       info["n_basis"], info["timesteps"], info["neuron"])
                if key in seen:
                    continue
                seen.add(key)
                fitted = info["variant"] != "fixed"
                n, t = info["n_basis"], info["timesteps"]
                formula = ("3T" if info["neuron"] == "fs" else "5N"
                           if info["variant"] == "paper" else "9N+1") if fitted else "fixed"
                out.append({"model": model, "target": info["target"], "neuron": info["neuron"],
                            "variant": info["variant"], "n_basis": n, "timesteps": t,
                            "n_parameters": int(neuron.meta.get("n_parameters", 0))
                            if fitted else 0,
                            "formula": formula,
                            "formula_value": {"3T": 3 * t, "5N": 5 * n, "9N+1": 9 * n + 1,
                                              "fixed": 0}[formula]})
    return out


def encoder_task(*, data_dir=None, n_calibration: int = 64, batch_size: int = 64,
                 max_examples: int | None = 256, seed: int = 0) -> Task:
    """The real all-MiniLM-L6-v2 sentence encoder (no head) on SST-2 test sentences, for its
    energy (it has no labels to score): calibration on SST-2 training sentences."""
    from ..data import load_text
    from .corpora import MINILM, load_encoder
    from .tables import calibration_texts, eval_text_batches

    tokenizer, model = load_encoder()
    train, test = (load_text("sst2", s, data_dir=data_dir) for s in ("train", "test"))
    texts = test.texts[:max_examples] if max_examples else test.texts
    return Task(model, MINILM, "the paper's whole-model energy (ViT-M/16)", "real", "sst2",
                "test", "none",
                calibration_texts(tokenizer, train.texts, n_calibration, 32, 64, seed),
                eval_text_batches(tokenizer, texts, [0] * len(texts), batch_size, 64), len(texts),
                {"max_length": 64})
