"""The tables beside ``results``: connector state (``ingest_state``), fired alerts
(``alerts``), the service's export log (``audit_log``), and the counts that alert rules are
evaluated on.

Functions take the store's engine (``ResultStore.engine``); times are naive UTC, as in
``results``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, delete, false, func, insert, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from emolens.store.schema import alerts_table, audit_table, ingest_state_table, results_table


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def load_state(engine: Engine, source: str, model: str) -> dict[str, Any]:
    """What the connector of ``source`` kept after its last complete run for ``model``."""
    col = ingest_state_table.c
    stmt = select(col.state).where(col.source == source, col.model == model)
    with engine.connect() as conn:
        found = conn.execute(stmt).scalar_one_or_none()
    return dict(found) if isinstance(found, dict) else {}


def save_state(engine: Engine, source: str, model: str, state: dict[str, Any]) -> None:
    """Replace the state of ``source`` for ``model`` (one transaction)."""
    col = ingest_state_table.c
    with engine.begin() as conn:
        conn.execute(delete(ingest_state_table).where(col.source == source, col.model == model))
        conn.execute(insert(ingest_state_table).values(
            source=source, model=model, state=state, updated_at=_now()))


def add_alert(engine: Engine, **values: Any) -> int:
    """Store a fired alert (rule, label, share, baseline, items, message, details); its id."""
    values.setdefault("created_at", _now())
    values.setdefault("details", {})
    with engine.begin() as conn:
        done = conn.execute(insert(alerts_table).values(**values))
        return int(done.inserted_primary_key[0])


def last_alert(engine: Engine, rule: str) -> datetime | None:
    """When ``rule`` last fired, or None."""
    col = alerts_table.c
    with engine.connect() as conn:
        return conn.execute(select(func.max(col.created_at)).where(col.rule == rule)).scalar()


def _alerts_where(since: datetime | None, rule: str | None) -> list[Any]:
    col = alerts_table.c
    return [c for c in (None if since is None else col.created_at >= since,
                        None if rule is None else col.rule == rule) if c is not None]


def list_alerts(engine: Engine, since: datetime | None = None, limit: int = 100,
                rule: str | None = None, offset: int = 0) -> list[dict]:
    """The newest alerts first (at most ``limit``, after ``offset``), as dicts; only those
    stored at or after ``since`` and of ``rule`` when given."""
    col = alerts_table.c
    stmt = (select(alerts_table).where(*_alerts_where(since, rule))
            .order_by(col.created_at.desc(), col.id.desc()).limit(limit).offset(offset))
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(stmt).mappings()]


def count_alerts(engine: Engine, since: datetime | None = None, rule: str | None = None) -> int:
    """How many alerts ``list_alerts`` would list without a limit."""
    stmt = select(func.count()).select_from(alerts_table).where(*_alerts_where(since, rule))
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def add_audit(engine: Engine, **values: Any) -> int:
    """Log one export (key_id, key_name, route, filters, rows_returned, client); its id."""
    values.setdefault("created_at", _now())
    values.setdefault("filters", {})
    with engine.begin() as conn:
        done = conn.execute(insert(audit_table).values(**values))
        return int(done.inserted_primary_key[0])


def _audit_where(since: datetime | None, key_id: str | None) -> list[Any]:
    col = audit_table.c
    return [c for c in (None if since is None else col.created_at >= since,
                        None if key_id is None else col.key_id == key_id) if c is not None]


def list_audit(engine: Engine, since: datetime | None = None, limit: int = 100,
               key_id: str | None = None, offset: int = 0) -> list[dict]:
    """The newest exports first (at most ``limit``, after ``offset``), as dicts; only those
    at or after ``since`` and with the key ``key_id`` when given."""
    col = audit_table.c
    stmt = (select(audit_table).where(*_audit_where(since, key_id))
            .order_by(col.created_at.desc(), col.id.desc()).limit(limit).offset(offset))
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(stmt).mappings()]


def count_audit(engine: Engine, since: datetime | None = None, key_id: str | None = None) -> int:
    """How many exports ``list_audit`` would list without a limit."""
    stmt = select(func.count()).select_from(audit_table).where(*_audit_where(since, key_id))
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def label_share(
    engine: Engine,
    label: str,
    since: datetime,
    until: datetime,
    model: str | None = None,
    sources: Sequence[str] | None = None,
) -> tuple[int, int]:
    """(items, items labelled ``label``) with ``since <= time < until``, of ``model`` and
    ``sources`` when given; an item's time is its own timestamp, or when it has none, when
    it was stored."""
    col = results_table.c
    when = func.coalesce(col.timestamp, col.created_at)
    where = [when >= since, when < until]
    if model is not None:
        where.append(col.model == model)
    if sources is not None:  # a folder's path also covers the files under it
        where.append(or_(*(source_filter(col.source, s, folder=True) for s in sources))
                     if sources else false())
    stmt = select(func.count(), func.coalesce(func.sum(case((col.label == label, 1), else_=0)), 0))
    with engine.connect() as conn:
        total, hits = conn.execute(stmt.where(and_(*where))).one()
    return int(total), int(hits)


def source_filter(column: Any, source: str, folder: bool = False) -> ColumnElement[bool]:
    """``column`` is ``source``; with ``folder``, also any path under it, since a folder's
    results are stored per file ('/data/posts' covers '/data/posts/a.csv', not
    '/data/posts-old/b.csv')."""
    if not folder:
        return column == source
    return or_(column == source, column.like(_like_prefix(source.rstrip("/")), escape="\\"))


def _like_prefix(path: str) -> str:
    """A LIKE pattern for everything under the folder ``path``."""
    escaped = path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "/%"
