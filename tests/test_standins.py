"""Stand-in models: deterministic training, the model cache and its integrity check, the
architectures (tiny variants: the full ones are trained by the table notebooks)."""
import warnings

import pytest
import torch

from mbe import paths
from mbe.studies import architectures, standins, training


def _weights(trained):
    return {k: v.clone() for k, v in trained.model.state_dict().items()}


@pytest.mark.parametrize("name", ["minilm-sst2", "roberta-sst2", "gpt2-wikitext", "vit-fmnist",
                                  "vgg-fmnist", "resnet-fmnist"])
def test_tiny_standin_trains_deterministically_and_is_cached(name, synthetic_data_dir,
                                                           monkeypatch, tmp_path):
    spec = standins.tiny(name)
    first = standins.load(spec, seed=3, data_dir=synthetic_data_dir, log=None)
    assert first.info["trained_now"] and first.info["training"]["steps"] == 4
    assert first.kind == "stand-in" and first.spec.stands_for == standins.STANDINS[name].stands_for
    monkeypatch.setenv("MBE_MODEL_DIR", str(tmp_path / "elsewhere"))  # an empty cache ...
    again = standins.load(spec, seed=3, data_dir=synthetic_data_dir, log=None)
    assert again.info["trained_now"]  # ... retrains, to the same weights
    assert all(torch.equal(v, _weights(first)[k]) for k, v in _weights(again).items())
    monkeypatch.setattr(standins, "_train", lambda *a: pytest.fail("trained a cached model"))
    cached = standins.load(spec, seed=3, data_dir=synthetic_data_dir, log=None)
    assert not cached.info["trained_now"] and cached.info["cache_key"] == first.info["cache_key"]
    assert all(torch.equal(v, _weights(first)[k]) for k, v in _weights(cached).items())


def test_the_cache_key_follows_seed_recipe_and_data(synthetic_data_dir, tmp_path):
    spec = standins.tiny("vgg-fmnist")
    key = standins.load(spec, 0, data_dir=synthetic_data_dir, log=None).info["cache_key"]
    assert standins.load(spec, 1, data_dir=synthetic_data_dir, log=None).info["cache_key"] != key
    longer = spec.updated(recipe=spec.recipe.__class__(**{**spec.recipe.to_dict(),
                                                          "max_steps": 5}))
    assert standins.load(longer, 0, data_dir=synthetic_data_dir,
                         log=None).info["cache_key"] != key
    from synthetic import write_data_dir
    other = write_data_dir(tmp_path / "other")
    image = other / "fashion-mnist/train-images-idx3-ubyte.gz"
    import gzip
    raw = bytearray(gzip.decompress(image.read_bytes()))
    raw[100] ^= 1  # one pixel of the training data changed
    image.write_bytes(gzip.compress(bytes(raw)))
    assert standins.load(spec, 0, data_dir=other, log=None).info["cache_key"] != key


def test_a_corrupted_cache_entry_is_retrained(synthetic_data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("MBE_MODEL_DIR", str(tmp_path / "models"))  # this test's entry only
    spec = standins.tiny("resnet-fmnist")
    first = standins.load(spec, 0, data_dir=synthetic_data_dir, log=None)
    assert first.info["trained_now"]
    (blob,) = paths.model_dir().glob("*.pt")
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="corrupted"):
        again = standins.load(spec, 0, data_dir=synthetic_data_dir, log=None)
    assert again.info["trained_now"]
    assert all(torch.equal(v, _weights(first)[k]) for k, v in _weights(again).items())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not standins.load(spec, 0, data_dir=synthetic_data_dir, log=None).info["trained_now"]


def test_missing_entry_without_training_is_an_error(synthetic_data_dir):
    spec = standins.tiny("vit-fmnist").updated(name="never-trained")
    with pytest.raises(FileNotFoundError, match="not in the model cache"):
        standins.load(spec, 0, data_dir=synthetic_data_dir, train_missing=False)
    with pytest.raises(ValueError, match="unknown stand-in"):
        standins.spec_of("bert-imdb")


def test_roberta_from_minilm_computes_what_the_bert_model_computes():
    """The RoBERTa-architecture stand-in starts from MiniLM's weights under RoBERTa's names:
    before fine-tuning, its logits equal the BERT classifier's (padding included)."""
    from transformers import AutoTokenizer, BertForSequenceClassification

    from mbe.studies.corpora import resolve

    torch.manual_seed(0)
    bert = BertForSequenceClassification.from_pretrained(resolve("all-MiniLM-L6-v2"),
                                                         num_labels=3).eval()
    roberta = architectures.roberta_from_minilm(bert)
    assert type(roberta).__name__ == "RobertaForSequenceClassification"
    tok = AutoTokenizer.from_pretrained(resolve("all-MiniLM-L6-v2"))
    batch = dict(tok(["a fine film .", "the plot was dull and far too long ."], padding=True,
                     return_tensors="pt"))
    batch.pop("token_type_ids")
    with torch.no_grad():
        assert (roberta(**batch).logits - bert(**batch).logits).abs().max() < 1e-4


def test_cnns_have_the_layers_of_their_families():
    vgg = architectures.VGGStyle()
    resnet = architectures.ResNetStyle(stages=((8, 2), (16, 1)))
    x = torch.randn(2, 1, 28, 28)
    assert vgg(x).shape == resnet(x).shape == (2, 10)
    kinds = {type(m).__name__ for m in vgg.modules()}
    assert {"Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Linear"} <= kinds
    blocks = [m for m in resnet.modules() if isinstance(m, architectures.BasicBlock)]
    assert len(blocks) == 3 and isinstance(blocks[2].shortcut, torch.nn.Sequential)


def test_training_schedule_and_bucketed_batches():
    g = torch.Generator().manual_seed(0)
    lengths = [5, 1, 9, 3, 7, 2, 8, 4, 6, 0]
    batches = training.bucketed_order(lengths, 3, g, pool=2)
    assert sorted(i for b in batches for i in b) == list(range(10))
    pooled = [b for b in batches if len(b) == 3]
    assert all(lengths[b[0]] <= lengths[b[1]] <= lengths[b[2]] for b in pooled)
    model = torch.nn.Linear(2, 1)
    recipe = training.Recipe(epochs=2, lr=0.1, warmup=0.25, weight_decay=0.0)

    def loss_of(m, batch):
        return (m(batch) - 1).pow(2).mean()

    history = training.train(model, lambda gen: [torch.ones(1, 2)] * 4, loss_of, recipe, 0)
    assert history["steps"] == 8 and len(history["epoch_losses"]) == 2
    assert history["epoch_losses"][1] < history["epoch_losses"][0]
    assert not model.training
    short = training.Recipe(epochs=2, max_steps=3)
    assert training.train(model, lambda gen: [torch.ones(1, 2)] * 4, loss_of, short,
                          0)["steps"] == 3
