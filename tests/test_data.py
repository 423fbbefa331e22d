"""The data layer: formats, splits, where each set is looked for, and the errors."""
import gzip
import struct
import sys
import types

import pytest
import torch
from synthetic import NEL, write_data_dir

from mbe import data, paths
from mbe.data import tokens


def test_sst_files_parse_with_their_labels(synthetic_data_dir):
    train = data.load_text("sst2", "train", data_dir=synthetic_data_dir)
    assert len(train) == 96 and set(train.labels) == {0, 1}
    assert train.classes == ("negative", "positive") and train.split_rule == "official"
    fine = data.load_text("sst5", "dev", data_dir=synthetic_data_dir)
    assert set(fine.labels) == set(range(5)) and len(fine) == 24
    first = (synthetic_data_dir / "sentence-classification/stsa.fine.dev").read_text().split("\n")[0]
    assert fine.texts[0] == first.partition(" ")[2] and fine.labels[0] == int(first[0])


def test_latin1_lines_split_on_newline_only(synthetic_data_dir):
    """NEL (U+0085) inside a sentence is not a line break; Latin-1 letters decode."""
    test = data.load_text("mr", "test", data_dir=synthetic_data_dir)
    train = data.load_text("mr", "train", data_dir=synthetic_data_dir)
    assert len(test) + len(train) == 120  # 60 lines per class file, no more
    texts = test.texts + train.texts
    assert any(NEL in t for t in texts) and any("café" in t for t in texts)


def test_folds_are_stratified_disjoint_and_seeded(synthetic_data_dir):
    split = dict(data_dir=synthetic_data_dir, folds=6)
    for fold in range(6):
        test = data.load_text("subj", "test", fold=fold, **split)
        train = data.load_text("subj", "train", fold=fold, **split)
        assert test.labels.count(0) == test.labels.count(1) == 10  # 60 per class / 6 folds
        assert len(test) + len(train) == 120
    again = data.load_text("subj", "test", fold=2, **split)
    assert again.texts == data.load_text("subj", "test", fold=2, **split).texts
    other = data.load_text("subj", "test", fold=2, seed=1, **split)
    assert other.texts != again.texts
    labels = [0] * 7 + [1] * 3
    folds = data.stratified_folds(labels, 3, seed=0)
    assert sorted(folds) == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]  # every example in one fold
    assert sorted(f for f, y in zip(folds, labels) if y == 1) == [0, 1, 2]  # class spread


def test_bad_files_are_refused_with_file_and_line(tmp_path):
    root = write_data_dir(tmp_path / "d")
    path = root / "sentence-classification/stsa.binary.test"
    path.write_text("1 fine .\n7 wrong label .\n")
    with pytest.raises(ValueError, match=r"stsa.binary.test: line 2"):
        data.load_text("sst2", "test", data_dir=root)
    path.write_text("1 fine .\n\n0 bad .\n")
    with pytest.raises(ValueError, match="line 2 is empty"):
        data.load_text("sst2", "test", data_dir=root)
    path.write_text("1 no final newline .")
    with pytest.raises(ValueError, match="no newline"):
        data.load_text("sst2", "test", data_dir=root)
    with pytest.raises(ValueError, match="splits"):
        data.load_text("mr", "dev", data_dir=root)
    with pytest.raises(ValueError, match="unknown text data set"):
        data.load_text("imdb", data_dir=root)


