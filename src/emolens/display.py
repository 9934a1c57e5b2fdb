"""How the CLI shows things to people: result tables, the batch progress bar and summaries."""

from __future__ import annotations

import json
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console, Group
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from emolens.audio.batch import AudioBatchReport
    from emolens.audio.pipeline import AudioTimeline
    from emolens.batch import BatchReport

console = Console()
err_console = Console(stderr=True)

def results_table(results: list, title: str | None = None, max_text: int = 60) -> Table:
    """Rich table of results: text, language, label, confidence, valence, arousal.

    A result flagged ``details["uncertain"]`` (top probability below the uncertain_below
    setting) shows its label dimmed with "(uncertain)"; one a model abstained on (label
    "uncertain", its top label in ``details["top"]``) shows "uncertain (top?)".
    """
    table = Table(title=title, show_lines=False)
    for column in ("text", "lang", "emotion", "p", "valence", "arousal"):
        table.add_column(column, overflow="fold" if column == "text" else "ellipsis")
    for r in results:
        text = (r.text or "").replace("\n", " ")
        # Text(), not str: a cell string is Rich markup, and "[doge]" or "[/]" in a post
        # would vanish or crash the table.
        table.add_row(
            Text(text if len(text) <= max_text else text[: max_text - 1] + "…"),
            r.language or "",
            _label_cell(r),
            f"{r.confidence:.2f}",
            "" if r.valence is None else f"{r.valence:+.2f}",
            "" if r.arousal is None else f"{r.arousal:+.2f}",
        )
    return table


def _label_cell(result: Any) -> Text:
    if result.label == "uncertain" and result.details.get("top"):
        return Text(f"uncertain ({result.details['top']}?)", style="dim")
    if result.details.get("uncertain"):
        return Text(f"{result.label} (uncertain)", style="dim")
    return Text(result.label)


def evaluation_tables(report: dict, title: str | None = None) -> Group:
    """Rich tables of an evaluation report (``to_dict()``): headline numbers with 95 % CIs,
    then per-class F1."""
    from emolens.train.report import summary_rows

    summary = Table(title=title)
    for column in ("metric", "value", "95 % CI"):
        summary.add_column(column, justify="left" if column == "metric" else "right")
    for row in summary_rows(report):
        summary.add_row(*(escape(cell) for cell in row))
    per_class = Table(title="per class")
    for column in ("label", "precision", "recall", "F1", "95 % CI of F1", "support"):
        per_class.add_column(column, justify="left" if column == "label" else "right")
    for label, row in report["classification"]["per_class"].items():
        low, high = row["f1"]["ci95"]
        per_class.add_row(
            escape(label), *(_score(row[k]["value"]) for k in ("precision", "recall", "f1")),
            "" if low is None else f"[{low:.3f}, {high:.3f}]", f"{row['support']:,}",
        )
    return Group(summary, per_class)


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


class RateColumn(ProgressColumn):
    """Items per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} items/s" if speed else "", style="progress.data.speed")


class BatchProgress:
    """Progress bar on stderr (when it is a terminal); a total when files are cheap to count."""

    def __init__(self, files: list[Path], enabled: bool = True) -> None:
        self.files = files
        self.enabled = enabled and err_console.is_terminal
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    description = "reading"

    def _total(self) -> float | None:
        """Rows in all files, estimated from line counts (None when it cannot be)."""
        from emolens.io.textfiles import estimate_rows

        counts = [estimate_rows(f) for f in self.files]
        return None if None in counts else sum(c or 0 for c in counts)

    def _columns(self) -> tuple[ProgressColumn, ...]:
        return (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                RateColumn(), TimeRemainingColumn())

    def __enter__(self) -> BatchProgress:
        if self.enabled:
            total = self._total()
            self._progress = Progress(*self._columns(), console=err_console)
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=total)
        return self

    def advance(self, rows: int) -> None:
        """Count rows done."""
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, rows)

    def on_file(self, path: Path) -> None:
        """Show the file being read."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=path.name)

    def __exit__(self, exc_type: type | None, *exc_info: object) -> None:
        if self._progress is not None and self._task is not None:
            if exc_type is None:  # the total was an estimate from line counts: end at 100 %
                done = self._progress.tasks[0].completed
                self._progress.update(self._task, total=done, completed=done)
            self._progress.stop()


_COUNT_COLUMNS = ("items", "analysed", "skipped", "stored", "errors")


def show_batch_report(
    report: BatchReport, model_id: str, where: str, out: Path | None, *, as_json: bool,
    quiet: bool,
) -> None:
    """Summary of a batch run on stdout: a table, or JSON lines."""
    if as_json:
        summary = report.to_dict()
        for file in summary.pop("files"):
            typer.echo(json.dumps({"type": "file", **file}, ensure_ascii=False))
        typer.echo(json.dumps({"type": "summary", "model": model_id, **summary},
                              ensure_ascii=False))
    elif not quiet:
        table = Table(title=f"analyze file: {model_id}",
                      caption="skipped: already stored for this model"
                      if report.skipped_existing else None)
        for column in ("file", "read as", "items", "analysed", "skipped", "stored", "errors",
                       "status"):
            table.add_column(column, justify="right" if column in _COUNT_COLUMNS else "left",
                             overflow="fold")
        for f in report.files:
            read_as = " · ".join(x for x in (f.format, f.encoding, f.text_col) if x)
            counts = (f.read, f.analysed, f.skipped_existing, f.stored, f.errors)
            table.add_row(escape(f.path), escape(read_as), *(f"{n:,}" for n in counts), f.status)
        if len(report.files) > 1:
            counts = (report.read, report.analysed, report.skipped_existing, report.stored,
                      report.error_count)
            table.add_row("total", "", *(f"{n:,}" for n in counts), report.status, style="bold")
        console.print(table)
        rate = report.analysed / report.elapsed if report.elapsed else 0.0
        console.print(f"{report.analysed:,} analysed in {report.elapsed:.1f} s "
                      f"({rate:,.0f} items/s), {where}"
                      + (f"; results written to {out}" if out else ""), highlight=False)


