"""Fitted neurons on disk, keyed by everything that determines them, with an integrity check.

A key is a JSON-able dict (target name and a hash of its sampled values, domain, N, T, every
fit option, seed, format version). The entry is stored and verified by `mbe.paths`
(`write_entry` / `read_entry`): `<digest>.pt` holds the neuron's tensors and metadata (saved
with torch), `<digest>.json` the key and the SHA-256 of the .pt bytes. Anything that fails to
verify (truncated, edited, stale format) is reported and treated as a miss, so the caller
refits and overwrites.

The directory is `mbe.paths.cache_dir()`: `$MBE_CACHE_DIR` if set, else `~/.cache/mbe/neurons`.
"""
from __future__ import annotations

import io
from pathlib import Path

import torch

from ..paths import cache_dir, entry_paths, read_entry, write_entry
from .neuron import SpikingNeuron


def paths(key: dict) -> tuple[Path, Path]:
    return entry_paths(cache_dir(), key)


def save(key: dict, neuron: SpikingNeuron) -> Path:
    """Store `neuron` under `key`."""
    buf = io.BytesIO()
    torch.save(neuron.state(), buf)
    return write_entry(cache_dir(), key, buf.getvalue())


def load(key: dict) -> SpikingNeuron | None:
    """The cached neuron for `key`, or None if absent, corrupted or stale (with a warning)."""
    data = read_entry(cache_dir(), key, "cached neuron", "it will be refitted")
    if data is None:
        return None
    return SpikingNeuron.from_state(torch.load(io.BytesIO(data), weights_only=True))
