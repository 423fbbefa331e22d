"""The table rows: scoring, records, the converted-model cache, the real-checkpoint path
(random-initialised tiny models of the paper's classes, saved like Hugging Face checkpoints,
on tiny synthetic data), whole-model energy and Table VI's parameter counts."""
import math
import sys

import pytest
import torch
from torch import nn

from mbe import ConversionConfig
from mbe.studies import ablations, energy, tables

ROW_FIELDS = {"model", "stands_for", "dataset", "split", "n_examples", "timesteps", "config",
              "metric", "ann", "snn", "delta", "kind", "seconds", "ann_seconds", "snn_seconds"}
EXACT = ConversionConfig(mode="exact")


def _cnn_task(n=40):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 14 * 14, 10)).eval()
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)
    return tables.Task(model, "tiny-cnn", "VGG16", "stand-in", "synthetic", "test", "accuracy",
                       [x[:16]], [(x[i:i + 20], y[i:i + 20]) for i in range(0, n, 20)], n,
                       cache_key="test-tiny-cnn")


def test_accuracy_and_perplexity_scores():
    task = _cnn_task()
    with torch.no_grad():
        predicted = torch.cat([task.model(x).argmax(-1) for x, _ in task.evaluation])
    labels = torch.cat([y for _, y in task.evaluation])
    value, seconds = tables.score(task.model, task)
    assert value == pytest.approx(100 * float((predicted == labels).float().mean()))
    assert seconds > 0

    class Uniform(nn.Module):  # every next token equally likely: perplexity = vocabulary
        def forward(self, input_ids):
            return torch.zeros(*input_ids.shape, 37)

    ids = torch.arange(100) % 37
    from mbe.data import tokens
    batches = tokens.window_batches(ids, tokens.lm_windows(100, 16, 8), 3)
    lm = tables.Task(Uniform(), "u", "", "stand-in", "x", "test", "perplexity", [],
                     [({"input_ids": b["input_ids"]}, b["labels"]) for b in batches], 99)
    assert tables.score(lm.model, lm)[0] == pytest.approx(37)


def test_row_records_and_the_converted_model_cache(monkeypatch):
    task = _cnn_task()
    first = tables.row(task, EXACT, "parity", "table_1")
    assert ROW_FIELDS <= set(first) and first["kind"] == "stand-in"
    assert first["config"] == EXACT.to_dict() and not first["cached"]
    assert first["delta"] == 0 and first["n_examples"] == 40  # exact primitives: the ANN
    monkeypatch.setattr(tables, "convert", lambda *a, **k: pytest.fail("converted again"))
    second = tables.row(task, EXACT, "parity", "table_1")
    assert second["cached"] and second["snn"] == first["snn"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, synthetic_data_dir):
    """Tiny random-initialised models of the paper's classes, saved as checkpoints with
    their tokenizer or image processor, and an ImageNet-style folder."""
    from PIL import Image
    from transformers import (AutoTokenizer, GPT2Config, GPT2LMHeadModel, RobertaConfig,
                              RobertaForSequenceClassification, ViTConfig,
                              ViTForImageClassification, ViTImageProcessor)

    from mbe.data import load_wikitext, tokens
    from mbe.studies.corpora import resolve

    root = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    roberta = RobertaForSequenceClassification(RobertaConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=80, pad_token_id=0, num_labels=2))
    roberta.save_pretrained(root / "roberta")
    AutoTokenizer.from_pretrained(resolve("all-MiniLM-L6-v2")).save_pretrained(root / "roberta")
    bpe = tokens.train_bpe([load_wikitext("valid", data_dir=synthetic_data_dir).text], 300)
    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=len(bpe),
                                      n_positions=64))
    gpt2.save_pretrained(root / "gpt2")
    bpe.save_pretrained(root / "gpt2")
    vit = ViTForImageClassification(ViTConfig(image_size=16, patch_size=8, hidden_size=16,
                                              num_hidden_layers=1, num_attention_heads=2,
                                              intermediate_size=32, num_labels=2))
    vit.save_pretrained(root / "vit")
    ViTImageProcessor(size={"height": 16, "width": 16}).save_pretrained(root / "vit")
    for label in ("n01", "n02"):
        (root / "images" / label).mkdir(parents=True)
        for i in range(5):
            Image.new("RGB", (20, 20), (40 * i, 100, 7)).save(root / "images" / label / f"{i}.png")
    return root


@pytest.mark.parametrize("model, dataset, metric", [
    ("roberta", "sst2", "accuracy"), ("gpt2", "wikitext2", "perplexity"),
    ("vit", "images", "accuracy")])
def test_the_real_checkpoint_path_runs_the_same_code(checkpoints, synthetic_data_dir, model,
                                                     dataset, metric):
    data = str(checkpoints / dataset) if dataset == "images" else dataset
    (task,) = tables.tasks([], table="table_2", checkpoint=str(checkpoints / model),
                           dataset=data, paper_row="sst2", data_dir=synthetic_data_dir,
                           max_examples=40 if metric == "accuracy" else 300, n_calibration=4,
                           batch_size=8, checkpoint_options={"max_length": 32})
    assert task.kind == "real" and task.metric == metric and task.cache_key is None
    rec = tables.row(task, EXACT, "parity", "table_2")
    assert rec["kind"] == "real" and rec["paper_row"] == "sst2"
    assert abs(rec["delta"]) <= (1e-3 * rec["ann"] if metric == "perplexity" else 0)
    if dataset == "images":  # calibration images are held out of the evaluation
        assert task.n_examples == 10 - 4


