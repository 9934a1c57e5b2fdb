"""The `emolens` command: a thin Typer layer over the library.

This is the one place that turns library errors into messages for people and exit codes:
0 ok, 1 error, 2 usage error, 3 partial (some items failed, the rest were processed).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Annotated, Any, Literal, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from emolens.config import load_settings
from emolens.errors import EmolensError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3

app = typer.Typer(
    help="emolens: recognise the emotion expressed in text (English and Chinese), offline.\n\n"
    "Results describe expressed emotion, never a person's inner state or a diagnosis.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
analyze_app = typer.Typer(help="Analyse texts or files and store the results.", no_args_is_help=True)
train_app = typer.Typer(help="Train a model on your own labelled data.", no_args_is_help=True)
app.add_typer(analyze_app, name="analyze")
app.add_typer(train_app, name="train")

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

ModelOpt = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Recognizer name (default, lexicon, hf) or model directory."),
]
DbOpt = Annotated[
    str | None, typer.Option("--db", help="SQLite file or SQLAlchemy URL [env: EMOLENS_DB]")
]
LanguageOpt = Annotated[
    str | None, typer.Option("--language", "-l", help="Force 'en' or 'zh' instead of detecting.")
]


def friendly_errors(func: F) -> F:
    """Print emolens errors as one clear line and exit 1 instead of a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except EmolensError as exc:
            err_console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(EXIT_ERROR) from exc

    return wrapper  # type: ignore[return-value]


def results_table(results: list, title: str | None = None, max_text: int = 60) -> Table:
    """Rich table of results: text, language, label, confidence, valence, arousal."""
    table = Table(title=title, show_lines=False)
    for column in ("text", "lang", "emotion", "p", "valence", "arousal"):
        table.add_column(column, overflow="fold" if column == "text" else "ellipsis")
    for r in results:
        text = (r.text or "").replace("\n", " ")
        table.add_row(
            text if len(text) <= max_text else text[: max_text - 1] + "…",
            r.language or "",
            r.label,
            f"{r.confidence:.2f}",
            "" if r.valence is None else f"{r.valence:+.2f}",
            "" if r.arousal is None else f"{r.arousal:+.2f}",
        )
    return table


@analyze_app.command("text")
@friendly_errors
def analyze_text(
    texts: Annotated[list[str], typer.Argument(help="One or more texts; '-' reads lines from stdin.")],
    model: ModelOpt = None,
    language: LanguageOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines instead of a table.")] = False,
) -> None:
    """Analyse texts given on the command line (not stored)."""
    from emolens.pipeline import build_analyzer

    settings = load_settings(model=model)
    if texts == ["-"]:
        texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    analyzer = build_analyzer(settings.model, batch_size=settings.batch_size,
                              max_chars=settings.max_text_chars)
    results = analyzer.analyze_batch(texts, language=language)
    if as_json:
        for r in results:
            typer.echo(json.dumps(r.to_dict(), ensure_ascii=False))
    else:
        console.print(results_table(results))


@app.command("labels")
def show_labels() -> None:
    """Show the canonical labels and how every other label scheme maps onto them."""
    from emolens import labels as L

    table = Table(title="Label schemes -> canonical")
    table.add_column("scheme")
    for label in L.CANONICAL:
        table.add_column(label)
    for scheme, mapping in L.scheme_table().items():
        cells = [", ".join(k for k, v in mapping.items() if v == label) for label in L.CANONICAL]
        table.add_row(scheme, *cells)
    console.print(table)
    console.print("valence/arousal anchors: " + ", ".join(
        f"{k} {v[0]:+.2f}/{v[1]:+.2f}" for k, v in L.VALENCE_AROUSAL.items()))


