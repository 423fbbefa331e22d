"""Results as data: run metadata, strict JSON save/load, and a wall-clock timer.

Every file under ``results/`` is written with :func:`save`, and carries a
:func:`run_info` record so a number can be traced to the commit, seed, config
and library versions that produced it.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

__all__ = ["run_info", "save", "load", "Timer"]

_PACKAGE_DIR = Path(__file__).resolve().parent


def _git(*args: str) -> str | None:
    """Run git in the package's directory; None if git is missing or this is not a checkout."""
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=_PACKAGE_DIR,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _jsonable(obj: Any) -> Any:
    """Tuples and arrays become lists, dict keys strings, other non-JSON objects ``str``."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if callable(getattr(obj, "tolist", None)):  # numpy / torch scalars and arrays
        return _jsonable(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def _versions() -> dict[str, str | None]:
    """Installed versions (from package metadata, without importing the packages)."""
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("torch", "transformers", "numpy", "mbe"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


#: What the notebook series writes (tracked, so readers see the latest run's).
OUTPUTS = ("results", "figures", "RESULTS.md")


def _cpu() -> dict:
    """{"model", "avx512", "avx2"} from /proc/cpuinfo (Linux); the features are None and the
    model is `platform.processor()` elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {"model": platform.processor() or None, "avx512": None, "avx2": None}
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = set(fields.get("flags", "").split())
    return {"model": fields.get("model name") or platform.processor() or None,
            "avx512": "avx512f" in flags, "avx2": "avx2" in flags}


def run_info(config: dict, seed: int) -> dict:
    """Metadata describing one run: commit, dirty flag, time, seed, config, versions, platform,
    the CPU (`cpu`: its model and which of AVX-512 and AVX2 it has, where the OS says: float32
    kernels, and so converted models' outputs, round differently across these).

    ``commit`` and ``dirty`` are None when git is unavailable or the package is not
    inside a git checkout. ``dirty`` means uncommitted changes to tracked files other than
    the outputs the notebooks themselves write (``OUTPUTS``), so a series run from a clean
    checkout stays clean while its records and figures replace the committed ones.
    """
    commit = _git("rev-parse", "HEAD")
    dirty: bool | None = None
    if commit:
        status = _git("status", "--porcelain", "--untracked-files=no", "--", ":(top)",
                      *(f":(top,exclude){path}" for path in OUTPUTS))
        dirty = None if status is None else bool(status)
    else:
        commit = None
    try:
        import torch

        threads: int | None = torch.get_num_threads()
    except Exception:
        threads = None
    return {
        "commit": commit,
        "dirty": dirty,
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seed": int(seed),
        "config": _jsonable(config),
        "versions": _versions(),
        "platform": platform.platform(),
        "cpu": _cpu(),
        "threads": threads,
    }


def _check_finite(obj: Any, where: str = "$") -> None:
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ValueError(f"non-finite float {obj!r} at {where}; JSON results must be finite")
    if isinstance(obj, dict):
        for k, v in obj.items():
            _check_finite(v, f"{where}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_finite(v, f"{where}[{i}]")


def save(path: str | Path, data: Any) -> Path:
    """Write ``data`` as JSON (indent 2, key order kept), creating parent directories.

    Raises ValueError naming the offending key path (e.g. ``$[3].mse``) if any float
    is NaN or infinite.
    """
    data = _jsonable(data)
    _check_finite(data)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def load(path: str | Path) -> Any:
    """Read a JSON file written by :func:`save`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


class Timer:
    """Context manager measuring wall-clock seconds: ``with Timer() as t: ...; t.seconds``."""

    def __init__(self) -> None:
        self.seconds: float = 0.0
        self._start: float | None = None

    def __enter__(self) -> "Timer":
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._start is not None
        self.seconds = time.perf_counter() - self._start
