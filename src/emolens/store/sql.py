"""ResultStore: emotion results in one SQL table, in an SQLite file (default) or PostgreSQL.

Times are points in UTC: timezone-aware datetimes are converted to UTC, naive ones are taken
to be UTC, and times read back are naive UTC (see ``schema.UtcDateTime``). ``created_at`` is
the UTC time the row was written. Opening a store brings its schema to the newest migration;
``must_exist`` (reading commands) refuses a database that is not an emolens store instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from sqlalchemy import create_engine, event, func, inspect, select
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from emolens import labels as L
from emolens.errors import InvalidInputError, StoreError
from emolens.pipeline import text_hash
from emolens.privacy import redact
from emolens.store.migrate import upgrade
from emolens.store.schema import ingest_state_table, results_table
from emolens.store.tables import source_filter
from emolens.types import EmotionResult

StoreText = Literal["full", "redacted", "hash", "none"]
# full: the text; redacted: the text with personal data replaced (emolens.privacy); hash: only
# its SHA-256; none: nothing. Every mode but none keeps the SHA-256 of the text as given.
STORE_TEXT_MODES: tuple[str, ...] = ("full", "redacted", "hash", "none")

_DEADLOCK_RETRIES = 5
# Keys per IN (...) clause: under SQLite's oldest limit of 999 bound parameters.
_IN_CHUNK = 500

# Columns of ``to_frame`` before the ``p_<label>`` score columns.
FRAME_COLUMNS: tuple[str, ...] = (
    "id", "item_key", "model", "source", "row", "group", "timestamp", "text", "text_hash",
    "language", "modality", "label", "valence", "arousal", "t_start", "t_end", "created_at",
    "author", "url", "item_id",
)
# Rows per read when results are streamed out (``iter_results``).
_READ_CHUNK = 1_000
# The details a result keeps in the store (the ``details`` column), so that a re-run reading
# it back shows the same breakdown: small scores and settings only, never text or a person's
# data. A speech segment's voice and words scores, how they were weighed, the VAD threshold
# of a second look, abstentions; a fused result's per-modality scores.
KEPT_DETAILS: tuple[str, ...] = (
    "voice", "words", "fusion_weights", "vad_threshold", "uncertain", "own_labels", "modalities",
)


class ResultStore:
    """Stores emotion results and reads them back as a table; see ``emolens.store``."""

    def __init__(self, url: str, must_exist: bool = False) -> None:
        """Open (creating when new) the store at ``url``; with ``must_exist``, a database
        without emolens's ``results`` table is refused with StoreError and left untouched."""
        self.url = url
        self._sa_url = _to_url(url)
        self._where = _describe(url, self._sa_url)
        self._engine = _open_engine(self._sa_url, self._where, must_exist)

    # -- writing ---------------------------------------------------------------------------

    def add(self, results: Sequence[EmotionResult], store_text: StoreText = "full") -> int:
        """Insert results, skipping stored (item_key, model) pairs; returns how many were new."""
        if store_text not in STORE_TEXT_MODES:
            raise InvalidInputError(
                f"store_text must be one of {list(STORE_TEXT_MODES)}, got {store_text!r}"
            )
        now = _utc_naive(datetime.now(UTC))
        rows = [_to_row(r, store_text, now) for r in results]
        if not rows:
            return 0
        if self._engine.dialect.name == "postgresql":
            rows = [_without_nul(row) for row in rows]
        # One statement compiled once and executed for every row (executemany): building a
        # multi-row VALUES statement per chunk made SQLAlchemy recompile it each time.
        stmt = self._insert().on_conflict_do_nothing(index_elements=["item_key", "model"])
        if self._engine.dialect.name == "postgresql":
            # psycopg reports no row count for executemany: count the ids the inserts return
            # (SQLAlchemy sends them as multi-row INSERTs, "insertmanyvalues").
            stmt = stmt.returning(results_table.c.id)
        for attempt in range(_DEADLOCK_RETRIES + 1):
            try:
                with self._guard("write to"), self._engine.begin() as conn:
                    done = conn.execute(stmt, rows)
                    return len(done.all()) if done.returns_rows else done.rowcount
            except StoreError as exc:
                # Writers adding overlapping keys in different orders can deadlock on
                # PostgreSQL; it rolls one back, and running that one again is safe.
                if attempt == _DEADLOCK_RETRIES or not _is_deadlock(exc.__cause__):
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def _insert(self) -> Any:
        """The dialect's INSERT, which has ``on_conflict_do_nothing`` (SQLite, PostgreSQL)."""
        name = self._engine.dialect.name
        if name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        elif name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            raise StoreError(
                f"Result store {self._where}: the {name!r} database is not supported; "
                "use SQLite or PostgreSQL."
            )
        return dialect_insert(results_table)

    # -- reading ---------------------------------------------------------------------------

    def existing_keys(self, keys: Iterable[str], model: str) -> set[str]:
        """Which of ``keys`` are already stored for ``model``."""
        found: set[str] = set()
        col = results_table.c
        with self._guard("read"), self._engine.connect() as conn:
            for chunk in _chunks(list(dict.fromkeys(keys)), _IN_CHUNK):
                stmt = select(col.item_key).where(col.model == model, col.item_key.in_(chunk))
                found.update(conn.execute(stmt).scalars())
        return found

    def to_frame(
        self,
        source: str | None = None,
        group: str | None = None,
        model: str | Sequence[str] | None = None,
        label: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        folder: bool = False,
        modality: str | None = None,
    ) -> pd.DataFrame:
        """Stored results as a table, one row each, with a ``p_<label>`` column per score.

        ``since <= time < until``, where time is the item's own timestamp, or when it has
        none, the time it was stored. With ``folder``, ``source`` is a folder and the results
        of the files under it are read too. ``model`` may list several models.
        """
        stmt = _matching(source=source, group=group, model=model, label=label, since=since,
                         until=until, folder=folder, modality=modality)
        with self._guard("read"), self._engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(stmt).mappings()]
        return _frame(rows)

    def iter_results(self, **filters: Any) -> Iterator[list[EmotionResult]]:
        """The results ``to_frame`` would read (the same keyword filters), in the order stored,
        as chunks of ``EmotionResult``s, so that a large store is never held in memory.

        Each result's ``details`` has the details it kept (``KEPT_DETAILS``) and what the
        store keeps beside the result: ``row``, ``item_id``, ``author``, ``url``,
        ``text_hash`` (the SHA-256 of the text as given; where stored) and ``stored_at``
        (UTC).
        """
        for rows in self._pages(_matching(**filters)):
            yield [stored_result(row) for row in rows]

    def score_labels(self, **filters: Any) -> list[str]:
        """The labels scored by the matching results: canonical ones in their order, then
        the labels of models trained on other sets, sorted (``to_frame``'s columns)."""
        col = results_table.c
        stmt = _matching(**filters)
        found: set[str] = set()
        for rows in self._pages(stmt.with_only_columns(col.id, col.scores)):
            found.update(x for row in rows for x in row["scores"])
        return L.ordered_labels(found)

    def _pages(self, stmt: Any) -> Iterator[list[Any]]:
        """Rows of ``stmt`` (ordered by id) in pages read by keyset, so that each read is
        short and a large store is never held in memory at once."""
        last = None
        while True:
            page = stmt if last is None else stmt.where(results_table.c.id > last)
            with self._guard("read"), self._engine.connect() as conn:
                rows = list(conn.execute(page.limit(_READ_CHUNK)).mappings())
            if not rows:
                return
            last = rows[-1]["id"]
            yield rows

    def delete(
        self,
        source: str | None = None,
        stored_before: datetime | None = None,
        dry_run: bool = False,
        authors: Sequence[str] | None = None,
        folder: bool = False,
    ) -> int:
        """Delete the results of ``source``, stored before ``stored_before`` and/or by one of
        ``authors`` (as stored: names or their hashes) (retention, data-subject requests);
        returns how many matched. At least one filter is required. With ``folder``,
        ``source`` is a folder and the results of the files under it go too.

        What connectors kept for the sources that lose results (a feed's ETag, a cursor) goes
        too, so that collecting them again fetches the deleted items instead of a 304."""
        col = results_table.c
        where = []
        if source is not None:
            where.append(source_filter(col.source, source, folder))
        if authors is not None:
            where.append(col.author.in_(list(authors)))
        if stored_before is not None:
            where.append(col.created_at < stored_before)  # UTC; a naive time is taken as UTC
        if not where:
            raise InvalidInputError(
                "Say which results to delete: a source, a time, an author, or several."
            )
        count = select(func.count()).select_from(results_table).where(*where)
        with self._guard("delete from"), self._engine.begin() as conn:
            if dry_run:
                return int(conn.execute(count).scalar_one())
            losing = select(col.source).where(*where).distinct()
            state = ingest_state_table.c
            conn.execute(ingest_state_table.delete().where(state.source.in_(losing)))
            return conn.execute(results_table.delete().where(*where)).rowcount

    def count(self) -> int:
        """Number of stored results."""
        with self._guard("read"), self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(results_table)).scalar_one())

    def sources(self) -> list[str]:
        """Distinct sources of the stored results, sorted."""
        return self.distinct("source")

    def distinct(self, column: Literal["source", "model", "label", "modality"]) -> list[str]:
        """Distinct values of one column of the stored results, sorted (None left out)."""
        col = results_table.c[column]
        stmt = select(col).where(col.is_not(None)).distinct().order_by(col)
        with self._guard("read"), self._engine.connect() as conn:
            return list(conn.execute(stmt).scalars())

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for the tables beside results (``emolens.store.tables``)."""
        return self._engine

    @property
    def where(self) -> str:
        """Where the store is, for messages (a URL's password hidden)."""
        return self._where

    def __repr__(self) -> str:
        return f"ResultStore({self._where!r})"

    def _guard(self, action: str) -> _Guard:
        return _Guard(f"Could not {action} the result store {self._where}")


class _Guard:
    """Turns database errors into StoreError with the store's location in the message."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, SQLAlchemyError):
            reason = getattr(exc, "orig", None) or exc
            raise StoreError(f"{self.message}: {reason}") from exc


def _to_url(url: str) -> URL:
    """SQLAlchemy URL for a URL string, or for a plain path (as an SQLite file)."""
    if "://" in url:
        try:
            sa_url = make_url(url)
        except ArgumentError as exc:
            raise StoreError(f"Invalid database URL {url!r}: {exc}") from exc
        if sa_url.drivername in ("postgresql", "postgres"):  # psycopg 3, not SQLAlchemy's psycopg2
            sa_url = sa_url.set(drivername="postgresql+psycopg")
        return sa_url
    if url == ":memory:":
        return make_url("sqlite://")
    path = Path(url).expanduser()
    if path.is_dir():
        raise StoreError(
            f"Cannot open result store {path}: it is a directory; give a file path such as "
            f"{path / 'emolens.db'}"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"Cannot create the folder for result store {path}: {exc}") from exc
    return URL.create("sqlite", database=str(path))


def _describe(url: str, sa_url: URL) -> str:
    """Where the store is, for messages, without any password."""
    if "://" not in url:
        return url
    return sa_url.render_as_string(hide_password=True)


def open_database(url: str) -> tuple[Engine, str]:
    """Engine on the store at ``url`` (a path or URL) with its schema untouched, and where it
    is (for messages)."""
    sa_url = _to_url(url)
    where = _describe(url, sa_url)
    return connect(sa_url, where), where


def connect(sa_url: URL, where: str) -> Engine:
    """Engine for the store's database, schema untouched; SQLite files use WAL."""
    backend = sa_url.get_backend_name()
    options: dict[str, Any] = {}
    if backend == "sqlite":
        options["connect_args"] = {"timeout": 30}
    elif backend == "postgresql":
        options["pool_pre_ping"] = True  # a server restart should not break a long-lived store
        options["connect_args"] = {"options": "-c timezone=UTC"}
    try:
        engine = create_engine(sa_url, **options)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        hint = ("pip install 'emolens[postgres]'" if backend == "postgresql"
                else "install the database driver, or give an SQLite file path")
        raise StoreError(f"Cannot open result store {where}: {exc}. To fix: {hint}.") from exc
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _open_engine(sa_url: URL, where: str, must_exist: bool = False) -> Engine:
    """Engine with the schema at the newest migration; with ``must_exist``, only on a database
    that already holds an emolens store (of any revision: older ones are upgraded)."""
    if must_exist and sa_url.get_backend_name() == "sqlite":
        _check_sqlite_store(sa_url, where)  # before connecting: connecting switches on WAL
    engine = connect(sa_url, where)
    try:
        if must_exist and not inspect(engine).has_table("results"):
            raise StoreError(f"{where} is not an emolens store (no results table); give the "
                             "--db (or EMOLENS_DB) of a store that `emolens analyze` wrote.")
        upgrade(engine, where)
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = getattr(exc, "orig", None) or exc
        raise StoreError(
            f"Cannot open result store {where}: {reason}. Give a new file path or an existing "
            "emolens database (--db or EMOLENS_DB)."
        ) from exc
    except BaseException:
        engine.dispose()
        raise
    return engine


def _check_sqlite_store(sa_url: URL, where: str) -> None:
    """StoreError unless the SQLite file has a ``results`` table; read-only, changes nothing."""
    import sqlite3

    path = Path(sa_url.database or ":memory:").expanduser()
    if sa_url.database in (None, "", ":memory:") or not path.is_file():
        raise StoreError(f"No result store at {where}: it does not exist.")
    why = "no results table"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                 "name = 'results'").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        found, why = None, f"not an SQLite database: {exc}"
    if found is None:
        raise StoreError(f"{where} is not an emolens store ({why}); give the --db (or "
                         "EMOLENS_DB) of a store that `emolens analyze` wrote.")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    import sqlite3
    import time

    cursor = dbapi_connection.cursor()
    try:
        # Switching a new file to WAL needs the database to itself, and SQLite answers "locked"
        # at once (no busy wait) while another connection is writing: wait for it here. Once
        # set, WAL stays with the file. In-memory databases answer 'memory'; fine.
        for attempt in range(300):
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 299:
                    raise
                time.sleep(0.1)
    finally:
        cursor.close()


