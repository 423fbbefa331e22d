"""The conversion ledger: every site listed, JSON-ready, rendered, calibrated as recorded."""
import json

import pytest
import torch
from torch import nn

import mbe
from mbe import records

SPIKING_KEYS = {"path", "operation", "module", "via", "execution", "primitives", "observed",
                "calibrated", "fraction_outside", "firing_rate", "spikes", "sops",
                "comparisons", "error_in_situ", "error_clean"}


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.GELU(), nn.Linear(16, 16), nn.LayerNorm(16),
                         nn.Tanh(), nn.Linear(16, 3), nn.Softmax(dim=-1)).eval()


def _batches(seed=0, n=2):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(8, 6, generator=gen) for _ in range(n)]


@pytest.fixture(scope="module")
def converted():
    return mbe.convert(_model(), _batches(), mode="exact", margin=0.1)


def test_report_is_json_ready_and_complete(converted, tmp_path):
    _, report = converted
    data = report.to_dict()
    path = tmp_path / "ledger.json"
    report.save(path)
    assert records.load(path) == json.loads(json.dumps(data))
    assert [s["operation"] for s in data["sites"] if s["execution"] == "spiking"] == \
        ["gelu", "layernorm", "tanh", "softmax"]
    for site in report.spiking:
        assert SPIKING_KEYS <= set(site)
        for prim in site["primitives"].values():
            assert prim["n_basis"] >= 1 and prim["timesteps"] == 16
    floats = {s["path"]: s for s in report.floating}
    assert set(floats) == {"0", "2", "5"}
    assert all(s["reason"] for s in floats.values())
    assert data["settings"]["timesteps"] == 16 and data["settings"]["mode"] == "exact"


def test_calibration_is_recorded_with_its_margin(converted):
    _, report = converted
    cal = report.calibration
    assert cal["batches"] == 2 and cal["items"] == 16 and cal["margin"] == 0.1
    assert cal["first_batch_shapes"] == [[8, 6]]
    for site in report.spiking:
        for name, (lo, hi) in site["observed"].items():
            width = hi - lo
            assert site["calibrated"][name] == pytest.approx([lo - 0.1 * width, hi + 0.1 * width])
    other = mbe.convert(_model(), _batches(seed=1), mode="exact", margin=0.1)[1]
    assert other.calibration["sha256"] != cal["sha256"]


def test_conversion_is_deterministic(converted):
    _, report = converted
    again = mbe.convert(_model(), _batches(), mode="exact", margin=0.1)[1].to_dict()
    assert again == report.to_dict()


def test_report_renders_every_site(converted):
    _, report = converted
    markdown, html = report.to_markdown(), report._repr_html_()
    for site in report.sites:
        assert f"| {site['path']} |" in markdown
        assert f"<td>{site['path']}</td>" in html


def test_inputs_outside_the_calibrated_range_are_counted():
    model = _model()
    wide = [5 * b for b in _batches(seed=2, n=1)]
    _, report = mbe.convert(model, _batches(), mode="exact", margin=0.0, measure=wide)
    layernorm = next(s for s in report.spiking if s["operation"] == "layernorm")
    assert layernorm["fraction_outside"] > 0
    assert report.measured_on["sha256"] != report.calibration["sha256"]
