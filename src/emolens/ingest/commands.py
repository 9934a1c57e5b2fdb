"""`emolens ingest` and `emolens watch`, added to the main CLI by ``register``.

Only typer is imported at the top, so the CLI starts without loading the connectors.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

EXIT_OK, EXIT_ERROR, EXIT_PARTIAL = 0, 1, 3
_SHOWN = 20  # errors and notes shown per source (all are counted; --json has the first 1000)

StoreTextOpt = Annotated[Literal["full", "redacted", "hash", "none"] | None, typer.Option(
    "--store-text", help="Keep each text, the redacted text, only its SHA-256, or nothing "
    "(env: EMOLENS_STORE_TEXT).")]
HashAuthorsOpt = Annotated[bool | None, typer.Option(
    "--hash-authors/--no-hash-authors", help="Store authors as salted SHA-256 hashes (salt: "
    "the author_salt setting, EMOLENS_AUTHOR_SALT) (env: EMOLENS_HASH_AUTHORS).")]
DbOpt = Annotated[str | None, typer.Option("--db", help="SQLite file or database URL "
                                           "(env: EMOLENS_DB).")]
ModelOpt = Annotated[str | None, typer.Option("--model", "-m", help="Text recognizer name or "
                                              "model directory (env: EMOLENS_MODEL).")]
LanguageOpt = Annotated[str | None, typer.Option("--language", "-l",
                                                 help="Force 'en' or 'zh' instead of detecting.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON lines instead of tables.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or notes.")]
SourceTzOpt = Annotated[str | None, typer.Option(
    "--source-tz", help="IANA time zone the sources' times were written in when they carry "
    "no offset (chat exports, Weibo CSVs, spreadsheets), e.g. Asia/Shanghai; they are stored "
    "in UTC. Times with an offset and Unix times are not changed (env: EMOLENS_SOURCE_TZ; "
    "default UTC).")]
NoMediaOpt = Annotated[bool, typer.Option(
    "--no-media", help="Leave audio, video and image files out (noted) instead of analysing "
    "them with the media analyzers.")]


def register(app: typer.Typer, guard: Callable[[Any], Any]) -> None:
    """Add `ingest` and `watch` to ``app``; ``guard`` turns errors into messages."""
    app.command("ingest", help=INGEST_HELP)(guard(ingest_cmd))
    app.command("watch", help=WATCH_HELP)(guard(watch_cmd))


INGEST_HELP = (
    "Collect posts from files, folders, feeds, JSON APIs, web pages and exports (X/Twitter "
    "archive, Reddit JSON, Weibo CSV, Telegram result.json, WeChat TXT/CSV), analyse the new "
    "ones and store them with their author, time and URL.\n\n"
    "The connector is guessed from the URL or the file (--kind names it). Runs are "
    "incremental: items seen before are not analysed again. Entries that cannot be read are "
    "listed by name and the rest goes on (exit status 3)."
)
WATCH_HELP = (
    "Poll the sources of a TOML config on a schedule, analyse new items, evaluate alert rules "
    "(share of a label over a window, against a baseline) and send alerts to the log, a "
    "webhook or email; alerts are stored.\n\n"
    "--once polls every source once, evaluates the rules and exits (for cron and tests)."
)


def ingest_cmd(
    sources: Annotated[list[str], typer.Argument(
        help="Files, folders, glob patterns ('posts/**/*.csv'), URLs of feeds, APIs "
        "(templates with {page} or {cursor}) or web pages.")],
    kind: Annotated[str | None, typer.Option(
        "--kind", "-k", help="Connector: files, table, rss, api, web, twitter, reddit, weibo, "
        "telegram, wechat (default: guessed).")] = None,
    text_col: Annotated[str | None, typer.Option("--text-col", help="Tables: the text "
                                                 "column.")] = None,
    time_col: Annotated[str | None, typer.Option("--time-col", help="Tables: when it was "
                                                 "written.")] = None,
    author_col: Annotated[str | None, typer.Option("--author-col", help="Tables: who wrote "
                                                   "it.")] = None,
    url_col: Annotated[str | None, typer.Option("--url-col", help="Tables: its URL.")] = None,
    id_col: Annotated[str | None, typer.Option("--id-col", help="Tables: a stable id.")] = None,
    group_col: Annotated[str | None, typer.Option("--group-col", help="Tables: a group "
                                                  "(channel, brand).")] = None,
    sheet: Annotated[str | None, typer.Option("--sheet", help="Excel: the sheet (default: "
                                              "the first).")] = None,
    pattern: Annotated[str | None, typer.Option("--pattern", help="Folders: a glob of files "
                                                "to read, e.g. '*.csv' (recursive).")] = None,
    items_path: Annotated[str | None, typer.Option(
        "--items-path", help="API: JMESPath to the list of items in a page, e.g. 'data.posts'.")]
    = None,
    next_path: Annotated[str | None, typer.Option(
        "--next-path", help="API: JMESPath to the next page's cursor (or URL).")] = None,
    field: Annotated[list[str] | None, typer.Option(
        "--field", help="API: ROLE=JMESPATH for id, text, author, time, url, group "
        "(defaults: the role's name), e.g. --field author=user.name. Repeatable.")] = None,
    auth_env: Annotated[str | None, typer.Option(
        "--auth-env", help="API: name of the environment variable holding the token (the "
        "token itself is never given on the command line).")] = None,
    auth_header: Annotated[str | None, typer.Option(
        "--auth-header", help="API: header the token goes in (default Authorization, as "
        "'Bearer TOKEN').")] = None,
    auth_prefix: Annotated[str | None, typer.Option(
        "--auth-prefix", help="API: text before the token (default 'Bearer ' for "
        "Authorization, none for other headers).")] = None,
    max_pages: Annotated[int | None, typer.Option("--max-pages", min=1, help="API: most pages "
                                                  "per run (default 100).")] = None,
    resume_cursor: Annotated[bool, typer.Option(
        "--resume-cursor", help="API: start from the cursor the last run ended at.")] = False,
    model: ModelOpt = None, language: LanguageOpt = None, db: DbOpt = None,
    store_text: StoreTextOpt = None, hash_authors: HashAuthorsOpt = None,
    source_tz: SourceTzOpt = None,
    refetch: Annotated[bool, typer.Option(
        "--refetch", help="Ignore what connectors kept from the last run (a feed's ETag, an "
        "API cursor) and fetch everything; items stored are still not analysed again.")]
    = False,
    no_media: NoMediaOpt = False,
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=1, help="Items analysed and "
                                            "committed together.")] = 200,
    as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Collect, analyse and store new items from sources (incremental)."""
    from emolens.config import load_settings
    from emolens.ingest.sources import open_source

    settings = load_settings(db=db, model=model, store_text=store_text,
                             hash_authors=hash_authors, source_tz=source_tz)
    options = dict(
        text_col=text_col, time_col=time_col, author_col=author_col, url_col=url_col,
        id_col=id_col, group_col=group_col, sheet=sheet, pattern=pattern,
        items_path=items_path, next_path=next_path, fields=_fields(field), auth_env=auth_env,
        auth_header=auth_header, auth_prefix=auth_prefix, max_pages=max_pages,
        resume=resume_cursor or None,
    )
    opened = [open_source(source, kind, default_tz=settings.source_tz, **options)
              for source in sources]
    run_options = _run_options(settings, language, chunk_size, refetch, no_media)
    reports = _ingest_all(opened, settings, run_options, quiet)
    _show_reports(reports, settings.db, as_json, quiet)
    statuses = {r.status for r in reports}
    raise typer.Exit(EXIT_ERROR if statuses == {"failed"} else
                     EXIT_PARTIAL if statuses != {"ok"} else EXIT_OK)