def test_whole_model_energy_adds_up():
    """FS neurons (quick to fit) on a tiny CNN: the float-kept layers cost the same in both
    networks, the spiking ones their counted spikes, and the totals are the sums."""
    task = _cnn_task()
    snn = tables.converted(task, ConversionConfig(timesteps=4, neuron="fs"))[0]
    recs = ablations.energy_records(task, snn)
    assert len(recs) == len(energy.CONVENTIONS)
    for rec in recs:
        ops = rec["operators"]
        assert set(ops) == {"relu", "maxpool", energy.FLOAT_KEPT}
        kept = ops[energy.FLOAT_KEPT]
        assert kept["e_snn_pj"] == kept["e_ann_pj"] > 0
        total_ann = sum(o["e_ann_pj"] for o in ops.values())
        total_snn = sum(o["e_snn_pj"] for o in ops.values())
        assert rec["whole_model_percent"] == pytest.approx(100 * total_snn / total_ann)
        assert 0 < ops["relu"]["e_snn_pj"] and ops["relu"]["sops"] > 0
    conv = energy.paper_convention()
    (paper,) = [r for r in recs if r["convention"] == conv.name]
    x = energy_batch = ablations.energy_batch(task)
    flops = energy.ann_flops(task.model, x).flops
    assert sum(o["ann_flops"] for o in paper["operators"].values()) == flops
    assert energy_batch.shape[0] == 20


def test_table6_counts_match_the_papers_formulas():
    task = _cnn_task()
    for label, formula in (("fs", "3T"), ("paper", "5N")):
        config = tables.configuration(label, 4)
        counts = ablations.parameter_counts(tables.converted(task, config)[0], label)
        fitted = [c for c in counts if c["formula"] != "fixed"]
        assert fitted and all(c["formula"] == formula for c in fitted)
        assert all(c["n_parameters"] == c["formula_value"] for c in fitted)


def test_bad_notebook_parameters_are_named():
    ok = dict(standin_names=["vit-fmnist"], checkpoint="", timesteps_list=[16],
              configurations=["default"], max_examples=None, n_calibration=1, batch_size=1,
              task="image")
    tables.check_parameters(**ok)
    for change, message in ((dict(standin_names=["minilm-sst2"]), "standins="),
                            (dict(configurations=["best"]), "configurations="),
                            (dict(timesteps_list=[0]), "timesteps="),
                            (dict(max_examples=0), "max_examples="),
                            (dict(standin_names=[], checkpoint=""), "nothing to evaluate")):
        with pytest.raises(ValueError, match=message):
            tables.check_parameters(**{**ok, **change})
    assert math.isfinite(0.0)


def _evaluate(launcher: list[str], out, checkpoints, data_dir) -> list[dict]:
    """Run `mbe.studies.evaluate` on the tiny GPT-2 checkpoint in fresh processes."""
    import json
    import os
    import subprocess

    args = ["-m", "mbe.studies.evaluate", "--table", "table_3", "--checkpoint",
            str(checkpoints / "gpt2"), "--dataset", "wikitext2", "--data-dir", str(data_dir),
            "--timesteps", "4", "--max-examples", "300", "--n-calibration", "2",
            "--batch-size", "2", "--base-config",
            json.dumps({"activation_basis": 2, "identity_basis": 2, "arithmetic_basis": 2}),
            "--out", str(out)]
    # one torch thread per process in both runs: the same float summation order
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, *launcher, *args], capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[:4000]}"
    return json.loads(out.read_text())


def test_two_processes_gather_the_single_process_metrics(checkpoints, synthetic_data_dir,
                                                         tmp_path):
    """The data-parallel evaluation (two CPU processes, as `accelerate launch` starts them on
    two GPUs) gathers per-batch results into exactly the single process's perplexities."""
    alone = _evaluate([], tmp_path / "alone.json", checkpoints, synthetic_data_dir)
    shared = _evaluate(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"],
                       tmp_path / "shared.json", checkpoints, synthetic_data_dir)
    assert len(alone) == len(shared) == 1
    for key in ("ann", "snn", "delta", "n_examples", "kind", "output_error"):
        assert shared[0][key] == alone[0][key], key
    assert alone[0]["kind"] == "real" and alone[0]["metric"] == "perplexity"


def test_a_stand_ins_own_fold_is_the_stand_in_and_other_folds_are_named(synthetic_data_dir):
    """MR and Subj: fold 0 (the stand-in's own) is trained once under the stand-in's name for
    every notebook; another fold is another model, named with its fold."""
    own = tables.standin_task("minilm-mr", quick=True, data_dir=synthetic_data_dir, fold=0,
                              log=None)
    plain = tables.standin_task("minilm-mr", quick=True, data_dir=synthetic_data_dir, log=None)
    other = tables.standin_task("minilm-mr", quick=True, data_dir=synthetic_data_dir, fold=1,
                                log=None)
    assert own.name == plain.name and own.cache_key == plain.cache_key
    assert other.name == f"{own.name}-fold1" and other.cache_key != own.cache_key
    assert not plain.protocol["training"]["trained_now"]  # the one model, from the cache
