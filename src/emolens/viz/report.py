"""One self-contained HTML report (plus PNG charts) from a table of stored results."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from emolens import labels as L
from emolens.errors import InvalidInputError
from emolens.viz.charts import (
    distribution_chart,
    group_shares,
    heatmap_chart,
    label_shares,
    save_png,
    time_column,
    trend_chart,
    trend_shares,
)
from emolens.viz.recordings import people_chart, person_bins, person_faces, timeline_chart

NOTE = (
    "These results describe the emotion expressed in the analysed items, as estimated by a "
    "model; they are not a measure of anyone's inner state and not a diagnosis."
)


@dataclass(frozen=True)
class ReportPaths:
    """Files written by ``write_report``; a chart that was skipped is None."""

    html: Path
    distribution: Path
    trend: Path | None
    heatmap: Path | None
    skipped: tuple[str, ...] = ()  # why a chart was skipped or replaced, one line each
    timelines: tuple[Path, ...] = ()  # emotion over time, one per recording
    people: tuple[Path, ...] = ()  # time x emotion per person, one per video with faces
    mixed: tuple[str, ...] = ()  # per modality read by several models: which, how many rows

    def files(self) -> list[Path]:
        """Every file written."""
        charts = (self.html, self.distribution, self.trend, self.heatmap, *self.timelines,
                  *self.people)
        return [p for p in charts if p]


@dataclass
class _Section:
    heading: str
    figure: Any | None  # plotly figure, None when skipped
    note: str = ""


def write_report(
    df: pd.DataFrame,
    out_dir: str | Path,
    title: str = "emolens report",
    bucket: str | None = None,
    by: Literal["group", "time"] = "group",
) -> ReportPaths:
    """Write distribution/trend/heatmap PNGs and report.html into ``out_dir``; returns the paths."""
    if df.empty or "label" not in df:
        raise InvalidInputError("There are no results to report; analyse some items first.")
    if by not in ("group", "time"):
        raise InvalidInputError(f"by must be 'group' or 'time', got {by!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    skipped: list[str] = []

    dist_png = save_png(distribution_chart(df), out / "distribution.png")
    sections = [_Section("Distribution", distribution_chart(df, backend="plotly"))]

    no_spread = _no_time_spread(df, bucket)
    trend_png = None
    if not no_spread:
        trend_png = save_png(trend_chart(df, bucket), out / "trend.png")
        sections.append(_Section("Trend", trend_chart(df, bucket, backend="plotly"),
                                 _untimed_note(df)))
    else:
        skipped.append(f"Trend chart skipped: {no_spread}, so there is no change to show.")
        sections.append(_Section("Trend", None, skipped[-1]))

    heat_by, why = _heatmap_axis(df, by, no_spread)
    if why:
        skipped.append(why)
    heat_png = None
    if heat_by is None:
        sections.append(_Section("Heatmap", None, why))
    else:
        heat_png = save_png(heatmap_chart(df, heat_by, bucket), out / "heatmap.png")
        fig = heatmap_chart(df, heat_by, bucket, backend="plotly")
        sections.append(_Section(f"Heatmap by {heat_by}", fig, why))

    timelines, people = _recordings(df, out, sections)
    for stale, written in ((out / "trend.png", trend_png), (out / "heatmap.png", heat_png)):
        if written is None:
            stale.unlink(missing_ok=True)  # a chart from an earlier report would mislead
    html_path = out / "report.html"
    mixed = mixed_models(df)
    html_path.write_text(_render_html(title, summary(df), sections, skipped, mixed,
                                      _examples_html(df)), encoding="utf-8")
    return ReportPaths(html_path, dist_png, trend_png, heat_png, tuple(skipped), timelines,
                       people, tuple(mixed))


def model_counts(df: pd.DataFrame) -> dict[str, pd.Series]:
    """Rows per model (name@version, '' when unnamed) in each modality, modalities by name,
    models with most rows first and ties by name, so that the order is the same on every run.
    """
    if df.empty or "model" not in df:
        return {}
    modality = df["modality"] if "modality" in df else pd.Series("text", index=df.index)
    return {
        str(kind): models.value_counts().sort_index().sort_values(ascending=False, kind="stable")
        for kind, models in df["model"].fillna("").groupby(modality.fillna("text"), sort=True)
    }


def mixed_models(df: pd.DataFrame) -> list[str]:
    """One line per modality whose results come from more than one model (name@version),
    naming each model with its row count; [] when each modality has one model.

    Modalities are apart because they differ by nature (a video's faces, speech and fused
    windows each have their own model); two models of one modality score the same kind of
    item differently, so charts that pool them show the models' difference as if it were
    the items'.
    """
    lines = []
    for kind, counts in model_counts(df).items():
        if len(counts) > 1:
            named = ", ".join(f"{model or '(unnamed)'} ({n:,} rows)" for model, n in
                              counts.items())
            lines.append(f"the {int(counts.sum()):,} {kind} results come from {len(counts)} "
                         f"models: {named}")
    return lines


MAX_TIMELINES = 10
# What each kind of stored result adds to a fused window, in the order notes name them.
_FUSED_PARTS = {"face": ("faces",), "speech": ("voice", "words"),
                "screen_text": ("on-screen text",)}


def _recordings(
    df: pd.DataFrame, out: Path, sections: list[_Section]
) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """Per recording (results with time spans): its emotion timeline and, for a video with
    tracked faces, a time x emotion heatmap per person. Returns both sets of PNG paths."""
    for stale in (*out.glob("timeline-*.png"), *out.glob("people-*.png")):
        stale.unlink()  # a chart from an earlier report would mislead
    if "t_start" not in df or not df["t_start"].notna().any() or "source" not in df:
        return (), ()
    spans = df[df["t_start"].notna()]
    named = spans["source"].fillna("(unknown)")
    sources = list(named.value_counts().index)
    timelines: list[Path] = []
    people: list[Path] = []
    for number, source in enumerate(sources[:MAX_TIMELINES], start=1):
        one = spans[named == source]
        rows, what = timeline_rows(one)
        title = f"Emotion over time: {Path(str(source)).name}"
        timelines.append(save_png(timeline_chart(rows, title), out / f"timeline-{number}.png"))
        sections.append(_Section(title, timeline_chart(rows, title, backend="plotly"),
                                 f"{source}: {what}"))
        if not person_faces(one).empty:
            people.append(_people_section(one, source, out / f"people-{len(people) + 1}.png",
                                          sections))
    if len(sources) > MAX_TIMELINES:
        sections.append(_Section("More recordings", None, f"{len(sources) - MAX_TIMELINES} "
                                 "more recordings not drawn: use --source to pick one."))
    return tuple(timelines), tuple(people)


def timeline_rows(one: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rows one recording's timeline is drawn from, and a note saying what they are:
    its fused windows when it has any (a video), else its speech segments (audio)."""
    modality = one["modality"] if "modality" in one else pd.Series(None, one.index, object)
    fused = one[modality.eq("fused") & one["t_end"].notna()]
    if not fused.empty:
        width = float((fused["t_end"] - fused["t_start"]).median())
        parts = [n for kind, names in _FUSED_PARTS.items() if modality.eq(kind).any()
                 for n in names]
        of = f" of {_and(parts)}" if parts else ""
        return fused, (f"{len(fused):,} fused {width:g}-s windows{of}; gaps are times when "
                       "nothing was seen, read or heard.")
    speech = one[modality.eq("speech")]
    if not speech.empty:
        return speech, f"{len(speech):,} speech segments; gaps are pauses without speech."
    return one, f"{len(one):,} timed results."