def test_missing_set_names_what_was_looked_for_and_the_fix(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(data.DataNotFound) as err:
        data.load_text("sst2", "test", data_dir=empty)
    message = str(err.value)
    for fragment in ("SST-2", "stsa.binary.test", str(empty / "sentence-classification"),
                     "HF_HUB_OFFLINE", "SetFit/sst2", "MBE_DATA_DIR"):
        assert fragment in message
    monkeypatch.setenv("MBE_DATA_DIR", str(tmp_path / "typo"))
    with pytest.raises(FileNotFoundError, match=r"\$MBE_DATA_DIR .* is not a directory"):
        data.load_wikitext("test")


def test_data_dir_comes_from_the_environment(synthetic_data_dir, monkeypatch):
    monkeypatch.setenv("MBE_DATA_DIR", str(synthetic_data_dir))
    assert paths.data_dir() == synthetic_data_dir
    assert data.load_wikitext("valid").source.startswith(str(synthetic_data_dir))


def test_online_source_is_used_when_the_files_are_missing(tmp_path, monkeypatch):
    """With no local copy and the hub allowed, the set's public source is loaded through
    `datasets` (a stand-in module here: this machine is offline)."""
    calls = []

    class Split(dict):
        column_names = property(lambda self: list(self))

    def load_dataset(name, config=None):
        calls.append((name, config))
        return {"train": Split(text=[" a fine film ", "dull"], label=[1, 0]),
                "validation": Split(text=["ok"], label=[1]),
                "test": Split(text=["x", "y"], label=[0, 1], label_text=["negative", "positive"])}

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    monkeypatch.delenv("HF_HUB_OFFLINE")
    empty = tmp_path / "empty"
    empty.mkdir()
    train = data.load_text("sst2", "train", data_dir=empty)
    assert calls == [("SetFit/sst2", None)]
    assert train.texts == ["a fine film", "dull"] and train.labels == [1, 0]
    assert train.source == "SetFit/sst2"
    assert data.load_text("sst2", "test", data_dir=empty).labels == [0, 1]
    mr = data.load_text("mr", "train", data_dir=empty, folds=2)  # every split, then folds
    assert len(mr) + len(data.load_text("mr", "test", data_dir=empty, folds=2)) == 5


def test_wikitext_and_detokenize(synthetic_data_dir):
    test = data.load_wikitext("test", data_dir=synthetic_data_dir)
    assert test.describe()["n_unk"] == 60 and " @-@ " in test.text
    assert "guest-starring" in data.detokenize(test.text)
    assert "1,001" in data.detokenize(test.text)
    with pytest.raises(data.DataNotFound, match="train.txt or wiki.train.tokens"):
        data.load_wikitext("train", data_dir=synthetic_data_dir)


def test_idx_files_and_fashion_mnist(synthetic_data_dir, tmp_path):
    train = data.load_fashion_mnist("train", data_dir=synthetic_data_dir)
    assert train.images.shape == (300, 28, 28) and train.images.dtype == torch.uint8
    assert train.labels.tolist()[:12] == list(range(10)) + [0, 1]
    bad = tmp_path / "bad.gz"
    bad.write_bytes(gzip.compress(struct.pack(">I", 0x0803) + struct.pack(">3I", 2, 2, 2) + b"1"))
    with pytest.raises(ValueError, match="truncated"):
        data.read_idx(bad)
    bad.write_bytes(gzip.compress(struct.pack(">I", 0x0900) + b"\0" * 8))
    with pytest.raises(ValueError, match="magic number"):
        data.read_idx(bad)


def test_image_folder(tmp_path):
    from PIL import Image

    for name, shade in (("n02", 200), ("n01", 10)):
        (tmp_path / name).mkdir()
        for i in range(2):
            Image.new("L", (8, 8), shade + i).save(tmp_path / name / f"{i}.png")
    folder = data.load_image_folder(tmp_path)
    assert folder.classes == ("n01", "n02") and folder.labels == [0, 0, 1, 1]
    assert folder.image(3).mode == "RGB" and folder.image(3).getpixel((0, 0))[0] == 201
    with pytest.raises(FileNotFoundError, match="no images .* root/<class>/<image>"):
        data.load_image_folder(tmp_path / "n01")
    with pytest.raises(FileNotFoundError, match="ImageNet-style"):
        data.load_image_folder(tmp_path / "missing")


def test_lm_windows_score_every_token_once_with_context():
    for n, context, stride in ((1000, 128, 64), (1000, 128, 128), (130, 128, 32), (5, 8, 8)):
        windows = tokens.lm_windows(n, context, stride)
        scored = [t for w in windows for t in range(w.end - w.scored, w.end)]
        assert scored == list(range(1, n))
        assert all(w.end - w.begin <= context for w in windows)
        assert all(w.end - w.scored - w.begin >= context - stride
                   for w in windows[1:] if w.end - w.begin == context)
    ids = torch.arange(300)
    windows = tokens.lm_windows(300, 64, 32)
    batches = tokens.window_batches(ids, windows, 4)
    assert sum(int((b["labels"][:, 1:] != -100).sum()) for b in batches) == 299
    with pytest.raises(ValueError, match="stride"):
        tokens.lm_windows(100, 16, 32)


def test_bpe_is_deterministic_and_round_trips():
    texts = [data.detokenize(" the film was good . ") * 20, "a dull plot ."] * 5
    a, b = tokens.train_bpe(texts, 300), tokens.train_bpe(texts, 300)
    assert a.backend_tokenizer.to_str() == b.backend_tokenizer.to_str()
    ids = a("the film was dull .")["input_ids"]
    assert a.decode(ids) == "the film was dull ." and len(a) <= 300
