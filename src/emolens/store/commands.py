"""`emolens db upgrade|current`, `emolens export`, `emolens purge` and `emolens audit`, added
to the main CLI by ``register``.

Only typer is imported here, so the CLI starts without loading SQLAlchemy or alembic.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

DbOpt = Annotated[
    str | None, typer.Option("--db", help="SQLite file or database URL (env EMOLENS_DB).")
]
# --since and --until of the commands that read results (export, report): parse_window.
SINCE_HELP = ("Only items from then on: an age (30m, 12h, 7d, 4w) or an ISO 8601 time (UTC "
              "without a zone). An item's time is its own, else when it was stored.")
UNTIL_HELP = "Only items before this ISO 8601 time (UTC without a zone)."
# What emolens stores: texts, recordings' segments, faces and text read from video frames,
# and a video's fused timeline.
MODALITIES: tuple[str, ...] = ("text", "speech", "face", "screen_text", "fused")


def register(app: typer.Typer, guard: Callable[[Any], Any]) -> None:
    """Add the `db` sub-app, `export`, `purge` and `audit` to ``app``; ``guard`` turns errors
    into messages."""
    db_app = typer.Typer(help="The result store's schema: migrations (SQLite and PostgreSQL).",
                         no_args_is_help=True)
    app.add_typer(db_app, name="db")
    db_app.command("upgrade")(guard(db_upgrade))
    db_app.command("current")(guard(db_current))
    app.command("export")(guard(export_cmd))
    app.command("purge")(guard(purge_cmd))
    app.command("audit")(guard(audit_cmd))


def db_upgrade(db: DbOpt = None) -> None:
    """Bring the store's schema to the newest revision (opening a store also does this)."""
    from emolens.display import console
    from emolens.store.migrate import schema_state, upgrade
    from emolens.store.sql import _Guard

    engine, where = _engine(db, must_exist=False)
    try:
        with _Guard(f"Could not upgrade the result store {where}"):
            before = upgrade(engine, where)
            after = schema_state(engine)
    finally:
        engine.dispose()
    if before.up_to_date:
        console.print(f"{where}: already at revision {after.current} (newest)",
                      highlight=False, soft_wrap=True)
    else:
        console.print(f"{where}: upgraded from {before.current or 'no revision'} to "
                      f"{after.current} (newest)", highlight=False, soft_wrap=True)


def db_current(db: DbOpt = None) -> None:
    """Show the store's schema revision and whether it is the newest (changes nothing)."""
    from emolens.display import console
    from emolens.store.migrate import schema_state
    from emolens.store.sql import _Guard

    engine, where = _engine(db, must_exist=True)
    try:
        with _Guard(f"Could not read the schema revision of {where}"):
            state = schema_state(engine)
    finally:
        engine.dispose()
    if state.up_to_date:
        console.print(f"{where}: revision {state.current} (newest)",
                      highlight=False, soft_wrap=True)
    else:
        console.print(f"{where}: revision {state.current or 'none'}; newest is {state.head}: "
                      "run `emolens db upgrade`", highlight=False, soft_wrap=True)


def _engine(db: str | None, must_exist: bool) -> tuple[Any, str]:
    """An engine on the configured store, its schema untouched, and where it is."""
    from emolens.config import load_settings
    from emolens.store.sql import open_database

    url = load_settings(db=db).db
    if must_exist:
        _require_file(url, "nothing to show")
    return open_database(url)


def check_out(out: str | Path | None) -> None:
    """An --out file of a format we cannot write is a usage error (exit 2), found before any
    work."""
    from emolens.errors import InvalidInputError
    from emolens.io.results import output_format

    if out is not None:
        try:
            output_format(out)
        except InvalidInputError as exc:
            raise typer.BadParameter(str(exc), param_hint="--out") from None


def _existing_store(db: str | None, why: str) -> str:
    """The configured store's URL; an error saying ``why`` when it is a file that does not
    exist (reading commands do not create an empty store)."""
    from emolens.config import load_settings

    url = load_settings(db=db).db
    _require_file(url, why)
    return url


def _require_file(url: str, why: str) -> None:
    """InvalidInputError saying ``why`` when ``url`` is an SQLite file that does not exist."""
    from emolens.errors import InvalidInputError

    if "://" not in url and url != ":memory:" and not Path(url).expanduser().exists():
        raise InvalidInputError(f"No result store at {url}: {why}.")


