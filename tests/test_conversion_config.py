"""One ConversionConfig builds every primitive of a converted model, and the report says, per
primitive, what each really is: read from the primitive, for every field of the config.

A tiny random-init BERT (one layer) has every primitive family: the GELU activation, the
2^x / 1/x neurons of the attention softmax and the 1/sqrt(x) neuron of each LayerNorm, and the
identity encoders of every spike multiplication. Small N and T keep the fits quick; each is
fitted once per session (the fit cache).
"""
import dataclasses

import pytest

import mbe
from mbe.conversion import sites_of
from synthetic import tiny_bert, token_batches

#: Small and quick to fit: the paper's recipe (no greedy initialisation), N = 2, T = 4.
BASE = mbe.ConversionConfig(timesteps=4, variant="paper", activation_basis=2, identity_basis=2,
                            arithmetic_basis=2)
ACTIVATIONS = {"gelu", "gelu_tanh", "tanh", "silu", "relu"}
ARITHMETIC = {"exp2", "reciprocal", "rsqrt"}


def _primitives(snn) -> list[dict]:
    return [p for site in sites_of(snn) for op in site.spiking_ops().values()
            for p in op.describe().values()]


def _family(p: dict) -> str:
    if p["target"] == "identity":
        return "identity"
    return "activation" if p["target"] in ACTIVATIONS else "arithmetic"


#: One field changed from BASE at a time, and what every primitive must then show.
CHANGES = {
    "timesteps": ({"timesteps": 3}, lambda p: p["timesteps"] == 3),
    "neuron": ({"neuron": "fs"}, lambda p: p["neuron"] == "fs" and p["n_basis"] == 1),
    "variant": ({"variant": "best"},
                lambda p: p["variant"] == ("fixed" if p["target"] == "identity" else "best")),
    "activation_basis": ({"activation_basis": 1},
                         lambda p: p["n_basis"] == (1 if _family(p) == "activation" else 2)),
    "identity_basis": ({"identity_basis": 1},
                       lambda p: p["n_basis"] == (1 if _family(p) == "identity" else 2)),
    "arithmetic_basis": ({"arithmetic_basis": 1},
                         lambda p: p["n_basis"] == (1 if _family(p) == "arithmetic" else 2)),
    "fit_to": ({"fit_to": "calibration"},
               lambda p: p["objective"] == {"activation": "calibration", "identity": "fixed",
                                            "arithmetic": "uniform"}[_family(p)]),
    # a budget every candidate meets: each activation neuron and identity encoder gets the
    # fewest bases, N = 1 (the arithmetic neurons keep theirs)
    "error_budget": ({"fit_to": "calibration", "error_budget": 10.0},
                     lambda p: (p["n_basis"], p["timesteps"]) == ((2, 4) if _family(p) ==
                                                                  "arithmetic" else (1, 4))),
    # LayerNorm's centred-input encoder (the only one that says how channels share it)
    "layernorm_scale": ({"layernorm_scale": "channel"},
                        lambda p: p.get("scale", "channel") == "channel"),
}


@pytest.fixture(scope="module")
def base():
    return mbe.convert(tiny_bert(), token_batches(), config=BASE)


def test_the_configuration_covers_every_field():
    fields = {f.name for f in dataclasses.fields(mbe.ConversionConfig)}
    assert fields == set(CHANGES) | {"mode", "margin"}


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_every_primitive_carries_the_field_asked_for(field):
    change, holds = CHANGES[field]
    snn, report = mbe.convert(tiny_bert(), token_batches(), config=BASE.updated(**change))
    prims = _primitives(snn)
    assert {_family(p) for p in prims} == {"activation", "arithmetic", "identity"}
    assert all(p["fitted"] for p in prims)  # read from the neurons, not from the arguments
    wrong = [p for p in prims if not holds(p)]
    assert not wrong, f"{field}={change[field]!r} did not reach {wrong}"
    listed = [p for s in report.spiking for p in s["primitives"].values()]
    assert len(listed) == len(prims) and all(holds(p) for p in listed)
    assert report.settings[field] == change[field]


def test_the_base_configuration_is_what_it_says(base):
    snn, _ = base
    for p in _primitives(snn):
        assert (p["timesteps"], p["n_basis"], p["neuron"]) == (4, 2, "mbe")
        assert p["variant"] == ("fixed" if p["target"] == "identity" else "paper")
        assert p["objective"] == ("fixed" if p["target"] == "identity" else "uniform")


def test_mode_and_margin_reach_every_site(base):
    snn, report = mbe.convert(tiny_bert(), token_batches(), config=BASE.updated(mode="exact",
                                                                        margin=0.25))
    for site in sites_of(snn):
        assert all(op.mode == "exact" for op in site.spiking_ops().values())
        for name, (lo, hi) in site.calibrated.items():
            if name in site.ranges:
                seen_lo, seen_hi = site.ranges[name].bounds()
                width = seen_hi - seen_lo
                assert (lo, hi) == pytest.approx((seen_lo - 0.25 * width, seen_hi + 0.25 * width))
    assert report.settings["margin"] == 0.25 and report.calibration["margin"] == 0.25


def test_keywords_override_the_configuration():
    snn, report = mbe.convert(tiny_bert(), token_batches(), 3, "exact", config=BASE,
                              identity_basis=1)
    assert (report.settings["timesteps"], report.settings["mode"]) == (3, "exact")
    assert {p["n_basis"] for p in _primitives(snn) if p["target"] == "identity"} == {1}


def test_the_paper_configuration():
    cfg = mbe.ConversionConfig.paper()
    assert (cfg.timesteps, cfg.variant, cfg.activation_basis, cfg.identity_basis,
            cfg.arithmetic_basis) == (16, "paper", 4, 8, 8)


@pytest.mark.parametrize("bad, message", [
    ({"timesteps": 0}, "timesteps"), ({"neuron": "lif"}, "neuron"),
    ({"variant": "fancy"}, "variant"), ({"identity_basis": 3}, "power of two"),
    ({"neuron": "fs", "activation_basis": 4}, "one basis"), ({"margin": -0.1}, "margin"),
    ({"mode": "fast"}, "mode"), ({"fit_to": "sideways"}, "fit_to"),
    ({"fit_to": "calibration", "error_budget": 0}, "error_budget"),
    ({"error_budget": 0.01}, "fit_to='calibration'"), ({"layernorm_scale": "row"}, "layernorm_scale")])
def test_bad_configurations_are_refused_with_the_fix(bad, message):
    with pytest.raises(ValueError, match=message):
        mbe.ConversionConfig(**bad)
    with pytest.raises(ValueError, match=message):
        mbe.convert(tiny_bert(), token_batches(), **bad)


def test_unknown_keywords_name_the_fields():
    with pytest.raises(TypeError, match="activation_basis"):
        mbe.convert(tiny_bert(), token_batches(), n_basis=4)
