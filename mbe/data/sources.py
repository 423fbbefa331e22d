"""Where a data set comes from: the data directory, else its public source, else a clear error.

Every set is a `Source`: the files it needs, the folder they sit in inside a data directory,
the system folders a package installs them to, and the Hugging Face `datasets` name of its
usual public source. `find(source, data_dir)` returns the folder holding every file, looking
in order at:

1. the data directory (`mbe.paths.data_dir`: the `data_dir` argument, else `$MBE_DATA_DIR`),
   in `<data dir>/<folder>` and then `<data dir>` itself;
2. the source's system folders (e.g. where Debian's `dataset-fashion-mnist` installs);

and `hub(source)` loads the public source through `datasets` for a user who is online. When
neither works, `DataNotFound` names the set, every place looked at, why the public source was
not used, and how to get the files.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..paths import data_dir as _data_dir


class DataNotFound(FileNotFoundError):
    """A data set is neither in the data directory nor reachable at its public source; the
    message names what was looked for and how to get it."""


@dataclass(frozen=True)
class Source:
    """One data set: its name, the files it needs and where they may be."""

    name: str                    # the set's short name in `mbe.data` ("sst2", "wikitext2", ...)
    title: str                   # as papers write it ("SST-2")
    folder: str                  # its folder inside a data directory
    files: tuple[str, ...]       # every file it needs, relative to that folder
    hub: str                     # its `datasets` name, for a user who is online
    hub_config: str | None = None
    system: tuple[str, ...] = ()  # folders a system package installs the files to
    obtain: str = ""             # how to get the files, for the error message

    def candidates(self, data_dir: Path | None) -> list[Path]:
        """The folders searched for the files, in order."""
        local = [data_dir / self.folder, data_dir] if data_dir is not None else []
        return local + [Path(p) for p in self.system]


def find(source: Source, data_dir: str | Path | None = None) -> Path | None:
    """The first candidate folder holding every one of the source's files, or None."""
    for folder in source.candidates(_data_dir(data_dir)):
        if all((folder / f).is_file() for f in source.files):
            return folder
    return None


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def hub(source: Source, data_dir: str | Path | None = None):
    """The source's public copy through Hugging Face `datasets` (a DatasetDict of its
    splits); raises `DataNotFound` naming what was looked for when that cannot be used."""
    return public(source.hub, source.hub_config,
                  missing=lambda why: not_found(source, data_dir, why))


def public(name: str, config: str | None = None, *, missing):
    """`datasets.load_dataset(name, config)`, or the exception `missing(why)` builds when
    the hub is off, `datasets` is not installed, or loading fails."""
    if _offline():
        raise missing(f"HF_HUB_OFFLINE is set, so its public source ({name!r} through "
                      "Hugging Face datasets) was not tried")
    try:
        import datasets
    except ImportError:
        raise missing(f"the package `datasets` is not installed, so its public source "
                      f"{name!r} could not be loaded (pip install datasets)") from None
    try:
        return datasets.load_dataset(name, config)
    except Exception as err:  # network, name or format: say which set, and what else to do
        raise missing(f"loading its public source {name!r} failed "
                      f"({type(err).__name__}: {err})") from err


def not_found(source: Source, data_dir: str | Path | None, why: str) -> DataNotFound:
    given = data_dir if data_dir is not None else os.environ.get("MBE_DATA_DIR") or None
    folders = source.candidates(Path(given).expanduser() if given else None)
    looked = ", ".join(str(f) for f in folders) or "no folder (no data directory is set)"
    return DataNotFound(
        f"{source.title} ({source.name!r}) not found. Looked for {', '.join(source.files)} in: "
        f"{looked}; {why}. To get it: {source.obtain or 'download the files'} and put them in "
        f"<data dir>/{source.folder}/, with the data directory given as data_dir=... or "
        "$MBE_DATA_DIR; or, online, install `datasets` and unset HF_HUB_OFFLINE.")