def _to_row(result: EmotionResult, store_text: str, now: datetime) -> dict[str, Any]:
    """One table row for a result, keeping its text as ``store_text`` says."""
    digest = text_hash(result.text) if result.text is not None else None
    item_key = result.item_key or digest
    if item_key is None:
        raise InvalidInputError(
            "A result has neither item_key nor text, so it cannot be identified in the store; "
            "set item_key (for example source path + row) before adding it."
        )
    row = result.details.get("row")
    return {
        "item_key": item_key,
        "model": result.model,
        "source": result.source_id,
        "row": row if isinstance(row, int) else None,
        "group_name": result.group,
        "timestamp": _utc_naive(result.timestamp),
        "text": _kept_text(result.text, store_text),
        "text_hash": digest if store_text != "none" else None,
        "language": result.language,
        "modality": result.modality,
        "label": result.label,
        "scores": dict(result.scores),
        "valence": result.valence,
        "arousal": result.arousal,
        "t_start": result.t_start,
        "t_end": result.t_end,
        "created_at": now,
        "author": _text_detail(result.details.get("author")),
        "url": _text_detail(result.details.get("url")),
        "item_id": _item_id(result.details.get("item_id")),
        "details": _kept_details(result.details),
    }


def _kept_details(details: dict[str, Any]) -> dict[str, Any] | None:
    """The ``KEPT_DETAILS`` of a result that JSON can hold, or None when there are none."""
    kept = {}
    for key in KEPT_DETAILS:
        if key in details:
            try:
                json.dumps(details[key], allow_nan=False)
            except (TypeError, ValueError):  # e.g. a NumPy array: left out, not an error
                continue
            kept[key] = details[key]
    return kept or None


