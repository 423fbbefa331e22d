"""Fitted neurons on disk, keyed by everything that determines them, with an integrity check.

A key is a JSON-able dict (target name and a hash of its sampled values, domain, N, T, every
fit option, seed, format version). Its SHA-256 names two files in the cache directory:
`<digest>.pt` (the neuron's tensors and metadata, saved with torch) and `<digest>.json`
(the key and the SHA-256 of the .pt bytes). An entry is loaded only if the .pt bytes hash to
the recorded value and the recorded key equals the requested one; anything else (truncated,
edited, stale format) is reported and treated as a miss, so the caller refits and overwrites.

The directory is `mbe.paths.cache_dir()`: `$MBE_CACHE_DIR` if set, else `~/.cache/mbe/neurons`.
"""
from __future__ import annotations

import hashlib
import io
import json
import warnings
from pathlib import Path

import torch

from ..paths import cache_dir
from .neuron import SpikingNeuron


def digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def paths(key: dict) -> tuple[Path, Path]:
    stem = cache_dir() / digest(key)
    return stem.with_suffix(".pt"), stem.with_suffix(".json")


def save(key: dict, neuron: SpikingNeuron) -> Path:
    """Store `neuron` under `key` (atomically: written to temporary files, then renamed)."""
    blob_path, meta_path = paths(key)
    blob_path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(neuron.state(), buf)
    data = buf.getvalue()
    record = {"key": key, "sha256": hashlib.sha256(data).hexdigest()}
    for path, payload in ((blob_path, data), (meta_path, json.dumps(record).encode())):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(payload)
        tmp.replace(path)
    return blob_path


def load(key: dict) -> SpikingNeuron | None:
    """The cached neuron for `key`, or None if absent, corrupted or stale (with a warning)."""
    blob_path, meta_path = paths(key)
    if not blob_path.exists() and not meta_path.exists():
        return None
    try:
        record = json.loads(meta_path.read_text())
        data = blob_path.read_bytes()
        if hashlib.sha256(data).hexdigest() != record["sha256"]:
            raise ValueError("content hash mismatch (file corrupted or edited)")
        if record["key"] != json.loads(json.dumps(key)):
            raise ValueError("stored key differs from the requested one (stale entry)")
        state = torch.load(io.BytesIO(data), weights_only=True)
        return SpikingNeuron.from_state(state)
    except Exception as err:  # any failure to verify means: refit, never trust
        warnings.warn(f"ignoring cached neuron {blob_path.name}: {err}; it will be refitted",
                      stacklevel=3)
        return None
