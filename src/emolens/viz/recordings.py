"""Charts of one recording over time (seconds from its start): the emotion timeline, and a
time x emotion heatmap per person seen in a video.

Input is a table as returned by ``ResultStore.to_frame`` for one source, with ``t_start`` /
``t_end``; the people heatmap uses its ``modality="face"`` rows whose ``group`` is
"person N" (one face track of the video pipeline).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import ListedColormap, to_hex

from emolens.errors import InvalidInputError
from emolens.viz.charts import (
    Backend,
    _figure,
    _mpl_style,
    _plotly,
    _plotly_style,
    _tidy_axes,
    emotion_colors,
    label_order,
)

MAX_PEOPLE = 6  # panels in one people heatmap; the most-detected people are drawn
MAX_BINS = 120  # time columns of a people heatmap, at most
# Bin widths a people heatmap may use (seconds): the shortest that fits is taken.
BIN_STEPS = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0,
             1800.0, 3600.0)
PERSON_GROUP = r"person \d+"
# Blues without its near-white end, so that a low probability still reads as colour and
# only a bin where the person was not seen is blank.
_SEEN = ListedColormap(colormaps["Blues"](np.linspace(0.15, 1.0, 256)),
                       name="seen").with_extremes(bad=(1.0, 1.0, 1.0, 0.0))


@dataclass(frozen=True)
class PersonBins:
    """Mean probability of each emotion per person and time bin (NaN where not seen)."""

    tables: dict[str, pd.DataFrame]  # drawn people -> emotions x bin starts (seconds)
    detections: dict[str, int]  # face detections of every person, most first
    bin_seconds: float

    @property
    def left_out(self) -> list[str]:
        """People beyond those in ``tables`` (seen less often)."""
        return [p for p in self.detections if p not in self.tables]


def _time_unit(seconds: float) -> tuple[float, str]:
    """Divisor and unit of a time axis: long recordings read better in minutes."""
    return (60.0, "minutes") if seconds > 120 else (1.0, "seconds")


# -- the emotion timeline -------------------------------------------------------------------


def timeline_points(df: pd.DataFrame) -> pd.DataFrame:
    """Step curve of one recording: each segment's probabilities held over its span, zero
    in the pauses between segments. Rows are times (seconds), columns emotions."""
    segments = df[df["t_start"].notna() & df["t_end"].notna()].sort_values("t_start")
    if segments.empty:
        raise InvalidInputError("The results have no time spans (t_start/t_end): no timeline.")
    labels = [x for x in label_order(segments) if f"p_{x}" in segments]
    rows: list[list[float]] = []
    times: list[float] = []
    previous_end = None
    for _, seg in segments.iterrows():
        values = [float(seg[f"p_{x}"]) for x in labels]
        if previous_end is not None and seg["t_start"] - previous_end > 0.05:
            times += [previous_end, float(seg["t_start"])]
            rows += [[0.0] * len(labels)] * 2  # a gap: nothing heard (or seen) there
        times += [float(seg["t_start"]), float(seg["t_end"])]
        rows += [values, values]
        previous_end = float(seg["t_end"])
    return pd.DataFrame(rows, index=pd.Index(times, name="seconds"), columns=labels)


def timeline_chart(
    df: pd.DataFrame, title: str = "Emotion over time", backend: Backend = "matplotlib"
) -> Any:
    """Stacked areas of each emotion's probability over a recording's segments (one source)."""
    points = timeline_points(df)
    colors = emotion_colors(list(points.columns))
    scale, unit = _time_unit(float(points.index.max()))
    x = points.index / scale
    if backend == "plotly":
        go = _plotly()
        fig = go.Figure()
        for label in points.columns:
            fig.add_trace(go.Scatter(
                x=list(x), y=(points[label] * 100).round(1).tolist(), name=str(label),
                stackgroup="one", mode="lines", line={"width": 0.5, "color": colors[label]},
                hovertemplate=f"{label}: %{{y:.0f}}%<extra>%{{x:.1f}} {unit[:3]}</extra>",
            ))
        fig.update_layout(title=title, xaxis_title=f"time ({unit})",
                          yaxis_title="probability (%)", yaxis_range=[0, 100],
                          hovermode="x unified")
        return _plotly_style(fig)
    with _mpl_style():
        fig = _figure(10.0, 4.2)
        ax = fig.add_subplot()
        ax.stackplot(x, (points * 100).T.to_numpy(), labels=list(points.columns),
                     colors=[colors[c] for c in points.columns], alpha=0.9, linewidth=0)
        ax.set(title=title, xlabel=f"time ({unit})", ylabel="probability (%)", ylim=(0, 100))
        ax.set_xlim(0, float(x.max()))
        ax.legend(title="emotion", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        _tidy_axes(ax)
    return fig


# -- people over time -----------------------------------------------------------------------


def person_faces(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``df`` that are timed face detections of a tracked person ("person N")."""
    if not {"modality", "group", "t_start"} <= set(df.columns):
        return df.iloc[:0]
    tracked = df["group"].fillna("").astype(str).str.fullmatch(PERSON_GROUP)
    return df[df["modality"].eq("face") & tracked & df["t_start"].notna()]


def choose_bin(duration: float, sample: float = 0.0, max_bins: int = MAX_BINS) -> float:
    """Shortest of ``BIN_STEPS`` that is no shorter than one face sample and cuts
    ``duration`` seconds into at most ``max_bins`` bins."""
    for step in BIN_STEPS:
        if step >= sample - 1e-9 and math.ceil(duration / step - 1e-9) <= max_bins:
            return step
    return math.ceil(duration / max_bins / 3600) * 3600.0


