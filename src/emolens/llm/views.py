"""How `emolens explain`, `emolens distill` and `emolens llm settings` look: rich tables and a
few lines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from emolens.llm.errors import HOW_TO_CONFIGURE
from emolens.llm.settings import LLMSettings


def explain_view(report: dict[str, Any]) -> Group:
    """The explain report: one row per emotion, then the LLM's rationale and evidence."""
    fast, lexicon, llm = report["fast"], report["lexicon"], report["llm"]
    table = Table(title=f"{escape(_short(report['text'], 80))} [dim]({report['language']})[/]")
    table.add_column("emotion")
    table.add_column(f"fast p\n{escape(fast['model'])}", justify="right")
    if llm is not None:
        table.add_column("LLM p", justify="right")
        table.add_column("LLM intensity", justify="right")
    table.add_column("lexicon words")
    labels = list(fast["scores"])
    labels += [label for label in (llm or {}).get("scores", {}) if label not in labels]
    words = lexicon.get("words", {})
    for label in labels:
        top = label in (fast["label"], (llm or {}).get("label"))
        row = [Text(label, style="bold" if top else ""), _p(fast["scores"].get(label))]
        if llm is not None:
            row += [_p(llm["scores"].get(label)), _p(llm["intensities"].get(label))]
        row.append(escape(", ".join(words.get(label, []))))
        table.add_row(*row)
    return Group(table, *_lines(report))


def _lines(report: dict[str, Any]) -> list[Any]:
    fast, lexicon, llm = report["fast"], report["lexicon"], report["llm"]
    lines: list[Any] = [
        Text(f"fast model: {fast['label']} ({fast['scores'][fast['label']]:.2f})"
             + _va(fast.get("valence"), fast.get("arousal")))
    ]
    if lexicon.get("negated"):
        lines.append(Text("lexicon, negated: " + ", ".join(lexicon["negated"])))
    status = report["llm_status"]
    if status == "not configured":
        lines.append(Text.from_markup(
            f"[yellow]No LLM configured[/]: {escape(HOW_TO_CONFIGURE)}."))
    elif status == "error":
        lines.append(Text.from_markup(f"[red]LLM failed:[/] {escape(report['llm_error'])}"))
    elif llm is not None:
        lines += _llm_lines(llm)
    if report.get("usage"):
        u = report["usage"]
        lines.append(Text(
            f"tokens: {u['prompt_tokens']} prompt + {u['completion_tokens']} completion; "
            f"{u['requests']} requests, {u['cache_hits']} cache hits", style="dim"))
    return lines


def _llm_lines(llm: dict[str, Any]) -> list[Any]:
    top = llm["label"]
    lines: list[Any] = [
        Text.from_markup(f"[bold]LLM[/] ({escape(llm['model'])}): {top} "
                         f"({llm['scores'][top]:.2f}){_va(llm['valence'], llm['arousal'])}"),
        Text.from_markup(f"[bold]rationale:[/] {escape(llm['rationale'])}"),
    ]
    for e in llm["evidence"]:
        lines.append(Text.from_markup(
            f"  [green]✓[/] “{escape(e['quote'])}” (characters {e['start']}–{e['end']})"))
    for quote in llm["evidence_rejected"]:
        lines.append(Text.from_markup(
            f"  [red]✗[/] “{escape(quote)}” is not in the text: dropped"))
    notes = []
    if llm["redacted"]:
        notes.append("redacted before sending: " + ", ".join(
            f"{kind} ×{n}" for kind, n in llm["redacted"].items()))
    if llm["repairs"]:
        notes.append("repaired: " + "; ".join(llm["repairs"]))
    if llm["cached"]:
        notes.append("answer from the cache")
    lines += [Text(note, style="dim") for note in notes]
    return lines


def settings_view(settings: LLMSettings) -> Table:
    """Every LLM setting with its value and env var; the key shown only as set or not."""
    from emolens.llm.client import masked_url
    from emolens.llm.factory import redaction_on

    table = Table(title="LLM settings")
    for column in ("setting", "value", "env"):
        table.add_column(column)
    for name in LLMSettings.model_fields:
        if not name.startswith("llm_"):
            continue
        value = getattr(settings, name)
        if name == "llm_api_key":
            value = "set" if value else "not set"
        elif name == "llm_base_url" and value:
            value = masked_url(value)
        table.add_row(name, escape(str(value)), f"EMOLENS_{name.upper()}")
    table.add_row("redaction", "on" if redaction_on(settings) else "off",
                  "(llm_redact, else on unless the endpoint is on loopback)")
    if not settings.configured():
        table.caption = f"No LLM configured: {HOW_TO_CONFIGURE}."
    return table


def distill_view(result: Any) -> Group:
    """A distillation (``DistillResult``): labels, tokens, agreement with the LLM, the model."""
    r, stats = result, result.stats
    parts: list[Any] = [Text(
        f"LLM labels: {r.labelled:,} of {r.texts:,} distinct texts ({r.from_file:,} kept from "
        f"earlier runs, {r.asked:,} asked now, {stats.cache_hits:,} of them answered by the "
        f"cache); {len(r.failures):,} without a valid answer, left out")]
    if r.origin.get("route_below") is not None:
        parts.append(Text(f"the fast model ({r.origin['fast_model']}) kept its own label for "
                          f"{r.fast_kept:,} texts (top probability ≥ {r.origin['route_below']:g})"))
    parts.append(Text(f"this run: {stats.summary()}", style="dim"))
    parts.append(Text(f"tokens all {r.labelled:,} LLM labels cost (earlier runs included): "
                      f"{r.tokens_all_labels:,}", style="dim"))
    held = len(r.holdout_rows)
    parts.append(Text(f"trained on {r.train_items:,} texts; {held:,} LLM labels held out"))
    if r.agreement is None and not r.labelled and r.fast_kept:
        parts.append(Text("the fast model kept every text: no LLM label to hold out, agreement "
                          "with the LLM not measured (a higher --route-below sends more to it)"))
    elif r.agreement is None:
        parts.append(Text("no hold-out: agreement with the LLM not measured"))
    else:
        a = r.agreement
        kappa = "—" if r.cohen_kappa is None else f"{r.cohen_kappa:.3f}"
        parts.append(Text.from_markup(
            f"[bold]agreement with the LLM[/] on {a.n:,} held-out texts: accuracy "
            f"{a.accuracy:.3f}, macro-F1 {a.macro_f1:.3f}, Cohen's kappa {kappa}"))
        table = Table("label", "precision", "recall", "F1", "support")
        for label, row in a.per_class.items():
            table.add_row(label, f"{row['precision']:.3f}", f"{row['recall']:.3f}",
                          f"{row['f1']:.3f}", f"{int(row['support'])}")
        parts.append(table)
    labels = escape(", ".join(r.origin["labels"]))
    parts.append(Text.from_markup(
        f"saved [bold]{escape(str(r.model_dir))}[/] (labels: {labels}); its MODEL_CARD.md "
        "names the LLM, endpoint and prompt version"))
    return Group(*parts)


@contextmanager
def progress_callback(progress: Any) -> Iterator[Callable[[int, int], None]]:
    """A rich ``Progress`` over the texts sent to the LLM; yields ``on_progress(done, total)``."""
    task = progress.add_task("asking the LLM", total=None)

    def on_progress(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    with progress:
        yield on_progress


def _p(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _va(valence: float | None, arousal: float | None) -> str:
    if valence is None or arousal is None:
        return ""
    return f", valence {valence:+.2f}, arousal {arousal:+.2f}"


def _short(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"