_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(value: str, param_hint: str = "--older-than") -> timedelta:
    """'90d', '12h', '4w' or '30m' as a timedelta; BadParameter otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*", value.lower())
    if match is None:
        raise typer.BadParameter(
            f"{value!r} is not an age; use a number and a unit: 30m, 12h, 90d or 4w",
            param_hint=param_hint,
        )
    try:
        return timedelta(**{_UNITS[match[2]]: float(match[1])})
    except OverflowError:
        raise _too_long_ago(value, param_hint) from None


def ago(value: str, param_hint: str = "--older-than") -> datetime:
    """The aware UTC time the age ``value`` reaches back to; BadParameter when it is not an
    age or reaches back before the year 1, which no datetime can hold."""
    age = parse_age(value, param_hint)
    try:
        return datetime.now(UTC) - age
    except OverflowError:
        raise _too_long_ago(value, param_hint) from None


def _too_long_ago(value: str, param_hint: str) -> typer.BadParameter:
    return typer.BadParameter(
        f"{value!r} reaches back before the year 1; give a shorter age (e.g. 3650d for ten "
        "years)", param_hint=param_hint)


# What the store keeps beside each result, exported after the --out columns.
EXPORT_EXTRA: tuple[str, ...] = ("author", "url", "stored_at")
# What an export that matched nothing wrote, by format.
_EMPTY_OUTPUT = {"csv": "has the header only", "jsonl": "is empty (JSONL has no header)",
                 "parquet": "has the columns and no rows"}


def export_cmd(
    out: Annotated[str, typer.Option(
        "--out", "-o", help="File to write: .csv (with a byte-order mark, for Excel), .jsonl "
        "or .parquet; - writes CSV to standard output.")] = "-",
    source: Annotated[str | None, typer.Option(
        "--source", help="Only results of this source: a file or folder as given to analyze, "
        "or the source as stored.")] = None,
    group: Annotated[str | None, typer.Option("--group", help="Only results in this group.")]
    = None,
    label: Annotated[str | None, typer.Option("--label", help="Only results with this label.")]
    = None,
    modality: Annotated[str | None, typer.Option(
        "--modality", help="Only results of this modality: text, speech (recordings' "
        "segments), face, screen_text (text read from video frames) or fused (a video's "
        "timeline).")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", "-m", help="Only results of this model, as stored (name@version); a name "
        "alone (default) matches each of its versions stored.")] = None,
    since: Annotated[str | None, typer.Option("--since", help=SINCE_HELP)] = None,
    until: Annotated[str | None, typer.Option("--until", help=UNTIL_HELP)] = None,
    text: Annotated[Literal["full", "redacted", "hash", "none"], typer.Option(
        "--text", help="The text as stored (full), with emails, phones, ID numbers, URLs and "
        "@handles replaced (redacted), as its SHA-256 (hash), or left out (none).")] = "full",
    db: DbOpt = None,
) -> None:
    """Write stored results to a CSV, JSONL or Parquet file (or CSV to standard output), in
    the order stored: the columns of `analyze file --out`, with your own id (--id-col) as
    item_id, and the author, URL and time each result was stored."""
    from emolens.display import err_console
    from emolens.io.results import ResultWriter
    from emolens.store import ResultStore

    start, end = parse_window(since, until)
    check_out(out)
    url = _existing_store(db, "nothing to export")
    with ResultStore(url, must_exist=True) as store:
        if modality is not None:
            known = dict.fromkeys([*MODALITIES, *store.distinct("modality")])  # ordered, once
            if modality not in known:
                raise typer.BadParameter(f"unknown modality {modality!r}; use one of "
                                         f"{', '.join(known)}", param_hint="--modality")
        stored, folder = stored_source(store, source) if source is not None else (None, False)
        filters = {"source": stored, "folder": folder, "group": group, "label": label,
                   "modality": modality, "since": start, "until": end,
                   "model": None if model is None else stored_models(store, model)}
        with err_console.status("reading the stored labels ..."):
            labels = store.score_labels(**filters)
        writer = ResultWriter(out, labels, text_mode=text, extra=EXPORT_EXTRA)
        with writer, err_console.status("exporting ...") as status:
            for chunk in store.iter_results(**filters):
                writer.write(chunk)
                status.update(f"exporting ... {writer.count:,} results")
        held = "" if writer.count else _what_is_held(store)
    where = "standard output" if writer.to_stdout else str(writer.path)
    if writer.count == 0:
        err_console.print(f"[yellow]warning:[/] no stored results match the filters given; "
                          f"{where} {_EMPTY_OUTPUT[writer.format]}. {held}", highlight=False,
                          soft_wrap=True)
    else:
        noun = "result" if writer.count == 1 else "results"
        err_console.print(f"exported {writer.count:,} {noun} to {where}", highlight=False,
                          soft_wrap=True)


def stored_models(store: Any, model: str) -> str | list[str]:
    """``model`` as the store holds it: a name without a version (``default``) stands for
    every ``name@version`` stored, and for itself."""
    if "@" in model:
        return model
    return [m for m in store.distinct("model") if m == model or m.startswith(f"{model}@")]


def _what_is_held(store: Any) -> str:
    """The models and labels a store holds, briefly, so that a filter's typo shows."""
    models = store.distinct("model")
    if not models:
        return f"{store.where} holds no results."
    return (f"{store.where} holds models {_brief(models)}; labels "
            f"{_brief(store.distinct('label'))}.")


