"""A figure of named panels that redraws in a fraction of a full draw, rendered to PNG.

Interactive views (`mbe.viz.explorer`) redraw on every slider move. Drawing the axes (ticks, tick
labels, axis labels) and laying them out costs most of a matplotlib redraw, so `Panels` lays
out once, draws the axes once into a background image, and on each move draws only what
changed over it (blitting). The panels are drawn by the ordinary `mbe.viz` functions.
"""
from __future__ import annotations

import io
import math
from contextlib import contextmanager

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import LayoutEngine
from matplotlib.patches import Rectangle
from matplotlib.transforms import Bbox, IdentityTransform
from PIL import Image

#: Small fonts for many panels; a fixed title height (automatic placement costs a layout pass).
STYLE = {"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7,
         "axes.titley": 1.0}


class Panels:
    """Named matplotlib panels in one figure, redrawn cheaply and rendered to PNG bytes.

    `draw(fn, structure)` lets fn(axes) draw every panel with `mbe.viz`. Drawing the axes
    themselves (ticks, tick labels, axis labels) costs most of a redraw, so they are drawn
    once into a background image and reused:

    * while `structure` (what decides the panels' artists: N, T, target, domain) is the
      same, each panel keeps its axis ranges as long as the new data stay inside them and
      fill at least a third of them; only the data, titles, legends and colorbars are then
      drawn over the background (blitting);
    * a panel whose range had to change has its axes redrawn into the background, inside its
      own cell of the figure (the figure split between neighbouring panels' extents);
    * a new structure is laid out afresh by constrained layout, whose positions are then
      frozen, and the whole background is redrawn.
    """

    def __init__(self, names, ncols: int, figsize, dpi: int):
        fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
        FigureCanvasAgg(fig)
        grid = fig.add_gridspec(math.ceil(len(names) / ncols), ncols)
        self.axes = {n: fig.add_subplot(grid[i // ncols, i % ncols]) for i, n in enumerate(names)}
        self.figure = fig
        self._names = {ax: n for n, ax in self.axes.items()}
        self._structure = None
        self._held: dict = {}  # (panel name, "x" or "y") -> axis range kept while data fit
        self._background = None
        self._renderer = None  # the canvas renderer the background belongs to
        self._cells: dict = {}  # panel name -> its (x0, y0, x1, y1) in pixels

    def draw(self, fn, structure) -> bytes:
        fresh = structure != self._structure
        with matplotlib.rc_context(STYLE):
            for ax in self.figure.axes:
                if ax not in self._names:  # the colorbars the last drawing added
                    ax.remove()
            for ax in self._names:
                ax.clear() if fresh else _remove_artists(ax)
            if fresh:  # colorbars must be made under the engine that lays them out
                self.figure.set_layout_engine("constrained")
            fn(self.axes)
            if fresh:
                self._lay_out(structure)
            self.figure.get_layout_engine().execute(self.figure)
            changed = self._hold_limits()
            if self.figure.canvas.get_renderer() is not self._renderer:
                self._background = None  # drawn elsewhere since (e.g. savefig at another dpi)
            if self._background is None:
                self._draw_background()
            elif changed:
                self._redraw_cells(changed)
            self._draw_dynamic()
        return self.png()

    def key(self, ax):
        """A panel's name, or ("colorbar", name) for the colorbar drawn beside a panel."""
        if ax in self._names:
            return self._names[ax]
        return ("colorbar", self._names[ax._colorbar.mappable.axes])

    def png(self) -> bytes:
        """The last drawing as PNG (fast compression: it is re-sent on every move)."""
        canvas = self.figure.canvas
        buf = io.BytesIO()
        Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).save(
            buf, format="png", compress_level=1)
        return buf.getvalue()

    def _lay_out(self, structure) -> None:
        fig = self.figure
        fig.get_layout_engine().execute(fig)
        fig.set_layout_engine(_FrozenLayout(fig, self.key))
        self._structure, self._held, self._background = structure, {}, None

    def _hold_limits(self) -> list:
        """Put back each axis's held range where the data allow; the panels whose changed.

        A new structure holds the autoscaled ranges; a range the data leave (or fill less
        than a third of) is replaced by the new range with a quarter of its span to spare on
        each side, so that the next moves can reuse it.
        """
        changed = []
        for name, ax in self.axes.items():
            for axis, get, set_ in ((ax.xaxis, ax.get_xlim, ax.set_xlim),
                                    (ax.yaxis, ax.get_ylim, ax.set_ylim)):
                auto, held = get(), self._held.get((name, axis.axis_name))
                if held is None or not _within(axis, auto, held):
                    held = auto if held is None else _widen(axis, auto)
                    self._held[(name, axis.axis_name)] = held
                    changed += [name] if name not in changed else []
                set_(held)
        return changed

    def _dynamic(self) -> list:
        """Everything drawn over the background, in drawing order."""
        out = []
        for ax in self._names:
            legend = [ax.get_legend()] if ax.get_legend() else []
            artists = [*ax.images, *ax.collections, *ax.patches, *ax.lines, *ax.texts]
            out += sorted(artists, key=lambda a: a.get_zorder()) + [ax.title] + legend
        return out + [ax for ax in self.figure.axes if ax not in self._names]

    @contextmanager
    def _static_only(self):
        """Within the block, drawing leaves out everything `_dynamic` lists."""
        dynamic = self._dynamic()
        for artist in dynamic:
            artist.set_animated(True)
        try:
            yield
        finally:  # so that savefig() draws the whole figure as usual
            for artist in dynamic:
                artist.set_animated(False)

    def _draw_background(self) -> None:
        with self._static_only():
            self.figure.canvas.draw()
        self._background = self.figure.canvas.copy_from_bbox(self.figure.bbox)
        self._renderer = self.figure.canvas.get_renderer()
        self._cells = self._partition()

    def _redraw_cells(self, names) -> None:
        """Redraw the axes of the named panels into the background, each in its own cell."""
        fig, canvas = self.figure, self.figure.canvas
        canvas.restore_region(self._background)
        renderer = canvas.get_renderer()
        with self._static_only():
            for name in names:
                x0, y0, x1, y1 = self._cells[name]
                blank = Rectangle((x0, y0), x1 - x0, y1 - y0, transform=IdentityTransform(),
                                  facecolor=fig.get_facecolor(), edgecolor="none",
                                  antialiased=False)
                blank.set_figure(fig)
                blank.draw(renderer)
                self.axes[name].draw(renderer)
        self._background = canvas.copy_from_bbox(fig.bbox)

    def _draw_dynamic(self) -> None:
        self.figure.canvas.restore_region(self._background)
        for artist in self._dynamic():
            self.figure.draw_artist(artist)

    def _partition(self) -> dict:
        """Each panel's cell (x0, y0, x1, y1) in pixels: the figure split halfway between
        neighbouring grid columns' and rows' extents (axes, labels, titles, colorbars)."""
        renderer = self.figure.canvas.get_renderer()
        extent = {}
        for ax in self.figure.axes:
            name = self._names[ax] if ax in self._names else self.key(ax)[1]
            box = ax.get_tightbbox(renderer)
            extent[name] = Bbox.union([extent[name], box]) if name in extent else box
        width, height = self.figure.canvas.get_width_height()
        spec = {n: ax.get_subplotspec() for n, ax in self.axes.items()}
        col = {n: s.colspan.start for n, s in spec.items()}
        up = {n: -s.rowspan.start for n, s in spec.items()}  # row 0 is at the top
        xs = _bounds(col, extent, "x0", "x1", width)
        ys = _bounds(up, extent, "y0", "y1", height)
        return {n: (xs[col[n]][0], ys[up[n]][0], xs[col[n]][1], ys[up[n]][1]) for n in spec}


def _bounds(group: dict, extent: dict, lo: str, hi: str, size: int) -> dict:
    """group -> (start, end) pixels along one direction, groups in increasing coordinate,
    consecutive ones split halfway between their panels' extents."""
    order = sorted(set(group.values()))
    low = {g: min(getattr(extent[n], lo) for n in group if group[n] == g) for g in order}
    high = {g: max(getattr(extent[n], hi) for n in group if group[n] == g) for g in order}
    cuts = [0] + [round((high[a] + low[b]) / 2) for a, b in zip(order, order[1:])] + [size]
    return {g: (cuts[i], cuts[i + 1]) for i, g in enumerate(order)}


def _within(axis, auto, held) -> bool:
    """Does the autoscaled range lie inside the held one and fill a third of it or more?"""
    (a0, a1), (h0, h1) = (sorted(axis.get_transform().transform(np.asarray(v, float)))
                          for v in (auto, held))
    return h0 <= a0 and a1 <= h1 and 3 * (a1 - a0) >= h1 - h0


def _widen(axis, lim, frac: float = 0.25) -> tuple[float, float]:
    """lim with frac of its span added on each side, in the axis's scale (log, symlog, ...)."""
    t = axis.get_transform()
    a, b = t.transform(np.asarray(lim, float))
    pad = frac * (b - a)
    return tuple(t.inverted().transform(np.array([a - pad, b + pad])))


def _remove_artists(ax) -> None:
    """Empty an Axes of data, legend and limits, keeping its ticks (cheaper than clear())."""
    for artist in (*ax.lines, *ax.images, *ax.texts, *ax.collections, *ax.patches):
        artist.remove()
    if ax.get_legend():
        ax.get_legend().remove()
    ax.relim()
    ax.set_autoscale_on(True)
    ax.set_prop_cycle(None)  # the next lines take the same colours again


class _FrozenLayout(LayoutEngine):
    """Re-applies the positions one constrained-layout pass found, panels and colorbars."""

    _adjust_compatible = False
    _colorbar_gridspec = False  # colorbars steal space by make_axes; execute() undoes it

    def __init__(self, fig, key):
        super().__init__()
        self._key = key
        self._positions = {key(ax): ax.get_position() for ax in fig.axes}

    def execute(self, fig):
        for ax in fig.axes:
            ax.set_position(self._positions[self._key(ax)])
