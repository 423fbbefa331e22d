"""Per-site fitting in conversion: each activation neuron fitted to what its site received during
calibration, shared where the inputs are equal, chosen under an error budget, and reported."""
import pytest
import torch
from torch import nn

import mbe
from mbe.conversion import sites_of
from mbe.core.distribution import InputDistribution

#: Quick to fit: the paper's recipe (no greedy initialisation), small N and T.
BASE = mbe.ConversionConfig(timesteps=4, variant="paper", activation_basis=2, identity_basis=2,
                            arithmetic_basis=2, fit_to="calibration")


class TwoBranches(nn.Module):
    """Two GELUs on the same input (equal inputs: one neuron) and one on twice it."""

    def __init__(self):
        super().__init__()
        self.first, self.second, self.third = nn.GELU(), nn.GELU(), nn.GELU()

    def forward(self, x):
        return self.first(x) + self.second(x) + self.third(2 * x)


def _calibration():
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(64, 16, generator=gen), torch.randn(64, 16, generator=gen)]


def _activations(snn) -> dict:
    return {s.path: s for s in sites_of(snn)}


@pytest.fixture(scope="module")
def calibrated():
    return mbe.convert(TwoBranches(), _calibration(), config=BASE)


def test_each_site_is_fitted_to_its_own_inputs_on_its_own_range(calibrated):
    snn, report = calibrated
    sites = _activations(snn)
    for path, site in sites.items():
        fitted = site.op.fitted("gelu")
        assert fitted.objective == "calibration"
        assert fitted.domain == site.calibrated["x"]
        assert fitted.inputs == InputDistribution(*site.histograms["x"].bins(),
                                                  site.calibrated["x"])
    assert sites["first"].op.fitted("gelu") is sites["second"].op.fitted("gelu")  # shared
    assert sites["third"].op.fitted("gelu") is not sites["first"].op.fitted("gelu")
    assert sites["third"].calibrated["x"][1] > 1.5 * sites["first"].calibrated["x"][1]


def test_the_ledger_says_which_objective_and_domain_each_neuron_used(calibrated):
    snn, report = calibrated
    assert report.settings["fit_to"] == "calibration"
    assert report.settings["activation_domains"] == {"gelu": "per site"}
    for record in report.spiking:
        prim = record["primitives"]["gelu"]
        assert prim["objective"] == "calibration"
        assert prim["domain"] == pytest.approx(record["calibrated"]["x"])
        assert record["error_in_situ"]["rel_rms"] is not None and record["budget"] is None
    assert "(calibration)" in report.to_markdown()


def test_uniform_fitting_shares_one_neuron_and_keeps_no_histograms():
    snn, report = mbe.convert(TwoBranches(), _calibration(), config=BASE.updated(fit_to="uniform"))
    fitted = {site.op.fitted("gelu") for site in sites_of(snn)}
    assert len(fitted) == 1 and next(iter(fitted)).objective == "uniform"
    assert all(not site.histograms for site in sites_of(snn))
    assert all(r["primitives"]["gelu"]["objective"] == "uniform" for r in report.spiking)


def test_an_error_budget_takes_the_fewest_bases_within_it():
    budget = 0.05  # measured: N = 2 meets it on x (0.043), N = 1 on 2x (0.037)
    snn, report = mbe.convert(TwoBranches(), _calibration(),
                              config=BASE.updated(variant="best", error_budget=budget,
                                                  timesteps=8, activation_basis=4))
    for record in report.spiking:
        chosen = record["budget"]
        assert chosen["budget"] == budget
        tried = chosen["tried"]
        assert [n for n, _ in tried] == [1, 2, 3, 4][:len(tried)]  # fewest bases first ...
        assert all(err > budget for _, err in tried[:-1])  # ... until one is within it
        n, err = tried[-1]
        assert chosen["met"] and err <= budget and chosen["n_basis"] == n
        prim = record["primitives"]["gelu"]
        assert (prim["n_basis"], prim["timesteps"]) == (n, 8)
    assert max(r["budget"]["n_basis"] for r in report.spiking) < 4  # it saved bases


def test_an_unmet_budget_keeps_the_most_accurate_neuron_and_says_so():
    snn, report = mbe.convert(TwoBranches(), _calibration(),
                              config=BASE.updated(error_budget=1e-9, activation_basis=2))
    for record in report.spiking:
        chosen = record["budget"]
        assert not chosen["met"]
        errors = {n: err for n, err in chosen["tried"]}
        assert chosen["error"] == min(errors.values()) == errors[chosen["n_basis"]]
        assert sorted(errors) == [1, 2]