def _fields(values: list[str] | None) -> dict[str, str] | None:
    if not values:
        return None
    found = {}
    for value in values:
        role, sep, path = value.partition("=")
        if not sep or not role.strip() or not path.strip():
            raise typer.BadParameter(f"{value!r} is not ROLE=JMESPATH", param_hint="--field")
        found[role.strip()] = path.strip()
    return found


def author_salt(settings: Any) -> str | None:
    """The salt to hash authors with, when the settings ask for hashing."""
    from emolens.errors import InvalidInputError

    if not settings.hash_authors:
        return None
    if not settings.author_salt:
        raise InvalidInputError(
            "Hashing authors needs a salt: set author_salt in the config file or "
            "EMOLENS_AUTHOR_SALT (a long random string; keep it, or earlier hashes no longer "
            "match)."
        )
    return settings.author_salt


def _run_options(settings: Any, language: str | None, chunk_size: int, refetch: bool,
                 no_media: bool, progress: Callable[[int], None] | None = None) -> Any:
    from emolens.ingest.media import MediaAnalyzers
    from emolens.ingest.run import IngestOptions

    return IngestOptions(
        store_text=settings.store_text, language=language, chunk_size=chunk_size,
        author_salt=author_salt(settings), use_state=not refetch, progress=progress,
        media=None if no_media else MediaAnalyzers(language, settings.model),
    )


