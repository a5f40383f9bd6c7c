"""One look for every plot of a study: seaborn's theme applied per figure, constrained
layout, one colour per optimizer, readable log axes, legends and titles that fit.

Nothing here touches matplotlib's global state: figures are
:class:`matplotlib.figure.Figure` objects with their own Agg canvas (no pyplot, no
backend selection), built inside :func:`themed` (an ``rc_context``) and drawn once
inside it by :func:`finish` so their ticks keep the theme wherever they are drawn later.

Colours follow the study's optimizer order (``summary.csv``, the order of
``[[optimizers]]`` in ``study.toml``): optimizer *i* gets the *i*-th of evenly spaced
HUSL hues, so every figure of a study agrees and two optimizers never share a hue. The
swept configurations of one optimizer (``muon lr=0.01``, ``muon lr=0.02``) are shades of
its colour, dark to light in sweep order. Each optimizer also has its own line style and
marker, so lines that coincide (NorMuon and TrasMuon-NOCLIP on AW-BT) stay visible.
"""

from __future__ import annotations

import colorsys
import contextlib
import math
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import Formatter, Locator, LogLocator, MaxNLocator, NullFormatter

LINESTYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
MARKERS_PER_LINE = 8
# Shades of one optimizer's colour for its swept configurations: HLS lightness range.
SHADE_LIGHTNESS = (0.30, 0.68)
MAX_END_GAP = 0.2  # share of a log axis left unlabelled at either end
EVENT_COLOR = "0.45"
DPI = 120


def theme_rc() -> dict[str, object]:
    """seaborn's ``whitegrid`` style and ``notebook`` context (slightly smaller fonts, so
    that multi-panel figures keep their labels apart) as one rc dict."""
    return {
        **sns.axes_style("whitegrid"),
        **sns.plotting_context("notebook", font_scale=0.85),
        "legend.frameon": False,
        "figure.dpi": DPI,
        "savefig.dpi": DPI,
    }


@contextlib.contextmanager
def themed() -> Iterator[None]:
    """The theme for the figures built inside (an ``rc_context``: restored on exit)."""
    with mpl.rc_context(theme_rc()):
        yield


