"""Markdown building blocks of RESULTS.md and the notebooks' tables: number formats, tables."""
from __future__ import annotations

import math
from typing import Any


def fmt_sci(x: float | None) -> str:
    """Scientific notation with 2 significant digits (``7.1e-3``); a dash for missing values."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def fmt_ratio(num: float | None, den: float | None) -> str:
    if num is None or den is None or den == 0:
        return "–"
    return f"{num / den:.2g}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_domain(domain: Any) -> str:
    if isinstance(domain, (list, tuple)) and len(domain) == 2:
        return f"[{domain[0]:g}, {domain[1]:g}]"
    return str(domain)
