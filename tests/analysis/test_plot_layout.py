"""Every standard plot of every study kind, checked as a reviewer would (issue 11) but
with matplotlib's own text extents: after a draw, no title, axis label, tick label or
legend lies outside the figure, no two tick labels of one axis overlap, every numeric
axis has at least two labelled ticks spread over its length, panels of one quantity
share their y scale, and each optimizer has one hue in every figure of a study.
"""

from __future__ import annotations

import colorsys
import subprocess
import sys
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.text import Text
from matplotlib.ticker import FixedLocator
from matplotlib.transforms import Bbox

from muonlab.analysis import load_study, study_figures

# Extents are in pixels at the figure's dpi; text antialiasing may spill half a pixel.
SLACK_PX = 1.0
# Labelled ticks must cover this share of an axis: "0.8 0.9 1" on an axis to 2 does not.
MIN_TICK_SPAN = 0.3

EXPECTED = {
    "awbt_injection": ["loss.png", "event_window.png", "closed_loop.png", "spike_count_rho.png",
                       "closed_loop_columns.png"],
    "awbt_plain": ["loss.png"],
    "river_valley": ["loss.png", "dom_ratio.png", "gram_dominance.png", "spectral_density.png"],
    "digits": ["loss.png", "gram_dominance.png"],
    "pinn_sweep": ["pinn_training.png", "pinn_distributions.png", "pinn_step_size.png", "pinn_lr_sensitivity.png"],
}
# Figures whose panels all show one quantity (loss) and must share the y scale.
SHARED_Y = ("loss.png", "event_window.png")


@pytest.fixture(scope="module")
def figures(study_dirs: dict[str, Path]) -> Iterator[dict[str, dict[str, Figure]]]:
    yield {kind: study_figures(load_study(path)) for kind, path in study_dirs.items()}


def _draw(fig: Figure) -> RendererAgg:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _shown_ticklabels(axis: Axis) -> list[Text]:
    """The tick labels drawn: visible, non-empty, at a tick inside the view interval."""
    lo, hi = sorted(axis.get_view_interval())
    pad = 1e-9 * max(abs(lo), abs(hi), 1.0)
    labels = []
    for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
        loc = tick.get_loc()
        for label in (tick.label1, tick.label2):
            if loc is not None and lo - pad <= loc <= hi + pad and label.get_visible() and label.get_text():
                labels.append(label)
    return labels


def _texts(fig: Figure) -> Iterator[tuple[str, Text | Legend]]:
    """(what, artist) for every title, label, tick label, text and legend of ``fig``."""
    if fig._suptitle is not None:  # noqa: SLF001 (the public getter returns only the string)
        yield "suptitle", fig._suptitle  # noqa: SLF001
    for legend in fig.legends:
        yield "figure legend", legend
    for text in fig.texts:
        yield "figure text", text
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for loc in ("center", "left", "right"):
            yield f"title of {ax.get_title(loc)!r}", ax.title if loc == "center" else getattr(ax, f"_{loc}_title")
        yield "x label", ax.xaxis.label
        yield "y label", ax.yaxis.label
        for axis, name in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            for label in _shown_ticklabels(axis):
                yield f"{name} tick label {label.get_text()!r} of {ax.get_title()!r}", label
        for text in ax.texts:
            yield f"text {text.get_text()!r}", text
        if ax.get_legend() is not None:
            yield "axes legend", ax.get_legend()


def _extent(artist: Text | Legend, renderer: RendererAgg) -> Bbox | None:
    if not artist.get_visible() or (isinstance(artist, Text) and not artist.get_text()):
        return None
    return artist.get_window_extent(renderer)


def _numeric_axes(fig: Figure) -> Iterator[tuple[Axes, Axis, str]]:
    for ax in fig.axes:
        if not ax.get_visible() or not ax.has_data():
            continue
        for axis, name in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            if not isinstance(axis.get_major_locator(), FixedLocator):  # categorical ticks are set by hand
                yield ax, axis, name


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_the_plots_that_fit_the_study(figures: dict[str, dict[str, Figure]], kind: str) -> None:
    assert list(figures[kind]) == EXPECTED[kind]


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_no_text_outside_the_figure(figures: dict[str, dict[str, Figure]], kind: str) -> None:
    problems = []
    for name, fig in figures[kind].items():
        renderer = _draw(fig)
        box = fig.bbox
        for what, artist in _texts(fig):
            ext = _extent(artist, renderer)
            if ext is None:
                continue
            if ext.x0 < box.x0 - SLACK_PX or ext.y0 < box.y0 - SLACK_PX or ext.x1 > box.x1 + SLACK_PX or ext.y1 > box.y1 + SLACK_PX:
                problems.append(f"{name}: {what} at {ext.bounds} outside the figure {box.bounds}")
    assert problems == []


def _overlaps(a: Bbox, b: Bbox) -> bool:
    return a.x0 < b.x1 - SLACK_PX and b.x0 < a.x1 - SLACK_PX and a.y0 < b.y1 - SLACK_PX and b.y0 < a.y1 - SLACK_PX


