"""Every numbered notebook runs end to end with tiny parameters.

Results and figures go to pytest's tmp_path, so committed outputs are never overwritten.
"""
from pathlib import Path

import nbformat
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9]*.ipynb"))

#: Tiny parameters per notebook. ``results_dir`` and ``figures_dir`` are added for
#: every notebook by the test and point into tmp_path.
TINY_PARAMETERS: dict[str, dict] = {
    "01_neuron.ipynb": {"quick": True},
}


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
def test_notebook_runs_with_tiny_parameters(notebook, tmp_path):
    import papermill

    if notebook.name not in TINY_PARAMETERS:
        pytest.fail(f"{notebook.name} has no tiny parameters; add it to TINY_PARAMETERS in tests/test_notebooks.py")
    parameters = dict(TINY_PARAMETERS[notebook.name])
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