def _item_id(value: Any) -> str | None:
    """The item's own id as text (ids read from JSON may be numbers)."""
    if value is None or isinstance(value, bool) or value == "":
        return None
    return str(value)


def _matching(*, source: str | None = None, group: str | None = None,
              model: str | Sequence[str] | None = None, label: str | None = None,
              since: datetime | str | None = None, until: datetime | str | None = None,
              folder: bool = False, modality: str | None = None) -> Any:
    """SELECT of the results matching the filters, in the order stored; ``model`` may be a
    list of models, any of which matches."""
    col = results_table.c
    stmt = select(results_table).order_by(col.id)
    if source is not None:
        stmt = stmt.where(source_filter(col.source, source, folder))
    if model is not None and not isinstance(model, str):
        stmt = stmt.where(col.model.in_(list(model)))
        model = None
    for column, value in ((col.group_name, group), (col.model, model), (col.label, label),
                          (col.modality, modality)):
        if value is not None:
            stmt = stmt.where(column == value)
    when = func.coalesce(col.timestamp, col.created_at)
    if since is not None:
        stmt = stmt.where(when >= _as_time(since, "since"))
    if until is not None:
        stmt = stmt.where(when < _as_time(until, "until"))
    return stmt


def stored_result(row: Any) -> EmotionResult:
    """A stored row as a result: times as aware UTC, and in ``details`` the details it kept
    (``KEPT_DETAILS``), what the store keeps beside the result (row, item_id, author, url,
    text_hash) and when it was stored (``stored_at``)."""
    details: dict[str, Any] = dict(row["details"] or {})
    details.update({key: row[key] for key in ("row", "item_id", "author", "url", "text_hash")
                    if row[key] is not None})
    details["stored_at"] = aware_utc(row["created_at"])
    return EmotionResult(
        label=row["label"], scores=dict(row["scores"]), valence=row["valence"],
        arousal=row["arousal"], language=row["language"], modality=row["modality"],
        model=row["model"], text=row["text"], source_id=row["source"],
        item_key=row["item_key"], group=row["group_name"], timestamp=aware_utc(row["timestamp"]),
        t_start=row["t_start"], t_end=row["t_end"], details=details,
    )


