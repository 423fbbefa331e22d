"""The device smoke test: a converted model on CUDA against the same model on the CPU.

Skipped without CUDA. Elementwise operators give the CPU's bits on the GPU (the same
comparisons and IEEE float64 operations); whole models differ only where torch's own kernels
(matrix products, reductions) round in another order on the GPU.
"""
import copy

import pytest
import torch
from transformers import BertConfig, BertModel

import mbe
from mbe.ops import Activation, Multiply

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA device on this machine")
CUDA = torch.device("cuda")


def test_elementwise_operators_give_the_cpus_bits_on_cuda():
    x = torch.randn(64, 257, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3
    x[0, :3] = torch.tensor([float("nan"), float("inf"), -float("inf")], dtype=torch.float64)
    for mode in ("mbe", "spike"):
        gelu = Activation("gelu", timesteps=8, activation_basis=2, mode=mode)
        product = Multiply((-3.0, 5.0), (-3.0, 5.0), timesteps=8, mode=mode)
        for op, args in ((gelu, (x,)), (product, (x, x.flip(0)))):
            on_cpu = op(*args)
            on_gpu = op(*(a.to(CUDA) for a in args)).cpu()
            assert torch.equal(on_cpu.nan_to_num(7.0), on_gpu.nan_to_num(7.0)), (op, mode)


def test_a_converted_model_follows_to_cuda_and_calibrates_there():
    torch.manual_seed(0)
    ann = BertModel(BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
                               num_attention_heads=4, intermediate_size=64)).eval()
    ids = torch.randint(0, 100, (4, 12), generator=torch.Generator().manual_seed(1))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    settings = {"timesteps": 8, "activation_basis": 2, "arithmetic_basis": 2}
    snn_cpu, _ = mbe.convert(ann, [batch], **settings)
    snn_gpu, report = mbe.convert(copy.deepcopy(ann).to(CUDA), [batch], **settings)
    assert report.measured_on == {**report.measured_on, "device": "cuda:0", "path": "torch"}
    moved = copy.deepcopy(snn_cpu).to(CUDA)
    with torch.no_grad():
        want = snn_cpu(**batch).last_hidden_state
        for snn in (snn_gpu, moved):
            got = snn(**{k: v.to(CUDA) for k, v in batch.items()}).last_hidden_state.cpu()
            assert float((got - want).norm() / want.norm()) < 1e-3
