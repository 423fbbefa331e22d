"""Fitting to a distribution of real inputs: the histogram calibration keeps, the mixture a fit
draws from, the objective it minimises, and the cache key that tells the fits apart."""
import pytest
import torch

import mbe
from mbe.core import fitting
from mbe.core.distribution import InputDistribution
from mbe.ranges import Histogram

QUICK = {"epochs": 30, "samples": 2_000}
F64 = torch.float64


def _normal(n: int, scale: float = 1.0, seed: int = 0) -> torch.Tensor:
    return scale * torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=F64)


def test_histogram_bins_tile_the_values_and_count_every_finite_one():
    x = _normal(20_000, 3.0)
    hist = Histogram()
    hist.update(x[:7_000])
    hist.update(torch.cat([x[7_000:], torch.tensor([float("nan"), float("inf")], dtype=F64)]))
    edges, counts = hist.bins()
    assert bool((edges[1:] > edges[:-1]).all())
    assert int(counts.sum()) == 20_000 and hist.total == 20_000  # non-finite values not binned
    assert edges[0] <= x.min() and x.max() <= edges[-1]
    widths = (edges[1:] - edges[:-1])[counts > 0]
    middle = (0.5 * (edges[1:] + edges[:-1]))[counts > 0].abs()
    assert bool((widths <= middle / 64).all())  # bins about 1/128 of their value wide
    assert hist.rms() == pytest.approx(float(x.square().mean().sqrt()), rel=0.004)


def test_histogram_of_nothing_finite_is_refused():
    hist = Histogram()
    hist.update(torch.tensor([float("nan")]))
    with pytest.raises(ValueError, match="empty"):
        hist.bins()


def test_draws_follow_the_mixture_and_stay_in_the_domain():
    x = _normal(50_000)
    dist = InputDistribution.from_samples(x, (-20.0, 30.0), coverage=0.1)
    draws = dist.draw(10_000, seed=0)
    assert bool((draws >= -20).all() and (draws <= 30).all())
    assert torch.equal(draws, dist.draw(10_000, seed=0))  # deterministic for a seed
    inside = float(((draws > -3) & (draws < 3)).double().mean())
    # (1 - c) of the mass follows the inputs (99.7 % within 3 sigma), c spreads over 50 units
    assert inside == pytest.approx(0.9 * 0.9973 + 0.1 * 6 / 50, abs=0.01)
    assert float((draws > 10).double().mean()) == pytest.approx(0.1 * 20 / 50, abs=0.01)


def test_equal_inputs_are_one_distribution_and_outsiders_are_refused():
    x = _normal(5_000)
    a = InputDistribution.from_samples(x, (-6.0, 6.0))
    b = InputDistribution.from_samples(x.flip(0), (-6.0, 6.0))
    assert a == b and hash(a) == hash(b)
    assert a != InputDistribution.from_samples(x, (-6.0, 6.0), coverage=0.2)
    assert a != InputDistribution.from_samples(x[:4_000], (-6.0, 6.0))
    with pytest.raises(ValueError, match="outside the domain"):
        InputDistribution.from_samples(x, (-1.0, 1.0))
    with pytest.raises(ValueError, match="coverage"):
        InputDistribution.from_samples(x, (-6.0, 6.0), coverage=1.5)


def test_a_fit_to_inputs_near_zero_beats_the_uniform_fit_where_they_are():
    """The objective: on samples from the distribution it was fitted to, the calibrated
    neuron's mean squared error is lower than the uniform neuron's."""
    domain = (-20.0, 10.0)
    inputs = _normal(100_000, 1.0, seed=1)
    uniform = mbe.fit("gelu", domain, 2, 8, progress=False, **QUICK)
    calibrated = mbe.fit("gelu", domain, 2, 8, inputs=inputs, progress=False, **QUICK)
    test = _normal(200_000, 1.0, seed=2)
    target = torch.nn.functional.gelu(test)
    err = {name: float((n(test) - target).pow(2).mean())
           for name, n in (("uniform", uniform), ("calibrated", calibrated))}
    assert err["calibrated"] < 0.8 * err["uniform"], err  # measured: 0.67 of it
    assert calibrated.meta["objective"]["objective"] == "calibration"
    assert "objective" not in uniform.meta


def test_the_distribution_is_part_of_the_cache_key_and_uniform_keys_are_unchanged():
    domain = (-5.0, 5.0)
    x, y = fitting._samples(mbe.TARGETS["tanh"], domain, 100, 0)
    cfg = fitting.config_for("best")
    uniform = fitting._cache_key("tanh", y, domain, 2, 8, "mbe", cfg, 0, "ramps")
    assert "inputs" not in uniform
    a = InputDistribution.from_samples(_normal(1_000), domain)
    b = InputDistribution.from_samples(_normal(1_000, seed=5), domain)
    keys = [fitting._cache_key("tanh", y, domain, 2, 8, "mbe", cfg, 0, "ramps", d)
            for d in (a, b)]
    assert keys[0]["inputs"]["sha256"] != keys[1]["inputs"]["sha256"]
    assert mbe.fit("tanh", domain, 2, 8, inputs=_normal(1_000), progress=False, **QUICK) \
        .meta["objective"]["sha256"] == a.digest


def test_samples_and_weights_are_one_form_and_are_validated():
    x = _normal(3_000)
    hist = Histogram()
    hist.update(x)
    by_samples = fitting.input_distribution((-5.0, 5.0), inputs=x)
    by_weights = fitting.input_distribution((-5.0, 5.0), weights=hist.bins())
    assert by_samples == by_weights
    with pytest.raises(ValueError, match="not both"):
        fitting.input_distribution((-5.0, 5.0), inputs=x, weights=hist.bins())
    with pytest.raises(TypeError, match="histogram"):
        fitting.input_distribution((-5.0, 5.0), weights=x)