@train_app.command("text")
@friendly_errors
def train_text_cmd(
    data: Annotated[str, typer.Option("--data", help="Labelled CSV/TSV/JSONL/Parquet file.")],
    out: Annotated[str, typer.Option("--out", help="Directory to write the model to.")],
    text_col: Annotated[str, typer.Option(help="Column with the text.")] = "text",
    label_col: Annotated[str, typer.Option(help="Column with the gold label.")] = "label",
    language_col: Annotated[
        str | None, typer.Option(help="Column with 'en'/'zh' (else detected).")
    ] = None,
    labels: Annotated[
        str | None, typer.Option(help="Comma-separated label set (default: labels in the data).")
    ] = None,
    dev: Annotated[
        str | None, typer.Option(help="Labelled dev file for calibration and a first score.")
    ] = None,
    name: Annotated[str, typer.Option(help="Model name stored with every result.")] = "custom",
    version: Annotated[str, typer.Option(help="Model version.")] = "1",
    c: Annotated[float, typer.Option("--c", help="Inverse regularisation strength.")] = 0.5,
    min_df: Annotated[
        int, typer.Option(help="Keep n-grams seen in at least this many training texts.")
    ] = 2,
    balanced: Annotated[bool, typer.Option(help="Weight classes inversely to frequency.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Train a text model (hashed word+character n-grams, linear, calibrated) on any label set."""
    from emolens.train.data import read_labelled
    from emolens.train.text import train_text

    train_data = read_labelled(data, text_col, label_col, language_col)
    dev_data = read_labelled(dev, text_col, label_col, language_col) if dev else None
    with console.status(f"training on {len(train_data.texts):,} rows of {data} ..."):
        model, metrics = train_text(
            train_data, out, labels=labels.split(",") if labels else None, dev=dev_data,
            name=name, version=version, c=c, class_weight="balanced" if balanced else None,
            seed=seed, min_df=min_df,
        )
    console.print(f"saved [bold]{out}[/] (labels: {', '.join(model.labels)}; "
                  f"languages: {', '.join(sorted(model.heads_))})")
    if metrics is not None:
        console.print("dev: " + metrics.to_markdown())


@app.command("evaluate")
@friendly_errors
def evaluate_cmd(
    data: Annotated[str, typer.Option("--data", help="Labelled test file.")],
    model: ModelOpt = None,
    text_col: Annotated[str, typer.Option(help="Column with the text.")] = "text",
    label_col: Annotated[str, typer.Option(help="Column with the gold label.")] = "label",
    language_col: Annotated[str | None, typer.Option(help="Column with 'en'/'zh'.")] = None,
    scheme: Annotated[
        str | None,
        typer.Option(help="Map gold labels from this scheme (e.g. dair_emotion) to canonical."),
    ] = None,
    out: Annotated[str | None, typer.Option(help="Write metrics JSON (+ .md) here.")] = None,
) -> None:
    """Accuracy, macro-F1 and per-class scores of a model on a labelled file."""
    from emolens.pipeline import build_analyzer
    from emolens.train.data import read_labelled
    from emolens.train.text import evaluate, write_metrics

    settings = load_settings(model=model)
    labelled = read_labelled(data, text_col, label_col, language_col)
    analyzer = build_analyzer(settings.model, batch_size=settings.batch_size)
    metrics = evaluate(analyzer, labelled, scheme=scheme)
    console.print(f"[bold]{analyzer.model_id}[/] on {data}")
    console.print(metrics.to_markdown())
    if out:
        write_metrics(metrics, out)
        console.print(f"metrics written to {out}")


@app.command("models")
def list_models() -> None:
    """List the registered recognizers."""
    from emolens.registry import recognizers

    table = Table(title="Recognizers")
    table.add_column("name")
    table.add_column("what it is")
    for name, description in recognizers.describe().items():
        table.add_row(name, description)
    console.print(table)


def _iso_time(value: str | None) -> str | None:
    """Checks an ISO date/time option early, so a typo is a usage error (exit 2)."""
    from datetime import datetime

    if value is not None:
        try:
            datetime.fromisoformat(value)
        except ValueError as exc:
            raise typer.BadParameter(
                f"{value!r} is not an ISO date or time; use e.g. 2024-05-01 or 2024-05-01T12:00"
            ) from exc
    return value


@app.command("report")
@friendly_errors
def report_cmd(
    db: DbOpt = None,
    out: Annotated[
        str | None, typer.Option("--out", help="Folder for the report [env: EMOLENS_OUT_DIR]")
    ] = None,
    source: Annotated[str | None, typer.Option(help="Only results from this source.")] = None,
    group: Annotated[str | None, typer.Option(help="Only results in this group.")] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Only results of this model (as stored).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only items from this time on (ISO).", callback=_iso_time)
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Only items before this time (ISO).", callback=_iso_time)
    ] = None,
    bucket: Annotated[
        Literal["hour", "day", "week", "month"] | None,
        typer.Option(help="Time bucket of the trend (default: chosen from the time span)."),
    ] = None,
    by: Annotated[
        Literal["group", "time"], typer.Option(help="Heatmap columns: groups or time buckets.")
    ] = "group",
) -> None:
    """Write charts (PNG) and one self-contained HTML report of stored results."""
    from pathlib import Path

    from emolens.errors import InvalidInputError
    from emolens.store import ResultStore
    from emolens.viz import write_report

    settings = load_settings(db=db, out_dir=out)
    empty = f"no results in {settings.db}; run `emolens analyze ...` first"
    if "://" not in settings.db and not Path(settings.db).expanduser().exists():
        raise InvalidInputError(empty)  # don't create an empty database just to report on it
    with ResultStore(settings.db) as store:
        total = store.count()
        frame = store.to_frame(source=source, group=group, model=model, since=since, until=until)
    if total == 0:
        raise InvalidInputError(empty)
    if frame.empty:
        raise InvalidInputError(
            f"none of the {total:,} results in {settings.db} match the filters given"
        )
    with console.status(f"drawing {len(frame):,} results ..."):
        paths = write_report(frame, settings.out_dir, bucket=bucket, by=by)
    console.print(f"report of {len(frame):,} results written to [bold]{paths.html}[/]")
    for path in paths.files()[1:]:
        console.print(f"  {path}")
    for line in paths.skipped:
        console.print(f"  [dim]{line}[/]")


def main() -> None:
    """Entry point of the `emolens` script."""
    import emolens.models  # noqa: F401  (registers the built-in recognizers)

    app()


if __name__ == "__main__":
    main()
