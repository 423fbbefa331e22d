"""Every numbered notebook runs end to end with tiny parameters, and shows every figure it
saves; an executed notebook renders to HTML with its figures inside.

Results and figures go to pytest's tmp_path, so committed outputs are never overwritten.
"""
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from mbe.viz.display import FIGURE_KEY

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9]*.ipynb"))

#: Stands for the synthetic data directory (`tests/synthetic.py`) in the parameters below.
SYNTHETIC_DATA = "<synthetic data directory>"
#: The table notebooks' tiny conversion: T = 4, two bases everywhere.
TINY_TABLES = {"quick": True, "data_dir": SYNTHETIC_DATA, "configurations": ["default", "fs"],
               "base_config": {"activation_basis": 2, "identity_basis": 2, "arithmetic_basis": 2}}

#: Tiny parameters per notebook. ``results_dir`` and ``figures_dir`` are added for
#: every notebook by the test and point into tmp_path.
TINY_PARAMETERS: dict[str, dict] = {
    "01_neuron.ipynb": {"quick": True},
    "02_operators.ipynb": {"quick": True, "timesteps": [8], "n_sentences": 4,
                           "uniform_size": 4096, "max_elements": 20_000, "n_act": 2,
                           "n_prim": 2, "n_sweep": [2], "activations": ["gelu"]},
    "03_conversion.ipynb": {"quick": True},
    "04_explorer.ipynb": {"quick": True},
    "05_calibration.ipynb": {"quick": True},
    "00_tour.ipynb": {"quick": True},
    "10_table1_vision.ipynb": {**TINY_TABLES, "timesteps": 4},
    "11_table2_nlu.ipynb": {**TINY_TABLES, "timesteps": 4,
                            "standins": ["minilm-sst2", "minilm-mr", "roberta-sst2"]},
    "12_table3_nlg.ipynb": {**TINY_TABLES, "timesteps": 4},
    "13_table4_timesteps.ipynb": {**{k: v for k, v in TINY_TABLES.items() if k != "configurations"},
                                  "timesteps_list": [2, 4],
                                  "standins": ["vgg-fmnist", "minilm-subj", "gpt2-wikitext"]},
    "14_fig6b_parameters.ipynb": {**TINY_TABLES, "timesteps": 4, "n_values": [1, 2]},
    "15_energy.ipynb": {**{k: v for k, v in TINY_TABLES.items() if k != "configurations"},
                        "timesteps": 4, "include_minilm": False,
                        "standins": ["vit-fmnist", "resnet-fmnist", "gpt2-wikitext"]},
    "16_calibrated.ipynb": {**{k: v for k, v in TINY_TABLES.items()
                               if k not in ("configurations", "base_config")},
                            "base_config": {**TINY_TABLES["base_config"], "fit_to": "calibration",
                                            "layernorm_scale": "channel"},
                            "timesteps_list": [4], "others_timesteps": [2],
                            "activation_basis_at": {4: 1},
                            "standins": ["minilm-sst2", "gpt2-wikitext"]},
}


#: The fields of every table row (`mbe.studies.tables.row`).
ROW_FIELDS = {"model", "stands_for", "dataset", "split", "n_examples", "timesteps", "config",
              "metric", "ann", "snn", "delta", "kind", "seconds", "ann_seconds", "snn_seconds",
              "run"}

