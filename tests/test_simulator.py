"""Spike mode's C simulation (`mbe.simulator`) against the torch reference (`mbe.dynamics`)."""
import math

import pytest
import torch

import mbe
from edges import bits, edge_inputs
from mbe.core import simulator
from mbe.native import loader
from mbe.core.dynamics import Readout, simulate
from mbe.core.identity import identity_encoder
from mbe.core.neuron import F64
from mbe.ranges import Range


def _random_neuron(seed, n=8, t=16):
    g = torch.Generator().manual_seed(seed)
    rnd = lambda *s: torch.rand(*s, generator=g, dtype=F64)  # noqa: E731
    ro = Readout(torch.randn(n, generator=g, dtype=F64), torch.randn(n, generator=g, dtype=F64),
                 torch.randn(n, generator=g, dtype=F64), torch.tensor(0.3, dtype=F64))
    return mbe.MBENeuron(rnd(3, n) * 2 + 0.3, rnd(n) + 0.5, rnd(3, n) + 0.1, ro, timesteps=t,
                         domain=(-4.0, 4.0))


NEURONS = {
    "mbe N=8 T=16": lambda: _random_neuron(0),
    "mbe N=3 T=11": lambda: _random_neuron(1, n=3, t=11),
    "identity N=8 T=16": lambda: identity_encoder(-3.0, 5.0, 8, 16),
    "fs": lambda: mbe.FSNeuron(torch.tensor([0.5, 0.25, 0.125]), torch.tensor([0.5, 0.3, 0.1]),
                               torch.tensor([0.5, 0.2, 0.1]), domain=(0.0, 1.0)),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", NEURONS)
def test_simulation_equals_the_reference_bit_for_bit(name, dtype, monkeypatch, native):
    """Every loop (AVX-512, the AVX2 lane loop, the portable one) against one reference run."""
    neuron = NEURONS[name]()
    x = edge_inputs(neuron.staircase.breaks, dtype)
    y, spikes = simulate(x.to(F64), neuron.kernels(), neuron.readout(), record=True)
    nan = torch.isnan(x)
    weights = 2.0 ** torch.arange(neuron.timesteps - 1, -1, -1, dtype=F64)
    code = (spikes @ weights).sum(-1).masked_fill(nan, -1)
    counts, total = spikes.sum((-2, -1)).to(torch.int32), int(spikes.sum())
    del spikes
    for simd in (True, "avx2", False):
        monkeypatch.setattr(loader, "SIMD", simd)
        sim = simulator.simulate(neuron, x, neuron.domain, counts=True, code=True)
        assert torch.equal(bits(sim.values), bits(y.masked_fill(nan, math.nan))), simd
        assert torch.equal(sim.counts, counts) and sim.spikes == total, simd
        assert torch.equal(sim.code.nan_to_num(-1.0), code), simd
        assert sim.seen == Range.of(x, neuron.domain), simd
    # and the exact fast path, from the same decoding order, gives the same values
    assert torch.equal(sim.values[~nan], neuron.staircase.lookup(x[~nan]))


def test_simulation_keeps_shape_and_reads_a_transposed_view():
    neuron = _random_neuron(2)
    x = torch.randn(64, 48).mT  # K^T in Q K^T: not contiguous
    sim = simulator.simulate(neuron, x, neuron.domain, counts=True)
    assert sim.values.shape == sim.counts.shape == (48, 64) and sim.code is None
    assert torch.equal(sim.values, simulator.simulate(neuron, x.contiguous(),
                                                      neuron.domain).values)


def test_long_trains_fall_back_to_the_reference():
    neuron = _random_neuron(3, n=2, t=simulator.MAX_STEPS + 2)
    x = torch.randn(300, dtype=F64)
    sim = simulator.simulate(neuron, x, neuron.domain, counts=True)
    y, spikes = simulate(x, neuron.kernels(), neuron.readout(), record=True)
    assert torch.equal(sim.values, y) and sim.spikes == int(spikes.sum())


def test_simulation_refuses_integer_inputs():
    neuron = _random_neuron(4)
    with pytest.raises(TypeError, match="float32 or float64"):
        simulator.simulate(neuron, torch.arange(5), neuron.domain)


@pytest.mark.parametrize("name", [n for n in NEURONS if not n.startswith("fs")])
def test_the_staircase_levels_and_counts_are_the_reference_simulation(name):
    """The staircase reads each piece's level and spike count from the simulation (C where
    it loaded); they are the torch reference's at every piece's first point, and the
    staircase equals the reference just below every break too."""
    neuron = NEURONS[name]()
    st = neuron.staircase
    starts = torch.cat([torch.tensor([-torch.finfo(F64).max], dtype=F64), st.breaks])
    below = torch.nextafter(st.breaks, torch.tensor(-math.inf, dtype=F64))
    for x, pieces in ((starts, torch.arange(len(starts))), (below, torch.arange(len(below)))):
        y, spikes = simulate(x, neuron.kernels(), neuron.readout(), record=True)
        assert torch.equal(bits(st.levels[pieces]), bits(y))
        assert torch.equal(st.spike_counts[pieces], spikes.sum((-2, -1)).to(torch.int64))
