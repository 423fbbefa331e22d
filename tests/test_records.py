import json
import math

import pytest

from mbe import records


def test_run_info_has_keys_and_is_json_serialisable():
    info = records.run_info({"n_basis": 4, "domain": (-120, 10)}, seed=3)
    for key in ("commit", "dirty", "timestamp", "seed", "config", "versions", "platform", "cpu",
                "threads"):
        assert key in info
    assert set(info["cpu"]) == {"model", "avx512", "avx2"}
    assert info["cpu"]["avx512"] in (None, True, False)
    assert info["seed"] == 3
    assert info["config"]["domain"] == [-120, 10]
    assert {"python", "torch", "numpy", "mbe"} <= set(info["versions"])
    assert info["commit"] is None or isinstance(info["commit"], str)
    assert info["dirty"] in (None, True, False)
    json.dumps(info, allow_nan=False)


def test_save_load_round_trip(tmp_path):
    data = [{"function": "gelu", "domain": (-120, 10), "mse": 1.0e-4, "run": {"seed": 0}}]
    path = records.save(tmp_path / "nested" / "out.json", data)
    assert path.exists()
    loaded = records.load(path)
    assert loaded[0]["domain"] == [-120, 10]
    assert loaded[0]["mse"] == 1.0e-4
    assert loaded[0]["run"] == {"seed": 0}


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_save_rejects_non_finite_and_names_the_key(tmp_path, bad):
    with pytest.raises(ValueError, match=r"\[1\]\.mse"):
        records.save(tmp_path / "bad.json", [{"mse": 1.0}, {"mse": bad}])
    assert not (tmp_path / "bad.json").exists()


def test_timer_measures_seconds():
    with records.Timer() as t:
        sum(range(1000))
    assert t.seconds >= 0.0
