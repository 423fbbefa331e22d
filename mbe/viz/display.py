"""How a figure leaves the process: written as a PNG under the figures directory."""
from __future__ import annotations

from pathlib import Path


def save(fig, figures_dir, name: str) -> Path:
    """Write the figure as PNG under figures_dir/name.png and return the path."""
    path = Path(figures_dir) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
