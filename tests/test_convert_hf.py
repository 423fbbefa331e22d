"""Converting Hugging Face models: exact-primitive parity, interface, GPT-2's causal mask.

Random-init small configurations (2 layers, hidden 32, 4 heads, vocabulary 100): the real
MiniLM is exercised by notebooks/03_conversion.ipynb.
"""
import copy

import pytest
import torch
from transformers import (BertConfig, BertForSequenceClassification, BertModel, GPT2Config,
                          GPT2LMHeadModel, RobertaConfig, RobertaForSequenceClassification,
                          ViTConfig, ViTForImageClassification)
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS

import mbe
from mbe.conversion import hf, set_mode

VOCAB = 100


def _bert_config():
    return BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2,
                      num_attention_heads=4, intermediate_size=64, max_position_embeddings=64)


def _text_batch(seed=0, batch=4, length=12, low=0):
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(low, VOCAB, (batch, length), generator=gen)
    mask = torch.ones_like(ids)
    mask[1, length - 4:] = 0  # one padded sequence: the padding mask must survive conversion
    return {"input_ids": ids, "attention_mask": mask}


def _gpt2():
    torch.manual_seed(0)
    config = GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=VOCAB, n_positions=64,
                        bos_token_id=0, eos_token_id=0, pad_token_id=0)
    return GPT2LMHeadModel(config).eval()


def _models():
    torch.manual_seed(0)
    vit = ViTForImageClassification(ViTConfig(
        image_size=16, patch_size=4, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, num_labels=5)).eval()
    roberta = RobertaForSequenceClassification(RobertaConfig(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=64, num_labels=3, pad_token_id=1)).eval()
    pixels = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    return {
        "bert": (BertModel(_bert_config()).eval(), [_text_batch(0), _text_batch(1)]),
        "bert-cls": (BertForSequenceClassification(_bert_config()).eval(), [_text_batch(0)]),
        "roberta-cls": (roberta, [_text_batch(0, low=3)]),
        "gpt2": (_gpt2(), [{"input_ids": _text_batch(0)["input_ids"]}]),
        "vit": (vit, [{"pixel_values": pixels}]),
    }


MODELS = _models()


def _output(model, batch):
    with torch.no_grad():
        return model(**batch)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_exact_primitives_match_the_ann(name):
    model, batches = MODELS[name]
    state = copy.deepcopy(model.state_dict())
    snn, report = mbe.convert(model, batches, mode="exact")
    test = batches[0]
    ann_out, snn_out = _output(model, test), _output(snn, test)
    assert type(snn_out) is type(ann_out)
    assert (snn_out[0] - ann_out[0]).abs().max() <= 1e-4
    # the input model is untouched and still usable
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    assert model.config._attn_implementation != hf.IMPLEMENTATION
    assert torch.equal(_output(model, test)[0], ann_out[0])
    assert report.output_error["max_abs"] <= 1e-4


def test_every_nonlinearity_of_bert_is_a_spiking_site():
    model, batches = MODELS["bert-cls"]
    _, report = mbe.convert(model, batches, mode="exact")
    ops = [(s["path"], s["operation"]) for s in report.spiking]
    layers = model.config.num_hidden_layers
    assert sum(op == "attention" for _, op in ops) == layers
    assert sum(op == "gelu" for _, op in ops) == layers
    assert sum(op == "layernorm" for _, op in ops) == 2 * layers + 1
    assert ("bert.pooler.activation", "tanh") in ops
    floats = {s["path"]: s["operation"] for s in report.floating}
    assert floats["classifier"] == "weights"
    assert floats["bert.embeddings.word_embeddings"] == "embedding"
    assert floats["bert.encoder.layer.0.output"] == "sum"  # residual add


def test_gpt2_uses_the_tanh_gelu_and_roberta_head_tanh_is_converted():
    _, gpt2_report = mbe.convert(*MODELS["gpt2"], mode="exact")
    assert {s["operation"] for s in gpt2_report.spiking} >= {"gelu_tanh", "attention"}
    assert "gelu" not in {s["operation"] for s in gpt2_report.spiking}
    _, roberta_report = mbe.convert(*MODELS["roberta-cls"], mode="exact")
    head = [s for s in roberta_report.spiking if s["path"] == "classifier"]
    assert [(s["operation"], s["via"]) for s in head] == [("tanh", "functional call")]


