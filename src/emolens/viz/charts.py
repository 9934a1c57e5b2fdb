"""Distribution, trend and heatmap charts of stored results, as matplotlib and plotly figures.

Every chart takes a table as returned by ``ResultStore.to_frame`` (columns ``label``, ``group``,
``timestamp``, ``created_at``); only ``label`` is required. The share tables behind the charts
are public too, for people who want the numbers rather than the picture. Charts of one
recording over time (seconds from its start) are in ``recordings.py``.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from emolens.errors import InvalidInputError
from emolens.labels import CANONICAL

Backend = Literal["matplotlib", "plotly"]
Bucket = Literal["hour", "day", "week", "month"]

# One colour per canonical emotion, the same in every chart and in both backends.
EMOTION_COLORS: dict[str, str] = {
    "anger": "#d62728",
    "disgust": "#6b8e23",
    "fear": "#7b4fa6",
    "joy": "#e6b000",
    "sadness": "#1f77b4",
    "surprise": "#ff7f0e",
    "neutral": "#8c8c8c",
}
# Colours for labels outside the canonical set (custom models), assigned in display order.
_EXTRA_COLORS = ("#17becf", "#e377c2", "#8c564b", "#bcbd22", "#393b79", "#637939", "#843c39")

BUCKETS: dict[str, str] = {"hour": "h", "day": "D", "week": "W", "month": "M"}
_BUCKET_FORMATS = {
    "hour": "%Y-%m-%d %H:00", "day": "%Y-%m-%d", "week": "%Y-%m-%d", "month": "%Y-%m"
}
_BUCKET_DAYS = {"hour": 1 / 24, "day": 1.0, "week": 7.0, "month": 30.4}
_NO_GROUP, _OTHER = "(no group)", "(other)"
# Common families with Chinese glyphs, preferred in this order when installed.
_CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei", "PingFang SC",
    "Heiti SC", "Sarasa Gothic SC", "Droid Sans Fallback", "AR PL UMing CN",
)


@dataclass(frozen=True)
class Shares:
    """Percent of items per label (rows) in each column (a group, a time bucket, or all)."""

    table: pd.DataFrame  # labels x columns, percent; NaN where a column has no items
    counts: pd.Series  # items per column
    bucket: str | None = None  # time bucket, for tables over time
    time_column: str | None = None  # "timestamp" (item time) or "created_at" (analysis time)


# -- share tables ---------------------------------------------------------------------------


def label_order(df: pd.DataFrame) -> list[str]:
    """Labels to show: all of CANONICAL in its order when labels are canonical, else by count."""
    _require(df)
    present = set(df["label"].dropna()) | {c[2:] for c in df.columns if c.startswith("p_")}
    if present <= set(CANONICAL):
        return list(CANONICAL)
    counts = df["label"].value_counts()
    return sorted(present, key=lambda x: (-int(counts.get(x, 0)), x))


def emotion_colors(labels: list[str]) -> dict[str, str]:
    """Colour per label: the fixed palette for canonical emotions, then distinct extras."""
    extras = iter(_EXTRA_COLORS * (len(labels) // len(_EXTRA_COLORS) + 1))
    return {x: EMOTION_COLORS[x] if x in EMOTION_COLORS else next(extras) for x in labels}


def label_shares(df: pd.DataFrame) -> Shares:
    """Share of items per label over the whole table."""
    counts = df["label"].value_counts().reindex(label_order(df), fill_value=0)
    table = (counts / max(int(counts.sum()), 1) * 100).to_frame("all")
    return Shares(table, pd.Series({"all": int(counts.sum())}))


def time_column(df: pd.DataFrame) -> str:
    """``timestamp`` when any item has its own time, else ``created_at`` (analysis time)."""
    if "timestamp" in df and df["timestamp"].notna().any():
        return "timestamp"
    if "created_at" in df and df["created_at"].notna().any():
        return "created_at"
    raise InvalidInputError("The results have no times (no timestamp or created_at column).")


# A bucket should hold this many items on average: with 2 or 3 a day, one item moves a day's
# shares by a third and the trend lines jump from 0 to 100 %.
MIN_ITEMS_PER_BUCKET = 10


def choose_bucket(times: pd.Series, lo: int = 5, hi: int = 60) -> str:
    """Finest of hour/day/week/month giving about ``lo`` to ``hi`` buckets over ``times``,
    and no more buckets than ``MIN_ITEMS_PER_BUCKET`` items each would fill (but ``lo``)."""
    times = _naive_times(times).dropna()
    hi = max(lo, min(hi, len(times) // MIN_ITEMS_PER_BUCKET))

    def misfit(bucket: str) -> float:
        periods = times.dt.to_period(BUCKETS[bucket])
        n = periods.max().ordinal - periods.min().ordinal + 1
        return max(math.log(lo / n), math.log(n / hi), 0.0)

    return min(BUCKETS, key=misfit)  # ties go to the finer bucket (dict order)


def trend_shares(df: pd.DataFrame, bucket: str | None = None, hi: int = 60) -> Shares:
    """Share of items per label in each time bucket (columns: bucket start times)."""
    column = time_column(df)
    times = _naive_times(df[column])
    known = times.notna()
    bucket = _check_bucket(bucket) or choose_bucket(times[known], hi=hi)
    freq = BUCKETS[bucket]
    periods = times[known].dt.to_period(freq)
    every = pd.period_range(periods.min(), periods.max(), freq=freq)
    counts = pd.crosstab(df.loc[known, "label"], periods).reindex(
        index=label_order(df), columns=every, fill_value=0
    )
    totals = counts.sum(axis=0)
    table = counts.div(totals.where(totals > 0), axis=1) * 100
    starts = every.start_time
    table.columns, totals.index = starts, starts
    return Shares(table, totals, bucket, column)


def group_shares(df: pd.DataFrame, max_groups: int = 20) -> Shares:
    """Share of items per label in each group; groups beyond ``max_groups`` pooled as (other)."""
    _require(df)
    groups = df["group"].fillna(_NO_GROUP) if "group" in df else pd.Series(_NO_GROUP, df.index)
    groups = groups.astype(str)
    sizes = groups.value_counts()
    if len(sizes) > max_groups:
        groups = groups.where(groups.isin(sizes.index[: max_groups - 1]), _OTHER)
        sizes = groups.value_counts()
    order = [g for g in sizes.index if g != _OTHER] + ([_OTHER] if _OTHER in sizes else [])
    counts = pd.crosstab(df["label"], groups).reindex(
        index=label_order(df), columns=order, fill_value=0
    )
    return Shares(counts / counts.sum(axis=0) * 100, sizes.reindex(order))


def bucket_labels(shares: Shares) -> list[str]:
    """Readable names of the time buckets of a trend table."""
    fmt = _BUCKET_FORMATS[shares.bucket or "day"]
    return [t.strftime(fmt) for t in shares.table.columns]


# -- charts ---------------------------------------------------------------------------------


def distribution_chart(df: pd.DataFrame, backend: Backend = "matplotlib") -> Any:
    """Bar chart of the share of items per emotion."""
    shares = label_shares(df)
    labels = list(shares.table.index)
    pct = shares.table["all"].tolist()
    n = int(shares.counts["all"])
    counts = df["label"].value_counts().reindex(labels, fill_value=0).tolist()
    colors = list(emotion_colors(labels).values())
    title = f"Emotion distribution ({n:,} item{'' if n == 1 else 's'})"
    if backend == "plotly":
        go = _plotly()
        fig = go.Figure(go.Bar(
            x=labels, y=pct, marker_color=colors, customdata=counts,
            text=[f"{p:.0f}%" for p in pct], textposition="outside",
            hovertemplate="%{x}: %{y:.1f}% (%{customdata} items)<extra></extra>",
        ))
        fig.update_layout(title=title, yaxis_title="share of items (%)", xaxis_title="emotion")
        return _plotly_style(fig)
    with _mpl_style():
        fig = _figure(max(6.0, 0.9 * len(labels) + 1.5), 4.2)
        ax = fig.add_subplot()
        bars = ax.bar(labels, pct, color=colors)
        ax.bar_label(bars, labels=[f"{p:.0f}%\n({c:,})" for p, c in zip(pct, counts, strict=True)],
                     fontsize=8, padding=2)
        ax.set_ylim(0, max(pct + [1.0]) * 1.22)
        ax.set(title=title, ylabel="share of items (%)", xlabel="emotion")
        _tidy_axes(ax)
        if len(labels) > 8:
            ax.tick_params(axis="x", labelrotation=45)
    return fig


def trend_chart(
    df: pd.DataFrame, bucket: str | None = None, backend: Backend = "matplotlib"
) -> Any:
    """Share of each emotion per time bucket (lines), items per bucket below (bars)."""
    shares = trend_shares(df, bucket)
    colors = emotion_colors(list(shares.table.index))
    when = "item time" if shares.time_column == "timestamp" else "analysis time"
    title = f"Emotions over time (per {shares.bucket}, by {when})"
    x = shares.table.columns
    if backend == "plotly":
        go = _plotly()
        fig = go.Figure()
        for label, row in shares.table.iterrows():
            fig.add_trace(go.Scatter(
                x=x, y=row.tolist(), name=str(label), mode="lines+markers",
                line={"color": colors[label]}, customdata=shares.counts.tolist(), connectgaps=True,
                hovertemplate=f"{label}: %{{y:.1f}}% of %{{customdata}} items<extra>%{{x}}</extra>",
            ))
        fig.update_layout(title=title, yaxis_title=f"share of items per {shares.bucket} (%)",
                          xaxis_title=shares.bucket, hovermode="x unified")
        return _plotly_style(fig)
    with _mpl_style():
        fig = _figure(10.0, 5.6)
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[4, 1])
        marker = "o" if len(x) <= 40 else None
        seen = shares.counts.to_numpy() > 0  # join lines across buckets with no items
        for label, row in shares.table.iterrows():
            top.plot(x[seen], row.to_numpy()[seen], label=label, color=colors[label],
                     marker=marker, markersize=3, linewidth=1.6)
        top.set(title=title, ylabel="share of items (%)")
        top.set_ylim(bottom=0)
        top.legend(title="emotion", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        bottom.bar(x, shares.counts.values, width=_BUCKET_DAYS[shares.bucket or "day"] * 0.8,
                   color="#b0b0b0")
        bottom.set(ylabel="items", xlabel=f"{shares.bucket} ({when})")
        bottom.yaxis.set_major_locator(MaxNLocator(nbins=3, integer=True))
        locator = mdates.AutoDateLocator()
        bottom.xaxis.set_major_locator(locator)
        bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        for ax in (top, bottom):
            _tidy_axes(ax)
    return fig


def heatmap_chart(
    df: pd.DataFrame,
    by: Literal["group", "time"] = "group",
    bucket: str | None = None,
    backend: Backend = "matplotlib",
) -> Any:
    """Emotion x group (or x time bucket) grid; each cell is the emotion's share in its column."""
    if by == "group":
        shares = group_shares(df)
        columns, xlabel = list(shares.table.columns), "group"
    elif by == "time":
        shares = trend_shares(df, bucket, hi=24)  # fewer columns than a trend, to fit labels
        columns, xlabel = bucket_labels(shares), f"{shares.bucket} (start)"
    else:
        raise InvalidInputError(f"by must be 'group' or 'time', got {by!r}")
    title = f"Emotion share by {xlabel.split()[0]}"
    rows = [str(x) for x in shares.table.index]
    values = shares.table.to_numpy(dtype=float)
    names = [f"{c}\n(n={n:,})" for c, n in zip(columns, shares.counts, strict=True)]
    if backend == "plotly":
        go = _plotly()
        fig = go.Figure(go.Heatmap(
            z=values.round(1), x=[n.replace("\n", "<br>") for n in names], y=rows,
            colorscale="Blues", zmin=0, texttemplate="%{z:.0f}%", colorbar={"title": "%"},
            hovertemplate="%{y} in %{x}: %{z:.1f}%<extra></extra>",
        ))
        fig.update_layout(title=title, xaxis_title=xlabel, yaxis_title="emotion",
                          yaxis_autorange="reversed")
        return _plotly_style(fig)
    with _mpl_style():
        fig = _figure(max(6.0, 0.75 * len(columns) + 3.0), 0.45 * len(rows) + 2.6)
        ax = fig.add_subplot()
        vmax = max(float(np.nanmax(values)), 1.0)
        image = ax.imshow(values, cmap="Blues", vmin=0, vmax=vmax, aspect="auto")
        tilt = len(columns) > 6 or max(len(c) for c in columns) > 12
        ax.set_xticks(range(len(columns)), labels=names, fontsize=8,
                      rotation=45 if tilt else 0, ha="right" if tilt else "center")
        ax.set_yticks(range(len(rows)), labels=rows)
        if len(columns) <= 30:
            for (i, j), value in np.ndenumerate(values):
                empty = math.isnan(value)  # a time bucket with no items
                ax.text(j, i, "–" if empty else f"{value:.0f}%", ha="center", va="center",
                        fontsize=8, color="white" if value > 0.6 * vmax else "#222222")
        ax.set(title=title, xlabel=xlabel, ylabel="emotion")
        fig.colorbar(image, ax=ax, label="share within column (%)", shrink=0.9)
    return fig