#: Results each notebook must write, and the fields every record in them must carry
#: (a list of records, or a dict whose listed keys each hold a list of records).
EXPECTED_RESULTS: dict[str, dict[str, set]] = {
    "01_neuron.ipynb": {
        "table_x.json": {"function", "domain", "n_basis", "timesteps", "decay", "variant",
                         "mse", "paper_mse", "fit_seconds", "run"},
        "fs_baseline.json": {"experiment", "neuron", "mse", "run"},
        "option_ablation.json": {"function", "n_basis", "step", "options", "mse", "run"},
    },
    "02_operators.ipynb": {
        "operators.json/errors": {"operator", "timesteps", "inputs", "max_abs_error",
                                  "mean_abs_error", "rel_error", "firing_rate"},
        "operators.json/energy": {"convention", "gelu_energy_ratio_percent"},
    },
    "03_conversion.ipynb": {
        "conversion.json": {"model", "timesteps", "mode", "n_sentences", "mean_cosine",
                            "min_cosine", "seconds"},
    },
    "10_table1_vision.ipynb": {"table1.json": ROW_FIELDS},
    "11_table2_nlu.ipynb": {"table2.json": ROW_FIELDS},
    "12_table3_nlg.ipynb": {"table3.json/rows": ROW_FIELDS},
    "05_calibration.ipynb": {"calibration.json": {"model", "timesteps", "activation_basis",
                                                  "config", "configuration", "mean_cosine",
                                                  "min_cosine", "activation_sites",
                                                  "operation_errors", "spikes", "budget_choices",
                                                  "energy", "run"}},
    "13_table4_timesteps.ipynb": {"table4.json": ROW_FIELDS},
    "14_fig6b_parameters.ipynb": {"fig6b.json": ROW_FIELDS | {"n_basis", "energy"},
                                  "table6.json": {"model", "target", "neuron", "variant",
                                                  "n_basis", "timesteps", "n_parameters",
                                                  "formula", "run"}},
    "15_energy.ipynb": {"energy.json": {"model", "kind", "stands_for", "convention",
                                        "whole_model_percent", "spiking_operators_percent",
                                        "operators", "run"}},
    "16_calibrated.ipynb": {"calibrated.json": ROW_FIELDS | {"default_delta"}},
}


def _check_results(notebook: str, results_dir: Path) -> None:
    import json

    written = sorted(results_dir.glob("*.json"))
    assert written, f"{notebook} wrote no results"
    for path in written:  # every record says what produced it: commit, seed, config, versions
        data = json.loads(path.read_text())
        for run in [data.get("run")] if isinstance(data, dict) else [r.get("run") for r in data]:
            assert isinstance(run, dict) and {"commit", "seed", "config", "versions"} <= set(run), \
                f"{notebook}: results/{path.name} lacks a run record"
    for spec, fields in EXPECTED_RESULTS.get(notebook, {}).items():
        name, _, key = spec.partition("/")
        path = results_dir / name
        assert path.exists(), f"{notebook} did not write results/{name}"
        data = json.loads(path.read_text())
        rows = data[key] if key else data
        assert isinstance(rows, list) and rows, f"results/{spec} holds no records"
        for row in rows:
            missing = fields - set(row)
            assert not missing, f"a record in results/{spec} lacks {sorted(missing)}"


def _shown_figures(executed: Path) -> list[str]:
    """The figure names of the executed notebook's image/png outputs (see `mbe.viz.show`)."""
    nb = nbformat.read(executed, as_version=4)
    return [out.metadata.get(FIGURE_KEY) for cell in nb.cells if cell.cell_type == "code"
            for out in cell.outputs if "image/png" in out.get("data", {})]


def _check_figures_shown(notebook: str, executed: Path, figures_dir: Path) -> None:
    saved = sorted(p.stem for p in figures_dir.glob("*.png"))
    shown = _shown_figures(executed)
    assert not saved or shown, f"{notebook} saves {len(saved)} figures but shows none"
    missing = [name for name in saved if name not in shown]
    assert not missing, f"{notebook} saves figures it does not show: {missing}"


def _ids(paths):
    return [p.name for p in paths]