def show_problems(report: BatchReport, quiet: bool, max_chars: int, limit: int = 20) -> None:
    """The first row errors (and, unless quiet, warnings) as file:row: message lines."""
    for error in report.errors[:limit]:
        err_console.print(f"[red]error:[/] {escape(str(error))}", soft_wrap=True)
    if report.error_count > limit:
        err_console.print(f"[red]... and {report.error_count - limit:,} more errors[/]")
    if quiet or not report.warning_count:
        return
    if report.truncated:
        err_console.print(f"[yellow]warning:[/] {report.truncated:,} "
                          f"{'text was' if report.truncated == 1 else 'texts were'} longer than "
                          f"{max_chars:,} characters and "
                          f"{'was' if report.truncated == 1 else 'were'} cut "
                          "(EMOLENS_MAX_TEXT_CHARS)")
    for warning in report.warnings[:limit]:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    if report.warning_count > limit:
        err_console.print(f"[yellow]... and {report.warning_count - limit:,} more warnings[/]")


class AudioProgress(BatchProgress):
    """Progress over seconds of audio decoded, across files (total from their headers)."""

    description = "decoding"

    def _total(self) -> float | None:
        from emolens.audio.decode import probe
        from emolens.errors import EmolensError

        total = 0.0
        for path in self.files:
            with suppress(EmolensError):  # a bad file is reported when it is analysed
                total += probe(path).duration or 0.0
        return total or None

    def _columns(self) -> tuple[ProgressColumn, ...]:
        return (TextColumn("{task.description}"), BarColumn(),
                TextColumn("{task.completed:,.0f}/{task.total:,.0f} s of audio"),
                TimeRemainingColumn())


def show_audio_report(
    report: AudioBatchReport, model_id: str, where: str, *, as_json: bool, quiet: bool
) -> None:
    """Each file's segments (one file) or summaries (several), then errors on stderr."""
    if as_json:
        for entry in report.files:
            if entry.timeline is not None:
                for result in entry.timeline.results():
                    kind = "segment" if result.modality == "speech" else "result"
                    typer.echo(json.dumps({"type": kind, **result.to_dict()},
                                          ensure_ascii=False))
        summary = report.to_dict()
        for file in summary.pop("files"):
            typer.echo(json.dumps({"type": "file", **file}, ensure_ascii=False))
        typer.echo(json.dumps({"type": "summary", "model": model_id, **summary},
                              ensure_ascii=False))
    elif not quiet:
        done = [f for f in report.files if f.timeline is not None]
        if len(done) == 1 and hasattr(done[0].timeline, "speech_seconds"):
            console.print(timeline_table(done[0].timeline))
        table = Table(title=f"analyze: {escape(model_id)}", caption=where)
        for column in ("file", "duration", "found", "skipped", "stored", "overall", "status"):
            table.add_column(column, overflow="fold")
        for f in report.files:
            if f.timeline is None:
                table.add_row(escape(f.path), "", "", "", "", "", "error")
                continue
            s = f.timeline.summary()
            table.add_row(
                escape(f.path), f"{s['duration']:.1f} s", _found(s),
                str(getattr(f.timeline, "skipped", 0)), str(f.stored), _overall(s), f.status,
            )
        console.print(table)
        for f in done:
            for note in f.timeline.summary().get("notes", []):
                console.print(f"[dim]{escape(f.path)}: {escape(note)}[/]", soft_wrap=True)
    for f in report.files:
        if f.error:
            err_console.print(f"[red]error:[/] {escape(f.error)}", soft_wrap=True)


def _overall(summary: dict) -> str:
    """The fused top label; without one, each person's (faces on a model's own labels)."""
    label = summary["label"]
    if label:
        return f"{label} ({summary['scores'][label]:.2f})"
    people = summary.get("people") or []
    if people:
        return ", ".join(f"person {p['person']}: {p['label']} ({p['scores'][p['label']]:.2f})"
                         for p in people[:4]) + (" ..." if len(people) > 4 else "")
    return "nothing expressed"


def _found(summary: dict) -> str:
    """What a media summary found: speech time and segments, or faces, people, captions."""
    if "speech_seconds" in summary:
        return f"{summary['segments']} segments, {summary['speech_seconds']:.1f} s speech"
    parts = [f"{summary['faces']} faces", f"{len(summary['people'])} people",
             f"{summary['captions']} texts"]
    if summary.get("speech_segments"):
        parts.append(f"{summary['speech_segments']} speech segments")
    return ", ".join(parts)


def timeline_table(timeline: AudioTimeline, max_text: int = 60) -> Table:
    """One row per segment: span, transcript, voice / words / fused emotion."""
    table = Table(title=escape(timeline.source))
    for column in ("start", "end", "transcript", "voice", "words", "fused"):
        table.add_column(column, overflow="fold")

    def top(scores: dict[str, float] | None) -> str:
        if not scores:
            return "–"
        label = max(scores, key=scores.__getitem__)
        return f"{label} {scores[label]:.2f}"

    for r in timeline.segments:
        text = r.text or ""
        text = text if len(text) <= max_text else text[: max_text - 1] + "…"
        table.add_row(
            f"{r.t_start:.1f}", f"{r.t_end:.1f}", escape(text), top(r.details.get("voice")),
            top(r.details.get("words")), f"[bold]{r.label}[/] {r.confidence:.2f}",
        )
    return table