def legend_problems(name: str, fig: Figure) -> list[str]:
    """A figure legend over a panel, or over any of a panel's labels (tick labels, axis
    labels, titles: the panel's tight box)."""
    renderer = _draw(fig)
    problems = []
    for legend in fig.legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            if ax.get_visible() and _overlaps(box, ax.get_tightbbox(renderer)):
                problems.append(f"{name}: the legend {box.bounds} covers the panel {ax.get_title()!r}")
    return problems


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_legends_cover_no_panel(figures: dict[str, dict[str, Figure]], kind: str) -> None:
    assert [p for name, fig in figures[kind].items() for p in legend_problems(name, fig)] == []


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_tick_labels_distinct_and_apart(figures: dict[str, dict[str, Figure]], kind: str) -> None:
    problems = []
    for name, fig in figures[kind].items():
        renderer = _draw(fig)
        for ax in fig.axes:
            for axis, axis_name in ((ax.xaxis, "x"), (ax.yaxis, "y")):
                extents = [(label.get_text(), label.get_window_extent(renderer)) for label in _shown_ticklabels(axis)]
                texts = [text for text, _ in extents]
                if len(set(texts)) < len(texts):
                    problems.append(f"{name} {ax.get_title()!r}: {axis_name} tick labels repeat: {texts}")
                for (ta, a), (tb, b) in itertools.combinations(extents, 2):
                    inter = Bbox.intersection(a, b)
                    if inter is not None and inter.width > SLACK_PX and inter.height > SLACK_PX:
                        problems.append(f"{name} {ax.get_title()!r}: {axis_name} tick labels {ta!r} and {tb!r} overlap")
    assert problems == []


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_every_numeric_axis_is_labelled_along_its_length(figures: dict[str, dict[str, Figure]], kind: str) -> None:
    problems = []
    for name, fig in figures[kind].items():
        renderer = _draw(fig)
        for ax, axis, axis_name in _numeric_axes(fig):
            labels = _shown_ticklabels(axis)
            shared = (ax.get_shared_x_axes() if axis_name == "x" else ax.get_shared_y_axes()).get_siblings(ax)
            if not labels and len(shared) > 1:
                continue  # a shared axis is labelled on the outer panel only
            along = [(e.x0 + e.x1) / 2 if axis_name == "x" else (e.y0 + e.y1) / 2 for e in (t.get_window_extent(renderer) for t in labels)]
            length = ax.get_window_extent(renderer).width if axis_name == "x" else ax.get_window_extent(renderer).height
            span = (max(along) - min(along)) / length if len(along) >= 2 else 0.0
            if span < MIN_TICK_SPAN:
                texts = [t.get_text() for t in labels]
                problems.append(f"{name} {ax.get_title()!r}: {axis_name} axis labelled only at {texts} ({span:.0%} of its length)")
    assert problems == []


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_panels_of_one_quantity_share_the_y_scale(figures: dict[str, dict[str, Figure]], kind: str) -> None:
    for name in SHARED_Y:
        fig = figures[kind].get(name)
        if fig is None:
            continue
        limits = {ax.get_ylim() for ax in fig.axes if ax.has_data()}
        assert len(limits) == 1, f"{name}: panels with different y limits {limits}"


def _hue(color: object) -> float:
    return colorsys.rgb_to_hls(*to_rgb(color))[0]


def _optimizer_of(label: str, optimizers: list[str]) -> str | None:
    """The optimizer a series label names (the longest optimizer label it starts with)."""
    names = [o for o in optimizers if label == o or label.startswith(o + " ")]
    return max(names, key=len) if names else None


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_an_optimizer_has_one_hue_in_every_figure(figures: dict[str, dict[str, Figure]], study_dirs: dict[str, Path], kind: str) -> None:
    """Every line and dot labelled with an optimizer has that optimizer's hue (sweep
    values may be lighter or darker shades of it), in every figure of the study, and two
    optimizers never share a hue."""
    optimizers = load_study(study_dirs[kind]).optimizers
    hues: dict[str, set[tuple[str, float]]] = {o: set() for o in optimizers}
    for name, fig in figures[kind].items():
        for ax in fig.axes:
            for artist in [*ax.lines, *ax.collections]:
                optimizer = _optimizer_of(str(artist.get_label()), optimizers)
                if optimizer is None:
                    continue
                colors = [artist.get_color()] if hasattr(artist, "get_color") and not hasattr(artist, "get_facecolor") else list(artist.get_facecolor())
                hues[optimizer] |= {(name, round(_hue(c), 2)) for c in colors}
    drawn = {o: {h for _, h in found} for o, found in hues.items() if found}
    assert set(drawn) == set(optimizers), f"optimizers never drawn with their label: {set(optimizers) - set(drawn)}"
    assert {o: len(h) for o, h in drawn.items()} == dict.fromkeys(optimizers, 1), hues
    assert len({next(iter(h)) for h in drawn.values()}) == len(optimizers), drawn


def test_figures_are_saved_by_a_separate_step(study_dirs: dict[str, Path], tmp_path: Path) -> None:
    from muonlab.analysis import save_figures

    figs = study_figures(load_study(study_dirs["awbt_plain"]))
    paths = save_figures(figs, tmp_path / "plots")
    assert [p.name for p in paths] == list(figs)
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plotting_leaves_matplotlib_global_state_alone(study_dirs: dict[str, Path]) -> None:
    """Importing muonlab.analysis and drawing a study's figures leaves every rcParam as
    it was and selects no backend: the raw ``backend`` entry (read without resolving it)
    is unchanged and no figure is registered with pyplot (fresh interpreter; seaborn
    itself imports pyplot, which selects nothing until used)."""
    script = f"""
import matplotlib
raw_backend = lambda: dict.__getitem__(matplotlib.rcParams, "backend")
before = {{k: v for k, v in matplotlib.rcParams.items() if k != "backend"}}
backend = raw_backend()
from muonlab.analysis import load_study, study_figures
figures = study_figures(load_study({str(study_dirs["awbt_injection"])!r}))
after = {{k: v for k, v in matplotlib.rcParams.items() if k != "backend"}}
assert raw_backend() is backend, (backend, raw_backend())
assert before == after, {{k for k in before if before[k] != after[k]}}
import matplotlib.pyplot as plt
assert plt.get_fignums() == [], plt.get_fignums()
print(len(figures))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(len(EXPECTED["awbt_injection"]))