def _people_section(one: pd.DataFrame, source: str, png: Path, sections: list[_Section]
                    ) -> Path:
    """The per-person heatmap of one video, as a PNG and a report section."""
    title = f"Emotion per person over time: {Path(str(source)).name}"
    bins = person_bins(one)
    note = (f"{source}: {len(bins.detections)} people tracked. Each panel is one person; "
            f"a cell is the mean probability of the emotion over their face detections in a "
            f"{bins.bin_seconds:g}-s bin, blank where the person was not seen.")
    if bins.left_out:
        note += (f" {len(bins.left_out)} people seen less often are not drawn "
                 f"({_and(bins.left_out[:5] + (['...'] if len(bins.left_out) > 5 else []))}).")
    sections.append(_Section(title, people_chart(one, title, backend="plotly"), note))
    return save_png(people_chart(one, title), png)


def _and(names: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def summary(df: pd.DataFrame) -> dict[str, str]:
    """Headline figures of a results table, as display strings."""
    shares = label_shares(df).table["all"]
    top = str(shares.idxmax())
    try:
        column: str | None = time_column(df)
    except InvalidInputError:
        column = None
    rows = {
        "Items": f"{len(df):,}",
        "Languages": _breakdown(df.get("language")),
        "Top emotion": f"{top} ({shares[top]:.0f}% of items)",
        "Mean valence": _mean(df.get("valence")),
        "Mean arousal": _mean(df.get("arousal")),
    }
    if column:
        times = pd.to_datetime(df[column]).dropna()
        kind = "item time" if column == "timestamp" else "analysis time"
        rows["Period"] = f"{times.min():%Y-%m-%d %H:%M} to {times.max():%Y-%m-%d %H:%M} ({kind})"
    for name, column_name in (("Groups", "group"), ("Sources", "source"), ("Models", "model")):
        if column_name in df and df[column_name].notna().any():
            rows[name] = _breakdown(df[column_name], limit=5)
    return rows


def _untimed_note(df: pd.DataFrame) -> str:
    """Which results the trend leaves out: those without an item time, when others have one."""
    if "timestamp" not in df or not df["timestamp"].notna().any():
        return ""
    untimed = int(df["timestamp"].isna().sum())
    if not untimed:
        return ""
    return (f"{untimed:,} of the {len(df):,} results have no item time and are not in this "
            "chart (give --time-col when analysing their file).")


def _no_time_spread(df: pd.DataFrame, bucket: str | None) -> str:
    """Why the results cannot show a trend, or "" when they span two or more time buckets."""
    try:
        shares = trend_shares(df, bucket)
    except InvalidInputError:
        return "the results have no times"
    if shares.table.shape[1] < 2:
        if time_column(df) == "created_at":  # no item times: the analysis times stand in
            return ("the results have no item times (give --time-col when analysing), and "
                    f"they were all analysed within one {shares.bucket}")
        return f"all results fall in one {shares.bucket}"
    return ""


def _no_groups(df: pd.DataFrame) -> str:
    """Why there is no group to compare: none given, or only one."""
    if "group" not in df or not df["group"].notna().any():
        return "the results have no groups (give --group-col when analysing)"
    return "all results are in one group"


def _heatmap_axis(df: pd.DataFrame, by: str, no_spread: str) -> tuple[str | None, str]:
    """Which heatmap to draw (group, time or none) and, if it differs from ``by``, why."""
    if by == "group":
        if group_shares(df).table.shape[1] >= 2:
            return "group", ""
        if not no_spread:
            return "time", f"Heatmap by group replaced by time: {_no_groups(df)}."
        return None, f"Heatmap skipped: {_no_groups(df)}, and {no_spread}."
    if not no_spread:
        return "time", ""
    return None, f"Heatmap by time skipped: {no_spread}."


def _breakdown(values: pd.Series | None, limit: int = 6) -> str:
    if values is None or values.notna().sum() == 0:
        return "unknown"
    counts = values.fillna("unknown").astype(str).value_counts()
    total = int(counts.sum())
    parts = [f"{k} {v:,} ({v / total:.0%})" for k, v in counts.head(limit).items()]
    if len(counts) > limit:
        parts.append(f"and {len(counts) - limit} more")
    return ", ".join(parts)


def _mean(values: pd.Series | None) -> str:
    if values is None or values.notna().sum() == 0:
        return "n/a"
    return f"{values.mean():+.2f} (scale -1 to +1, {int(values.notna().sum()):,} items)"


EXAMPLES_PER_LABEL = 3
EXAMPLE_CHARS = 240  # a longer text is cut, with an ellipsis


def examples(df: pd.DataFrame, per_label: int = EXAMPLES_PER_LABEL) -> dict[str, pd.DataFrame]:
    """Per label, its most confident items that have a stored text (each text once): columns
    confidence, text, group, source. Labels in the canonical order, then others sorted."""
    if "text" not in df:
        return {}
    texts = df["text"].astype("string").str.strip()
    has_text = texts.notna() & (texts != "")
    found: dict[str, pd.DataFrame] = {}
    for label in L.ordered_labels(df["label"]):
        if label == "uncertain":  # an abstention, not an emotion to show examples of
            continue
        column = f"p_{label}"
        mine = df[has_text & (df["label"] == label)]
        if mine.empty or column not in df:
            continue
        picked = (mine.assign(confidence=mine[column], text=texts[mine.index])
                  .sort_values("confidence", ascending=False, kind="stable")
                  .drop_duplicates("text").head(per_label))
        found[label] = picked.reindex(columns=["confidence", "text", "group", "source"])
    return found


def _examples_html(df: pd.DataFrame) -> str:
    esc = html.escape
    found = examples(df)
    if not found:
        return ('<h2>Examples</h2><p class="note">No texts are stored with these results '
                "(--store-text hash or none), so no examples are shown.</p>")
    rows = []
    for label, picked in found.items():
        for confidence, text, group in picked[["confidence", "text", "group"]].itertuples(
                index=False):
            shown = text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…"
            rows.append(f"<tr><td>{esc(label)}</td><td>{confidence:.2f}</td>"
                        f"<td>{esc(shown)}</td><td>{esc('' if pd.isna(group) else str(group))}"
                        "</td></tr>")
    return ("<h2>Examples</h2>"
            f'<p class="note">The {EXAMPLES_PER_LABEL} most confident items of each emotion, '
            "as stored: read them to see what the model counts as each emotion in your "
            "data.</p>"
            "<table><tr><th>emotion</th><th>p</th><th>text</th><th>group</th></tr>"
            + "\n".join(rows) + "</table>")


def _render_html(
    title: str, rows: dict[str, str], sections: list[_Section], skipped: list[str],
    mixed: list[str], examples_html: str = "",
) -> str:
    esc = html.escape
    table = "\n".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows.items())
    body, js_included = [], False
    for section in sections:
        body.append(f"<h2>{esc(section.heading)}</h2>")
        if section.note:
            body.append(f'<p class="note">{esc(section.note)}</p>')
        if section.figure is not None:
            body.append(section.figure.to_html(
                full_html=False, include_plotlyjs=not js_included,
                config={"displaylogo": False, "responsive": True},
            ))
            js_included = True
    notes = "".join(f"<li>{esc(s)}</li>" for s in skipped) or "<li>none</li>"
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    warning = "".join(f'<p class="warning">Mixed models: {esc(line)}. The charts pool them; '
                      "report on one model at a time (emolens report --model NAME@VERSION).</p>"
                      for line in mixed)
    return _PAGE.format(
        title=esc(title), note=esc(NOTE), warning=warning, table=table,
        body="\n".join([*body, examples_html]), skipped=notes, generated=generated,
    )


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans CJK SC",
       "Microsoft YaHei", sans-serif; max-width: 1100px; margin: 2rem auto;
       padding: 0 1rem; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ text-align: left; padding: .3rem .9rem; border-bottom: 1px solid #e5e5e5; }}
th {{ color: #555; font-weight: 600; }}
.note {{ color: #555; font-style: italic; }}
.disclaimer {{ background: #f6f6f6; padding: .6rem .9rem; border-left: 4px solid #8c8c8c; }}
.warning {{ background: #fff4e0; padding: .6rem .9rem; border-left: 4px solid #e6a000; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p class="disclaimer">{note}</p>
{warning}
<h2>Summary</h2>
<table>
{table}
</table>
{body}
<h2>Skipped or replaced charts</h2>
<ul>{skipped}</ul>
<p class="note">Generated by emolens on {generated}. Charts are also saved as PNG files
beside this page.</p>
</body>
</html>
"""