def person_bins(
    df: pd.DataFrame, max_people: int = MAX_PEOPLE, bin_seconds: float | None = None
) -> PersonBins:
    """Per person (most-detected first, at most ``max_people``), the mean probability of
    each emotion over the face detections overlapping each time bin; NaN where not seen."""
    faces = person_faces(df)
    if faces.empty:
        raise InvalidInputError(
            "The results have no tracked faces (face rows in a 'person N' group with times): "
            "no per-person heatmap.")
    labels = [x for x in label_order(faces) if f"p_{x}" in faces]
    t0 = faces["t_start"].to_numpy(float)
    t1 = np.maximum(faces["t_end"].fillna(faces["t_start"]).to_numpy(float), t0)
    step = bin_seconds or choose_bin(float(t1.max()), float(np.median(t1 - t0)))
    n = max(1, math.ceil(float(t1.max()) / step - 1e-9))
    counts = faces["group"].value_counts()
    order = sorted(counts.index, key=lambda g: (-int(counts[g]), int(str(g).split()[1])))
    starts = pd.Index(np.round(np.arange(n) * step, 3), name="seconds")
    probs = faces[[f"p_{x}" for x in labels]].to_numpy(float)
    tables = {}
    for person in order[:max_people]:
        mine = (faces["group"] == person).to_numpy()
        means = _binned_means(t0[mine], t1[mine], probs[mine], step, n)
        tables[str(person)] = pd.DataFrame(means.T, index=labels, columns=starts)
    return PersonBins(tables, {str(g): int(counts[g]) for g in order}, step)


def _binned_means(
    t0: np.ndarray, t1: np.ndarray, probs: np.ndarray, step: float, n: int
) -> np.ndarray:
    """(n, labels) overlap-weighted means of ``probs`` over bins of ``step`` s; NaN where
    no span overlaps. A detection counts in every bin its span touches, so samples taken
    a little off the bin grid leave no false gaps."""
    first = np.clip(np.floor(t0 / step + 1e-6).astype(int), 0, n - 1)
    last = np.clip(np.ceil(t1 / step - 1e-6).astype(int) - 1, first, n - 1)
    rows = np.repeat(np.arange(len(t0)), last - first + 1)
    bins = np.concatenate([np.arange(a, b + 1) for a, b in zip(first, last, strict=True)])
    overlap = np.minimum((bins + 1) * step, t1[rows]) - np.maximum(bins * step, t0[rows])
    weight = np.maximum(overlap, 1e-3 * step)  # an instant (t_end = t_start) still counts
    sums = np.zeros((n, probs.shape[1]))
    totals = np.zeros(n)
    np.add.at(sums, bins, weight[:, None] * probs[rows])
    np.add.at(totals, bins, weight)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals[:, None] > 0, sums / totals[:, None], np.nan)


def people_chart(
    df: pd.DataFrame,
    title: str = "Emotion per person over time",
    max_people: int = MAX_PEOPLE,
    backend: Backend = "matplotlib",
) -> Any:
    """One time x emotion heatmap panel per person; colour is the mean probability of the
    emotion among that person's face detections in the bin, blank where not seen."""
    bins = person_bins(df, max_people)
    people = list(bins.tables)
    labels = list(next(iter(bins.tables.values())).index)
    n = next(iter(bins.tables.values())).shape[1]
    scale, unit = _time_unit(n * bins.bin_seconds)
    names = [f"{p} ({bins.detections[p]:,} face detections)" for p in people]
    if backend == "plotly":
        return _people_plotly(bins, names, title, scale, unit)
    with _mpl_style():
        fig = _figure(10.0, 0.9 + len(people) * (0.2 * len(labels) + 0.6))
        axes = fig.subplots(len(people), 1, sharex=True, squeeze=False)[:, 0]
        extent = (0.0, n * bins.bin_seconds / scale, len(labels) - 0.5, -0.5)
        for ax, person, name in zip(axes, people, names, strict=True):
            values = np.ma.masked_invalid(bins.tables[person].to_numpy(float))
            image = ax.imshow(values, cmap=_SEEN, vmin=0.0, vmax=1.0, aspect="auto",
                              interpolation="nearest", extent=extent)
            ax.set_yticks(range(len(labels)), labels=labels, fontsize=8)
            ax.set_title(name, loc="left", fontsize=9)
        axes[-1].set_xlabel(f"time ({unit}); blank: person not seen")
        fig.suptitle(title)
        fig.colorbar(image, ax=list(axes), label="mean probability", shrink=0.8)
    return fig


def _people_plotly(bins: PersonBins, names: list[str], title: str, scale: float, unit: str
                   ) -> Any:
    from plotly.subplots import make_subplots

    go = _plotly()
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, subplot_titles=names,
                        vertical_spacing=min(0.08, 0.3 / len(names)))
    colorscale = [[i / 8, to_hex(_SEEN(i / 8))] for i in range(9)]
    for row, (person, table) in enumerate(bins.tables.items(), start=1):
        x = (table.columns.to_numpy(float) + bins.bin_seconds / 2) / scale
        fig.add_trace(go.Heatmap(
            z=table.to_numpy(float).round(3), x=x, y=list(table.index), zmin=0, zmax=1,
            colorscale=colorscale, showscale=row == 1, colorbar={"title": "mean<br>probability"},
            hovertemplate=f"{person}: %{{y}} %{{z:.0%}}<extra>%{{x:.1f}} {unit[:3]}</extra>",
        ), row=row, col=1)
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text=f"time ({unit}); blank: person not seen", row=len(names), col=1)
    fig.update_layout(title=title, height=140 + 200 * len(names))
    return _plotly_style(fig)