def test_every_notebook_has_tiny_parameters():
    missing = [p.name for p in NOTEBOOKS if p.name not in TINY_PARAMETERS]
    assert not missing, (
        f"notebooks without tiny test parameters: {missing}; "
        "add an entry to TINY_PARAMETERS in tests/test_notebooks.py"
    )


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_has_one_parameters_cell(notebook):
    nb = nbformat.read(notebook, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{notebook.name}: expected exactly one cell tagged 'parameters', found {len(tagged)}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_with_tiny_parameters(notebook, tmp_path, synthetic_data_dir):
    import papermill

    if notebook.name not in TINY_PARAMETERS:
        pytest.fail(f"{notebook.name} has no tiny parameters; add it to TINY_PARAMETERS in tests/test_notebooks.py")
    parameters = {k: str(synthetic_data_dir) if v == SYNTHETIC_DATA else v
                  for k, v in TINY_PARAMETERS[notebook.name].items()}
    parameters["results_dir"] = str(tmp_path / "results")
    parameters["figures_dir"] = str(tmp_path / "figures")
    papermill.execute_notebook(
        str(notebook),
        str(tmp_path / notebook.name),
        parameters=parameters,
        kernel_name="python3",
        cwd=str(REPO_ROOT),
        progress_bar=False,
    )
    _check_results(notebook.name, tmp_path / "results")
    _check_figures_shown(notebook.name, tmp_path / notebook.name, tmp_path / "figures")
    _check_html(tmp_path / notebook.name)


def _check_html(executed: Path) -> None:
    """The executed copy renders to HTML beside it, as `make reproduce` does, figures inside."""
    subprocess.run([sys.executable, "-m", "nbconvert", "--to", "html", "--log-level", "WARN",
                    str(executed)], check=True)
    html = executed.with_suffix(".html").read_text()
    assert html.count("data:image/png;base64,") >= len(_shown_figures(executed)), \
        f"{executed.name}: the HTML rendering lacks figures"


def test_a_figure_saved_but_not_shown_fails_the_check(tmp_path):
    figures = tmp_path / "figures"
    figures.mkdir()
    (figures / "staircase.png").write_bytes(b"")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("viz.show(...)")])
    nbformat.write(nb, tmp_path / "x.ipynb")
    with pytest.raises(AssertionError, match="shows none"):
        _check_figures_shown("x.ipynb", tmp_path / "x.ipynb", figures)
    nb.cells[0].outputs = [nbformat.v4.new_output(
        "display_data", data={"image/png": "iVBORw0KGgo="}, metadata={FIGURE_KEY: "other"})]
    nbformat.write(nb, tmp_path / "x.ipynb")
    with pytest.raises(AssertionError, match="does not show: \\['staircase'\\]"):
        _check_figures_shown("x.ipynb", tmp_path / "x.ipynb", figures)
    nb.cells[0].outputs[0].metadata[FIGURE_KEY] = "staircase"
    nbformat.write(nb, tmp_path / "x.ipynb")
    _check_figures_shown("x.ipynb", tmp_path / "x.ipynb", figures)


#: A bad parameter per notebook, and a fragment of the error it must raise.
BAD_PARAMETERS: dict[str, tuple[dict, str]] = {
    "00_tour.ipynb": ({"conversion_mode": "fast"}, "conversion_mode="),
    "01_neuron.ipynb": ({"functions": ["sin"]}, "functions="),
    "02_operators.ipynb": ({"timesteps": [1]}, "timesteps="),
    "03_conversion.ipynb": ({"activation_basis": 0}, "activation_basis="),
    "04_explorer.ipynb": ({"n_basis": 0}, "n_basis="),
    "05_calibration.ipynb": ({"error_budget": 0}, "error_budget="),
    "10_table1_vision.ipynb": ({"configurations": ["best"]}, "configurations="),
    "11_table2_nlu.ipynb": ({"standins": ["vit-fmnist"]}, "standins="),
    "12_table3_nlg.ipynb": ({"timesteps": 0}, "timesteps="),
    "13_table4_timesteps.ipynb": ({"max_examples": -1}, "max_examples="),
    "14_fig6b_parameters.ipynb": ({"n_values": [0]}, "n_values="),
    "15_energy.ipynb": ({"standins": ["gpt2"]}, "standins="),
    "16_calibrated.ipynb": ({"timesteps_list": [0]}, "timesteps="),
}


@pytest.mark.parametrize("notebook", [p for p in NOTEBOOKS if p.name in BAD_PARAMETERS],
                         ids=_ids([p for p in NOTEBOOKS if p.name in BAD_PARAMETERS]))
def test_bad_parameter_fails_in_the_first_cell(notebook, tmp_path):
    import papermill

    bad, message = BAD_PARAMETERS[notebook.name]
    parameters = {"results_dir": str(tmp_path / "results"),
                  "figures_dir": str(tmp_path / "figures"), **bad}
    with pytest.raises(papermill.PapermillExecutionError) as err:
        papermill.execute_notebook(str(notebook), str(tmp_path / notebook.name),
                                   parameters=parameters, kernel_name="python3",
                                   cwd=str(REPO_ROOT), progress_bar=False)
    assert message in str(err.value.evalue)
    original = nbformat.read(notebook, as_version=4)
    tagged = next(i for i, c in enumerate(original.cells)
                  if "parameters" in c.metadata.get("tags", []))
    first_after = next(c for c in original.cells[tagged + 1:] if c.cell_type == "code")
    assert err.value.source == first_after.source, "the bad parameter was not caught first"
