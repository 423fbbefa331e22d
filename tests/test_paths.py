"""The torch path (what runs off the CPU: CUDA, MPS, ...) equals the compiled loops bit for bit.

Every operator runs on the same inputs twice on the CPU, once with the compiled loops and once
inside `loader.torch_path()`, in float32 and float64, in "mbe" mode (with and without spike
recording) and "spike" mode: staircase breaks and the float just below each, NaN, infinities.
Outputs must have the same bits and the reports must be equal. Small fits (T = 8, N = 2).
"""
import math

import pytest
import torch

from edges import bits, edge_inputs
from mbe.core import simulator
from mbe.core.identity import identity_encoder
from mbe.native import loader
from mbe.native import softmax as native_softmax
from mbe.ops import Activation, LayerNorm, Multiply, Softmax
from mbe.ops.primitives import identity
from mbe.ops.softmax import LOG2E

T, N = 8, 2
DTYPES = [torch.float32, torch.float64]


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _both_paths(run):
    """(run() with the compiled loops, run() on the torch path)."""
    compiled = run()
    with loader.torch_path():
        return compiled, run()


def _assert_same(a, b):
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert torch.equal(bits(a), bits(b))
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            _assert_same(u, v)
    else:
        assert a == b


def _op_runs(op, *args, method=None):
    """op's outputs and reports in "mbe" (not recording, recording) and "spike" mode."""
    def run():
        out = []
        for mode, record in (("mbe", False), ("mbe", True), ("spike", False)):
            op.mode, op.record = mode, record
            op.reset_stats()
            with torch.no_grad():
                y = (getattr(op, method) if method else op)(*args)
            out.append((y, op.report()))
        op.mode, op.record = "mbe", False
        return out
    return run


def test_the_path_is_chosen_by_device_and_can_be_forced(native):
    assert loader.path_for("cpu") == "compiled"
    assert loader.path_for("meta") == "torch"  # any device but the CPU
    with loader.torch_path():
        assert loader.path_for("cpu") == "torch"
        assert loader.compiled(torch.zeros(1)) is None
    assert loader.compiled(torch.zeros(1)) is native


@pytest.mark.parametrize("dtype", DTYPES)
def test_activation(dtype, native):
    op = Activation("gelu", timesteps=T, activation_basis=N)
    x = edge_inputs(op.neuron("gelu").staircase.breaks, dtype, n_random=301, scale=8.0)
    x = x.reshape(-1, 8)
    _assert_same(*_both_paths(_op_runs(op, x)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_identity_tables_and_quantiser(dtype, native):
    """The identity encoder's closed form (compiled) against its table searched by torch."""
    ident = identity(-3.0, 5.0, 2, T)
    x = edge_inputs(ident.neuron.staircase.breaks, dtype, n_random=301, scale=4.0)
    _assert_same(*_both_paths(lambda: [ident.table(x, ident.domain, index=i) for i in (0, 1)]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_multiply_and_matmul(dtype, native):
    op = Multiply((-3.0, 5.0), (-1.0, 2.0), timesteps=T)
    a = edge_inputs(op.encoders[0].neuron.staircase.breaks, dtype, n_random=301, scale=4.0)
    a = a[:240].reshape(4, 6, 10)
    b = (torch.randn(4, 10, 6, generator=_gen(3)) * 2).to(dtype)
    b[0, 0, 0] = math.nan
    _assert_same(*_both_paths(_op_runs(op, a, a.flip(0), method="forward")))
    _assert_same(*_both_paths(_op_runs(op, a, b, method="matmul")))


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax(dtype, native):
    op = Softmax(timesteps=T, arithmetic_basis=N)
    x = (torch.randn(3, 5, 37, generator=_gen(4)) * 30).to(dtype)
    x[0, 1, 4], x[1, 2, :3], x[2, 0, 7] = math.nan, -math.inf, -300.0  # NaN, masked, flushed
    mask = torch.rand(3, 1, 37, generator=_gen(5)) > 0.3
    mask[..., 0] = True
    _assert_same(*_both_paths(_op_runs(op, x)))
    _assert_same(*_both_paths(_op_runs(op, x, mask)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scales", ["tensor", "channel", "uncalibrated"])
def test_layernorm(dtype, scales, native):
    ln = torch.nn.LayerNorm(24)
    with torch.no_grad():
        ln.weight.normal_(generator=_gen(6))
        ln.bias.normal_(generator=_gen(7))
    x = (torch.randn(4, 6, 24, generator=_gen(8)) * 2 + 1).to(dtype)
    x[..., 3] *= 40  # an outlier channel
    peak = (x - x.mean(-1, keepdim=True)).abs().reshape(-1, 24).amax(0).double()
    kwargs = {"tensor": {"input_range": (float(x.min()), float(x.max()))},
              "channel": {"input_range": (float(x.min()), float(x.max())),
                          "channel_radius": peak},
              "uncalibrated": {}}[scales]
    op = LayerNorm.from_module(ln, timesteps=T, arithmetic_basis=N, **kwargs)
    _assert_same(*_both_paths(_op_runs(op, x)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_loops(dtype, native):
    """split, place and the row sums (float32: sum16's order, rebuilt in torch)."""
    x = (torch.randn(7, 45, generator=_gen(9)) * 40).to(dtype)
    x[1, :3], x[2, 5] = -math.inf, math.nan
    low = -126 if dtype == torch.float32 else -1022

    def run():
        top, per_row, k, f = native_softmax.softmax_split(x, LOG2E, low)
        placed = native_softmax.softmax_place(x, top, LOG2E, low, per_row, torch.exp2(f))
        return top, per_row, k, f, placed, native_softmax.row_sums(placed.nan_to_num(0.5))
    _assert_same(*_both_paths(run))


@pytest.mark.parametrize("dtype", DTYPES)
def test_simulation(dtype, native):
    neuron = identity_encoder(-3.0, 5.0, 2, T)
    x = edge_inputs(neuron.staircase.breaks, dtype, n_random=301, scale=4.0)

    def run():
        sim = simulator.simulate(neuron, x, neuron.domain, counts=True, code=True)
        return sim.values, sim.counts, sim.code, sim.spikes, sim.seen
    _assert_same(*_both_paths(run))


def test_a_converted_model_gives_the_same_bits_on_both_paths(native):
    """A whole converted BERT (attention, softmax, GELU, LayerNorm with channel scales) in
    "mbe" and "spike" mode: every operator is bit-equal, and so is the model."""
    from transformers import BertConfig, BertModel

    import mbe

    torch.manual_seed(0)
    ann = BertModel(BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
                               num_attention_heads=4, intermediate_size=64)).eval()
    ids = torch.randint(0, 100, (3, 11), generator=_gen(10))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    snn, report = mbe.convert(ann, [batch], timesteps=T, activation_basis=N,
                              arithmetic_basis=N, layernorm_scale="channel")
    assert report.measured_on["path"] == "compiled"

    def run():
        with torch.no_grad():
            return [mbe.set_mode(snn, mode)(**batch).last_hidden_state
                    for mode in ("mbe", "spike")]
    _assert_same(*_both_paths(run))


def test_a_device_without_float64_is_refused_naming_the_fix():
    with pytest.raises(TypeError, match="MPS does not have: run the converted model on the CPU"):
        loader.check_float64(torch.device("mps"))
    loader.check_float64(torch.device("cpu"))