def aware_utc(value: datetime | None) -> datetime | None:
    """A stored time (kept without a zone, in UTC) as an aware UTC time."""
    return None if value is None else value.replace(tzinfo=UTC)


def _text_detail(value: Any) -> str | None:
    """A detail stored in its own column: text, or None."""
    return value if isinstance(value, str) and value else None


def _kept_text(text: str | None, store_text: str) -> str | None:
    if text is None or store_text == "full":
        return text if store_text == "full" else None
    return redact(text).text if store_text == "redacted" else None


def _is_deadlock(exc: BaseException | None) -> bool:
    """A PostgreSQL deadlock (SQLSTATE 40P01) or serialization failure (40001)."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in ("40P01", "40001")


def _without_nul(row: dict[str, Any]) -> dict[str, Any]:
    """The row with NUL characters, which PostgreSQL text cannot hold, replaced by U+FFFD."""
    return {k: v.replace("\x00", "\ufffd") if isinstance(v, str) else v for k, v in row.items()}


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """DataFrame of stored rows with scores spread into ``p_<label>`` columns."""
    base = pd.DataFrame(rows, columns=[c.name for c in results_table.columns])
    scores = list(base.pop("scores"))
    base = base.rename(columns={"group_name": "group"})
    ordered = L.ordered_labels(label for s in scores for label in s)
    probs = pd.DataFrame(
        [[s.get(x, float("nan")) for x in ordered] for s in scores],
        columns=[f"p_{x}" for x in ordered], index=base.index, dtype="float64",
    )
    frame = pd.concat([base[list(FRAME_COLUMNS)], probs], axis=1)
    frame["row"] = frame["row"].astype("Int64")
    for column in ("timestamp", "created_at"):
        frame[column] = pd.to_datetime(frame[column])
    for column in ("valence", "arousal", "t_start", "t_end"):
        frame[column] = frame[column].astype("float64")
    return frame


def _utc_naive(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def _as_time(value: datetime | str, name: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise InvalidInputError(
                f"{name} must be an ISO date or time such as 2024-05-01 or 2024-05-01T12:00, "
                f"got {value!r}"
            ) from exc
    return _utc_naive(value)  # type: ignore[return-value]


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
