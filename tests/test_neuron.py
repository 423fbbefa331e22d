"""The neuron: Eqs. 1-8 as pinned traces, and the fast path equal to the simulation."""
import math

import pytest
import torch

import mbe
from mbe.core import analysis, fitting
from mbe.core.dynamics import Kernels, Readout, simulate
from mbe.core.identity import error_bound, identity_encoder
from mbe.core.neuron import F64, mbe_kernels
from mbe.studies import neuron as neuron_study


def _breakpoint_probe(neuron, lo, hi, n=200_001):
    """A dense grid over [lo, hi] plus every breakpoint inside it and the float just below."""
    grid = torch.linspace(lo, hi, n, dtype=F64)
    b = neuron.staircase.breaks
    b = b[(b >= lo) & (b <= hi)]
    below = torch.nextafter(b, torch.tensor(-math.inf, dtype=F64))
    return torch.cat([grid, b, below, torch.tensor([lo, hi], dtype=F64)])


def _random_neuron(seed, n=8, t=16, decay=True):
    g = torch.Generator().manual_seed(seed)
    rnd = lambda *s: torch.rand(*s, generator=g, dtype=F64)  # noqa: E731
    ro = Readout(torch.randn(n, generator=g, dtype=F64), torch.randn(n, generator=g, dtype=F64),
                 torch.randn(n, generator=g, dtype=F64), torch.tensor(0.3, dtype=F64))
    return mbe.MBENeuron(rnd(3, n) * 2 + 0.3, rnd(n) + 0.5, rnd(3, n) + 0.1, ro, timesteps=t,
                         domain=(-4.0, 4.0), decay=decay)


def test_golden_trace_binary_basis():
    """u[0] = x, Vth = r = d = 2^-(t+1): the spikes are the binary digits of x (Eqs. 5-7)."""
    neuron = mbe.MBENeuron.halving(n_basis=1, timesteps=4, domain=(0.0, 1.0))
    x = torch.tensor([0.0, 0.3, 0.5, 0.8125, 0.99], dtype=F64)
    out, spikes = neuron.simulate(x)
    expected = torch.tensor([[0, 0, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0], [1, 1, 0, 1],
                             [1, 1, 1, 1]], dtype=F64)
    assert torch.equal(spikes[:, 0, :], expected)
    assert torch.equal(out, torch.tensor([0.0, 0.25, 0.5, 0.8125, 0.9375], dtype=F64))


def test_golden_trace_reset_exceeding_threshold():
    """A hand-computed FS trace where a reset overshoots and the membrane goes negative."""
    neuron = mbe.FSNeuron(d=torch.tensor([1.0, 2.0, 4.0], dtype=F64),
                          r=torch.tensor([1.5, 0.2, 1.0], dtype=F64),
                          vth=torch.tensor([1.0, 0.1, 0.05], dtype=F64), domain=(0.0, 3.0))
    # x = 1.2: t0 fires (1.2 >= 1) -> u = -0.3; t1, t2 silent -> output 1
    # x = 2.0: t0 fires -> 0.5; t1 fires -> 0.3; t2 fires -> -0.7 -> output 7
    # x = 0.5: t0 silent; t1 fires -> 0.3; t2 fires -> -0.7 -> output 6
    out, spikes = neuron.simulate(torch.tensor([1.2, 2.0, 0.5], dtype=F64))
    assert out.tolist() == [1.0, 7.0, 6.0]
    assert spikes[:, 0].tolist() == [[1, 0, 0], [1, 1, 1], [0, 1, 1]]


def test_kernels_follow_eq4():
    tau = torch.tensor([[1.0, 2.0], [0.5, 1.0], [4.0, 0.25]], dtype=F64)
    dt = torch.tensor([0.5, 1.5], dtype=F64)
    alpha = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=F64)
    k = mbe_kernels(tau, dt, alpha, timesteps=5)
    t = torch.arange(5, dtype=F64)[:, None]
    assert torch.allclose(k.d, alpha[0] * torch.exp(-t * dt / tau[0]))
    assert torch.allclose(k.r, alpha[1] * torch.exp(-t * dt / tau[1]))
    assert torch.allclose(k.vth, alpha[2] * torch.exp(-t * dt / tau[2]))
    flat = mbe_kernels(tau, dt, alpha, timesteps=5, decay=False)
    assert torch.equal(flat.vth, alpha[2].expand(5, 2))


def test_simulate_shapes_and_binary_spikes():
    neuron = _random_neuron(0, n=3, t=7)
    x = torch.randn(4, 5, dtype=F64)
    out, spikes = neuron.simulate(x)
    assert out.shape == (4, 5) and spikes.shape == (4, 5, 3, 7)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    assert neuron.kernels().d.shape == (7, 3)


@pytest.mark.parametrize("seed,decay", [(0, True), (1, True), (2, False)])
def test_fast_path_equals_simulation_random_neurons(seed, decay):
    neuron = _random_neuron(seed, decay=decay)
    x = _breakpoint_probe(neuron, -10.0, 10.0)
    out, _ = neuron.simulate(x)
    assert torch.equal(neuron(x), out)


