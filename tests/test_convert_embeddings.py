"""Real sentences and embedding agreement for the conversion notebook (no model loaded)."""
import pytest
import torch

from mbe.studies import corpora, embeddings


def test_real_sentences_are_distinct_deterministic_and_held_out():
    first = corpora.real_sentences(300, seed=0)
    assert len(set(first)) == 300
    assert corpora.real_sentences(300, seed=0) == first
    assert corpora.real_sentences(10, seed=0, skip=290) == first[290:]
    assert corpora.real_sentences(300, seed=1) != first
    for sentence in first:
        assert 8 <= len(sentence.split()) <= 40 and sentence[-1] in ".!?"


def test_a_text_file_is_a_source(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("This sentence is long enough to be kept as real prose here. Too short.\n\n"
                    "    indented code is dropped entirely from the text here.\n")
    assert corpora.real_sentences(1, source=str(path)) == [
        "This sentence is long enough to be kept as real prose here."]
    with pytest.raises(ValueError, match="usable sentences"):
        corpora.real_sentences(2, source=str(path))
    with pytest.raises(ValueError, match="neither 'pydoc' nor a readable file"):
        corpora.real_sentences(1, source=str(tmp_path / "missing.txt"))


def test_agreement_is_cosine_per_sentence():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    b = torch.tensor([[1.0, 1.0], [0.0, 3.0]])
    result = embeddings.agreement(a, b)
    assert result["min_cosine"] == pytest.approx(2 ** -0.5)
    assert result["mean_cosine"] == pytest.approx((2 ** -0.5 + 1) / 2)
    assert result["max_abs_diff"] == 1.0


@pytest.mark.parametrize("bad, name", [({"timesteps_list": [0]}, "timesteps_list="),
                                       ({"n_sentences": 0}, "n_sentences="),
                                       ({"model": ""}, "model="),
                                       ({"activation_basis": 0}, "activation_basis=")])
def test_bad_notebook_parameters_are_named(bad, name):
    args = dict(model="all-MiniLM-L6-v2", timesteps_list=[16], n_sentences=8, n_calibration=8,
                batch_size=8, max_length=32, spike_check=0, activation_basis=4) | bad
    with pytest.raises(ValueError, match=name):
        embeddings.check_parameters(**args)
