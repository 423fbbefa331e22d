"""Where `mbe` keeps what it computes once and reuses: one setting, one function.

`cache_dir()` is `$MBE_CACHE_DIR` if set, else `~/.cache/mbe/neurons`: fitted neurons
(`mbe.core.registry`) and the compiled loops (`mbe.native`) live there.
"""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The cache directory (see the module docstring); not created here."""
    return Path(os.environ.get("MBE_CACHE_DIR") or Path.home() / ".cache" / "mbe" / "neurons")