def _brief(values: list[str], most: int = 8) -> str:
    more = f", ... ({len(values):,} in all)" if len(values) > most else ""
    return ", ".join(values[:most]) + more


def parse_window(since: str | None, until: str | None) -> tuple[datetime | None,
                                                                 datetime | None]:
    """--since (an age or an ISO time) and --until (an ISO time) as naive UTC; BadParameter
    when either is neither, or when since is not before until (export, report)."""
    start = None if since is None else parse_since(since)
    end = None if until is None else _parse_until(until)
    if start is not None and end is not None and start >= end:
        raise typer.BadParameter(f"--since {since} is not before --until {until}; swap them?",
                                 param_hint="--since/--until")
    return start, end


def _parse_until(value: str) -> datetime:
    try:
        return _iso_utc_naive(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time (2025-01-31 or "
                                 "2025-01-31T12:00:00Z)", param_hint="--until") from None
    except OverflowError:  # 0001-01-01T00:00+14:00 has no UTC equivalent
        raise typer.BadParameter(f"{value!r} is out of range once converted to UTC; give a "
                                 "time further from the calendar's ends",
                                 param_hint="--until") from None


def _iso_utc_naive(value: str) -> datetime:
    """An ISO 8601 time as naive UTC (a time without an offset is taken as UTC)."""
    when = datetime.fromisoformat(value.strip())
    return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo else when


def purge_cmd(
    older_than: Annotated[str | None, typer.Option(
        "--older-than", help="Delete results stored longer ago than this: 30m, 12h, 90d, 4w.",
    )] = None,
    source: Annotated[str | None, typer.Option(
        "--source", help="Delete the results of this source (a file as given to analyze, or "
        "the source as stored).")] = None,
    author: Annotated[str | None, typer.Option(
        "--author", help="Delete the results of this author (a name or handle as collected; "
        "matched also as its salted hash when author_salt is set).")] = None,
    db: DbOpt = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Only say how many results would be deleted.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before deleting.")]
    = False,
) -> None:
    """Delete stored results by age, source and/or author (retention, data-subject
    requests)."""
    from emolens.config import load_settings
    from emolens.display import console
    from emolens.store import ResultStore

    if older_than is None and source is None and author is None:
        raise typer.BadParameter("give --older-than, --source, --author, or several")
    before = ago(older_than) if older_than is not None else None
    settings = load_settings(db=db)
    url = settings.db
    authors = None if author is None else _author_forms(author, settings.author_salt)
    _require_file(url, "nothing to delete")
    with ResultStore(url, must_exist=True) as store:
        source, folder = stored_source(store, source) if source is not None else (None, False)
        matched = store.delete(source=source, stored_before=before, authors=authors,
                               dry_run=True, folder=folder)
        what = " and ".join(filter(None, (
            source and f"from {source}" + (" and the files under it" if folder else ""),
            before and f"stored before {before:%Y-%m-%d %H:%M} UTC", author and f"by {author}",
        )))
        if dry_run or not matched:
            console.print(f"{matched:,} results {what} in {store.where}"
                          + (" would be deleted" if matched else ""), highlight=False,
                          soft_wrap=True)
            return
        if not yes:
            typer.confirm(f"Delete {matched:,} results {what}?", abort=True)
        deleted = store.delete(source=source, stored_before=before, authors=authors,
                               folder=folder)
    console.print(f"deleted {deleted:,} results {what}", highlight=False, soft_wrap=True)


def _author_forms(author: str, salt: str | None) -> list[str]:
    """An author as results may hold it: the name, and its salted hash when there is a salt."""
    from emolens.privacy import hash_author

    return [author.strip()] + ([hash_author(author, salt)] if salt else [])


def stored_source(store: Any, source: str) -> tuple[str, bool]:
    """``source`` as the results in ``store`` hold it, and whether it is a folder whose files'
    results count too (``folder=`` of ``ResultStore.delete`` and ``to_frame``).

    Files are stored by their absolute path, and a folder's files each by their own, so a
    path given relative or with ``~`` is resolved as at ingest time; a folder matches the
    files under it, even after it was removed from the disk. Anything else (a URL, a name
    given to the service) is matched as it is.
    """
    if "://" in source:
        return source, False
    path = Path(source).expanduser()
    resolved = str(path.resolve())
    if path.is_dir():
        return resolved, True
    stored = store.sources()
    if source in stored:
        return source, False
    if resolved in stored:
        return resolved, False
    under = resolved.rstrip("/") + "/"
    if any(s.startswith(under) for s in stored):  # a folder ingested, then removed
        return resolved, True
    return source, False


def parse_since(value: str) -> datetime:
    """An age (30m, 12h, 7d, 4w: that long ago) or an ISO 8601 time (UTC without a zone), as
    naive UTC."""
    if re.fullmatch(r"\s*\d+(?:\.\d+)?\s*[mhdw]\s*", value.lower()):
        return ago(value, "--since").replace(tzinfo=None)
    try:
        return _iso_utc_naive(value)
    except (ValueError, OverflowError):
        raise typer.BadParameter(
            f"{value!r} is neither an age (30m, 12h, 7d, 4w) nor an ISO 8601 time "
            "(2025-01-31 or 2025-01-31T12:00:00Z)", param_hint="--since") from None


def audit_cmd(
    since: Annotated[str | None, typer.Option(
        "--since", help="Only exports from then on: an age (30m, 12h, 7d, 4w) or an ISO 8601 "
        "time (UTC without a zone).")] = None,
    key: Annotated[str | None, typer.Option("--key", help="Only exports with this key id.")]
    = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Most entries shown.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array instead of a "
                                          "table.")] = False,
    db: DbOpt = None,
) -> None:
    """Who read which stored results through the service (`emolens serve`: JSON pages and CSV
    exports), newest first: time, API key id and name (never the key), route, filters, rows
    and client address."""
    import json

    from emolens.store import ResultStore
    from emolens.store.tables import list_audit

    start = None if since is None else parse_since(since)
    url = _existing_store(db, "nothing to show")
    with ResultStore(url, must_exist=True) as store, store._guard("read the audit log of"):
        rows = list_audit(store.engine, start, limit, key)
    for row in rows:
        row["created_at"] = row["created_at"].replace(tzinfo=UTC).isoformat()
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    from rich.table import Table

    from emolens.display import console

    if not rows:
        console.print("no reads of stored results logged" + (f" since {since}" if since else ""),
                      highlight=False)
        return
    table = Table(title="Reads of stored results through the service (newest first)")
    for column in ("time (UTC)", "key", "route", "filters", "rows", "client"):
        table.add_column(column, overflow="fold")
    for row in rows:
        who = row["key_name"] if row["key_id"] is None else \
            f"{row['key_id']} ({row['key_name']})" if row["key_name"] else row["key_id"]
        table.add_row(row["created_at"][:19].replace("T", " "), who, row["route"],
                      json.dumps(row["filters"], ensure_ascii=False), str(row["rows_returned"]),
                      row["client"] or "")
    console.print(table)
