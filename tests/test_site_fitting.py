"""Per-site fitting in conversion: each activation neuron fitted to what its site received during
calibration, shared where the inputs are equal, chosen under an error budget, and reported."""
import pytest
import torch
from torch import nn

import mbe
from mbe.conversion import sites_of
from mbe.core.distribution import InputDistribution
from synthetic import tiny_bert, token_batches

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
        chosen = record["budget"]["gelu"]
        assert chosen["budget"] == budget
        tried = chosen["tried"]
        assert [n for n, _ in tried] == [1, 2, 3, 4][:len(tried)]  # fewest bases first ...
        assert all(err > budget for _, err in tried[:-1])  # ... until one is within it
        n, err = tried[-1]
        assert chosen["met"] and err <= budget and chosen["n_basis"] == n
        prim = record["primitives"]["gelu"]
        assert (prim["n_basis"], prim["timesteps"]) == (n, 8)
    assert max(r["budget"]["gelu"]["n_basis"] for r in report.spiking) < 4  # it saved bases


def test_an_unmet_budget_keeps_the_most_accurate_neuron_and_says_so():
    snn, report = mbe.convert(TwoBranches(), _calibration(),
                              config=BASE.updated(error_budget=1e-9, activation_basis=2))
    for record in report.spiking:
        chosen = record["budget"]["gelu"]
        assert not chosen["met"]
        errors = {n: err for n, err in chosen["tried"]}
        assert chosen["error"] == min(errors.values()) == errors[chosen["n_basis"]]
        assert sorted(errors) == [1, 2]


# -- identity encoders under a budget ------------------------------------------------------------
def test_an_encoders_rounding_error_is_the_uniform_rounding_model():
    """What a budget measures of an identity encoder, (beta / sqrt(12)) / RMS(inputs), is its
    error on real draws: for one range, and for LayerNorm's per-channel powers of two."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200_000, generator=gen, dtype=torch.float64)
    rms = float(x.square().mean().sqrt())
    mul = mbe.ops.Multiply((-5.0, 5.0), (-5.0, 5.0), timesteps=6, identity_basis=1)
    decoded = mul.primitives["identity_a"].encode(x, "mbe", False).values
    measured = float((decoded - x).norm() / x.norm())
    predicted = mul.encoder_errors({"identity_a": rms})["identity_a"]
    assert predicted == pytest.approx(measured, rel=0.03)
    # four channels of widths 1, 2, 4, 8: channel i's step is 2^k_i times the shared one
    widths = torch.tensor([1.0, 2.0, 4.0, 8.0], dtype=torch.float64)
    rows = torch.randn(50_000, 4, generator=gen, dtype=torch.float64) * widths
    ln = mbe.ops.LayerNorm(4, None, None, 1e-5, channel_radius=4 * widths, timesteps=6,
                           identity_basis=2)
    c = rows - rows.mean(-1, keepdim=True)
    scale = ln.channel_scale
    decoded = ln.primitives["identity_input"].encode(c / scale, "mbe", False).values * scale
    measured = float((decoded - c).norm() / c.norm())
    predicted = ln.encoder_errors({"identity_input": float(c.square().mean().sqrt())})
    assert predicted["identity_input"] == pytest.approx(measured, rel=0.03)
    with pytest.raises(KeyError, match="no encoder"):
        mul.encoder_errors({"identity_c": 1.0})


@pytest.mark.parametrize("budget", [0.02, 1e-9])
def test_an_error_budget_sizes_every_operators_identity_encoders(budget):
    config = BASE.updated(identity_basis=8, error_budget=budget)
    snn, report = mbe.convert(tiny_bert(), token_batches(), config=config)
    chosen_n = []
    for site, record in zip(sites_of(snn), report.spiking):
        assert record["budget"] is site.budget and site.budget
        for name, chosen in site.budget.items():
            if name == site.operation and name in mbe.ops.DEFAULT_DOMAINS:
                continue  # an activation neuron (the tests above)
            tried = chosen["tried"]
            assert [n for n, _ in tried] == [1, 2, 4, 8][:len(tried)]  # fewest bases first
            assert all(err > budget for _, err in tried[:-1])
            if chosen["met"]:
                assert tried[-1] == [chosen["n_basis"], chosen["error"]]
            else:  # none met it: the most accurate, the largest N
                assert len(tried) == 4 and chosen["n_basis"] == 8
            op = getattr(site, name if name in ("qk", "softmax", "av") else "op")
            bases = {p["n_basis"] for p in op.describe().values() if p["target"] == "identity"}
            assert bases == {chosen["n_basis"]}  # what the ledger lists is what was chosen
            chosen_n.append(chosen["n_basis"])
    assert len(chosen_n) == 6  # qk, softmax, av and three LayerNorms (embeddings; attention and
    # output of the one layer)
    assert (min(chosen_n) < 8) if budget > 1e-3 else (set(chosen_n) == {8})