def _leaks_future(model) -> float:
    """How much changing the last 4 tokens moves the logits of the first 8 positions."""
    ids = _text_batch(3)["input_ids"]
    changed = ids.clone()
    changed[:, 8:] = (changed[:, 8:] + 1) % VOCAB
    with torch.no_grad():
        return float((model(changed).logits[:, :8] - model(ids).logits[:, :8]).abs().max())


def test_converted_gpt2_keeps_its_causal_mask():
    snn, _ = mbe.convert(*MODELS["gpt2"], mode="exact")
    assert _leaks_future(snn) == 0.0


def test_dropping_the_mask_function_is_caught(monkeypatch):
    """Without the registered mask function transformers builds no mask at all: the check
    above must then see the future leak in (so it would fail if the mask were dropped)."""
    snn, _ = mbe.convert(*MODELS["gpt2"], mode="exact")
    monkeypatch.delitem(ALL_MASK_ATTENTION_FUNCTIONS._global_mapping, hf.IMPLEMENTATION)
    assert _leaks_future(snn) > 1e-3


def test_converted_gpt2_generates_the_ann_tokens():
    model, batches = MODELS["gpt2"]
    snn, _ = mbe.convert(model, batches, mode="exact")
    prompt = _text_batch(5)["input_ids"][:, :4]
    kwargs = dict(max_new_tokens=8, do_sample=False, pad_token_id=0)
    assert torch.equal(snn.generate(prompt, **kwargs), model.generate(prompt, **kwargs))


def test_left_padded_gpt2_batch_generates_the_ann_tokens():
    """Left padding leaves the first queries of a row with no key to attend to: the converted
    attention gives them zeros, as SDPA does, instead of failing."""
    model, batches = MODELS["gpt2"]
    snn, _ = mbe.convert(model, batches, mode="exact")
    prompt = _text_batch(6)["input_ids"][:, :6]
    mask = torch.ones_like(prompt)
    mask[0, :3] = 0
    kwargs = dict(attention_mask=mask, max_new_tokens=6, do_sample=False, pad_token_id=0)
    assert torch.equal(snn.generate(prompt, **kwargs), model.generate(prompt, **kwargs))
    with torch.no_grad():
        ann, out = model(prompt, attention_mask=mask).logits, snn(prompt, attention_mask=mask).logits
    assert (ann - out)[mask.bool()].abs().max() <= 1e-4


@pytest.mark.slow  # fits five neurons (GELU, tanh, 2^x, 1/x, 1/sqrt x) on a cold cache
def test_spiking_bert_is_close_and_fast_equals_spike():
    model, batches = MODELS["bert"]
    snn, report = mbe.convert(model, batches, mode="mbe")
    test = _text_batch(7)
    ann = _output(model, test).last_hidden_state
    fast = _output(snn, test).last_hidden_state
    rel = float((fast - ann).norm() / ann.norm())
    assert rel < 0.05, rel
    set_mode(snn, "spike")
    assert torch.equal(_output(snn, test).last_hidden_state, fast)
    assert all(s["firing_rate"] > 0 for s in report.spiking)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_models_convert_and_run(dtype):
    """A bf16 or fp16 model converts and runs in its own dtype: the neurons evaluate in
    float32 and cast back (docs/decisions.md, "Devices, paths and dtypes"), so the SNN stays
    as close to its ANN as in float32; "mbe" and "spike" still agree bit for bit."""
    settings = {"timesteps": 8, "activation_basis": 2, "arithmetic_basis": 2}
    test = _text_batch(3)
    cosine = {}
    for kind in (torch.float32, dtype):
        model = copy.deepcopy(MODELS["bert"][0]).to(kind)
        snn, report = mbe.convert(model, [_text_batch(0)], **settings)
        ann = _output(model, test).last_hidden_state
        fast = _output(snn, test).last_hidden_state
        assert fast.dtype == kind and bool(torch.isfinite(fast).all())
        cosine[kind] = float(torch.nn.functional.cosine_similarity(
            fast.double().flatten(), ann.double().flatten(), 0))
    assert cosine[dtype] > cosine[torch.float32] - 1e-4, cosine
    set_mode(snn, "spike")
    assert torch.equal(_output(snn, test).last_hidden_state, fast)
    assert report.measured_on["device"] == "cpu" and report.measured_on["path"] in (
        "compiled", "torch")
