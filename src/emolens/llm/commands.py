"""`emolens explain`, `emolens distill` and `emolens llm ...`, added to the CLI by ``register``.

Only typer and the standard library are imported at module level, so the CLI starts as fast
as before; the LLM parts load when a command runs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

EXIT_PARTIAL = 3  # as in emolens.cli: the command ran, but some items (or the LLM part) failed

LanguageOpt = Annotated[
    str | None, typer.Option("--language", "-l", help="Force 'en' or 'zh' instead of detecting.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def register(app: typer.Typer, guard: Callable[[Any], Any]) -> None:
    """Add `explain`, `distill` and the `llm` sub-app to ``app``; ``guard`` words errors."""
    llm_app = typer.Typer(
        help="Analyse texts with a large language model over any OpenAI-compatible endpoint "
        "(settings EMOLENS_LLM_*; see `emolens llm settings`).", no_args_is_help=True,
    )
    app.add_typer(llm_app, name="llm")
    app.command("explain")(guard(explain_cmd))
    app.command("distill")(guard(distill_cmd))
    llm_app.command("analyze")(guard(llm_analyze_cmd))
    llm_app.command("settings")(guard(llm_settings_cmd))
    llm_app.command("redact")(guard(redact_cmd))


def explain_cmd(
    text: Annotated[str, typer.Argument(help="The text to explain.")],
    language: LanguageOpt = None,
    fast_model: Annotated[str | None, typer.Option(
        "--fast-model", help="Recognizer shown beside the LLM (default: default; env "
        "EMOLENS_LLM_FAST_MODEL).")] = None,
    no_llm: Annotated[bool, typer.Option(
        "--no-llm", help="Leave the LLM out even when one is configured.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Why this emotion? The LLM's rationale and evidence beside the fast model and lexicon.

    Shows the fast model's scores, the lexicon words that fired and, when an LLM is
    configured (EMOLENS_LLM_BASE_URL and EMOLENS_LLM_MODEL), its scores, one-sentence
    rationale and the evidence it quoted (checked against the text). Exit 3 when the LLM
    part failed.
    """
    from emolens.display import console
    from emolens.errors import EmolensError
    from emolens.llm.explain import explain_text
    from emolens.llm.factory import build_llm_recognizer
    from emolens.llm.settings import load_llm_settings
    from emolens.models import resolve_recognizer
    from emolens.registry import recognizers
    from emolens.text.language import check_language

    check_language(language)  # before the fast model runs or anything is sent
    settings = load_llm_settings(llm_fast_model=fast_model)
    llm, broken = None, None
    if settings.configured() and not no_llm:
        try:
            llm = build_llm_recognizer(settings)
        except EmolensError as exc:  # a missing model file: the other readings still show
            broken = str(exc)
    try:
        report = explain_text(text, resolve_recognizer(settings.llm_fast_model),
                              recognizers.create("lexicon"), llm, language)
    finally:
        if llm is not None:
            llm.close()
    if no_llm:
        report.update(llm_status="not asked", llm_error=None)
    elif broken is not None:
        report.update(llm_status="error", llm_error=broken)
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
    else:
        from emolens.llm.views import explain_view

        console.print(explain_view(report))
    if report["llm_status"] == "error":
        raise typer.Exit(EXIT_PARTIAL)