def test_fast_path_equals_simulation_on_fitted_neuron():
    neuron = mbe.fit("gelu", (-120, 10), 4, 16, progress=False, epochs=30)
    x = _breakpoint_probe(neuron, -130.0, 20.0, n=300_001)
    assert len(x) > 300_000
    out, spikes = neuron.simulate(x)
    assert torch.equal(neuron(x), out)
    assert torch.equal(neuron.spike_counts(x), spikes.sum((-1, -2)).to(torch.int64))


def test_fast_path_float32_matches_float64_simulation():
    neuron = _random_neuron(3)
    x32 = torch.randn(100_000) * 3
    out64, _ = neuron.simulate(x32.to(F64))
    fast = neuron(x32)
    assert fast.dtype == torch.float32
    assert torch.equal(fast, out64.to(torch.float32))


def test_fs_neuron_fast_path():
    neuron = mbe.fit("relu", (-1, 1), timesteps=16, neuron="fs", init="random", progress=False,
                     epochs=5)
    x = _breakpoint_probe(neuron, -2.0, 2.0)
    assert torch.equal(neuron(x), neuron.simulate(x)[0])


def test_fs_binary_init_is_a_relu_quantiser():
    neuron = mbe.fit("relu", (-1, 1), timesteps=16, neuron="fs", init="binary", progress=False,
                     epochs=0)
    x = torch.linspace(-1, 1 - 2**-16, 10_001, dtype=F64)
    err = neuron(x) - torch.relu(x)
    assert err.max() <= 0 and err.min() > -(2.0**-16)  # floor quantiser of [0, 1), 16 bits
    assert neuron.meta["n_parameters"] == 48  # 3T


@pytest.mark.parametrize("lo,hi", [(-3.0, 5.0), (0.0, 62.0), (-0.7, 0.3)])
def test_identity_encoder_error_bound(lo, hi):
    enc = identity_encoder(lo, hi)
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.linspace(lo, hi, 500_001, dtype=F64),
                   lo + (hi - lo) * torch.rand(200_000, generator=g, dtype=F64)])
    bound = error_bound(lo, hi)
    assert bound == pytest.approx((hi - lo) / (2 * 8 * (2**16 - 1)))
    err = (enc(x) - x).abs()
    assert err.max() <= bound * (1 + 1e-9)
    assert err.max() >= 0.9 * bound  # the bound is tight, not loose
    assert enc.n_basis == 8 and enc.timesteps == 16
    assert torch.equal(enc(x[:100_000]), enc.simulate(x[:100_000])[0])


def test_identity_encoder_rejects_empty_range():
    with pytest.raises(ValueError, match="lo < hi"):
        identity_encoder(1.0, 1.0)


def test_out_of_range_inputs_are_counted_not_clamped():
    enc = identity_encoder(0.0, 1.0)
    x = torch.tensor([-0.5, 0.2, 0.7, 1.5, 3.0], dtype=F64)
    enc(x)
    stats = enc.range_stats.to_dict()
    assert stats["seen"] == 5 and stats["outside"] == 3
    assert stats["fraction_outside"] == pytest.approx(0.6)
    assert stats["min_seen"] == -0.5 and stats["max_seen"] == 3.0
    enc.reset_range_stats()
    assert enc.range_stats.seen == 0


def test_simulation_dynamics_are_the_shared_functional_core():
    """neuron.simulate is dynamics.simulate on the neuron's kernels and readout."""
    neuron = _random_neuron(4, n=2, t=5)
    x = torch.randn(50, dtype=F64)
    out, spikes = simulate(x, neuron.kernels(), neuron.readout(), record=True)
    out2, spikes2 = neuron.simulate(x)
    assert torch.equal(out, out2) and torch.equal(spikes, spikes2)
    assert isinstance(neuron.kernels(), Kernels)


def test_error_profile_tells_where_a_neuron_errs():
    neuron = mbe.MBENeuron.halving(n_basis=1, timesteps=8, domain=(0.0, 1.0))  # x on [0, 1)
    x = torch.linspace(-1, 1 - 2**-8, 2_001, dtype=F64)
    profile = analysis.error_profile(neuron, "identity", x)
    assert profile["x_at_max_abs_error"] == -1.0 and profile["max_abs_error"] == 1.0
    assert profile["output_at_max_abs_error"] == 0.0 and profile["min_output_below_zero"] == 0.0
    assert 0.3 < profile["mse_below_zero"] < 0.34  # mean of x^2 over [-1, 0)
    assert profile["mse_from_zero"] < 2.0**-16  # an 8-bit floor quantiser of [0, 1)
    lo, hi = analysis.firing_range(neuron, x)  # nothing fires below the last threshold, 2^-8
    assert lo == float(x[x >= 2.0**-8][0]) and hi == float(x[-1])


def test_edi_records_say_which_epoch_the_fit_returned():
    records, neurons = neuron_study.edi(timesteps=16, points=2_001, samples=500, epochs=5)
    binary = next(r for r in records if r["init"] == "binary")
    # the binary start is the 16-bit expansion of ReLU: no epoch beats it, the fit returns it
    assert binary["kept_epoch"] == 0 and binary["epochs"] == 5
    assert binary["train_mse_initial"] < 1e-9 < binary["train_mse_after_first_epoch"]
    assert binary["train_mse_initial"] == min(neurons["binary"].meta["history"])
    assert fitting.kept_epoch([3.0, 1.0, 1.0, float("nan")]) == 1
