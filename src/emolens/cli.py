"""The `emolens` command: a thin Typer layer over the library.

This is the one place that turns library errors into messages for people and exit codes:
0 ok, 1 error, 2 usage error, 3 partial (some items failed, the rest were processed).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Annotated, Any, TypeVar

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


def main() -> None:
    """Entry point of the `emolens` script."""
    import emolens.models  # noqa: F401  (registers the built-in recognizers)

    app()


if __name__ == "__main__":
    main()
