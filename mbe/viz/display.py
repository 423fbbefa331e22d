"""How a figure leaves the process: written as a PNG under the figures directory and shown.

`show` is the one way a notebook hands over a figure. The PNG is rendered once; the same bytes
go to `figures/<name>.png` and, inside an IPython kernel, into the cell's output as an
`image/png` display (tagged with the figure's name). Displaying the bytes works under any
matplotlib backend: under `MPLBACKEND=Agg` (the Makefile, the tests, papermill) a figure that
is only saved never appears in the executed notebook. The pyplot figure is then closed, so the
inline backend of an interactive session does not show it a second time at the end of the cell.
"""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt

#: Resolution of the saved (and shown) PNG; figure sizes are in inches, fonts in points.
DPI = 120
#: The key, in an image output's metadata, that names the figure it shows (see `show`).
FIGURE_KEY = "mbe_figure"


def show(fig, figures_dir, name: str) -> Path:
    """Write the figure as figures_dir/name.png, show it in the notebook, return the path.

    Inside an IPython kernel the PNG is displayed with metadata {FIGURE_KEY: name} and the
    figure's titles as its alternative text; outside one the figure is only written. A pyplot
    figure is closed afterwards (a live figure that pyplot does not manage, such as the
    explorer's, stays open).
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    path = Path(figures_dir) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    titles = [fig.get_suptitle()] + [ax.get_title() for ax in fig.axes]
    _display_png(buf.getvalue(), name, "; ".join(t for t in titles if t) or name)
    plt.close(fig)
    return path


def _display_png(png: bytes, name: str, alt: str) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:  # IPython absent: nothing to show into
        return
    if get_ipython() is not None:
        display(Image(data=png, format="png", alt=alt), metadata={FIGURE_KEY: name})