def save_png(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    """Write a matplotlib chart to PNG (with the same fonts it was drawn with); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _mpl_style():
        fig.savefig(path, dpi=dpi, format="png", bbox_inches="tight", facecolor="white")
    return path


# -- helpers --------------------------------------------------------------------------------


def _require(df: pd.DataFrame) -> None:
    if "label" not in df.columns:
        raise InvalidInputError(
            "The results table has no 'label' column; build it with ResultStore.to_frame()."
        )
    if df.empty:
        raise InvalidInputError("There are no results to chart.")


def _check_bucket(bucket: str | None) -> str | None:
    if bucket is not None and bucket not in BUCKETS:
        raise InvalidInputError(f"bucket must be one of {list(BUCKETS)}, got {bucket!r}")
    return bucket


def _naive_times(times: pd.Series) -> pd.Series:
    """Datetimes without a zone (aware ones in UTC), so periods and buckets are well defined."""
    times = pd.to_datetime(times)
    if times.dt.tz is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return times


@functools.cache
def cjk_font() -> str | None:
    """An installed font family that has Chinese glyphs, or None."""
    from matplotlib import font_manager

    _register_packaged_cjk_font(font_manager)
    known = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in (*_CJK_FAMILIES, *_fc_list_zh()) if name in known), None)


def _register_packaged_cjk_font(font_manager: Any) -> None:
    """Add Noto Sans CJK SC from the `mplfonts` package (a dependency), so that charts show
    Chinese on machines with no system CJK font. Only that one OFL-licensed file is used."""
    spec = importlib.util.find_spec("mplfonts")
    if spec is None or not spec.submodule_search_locations:
        return
    font = Path(next(iter(spec.submodule_search_locations))) / "fonts/NotoSansCJKsc-Regular.otf"
    if font.is_file():
        font_manager.fontManager.addfont(str(font))


def _fc_list_zh() -> list[str]:
    exe = shutil.which("fc-list")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [exe, ":lang=zh", "family"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [name.strip() for line in out.splitlines() for name in line.split(",") if name.strip()]


@contextmanager
def _mpl_style() -> Iterator[None]:
    """Fonts (Latin first, Chinese glyphs from a CJK font when installed) and quiet fallbacks."""
    cjk = cjk_font()
    rc = {"font.family": ["DejaVu Sans", cjk] if cjk else ["DejaVu Sans"], "font.size": 10}
    with matplotlib.rc_context(rc), warnings.catch_warnings():
        # Without a CJK font, Chinese names draw as boxes; that is the documented fallback.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from", category=UserWarning)
        yield


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)  # Agg, without touching pyplot's global state
    return fig


def _tidy_axes(ax: Any) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)


def _plotly() -> Any:
    import plotly.graph_objects as go

    return go


def _plotly_style(fig: Any) -> Any:
    fig.update_layout(template="plotly_white", margin={"l": 60, "r": 30, "t": 60, "b": 60},
                      font={"family": "Arial, 'Noto Sans CJK SC', 'Microsoft YaHei', sans-serif"})
    return fig
