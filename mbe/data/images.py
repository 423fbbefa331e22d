"""Image sets: Fashion-MNIST (the vision stand-ins' set) and ImageNet-style image folders.

- Fashion-MNIST (Xiao et al. 2017; 28 x 28 grey, 10 classes, 60,000 / 10,000): the four idx
  files `{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`, in `<data dir>/fashion-mnist`
  or where Debian's package `dataset-fashion-mnist` installs them. The idx format: a 4-byte
  magic number (0x0803 images, 0x0801 labels, big-endian), the sizes, then uint8 values.
- An image folder (ImageNet's validation set as usually laid out): one sub-folder per class,
  the class index being the folder's position in sorted order (ImageNet's synset folders
  sort into the standard class order the pretrained models use); images are read with PIL
  when asked for, so a 50,000-image folder is not loaded at once.
"""
from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from . import sources
from .sources import Source

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")
_FASHION_STEM = {"train": "train", "test": "t10k"}
#: Where Debian's `dataset-fashion-mnist` puts the files.
DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
_MAGIC = {0x0803: 3, 0x0801: 1}  # idx magic -> number of dimensions (uint8 data)


def fashion_source(split: str, compressed: bool = True) -> Source:
    stem, gz = _FASHION_STEM[split], ".gz" if compressed else ""
    return Source("fashion_mnist", "Fashion-MNIST", "fashion-mnist",
                  (f"{stem}-images-idx3-ubyte{gz}", f"{stem}-labels-idx1-ubyte{gz}"),
                  "zalando-datasets/fashion_mnist", system=(DEBIAN_FASHION_MNIST,),
                  obtain="apt-get install dataset-fashion-mnist (Debian), or the idx files "
                  "of the public repository zalandoresearch/fashion-mnist")


@dataclass
class ImageSet:
    """Images as a uint8 tensor (N, H, W) or (N, C, H, W), labels as int64 (N,)."""

    name: str
    split: str
    images: Tensor
    labels: Tensor
    classes: tuple[str, ...]
    source: str

    def __len__(self) -> int:
        return len(self.labels)

    def describe(self) -> dict:
        return {"dataset": self.name, "split": self.split, "n_examples": len(self),
                "shape": list(self.images.shape[1:]), "source": self.source}


def read_idx(path: Path) -> Tensor:
    """An idx file (gzip-compressed if its name ends in .gz) as a uint8 tensor."""
    path = Path(path)
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short for an idx file")
    magic = struct.unpack(">I", raw[:4])[0]
    if magic not in _MAGIC:
        raise ValueError(f"{path}: magic number {magic:#x} is not an idx uint8 image (0x803) "
                         "or label (0x801) file")
    dims = _MAGIC[magic]
    shape = struct.unpack(f">{dims}I", raw[4:4 + 4 * dims])
    body = raw[4 + 4 * dims:]
    expected = 1
    for s in shape:
        expected *= s
    if len(body) != expected:
        raise ValueError(f"{path}: holds {len(body)} values, its header says {shape} = "
                         f"{expected}: is the file truncated?")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(shape)


def load_fashion_mnist(split: str = "train", *, data_dir: str | Path | None = None
                       ) -> ImageSet:
    """The `split` ("train" or "test") of Fashion-MNIST (see the module docstring)."""
    if split not in _FASHION_STEM:
        raise ValueError(f"Fashion-MNIST has the splits {list(_FASHION_STEM)}, not {split!r}")
    for compressed in (True, False):
        source = fashion_source(split, compressed)
        folder = sources.find(source, data_dir)
        if folder is not None:
            images, labels = (read_idx(folder / f) for f in source.files)
            if len(images) != len(labels):
                raise ValueError(f"{folder}: {len(images)} images but {len(labels)} labels")
            return ImageSet("fashion_mnist", split, images, labels.long(), FASHION_CLASSES,
                            str(folder))
    rows = sources.hub(fashion_source(split), data_dir)[split]
    images = torch.stack([torch.tensor(list(im.getdata()), dtype=torch.uint8).reshape(28, 28)
                          for im in rows["image"]])
    return ImageSet("fashion_mnist", split, images, torch.tensor(rows["label"]),
                    FASHION_CLASSES, source.hub)


IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".bmp", ".webp")


@dataclass
class ImageFolder:
    """An ImageNet-style folder: `files[i]` has label `labels[i]`; `classes` are the sorted
    sub-folder names. `image(i)` reads one image as RGB with PIL."""

    root: Path
    files: list[Path]
    labels: list[int]
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.files)

    def image(self, i: int):
        from PIL import Image

        with Image.open(self.files[i]) as im:
            return im.convert("RGB")

    def describe(self) -> dict:
        return {"dataset": str(self.root), "split": "folder", "n_examples": len(self),
                "n_classes": len(self.classes), "source": str(self.root)}


def load_image_folder(root: str | Path) -> ImageFolder:
    """Every image under `root/<class>/`, classes in sorted order (module docstring)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {str(root)!r} does not exist: give a folder "
                                "with one sub-folder of images per class (ImageNet-style)")
    classes = tuple(sorted(p.name for p in root.iterdir() if p.is_dir()))
    files, labels = [], []
    for label, name in enumerate(classes):
        found = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        files += found
        labels += [label] * len(found)
    if not files:
        raise FileNotFoundError(f"{root} holds no images ({', '.join(IMAGE_SUFFIXES)}) in "
                                "class sub-folders: give a folder laid out as root/<class>/<image>")
    return ImageFolder(root, files, labels, classes)
