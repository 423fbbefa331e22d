from mbe import records
from mbe.viz import report


def _record(variant, mse, n_basis=4, decay=True, scoring=None):
    rec = {
        "function": "gelu", "domain": [-120, 10], "n_basis": n_basis, "timesteps": 16,
        "decay": decay, "variant": variant, "mse": mse,
        "paper_mse": 2.3e-4 if decay else 2.8e-1, "fit_seconds": 1.5,
        "run": {"commit": "0123456789abcdef0123", "dirty": False},
    }
    if scoring:
        rec["scoring"] = scoring
    return rec


def test_table_x_renders_published_and_measured_columns(tmp_path):
    results = tmp_path / "results"
    records.save(results / "table_x.json", [
        _record("paper", 5.0e-3),
        _record("best", 1.15e-4),
        _record("best", 0.3, n_basis=8, decay=False),
        _record("best", 2.0e-4, scoring="normal_1.5"),
    ])
    records.save(results / "mystery.json", {"x": 1})
    out = tmp_path / "RESULTS.md"
    report.main(["--results", str(results), "--out", str(out)])
    text = out.read_text()

    assert "generated" in text.lower()
    assert "0123456789ab" in text
    assert "paper MSE (published)" in text
    assert "paper-literal neuron MSE (measured)" in text
    assert "best neuron MSE (measured)" in text
    assert "best / paper" in text
    assert "| gelu | [-120, 10] | 4 | 2.3e-4 | 5.0e-3 | 1.2e-4 | 0.5 |" in text
    assert "8, no decay" in text
    assert "Scoring: uniform" in text and "Scoring: normal_1.5" in text
    # the paper scores Table X on its uniform domain only: no published column elsewhere
    normal = text.split("Scoring: normal_1.5")[1]
    assert "no published counterpart" in normal and "(published)" not in normal.split("##")[0]
    assert "| gelu | [-120, 10] | 4 | – | 2.0e-4 |" in normal
    assert "## Not rendered" in text and "mystery.json" in text


def test_empty_results_dir(tmp_path):
    text = report.render(tmp_path / "missing")
    assert "No rendered results yet" in text


def test_option_ablation_says_where_a_signed_domain_errs():
    base = {"function": "gelu", "n_basis": 8, "paper_mse": 1e-4}
    data = [base | {"step": "paper recipe", "mse": 3.3e-4, "mse_below_zero": 3e-4,
                    "mse_from_zero": 1.2e-3, "max_abs_error": 0.17, "x_at_max_abs_error": -0.75,
                    "output_at_max_abs_error": 0.0, "fires_on": [0.0095, 10.0]},
            base | {"step": "+ signed affine input map", "mse": 1.5, "mse_below_zero": 0.44,
                    "mse_from_zero": 14.3, "max_abs_error": 7.26, "x_at_max_abs_error": 10.0,
                    "output_at_max_abs_error": 2.74, "fires_on": [-118.0, 10.0]},
            {"function": "exp2", "n_basis": 4, "paper_mse": 4e-4, "step": "paper recipe",
             "mse": 0.1, "mse_below_zero": None}]
    text = report.render_option_ablation(data)
    assert "| + signed affine input map | 1.5e0 | – |" in text
    assert "gelu N=8: where the error lies" in text and "exp2 N=4: where" not in text
    assert "| + signed affine input map | 4.4e-1 | 1.4e1 | 7.26 | 10 | 2.74 | [-118, 10] |" in text