def _analyzer(settings: Any) -> Any:
    from emolens.pipeline import build_analyzer

    return build_analyzer(settings.model, batch_size=settings.batch_size,
                          max_chars=settings.max_text_chars,
                          uncertain_below=settings.uncertain_below)


def _ingest_all(opened: list[Any], settings: Any, run_options: Any, quiet: bool) -> list[Any]:
    from dataclasses import replace

    from emolens.display import BatchProgress, err_console
    from emolens.ingest.run import ingest
    from emolens.store import ResultStore

    class Progress(BatchProgress):
        description = "collecting"

        def _total(self) -> None:  # entries cannot be counted before they are read
            return None

    analyzer = _analyzer(settings)
    reports = []
    with ExitStack() as stack:
        store = stack.enter_context(ResultStore(settings.db))
        bar = stack.enter_context(Progress([], enabled=not quiet))
        options = replace(run_options, progress=bar.advance)
        try:
            for source in opened:
                bar.on_file(Path(source.source))
                reports.append(ingest(source, analyzer, store, options))
        except KeyboardInterrupt:
            err_console.print("interrupted: every finished chunk is stored; run the same "
                              "command again to go on")
            raise typer.Exit(130) from None
    return reports


def _show_reports(reports: list[Any], where: str, as_json: bool, quiet: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    from emolens.display import console, err_console

    if as_json:
        for report in reports:
            typer.echo(json.dumps({"type": "source", **report.to_dict()}, ensure_ascii=False))
        totals = {key: sum(getattr(r, key) for r in reports) for key in (
            "read", "analysed", "skipped_existing", "stored", "error_count", "note_count")}
        status = ("failed" if all(r.status == "failed" for r in reports) else "partial"
                  if any(r.status != "ok" for r in reports) else "ok")
        typer.echo(json.dumps({"type": "summary", "status": status, "db": where, **totals}))
        return
    if not quiet:
        table = Table(title=f"stored in {where}")
        for column in ("source", "kind", "status", "read", "analysed", "seen before", "stored",
                       "errors"):
            table.add_column(column, justify="left" if column in ("source", "kind", "status")
                             else "right", overflow="fold")
        for r in reports:
            table.add_row(escape(r.source), r.kind, r.outcome, f"{r.read:,}", f"{r.analysed:,}",
                          f"{r.skipped_existing:,}", f"{r.stored:,}", f"{r.error_count:,}")
        console.print(table)
    for r in reports:
        _show_lines(err_console, "error", r.errors, r.error_count)
        if not quiet:
            _show_lines(err_console, "note", r.notes, r.note_count)


def _show_lines(out: Any, kind: str, lines: list[str], count: int) -> None:
    from rich.markup import escape

    style = "bold red" if kind == "error" else "yellow"
    for line in lines[:_SHOWN]:
        out.print(f"[{style}]{kind}:[/] {escape(line)}", soft_wrap=True, highlight=False)
    if count > _SHOWN:
        out.print(f"... and {count - _SHOWN:,} more {kind}s (--json lists up to 1,000)",
                  highlight=False)


def watch_cmd(
    config: Annotated[Path, typer.Argument(help="The watch config (TOML): sources, rules, "
                                           "notify; see `emolens.ingest.watch`.")],
    once: Annotated[bool, typer.Option("--once", help="Poll every source once, evaluate the "
                                       "rules, and exit.")] = False,
    db: DbOpt = None, model: ModelOpt = None, source_tz: SourceTzOpt = None,
    no_media: NoMediaOpt = False, as_json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Poll sources on a schedule and send alerts when rules fire."""
    from emolens.config import build_settings
    from emolens.ingest.settings import WatchSettings
    from emolens.ingest.sources import open_source
    from emolens.ingest.watch import Watcher, load_config
    from emolens.store import ResultStore

    cfg = load_config(config)
    settings = build_settings(WatchSettings, db=db or cfg.db, model=model or cfg.model,
                              store_text=cfg.store_text, hash_authors=cfg.hash_authors,
                              source_tz=source_tz or cfg.source_tz)
    _log_to_stderr(logging.WARNING if quiet else logging.INFO)
    sources = {s.name: open_source(s.source, s.kind, default_tz=settings.source_tz, **s.options)
               for s in cfg.sources}
    notifiers = {n.name: _notifier(n, settings) for n in cfg.notify}
    options = _run_options(settings, cfg.language, 200, False, no_media)
    with ResultStore(settings.db) as store:
        watcher = Watcher(cfg, sources, _analyzer(settings), store, notifiers, options)
        if once:
            cycle = watcher.cycle()
            _show_cycle(cycle, as_json)
            raise typer.Exit(EXIT_OK if cycle.status == "ok" else EXIT_PARTIAL)
        try:
            watcher.run(lambda cycle: _show_cycle(cycle, as_json), should_stop=lambda: False)
        except KeyboardInterrupt:
            raise typer.Exit(130) from None


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record comes (it may be replaced, as in tests)."""

    @property
    def stream(self) -> Any:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _log_to_stderr(level: int) -> None:
    """Show the 'emolens.watch' log (polls, rules, alerts) on stderr."""
    log = logging.getLogger("emolens.watch")
    log.setLevel(level)
    if not any(isinstance(h, _StderrHandler) for h in log.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.propagate = False


def _notifier(config: Any, settings: Any) -> Any:
    from emolens.errors import InvalidInputError
    from emolens.ingest.http import auth_header
    from emolens.ingest.notify import EmailNotifier, LogNotifier, WebhookNotifier

    if config.type == "log":
        return LogNotifier(config.name)
    if config.type == "webhook":
        headers = auth_header(config.auth_env, config.auth_header, config.auth_prefix)
        return WebhookNotifier(config.name, config.url, headers, config.timeout)
    if not settings.smtp_host:
        raise InvalidInputError(f"The email notifier {config.name!r} needs an SMTP server: set "
                                "smtp_host (EMOLENS_SMTP_HOST) and, if needed, smtp_port, "
                                "smtp_user and the password in EMOLENS_SMTP_PASSWORD")
    return EmailNotifier(
        config.name, config.to, settings.smtp_host, settings.smtp_port, settings.smtp_user,
        os.environ.get(settings.smtp_password_env), settings.smtp_sender,
        settings.smtp_starttls, settings.smtp_ssl, config.timeout, config.subject_prefix,
    )


def _show_cycle(cycle: Any, as_json: bool) -> None:
    """One line per source, rule and alert: JSON lines, or the log."""
    log = logging.getLogger("emolens.watch")
    if as_json:
        for report in cycle.reports:
            typer.echo(json.dumps({"type": "source", **report.to_dict()}, ensure_ascii=False))
        for found in cycle.evaluations:
            typer.echo(json.dumps({
                "type": "rule", "rule": found.rule.name, "items": found.items,
                "share": found.share, "baseline_share": found.baseline_share,
                "fires": found.fires, "why": found.why}, ensure_ascii=False))
        for alert in cycle.alerts:
            typer.echo(json.dumps({"type": "alert", **alert.to_dict()}, ensure_ascii=False))
        for failure in cycle.failures:
            typer.echo(json.dumps({"type": "delivery_failed", "message": failure},
                                  ensure_ascii=False))
        return
    for r in cycle.reports:
        log.info("%s (%s): %s, %d read, %d new, %d seen before, %d errors", r.source, r.kind,
                 r.outcome, r.read, r.analysed, r.skipped_existing, r.error_count)
        for line in r.errors[:_SHOWN]:
            log.error("%s", line)
    for found in cycle.evaluations:
        log.info("rule %s: %d items, share %.0f%%: %s", found.rule.name, found.items,
                 100 * found.share, found.why)
    for failure in cycle.failures:
        log.error("alert not delivered: %s", failure)