def new_figure(
    n_rows: int, n_cols: int, *, panel: tuple[float, float] = (4.6, 3.2), min_width: float = 6.4, **subplots: object
) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure of ``n_rows x n_cols`` panels of size ``panel``
    (inches), at least ``min_width`` wide, with an Agg canvas; call inside :func:`themed`."""
    width = max(min_width, panel[0] * n_cols)
    fig = Figure(figsize=(width, panel[1] * n_rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(n_rows, n_cols, squeeze=False, **subplots)
    return fig, axes


@dataclass(frozen=True)
class SeriesStyle:
    """How one series (an optimizer, or one of its swept configurations) is drawn."""

    color: tuple[float, float, float]
    linestyle: str
    marker: str

    def line(self, n_points: int = 0, *, index: int = 0) -> dict[str, object]:
        """Keyword arguments of ``Axes.plot``: colour, line style and sparse markers
        (staggered by ``index`` so that coinciding lines show both markers)."""
        kw: dict[str, object] = {"color": self.color, "linestyle": self.linestyle}
        if n_points > 0:  # a single point (one evaluation) is a marker or nothing
            every = max(1, n_points // MARKERS_PER_LINE)
            kw.update(marker=self.marker, markersize=4, markevery=(index * every // 3 % every, every))
        return kw


class StudyStyle:
    """Colour, line style and marker per optimizer and per series label of one study."""

    def __init__(self, optimizers: Sequence[str], series: dict[str, Sequence[str]]) -> None:
        """``optimizers`` in study order; ``series[optimizer]`` its series labels in
        sweep order (just ``[optimizer]`` when nothing is swept)."""
        self.optimizers = list(optimizers)
        hues = sns.husl_palette(len(self.optimizers), s=0.9, l=0.55)
        self._optimizer: dict[str, SeriesStyle] = {}
        self._series: dict[str, SeriesStyle] = {}
        self._index: dict[str, int] = {}
        for i, (optimizer, color) in enumerate(zip(self.optimizers, hues)):
            base = SeriesStyle(tuple(color), LINESTYLES[i % len(LINESTYLES)], MARKERS[i % len(MARKERS)])
            self._optimizer[optimizer] = base
            labels = list(series.get(optimizer, [optimizer]))
            for label, shade in zip(labels, _shades(base.color, len(labels))):
                self._series[label] = SeriesStyle(shade, base.linestyle, base.marker)
                self._index[label] = len(self._index)

    def optimizer(self, optimizer: str) -> SeriesStyle:
        return self._optimizer[optimizer]

    def series(self, label: str) -> SeriesStyle:
        return self._series[label]

    def line(self, label: str, n_points: int = 0) -> dict[str, object]:
        """``Axes.plot`` keywords of the series ``label`` (also sets the label)."""
        return {**self._series[label].line(n_points, index=self._index[label]), "label": label}


def _shades(color: tuple[float, float, float], n: int) -> list[tuple[float, float, float]]:
    """``n`` shades of ``color`` with its hue and saturation (HLS), dark to light."""
    if n == 1:
        return [color]
    hue, _, saturation = colorsys.rgb_to_hls(*color)
    return [colorsys.hls_to_rgb(hue, light, saturation) for light in np.linspace(*SHADE_LIGHTNESS, n)]


class ReadableLogLocator(Locator):
    """Major ticks of a log axis with at least three labels in view that reach both
    ends of it: decades when the view spans enough of them, else 1-2-5 per decade, else
    1..9 per decade, else evenly spaced values (a view of about one decade, where
    matplotlib labels one tick or crowds every minor one, or where the last 1..9 tick
    sits far from the top: 0.4 ... 1 on an axis to 1.35)."""

    def __call__(self) -> Sequence[float]:
        return self.tick_values(*self.axis.get_view_interval())

    def tick_values(self, vmin: float, vmax: float) -> Sequence[float]:
        vmin, vmax = sorted((vmin, vmax))
        if not (vmin > 0 and math.isfinite(vmax)):
            return LogLocator().tick_values(vmin, vmax)
        room = max(4, self.axis.get_tick_space()) if self.axis is not None else 8
        span = math.log10(vmax / vmin)
        candidates = [(1.0,), (1.0, 2.0, 5.0)] + ([tuple(float(s) for s in range(1, 10))] if span < 0.7 else [])
        enough = None
        for subs in candidates:
            ticks = LogLocator(subs=subs, numticks=room).tick_values(vmin, vmax)
            inside = ticks[(ticks >= vmin) & (ticks <= vmax)]
            if len(inside) < 3 or (len(subs) > 1 and len(inside) > room):  # decades are thinned by numticks
                continue
            enough = inside if enough is None else enough
            gaps = math.log10(inside[0] / vmin) / span, math.log10(vmax / inside[-1]) / span
            if max(gaps) <= MAX_END_GAP:
                return inside
        if enough is not None and span >= 1.0:
            return enough
        if span >= 1.0:
            return LogLocator(numticks=room).tick_values(vmin, vmax)
        return MaxNLocator(min(5, room)).tick_values(vmin, vmax)


PLAIN_RANGE = (1e-4, 1e5)  # tick values written as plain decimals when all fall in here


def number_label(value: float, digits: int = 3, *, plain: bool | None = None) -> str:
    """A tick label with ``digits`` significant digits: plain decimals (by default
    inside :data:`PLAIN_RANGE`), else ``m x 10^e``."""
    if plain is None:
        plain = value == 0 or PLAIN_RANGE[0] <= abs(value) < PLAIN_RANGE[1]
    if plain or value == 0:
        return np.format_float_positional(value, precision=digits, unique=True, fractional=False, trim="-")
    exponent = math.floor(math.log10(abs(value)))
    mantissa = float(f"{value / 10**exponent:.{digits}g}")
    if mantissa == 1:
        return f"$10^{{{exponent}}}$"
    return f"${mantissa:g}\\times10^{{{exponent}}}$"


class NumberFormatter(Formatter):
    """:func:`number_label` in one notation per axis (plain decimals when every tick
    is inside :data:`PLAIN_RANGE`, else powers of ten) with the fewest significant
    digits (at least 3) that keep the labels distinct (1.015 and 1.025 are not both
    "1.02")."""

    def __call__(self, value: float, pos: int | None = None) -> str:
        return number_label(value)

    def format_ticks(self, values: Sequence[float]) -> list[str]:
        nonzero = [abs(v) for v in values if v != 0]
        plain = not nonzero or (PLAIN_RANGE[0] <= min(nonzero) and max(nonzero) < PLAIN_RANGE[1])
        labels: list[str] = []
        for digits in range(3, 8):
            labels = [number_label(v, digits, plain=plain) for v in values]
            if len(set(labels)) == len(labels):
                break
        return labels


def log_axis(ax: Axes, which: str = "y") -> None:
    """Log scale on ``which`` axis with :class:`ReadableLogLocator` labels and unlabelled
    minor ticks."""
    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    axis.set_major_locator(ReadableLogLocator())
    axis.set_major_formatter(NumberFormatter())
    axis.set_minor_formatter(NullFormatter())


def figure_legend(fig: Figure, axes: Sequence[Axes], *, max_cols: int = 4) -> None:
    """One legend for the figure below the panels (never over the curves), entries of
    every axes in ``axes`` in order without duplicates, with as many columns as fit the
    figure's width."""
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    if not entries:
        return
    renderer = fig.canvas.get_renderer()
    for ncol in range(min(max_cols, len(entries)), 0, -1):
        legend = fig.legend(list(entries.values()), list(entries), loc="outside lower center", ncol=ncol, fontsize="small")
        if legend.get_window_extent(renderer).width <= 0.98 * fig.bbox.width or ncol == 1:
            break
        legend.remove()
    # The figure grows by the legend's height, so the panels keep their size however
    # many entries there are (constrained layout would otherwise squeeze them, or give
    # up and let the legend cover them).
    fig.set_figheight(fig.get_figheight() + legend.get_window_extent(renderer).height / fig.dpi)


def _wrap_to(text: Text, width_px: float, renderer: object) -> None:
    """Re-wrap ``text`` onto more lines until it is at most ``width_px`` wide."""
    original = " ".join(text.get_text().split())
    chars = len(original)
    while text.get_window_extent(renderer).width > width_px and chars > 12:
        chars = int(chars * 0.85)
        text.set_text(textwrap.fill(original, chars))


def finish(fig: Figure, title: str) -> Figure:
    """Give ``fig`` its ``title``, wrap the title and panel titles that would be wider
    than the figure or their panel, and draw it once (inside :func:`themed`: the ticks
    created by the draw keep the theme)."""
    fig.suptitle(title)
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    _wrap_to(fig._suptitle, 0.96 * fig.bbox.width, renderer)  # noqa: SLF001 (get_suptitle gives only the string)
    for ax in fig.axes:
        _wrap_to(ax.title, ax.get_window_extent(renderer).width * 1.1, renderer)
    fig.draw_without_rendering()
    return fig
