"""Where `mbe` finds its inputs and keeps what it computes once and reuses.

Three settings, each a function (and an environment variable):

- `cache_dir()`: `$MBE_CACHE_DIR`, else `~/.cache/mbe/neurons`: fitted neurons
  (`mbe.core.registry`) and the compiled loops (`mbe.native`).
- `model_dir()`: `$MBE_MODEL_DIR`, else `~/.cache/mbe/models`: the stand-in models trained
  here and the converted models built from them (`mbe.studies.standins`).
- `data_dir(directory)`: the data directory, `directory` if given, else `$MBE_DATA_DIR`, else
  None (no local copy: `mbe.data` then tries each set's public source).

Both caches hold keyed entries with an integrity check (`write_entry`, `read_entry`): a key
is a JSON-able dict of everything that determines the entry; its SHA-256 names two files,
`<digest>.pt` (the bytes) and `<digest>.json` (the key and the SHA-256 of the bytes). An
entry is returned only if its bytes hash to the recorded value and its recorded key equals
the requested one; anything else (truncated, edited, stale) is reported and treated as a miss.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path


def cache_dir() -> Path:
    """The neuron cache directory (see the module docstring); not created here."""
    return Path(os.environ.get("MBE_CACHE_DIR") or Path.home() / ".cache" / "mbe" / "neurons")


def model_dir() -> Path:
    """The model cache directory (see the module docstring); not created here."""
    return Path(os.environ.get("MBE_MODEL_DIR") or Path.home() / ".cache" / "mbe" / "models")


def data_dir(directory: str | Path | None = None) -> Path | None:
    """The data directory: `directory`, else `$MBE_DATA_DIR`, else None. A directory that is
    named but does not exist is an error (a typo should not fall through to a download)."""
    chosen = directory if directory is not None else os.environ.get("MBE_DATA_DIR") or None
    if chosen is None:
        return None
    path = Path(chosen).expanduser()
    if not path.is_dir():
        source = "data_dir" if directory is not None else "$MBE_DATA_DIR"
        raise FileNotFoundError(f"{source} = {str(chosen)!r} is not a directory: point it at "
                                "the folder holding the data sets (see mbe.data), or unset it")
    return path


def digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def entry_paths(directory: Path, key: dict) -> tuple[Path, Path]:
    """(bytes file, record file) of `key`'s entry in `directory`."""
    stem = Path(directory) / digest(key)
    return stem.with_suffix(".pt"), stem.with_suffix(".json")


def write_entry(directory: Path, key: dict, data: bytes) -> Path:
    """Store `data` under `key` (atomically: written to temporary files, then renamed)."""
    blob_path, meta_path = entry_paths(directory, key)
    blob_path.parent.mkdir(parents=True, exist_ok=True)
    record = {"key": key, "sha256": hashlib.sha256(data).hexdigest()}
    for path, payload in ((blob_path, data), (meta_path, json.dumps(record).encode())):
        tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
        tmp.write_bytes(payload)
        tmp.replace(path)
    return blob_path


def read_entry(directory: Path, key: dict, what: str = "cache entry",
               remedy: str = "it will be rebuilt") -> bytes | None:
    """The bytes stored under `key`, or None if absent, corrupted or stale (with a warning
    naming `what` the entry is and the `remedy`)."""
    blob_path, meta_path = entry_paths(directory, key)
    if not blob_path.exists() and not meta_path.exists():
        return None
    try:
        record = json.loads(meta_path.read_text())
        data = blob_path.read_bytes()
        if hashlib.sha256(data).hexdigest() != record["sha256"]:
            raise ValueError("content hash mismatch (file corrupted or edited)")
        if record["key"] != json.loads(json.dumps(key)):
            raise ValueError("stored key differs from the requested one (stale entry)")
        return data
    except Exception as err:  # any failure to verify means: rebuild, never trust
        warnings.warn(f"ignoring {what} {blob_path.name}: {err}; {remedy}", stacklevel=3)
        return None
