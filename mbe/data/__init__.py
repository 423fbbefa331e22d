"""The data layer: every data set of the tables, found without a file in the repository.

Each set is looked for in the data directory (the `data_dir` argument, else `$MBE_DATA_DIR`;
`make` points it at `../shared/data` where that exists), then where a system package installs
it, then at its usual public source through Hugging Face `datasets` for a user who is online;
otherwise `DataNotFound` names the set, what was looked for and how to get it (`sources`).

    load_text("sst2", "test")          SST-2, SST-5, MR, Subj (Table 2; `text`)
    load_wikitext("test")              word-level WikiText-2 (Table 3; `wikitext`)
    load_fashion_mnist("train")        Fashion-MNIST (the vision stand-ins; `images`)
    load_image_folder(path)            an ImageNet-style folder (the real-checkpoint path)

`tokens` turns text into model inputs: classification batches, the sliding windows of a
perplexity, and a small BPE tokenizer.
"""
from .images import ImageFolder, ImageSet, load_fashion_mnist, load_image_folder, read_idx
from .sources import DataNotFound
from .text import TEXT_SOURCES, TextSet, load_text, stratified_folds
from .wikitext import WikiText, detokenize, load_wikitext

__all__ = ["DataNotFound", "load_text", "TextSet", "TEXT_SOURCES", "stratified_folds",
           "load_wikitext", "WikiText", "detokenize", "load_fashion_mnist",
           "load_image_folder", "ImageSet", "ImageFolder", "read_idx"]