def llm_analyze_cmd(
    texts: Annotated[list[str], typer.Argument(
        help="One or more texts; '-' reads lines from stdin.")],
    route: Annotated[bool, typer.Option(
        "--route", help="The fast model first; only texts whose top probability is below "
        "--route-below go to the LLM.")] = False,
    route_below: Annotated[float | None, typer.Option(
        "--route-below", min=0.0, max=1.0, help="Routing threshold (implies --route) "
        "(default: 0.6; env EMOLENS_LLM_ROUTE_BELOW).")] = None,
    labels: Annotated[str | None, typer.Option(
        "--labels", help="Your own comma-separated label set instead of the canonical one "
        "(routing then needs a fast model with these labels).")] = None,
    language: LanguageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Analyse texts with the LLM, or routed through the fast model first (not stored).

    Prints the tokens used, cache hits and, with --route, the share sent to the LLM. Items
    the LLM could not read are listed by position; the exit status is then 3.
    """
    from rich.markup import escape

    from emolens.display import console, err_console, results_table
    from emolens.llm.errors import LLMNotConfiguredError
    from emolens.llm.factory import build_llm_recognizer, build_routed_recognizer
    from emolens.llm.run import analyze_with_llm
    from emolens.llm.settings import load_llm_settings
    from emolens.text.language import check_language

    check_language(language)  # before any request
    route = route or route_below is not None
    settings = load_llm_settings(llm_route_below=route_below, llm_labels=_label_set(labels))
    if not settings.configured():
        raise LLMNotConfiguredError()
    texts = _texts_or_stdin(texts)
    recognizer = build_routed_recognizer(settings) if route else build_llm_recognizer(settings)
    try:
        run = analyze_with_llm(recognizer, texts, language)
    finally:
        (recognizer.llm if route else recognizer).close()
    if as_json:
        for result in run.results:
            typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        typer.echo(json.dumps({"summary": run.stats.to_dict(), "failures": run.failures},
                              ensure_ascii=False))
    else:
        console.print(results_table(run.results))
        err_console.print(f"[dim]{run.stats.summary()}[/]", highlight=False)
    for failure in run.failures:
        err_console.print(f"[red]error:[/] {escape(failure)}", soft_wrap=True, highlight=False)
    if run.failures:
        raise typer.Exit(EXIT_PARTIAL)


def llm_settings_cmd() -> None:
    """Show the LLM settings in effect and whether texts are redacted before sending.

    The API key is shown only as set or not set.
    """
    from emolens.display import console
    from emolens.llm.settings import load_llm_settings
    from emolens.llm.views import settings_view

    console.print(settings_view(load_llm_settings()))


def redact_cmd(
    texts: Annotated[list[str], typer.Argument(
        help="One or more texts; '-' reads lines from stdin.")],
    as_json: JsonOpt = False,
) -> None:
    """Print texts as the LLM would get them, personal data replaced by placeholders.

    Emails, phone numbers (Chinese mobiles included), ID numbers (Chinese resident IDs, SSNs,
    card numbers), URLs and @handles become [EMAIL], [PHONE], [ID], [URL], [HANDLE].
    """
    from emolens.privacy import redact

    texts = _texts_or_stdin(texts)
    for text in texts:
        redacted = redact(text)
        if as_json:
            typer.echo(json.dumps({"text": redacted.text, "replaced": redacted.counts()},
                                  ensure_ascii=False))
        else:
            typer.echo(redacted.text)


def distill_cmd(
    data: Annotated[str, typer.Option(
        "--data", help="Table of unlabelled texts (CSV/TSV/JSONL/JSON/Parquet).")],
    out: Annotated[str, typer.Option(
        "--out", help="Directory for llm-labels.jsonl, distill.json and the model (OUT/model); "
        "run again with the same --out to go on where a run stopped.")],
    text_col: Annotated[str, typer.Option("--text-col", help="Column with the text.")] = "text",
    language_col: Annotated[str | None, typer.Option(
        "--language-col", help="Column with 'en'/'zh' (else detected).")] = None,
    labels: Annotated[str | None, typer.Option(
        "--labels", help="Comma-separated label set the LLM chooses from (default: the "
        "canonical labels).")] = None,
    holdout: Annotated[float, typer.Option(
        "--holdout", min=0.0, max=0.9, help="Share of the LLM's labels held out to measure the "
        "model's agreement with the LLM (0: train on all, no agreement).")] = 0.2,
    limit: Annotated[int | None, typer.Option(
        "--limit", min=1, help="Only the first N rows with a text.")] = None,
    route_below: Annotated[float | None, typer.Option(
        "--route-below", min=0.0, max=1.0, help="The fast model (EMOLENS_LLM_FAST_MODEL) "
        "keeps its own label where its top probability reaches this; only the rest go to the "
        "LLM (the fast model must have the LLM's labels).")] = None,
    name: Annotated[str, typer.Option("--name", help="Model name.")] = "distilled",
    version: Annotated[str, typer.Option("--version", help="Model version.")] = "1",
    c: Annotated[float, typer.Option("--c", min=1e-6, help="Inverse regularisation "
                                     "strength of the n-gram model.")] = 0.5,
    min_df: Annotated[int, typer.Option(
        "--min-df", min=1, help="Keep n-grams seen in at least this many texts.")] = 2,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the hold-out split.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Label a corpus with the LLM and train the fast n-gram model on its labels.

    Every distinct text without a label in OUT/llm-labels.jsonl goes to the LLM (through the
    answer cache, redaction and the concurrency limit of EMOLENS_LLM_*); answers are stored
    as they come, so a second run sends only what is missing. Texts without a valid answer
    are listed and left out (exit 3). Prints the tokens used, cache hits, and the trained
    model's agreement with the LLM on held-out texts (accuracy, macro-F1, Cohen's kappa,
    per class); OUT/model/MODEL_CARD.md says which endpoint, model and prompt made the labels.
    """
    from emolens.llm.distill import distill, read_corpus
    from emolens.llm.errors import LLMNotConfiguredError
    from emolens.llm.factory import build_llm_recognizer, describe_endpoint
    from emolens.llm.settings import load_llm_settings
    from emolens.models import resolve_recognizer

    settings = load_llm_settings(llm_labels=_label_set(labels))
    if not settings.configured():
        raise LLMNotConfiguredError()
    corpus = read_corpus(data, text_col, language_col, limit)
    fast = resolve_recognizer(settings.llm_fast_model) if route_below is not None else None
    llm = build_llm_recognizer(settings)
    try:
        with _progress(not as_json) as on_progress:
            result = distill(
                llm, corpus, out, endpoint=describe_endpoint(settings), holdout=holdout,
                fast=fast, route_below=route_below, name=name, version=version, seed=seed,
                c=c, min_df=min_df, on_progress=on_progress)
    finally:
        llm.close()
    _show_distilled(result, as_json)
    if result.failures:
        raise typer.Exit(EXIT_PARTIAL)


def _label_set(labels: str | None) -> list[str] | None:
    """--labels as a list (None when not given); an empty or repeating one is refused."""
    if labels is None:
        return None
    from emolens.llm.recognizer import check_labels

    return list(check_labels([x.strip() for x in labels.split(",") if x.strip()]))


def _texts_or_stdin(texts: list[str]) -> list[str]:
    """The texts given, or the lines of stdin for '-' (which must then be alone)."""
    if "-" in texts and len(texts) > 1:
        raise typer.BadParameter("'-' reads the texts from stdin; give it alone",
                                 param_hint="TEXTS")
    if texts == ["-"]:
        return [line.rstrip("\n") for line in sys.stdin if line.strip()]
    return texts


def _progress(enabled: bool) -> Any:
    """A progress bar over the texts sent to the LLM, on a terminal only."""
    from contextlib import nullcontext

    from emolens.display import err_console

    if not enabled or not err_console.is_terminal:
        return nullcontext(None)
    from rich.progress import Progress

    from emolens.llm.views import progress_callback

    return progress_callback(Progress(console=err_console, transient=True))


def _show_distilled(result: Any, as_json: bool) -> None:
    from rich.markup import escape

    from emolens.display import console, err_console

    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        from emolens.llm.views import distill_view

        console.print(distill_view(result))
    for failure in result.failures:
        err_console.print(f"[red]error:[/] {escape(failure)}", soft_wrap=True, highlight=False)
