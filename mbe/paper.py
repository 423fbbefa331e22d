"""The paper's published numbers, read from ``mbe/paper_values.json``.

Everything here is a value printed in (or transcribed from) Wang et al., AAAI-26,
arXiv 2508.07710: published values, never measurements of this project. Each
table carries a ``source`` tag: ``"AAAI"`` for the main text, ``"appendix
(second-hand)"`` for appendix facts known only through a third-party transcription.
"""
from __future__ import annotations

import copy
import functools
import json
from importlib import resources
from typing import Any

__all__ = ["values", "table_x_mse", "table_x_domain", "TABLE_X_N"]

#: Column keys of appendix Table X (number of bases; the last is N=8 without decay).
TABLE_X_N: tuple[int | str, ...] = (1, 2, 4, 6, 8, "no_decay_n8")


@functools.lru_cache(maxsize=1)
def _load() -> dict[str, Any]:
    text = resources.files("mbe").joinpath("paper_values.json").read_text(encoding="utf-8")
    return json.loads(text)


def values() -> dict[str, Any]:
    """All published values (a copy of the cached JSON, safe to modify)."""
    return copy.deepcopy(_load())


def _table_x_function(function: str) -> dict[str, Any]:
    functions = _load()["table_x"]["functions"]
    try:
        return functions[function]
    except KeyError:
        raise KeyError(f"unknown Table X function {function!r}; known: {sorted(functions)}") from None


def table_x_mse(function: str, n_basis: int | str) -> float:
    """Published Table X MSE at T=16 for ``function`` with ``n_basis`` bases.

    ``n_basis`` is 1, 2, 4, 6, 8, or ``"no_decay_n8"`` (N=8 without exponential decay).
    """
    mse = _table_x_function(function)["mse"]
    try:
        return float(mse[str(n_basis)])
    except KeyError:
        raise KeyError(f"no Table X value for {function!r} at N={n_basis!r}; known: {list(mse)}") from None


def table_x_domain(function: str) -> tuple[float, float]:
    """Input interval the paper fits ``function`` on for Table X, as ``(low, high)``."""
    low, high = _table_x_function(function)["domain"]
    return (low, high)
