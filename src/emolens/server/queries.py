"""Reading stored results for the API: filtered pages, CSV export, and the report's numbers;
pages of fired alerts, and the audit log of result reads (written by ``log_export``)."""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Select, func, select

from emolens.errors import InvalidInputError
from emolens.io.results import defuse
from emolens.server.keys import KeyStore
from emolens.server.schemas import (
    AlertsPage,
    AuditEntry,
    AuditPage,
    Distribution,
    Heatmap,
    ModelRows,
    ResultsPage,
    Stats,
    StoredAlert,
    StoredResult,
    Trend,
)
from emolens.store import ResultStore
from emolens.store.commands import parse_window, stored_models
from emolens.store.sql import aware_utc, results_table, stored_result
from emolens.store.tables import add_audit, count_alerts, count_audit, list_alerts, list_audit
from emolens.viz.charts import (
    BUCKETS,
    choose_bucket,
    emotion_colors,
    group_shares,
    label_shares,
    time_column,
    trend_shares,
)
from emolens.viz.report import model_counts

_COL = results_table.c
NO_AUTH = "loopback-no-auth"  # the key name logged for exports while auth is off
MAX_BUCKETS = 2_000  # time buckets in one trend


@dataclass(frozen=True)
class Filters:
    """Which stored results a request is about. Time is the item's own, else when stored.
    ``model`` is as given (a name alone stands for each of its versions: ``in_store``)."""

    source: str | None = None
    group: str | None = None
    label: str | None = None
    modality: str | None = None
    model: str | tuple[str, ...] | None = None
    since: datetime | None = None
    until: datetime | None = None

    def apply(self, stmt: Select) -> Select:
        """``stmt`` narrowed to these filters."""
        for column, value in ((_COL.source, self.source), (_COL.group_name, self.group),
                              (_COL.label, self.label), (_COL.modality, self.modality),
                              (_COL.model, self.model)):
            if isinstance(value, tuple):
                stmt = stmt.where(column.in_(value))
            elif value is not None:
                stmt = stmt.where(column == value)
        when = func.coalesce(_COL.timestamp, _COL.created_at)
        if self.since is not None:
            stmt = stmt.where(when >= _utc_naive(self.since))
        if self.until is not None:
            stmt = stmt.where(when < _utc_naive(self.until))
        return stmt


    def in_store(self, store: ResultStore) -> Filters:
        """These filters with ``model`` as ``store`` holds it: a name without a version
        (``default``) matches each ``name@version`` stored, as `emolens export --model`."""
        if not isinstance(self.model, str):
            return self
        found = stored_models(store, self.model)
        return replace(self, model=(found,) if isinstance(found, str) else tuple(found))


def time_window(since: str | None, until: str | None) -> tuple[datetime | None,
                                                                datetime | None]:
    """``since`` (an age: 30m, 12h, 7d, 4w, or an ISO 8601 time) and ``until`` (an ISO 8601
    time) as aware UTC, read as `emolens export` reads them (without a zone: UTC);
    InvalidInputError with the command's message otherwise."""
    import typer

    try:
        start, end = parse_window(since, until)
    except typer.BadParameter as exc:
        where = (exc.param_hint or "").replace("--", "")
        raise InvalidInputError(f"{where}: {exc.message}" if where else exc.message) from None
    return aware_utc(start), aware_utc(end)


def results_page(store: ResultStore, filters: Filters, limit: int, offset: int) -> ResultsPage:
    """One page of matching results, newest first, with the total over all pages."""
    filters = filters.in_store(store)
    count = filters.apply(select(func.count()).select_from(results_table))
    rows = filters.apply(select(results_table)).order_by(_COL.id.desc()).limit(limit)
    with store._guard("read"), store._engine.connect() as conn:
        total = int(conn.execute(count).scalar_one())
        items = [_stored(r) for r in conn.execute(rows.offset(offset)).mappings()]
    return ResultsPage(total=total, limit=limit, offset=offset, items=items)


def results_csv(items: list[StoredResult]) -> str:
    """CSV of results: one row each, a ``p_<label>`` column per score."""
    labels = list(dict.fromkeys(label for r in items for label in r.scores))
    rows = [
        {"id": r.id, "created_at": r.created_at, "timestamp": r.timestamp,
         "source": r.source_id, "item_id": r.details.get("item_id"), "group": r.group,
         "model": r.model, "language": r.language, "modality": r.modality, "label": r.label,
         "confidence": r.confidence,
         "valence": r.valence, "arousal": r.arousal, "text": r.text,
         **{f"p_{x}": r.scores.get(x) for x in labels}}
        for r in items
    ]
    frame = pd.DataFrame(rows, columns=[
        "id", "created_at", "timestamp", "source", "item_id", "group", "model", "language",
        "modality", "label", "confidence", "valence", "arousal", "text",
        *(f"p_{x}" for x in labels)])
    for column in ("source", "item_id", "group", "label", "text"):
        frame[column] = frame[column].map(defuse)  # as every CSV emolens writes
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue()


def alerts_page(store: ResultStore, since: datetime | None, rule: str | None, limit: int,
                offset: int) -> AlertsPage:
    """One page of the alerts `emolens watch` fired, newest first, with the total."""
    since = None if since is None else _utc_naive(since)
    with store._guard("read"):
        total = count_alerts(store.engine, since, rule)
        rows = list_alerts(store.engine, since, limit, rule, offset)
    return AlertsPage(total=total, limit=limit, offset=offset, items=[_alert(r) for r in rows])


def _alert(row: dict[str, Any]) -> StoredAlert:
    details = dict(row["details"] or {})
    return StoredAlert(
        id=row["id"], rule=row["rule"], created_at=aware_utc(row["created_at"]), label=row["label"],
        share=row["share"], baseline=row["baseline"], items=row["items"],
        message=row["message"], delivered=list(details.get("delivered") or []),
        failed=dict(details.get("failed") or {}), details=details,
    )


def log_export(store: ResultStore, keys: KeyStore, caller: str, route: str,
               filters: dict[str, Any], rows: int, client: str | None) -> None:
    """Write one row of the audit log (a read of stored results, JSON or CSV): the caller's
    key id and name (never the key itself), the route, the filters used, the rows returned
    and the client's address.

    ``caller`` is what ``require_key`` returned (``key:<id>``, or ``client:<host>`` when auth
    is off). Raises StoreError when it cannot be written, so that no export goes unlogged.
    """
    key_id = caller.removeprefix("key:") if caller.startswith("key:") else None
    key = keys.get(key_id) if key_id is not None else None
    name = NO_AUTH if key_id is None else key.name if key is not None else ""
    used = {k: v.isoformat() if isinstance(v, datetime) else v
            for k, v in filters.items() if v is not None}
    with store._guard("write the audit log to"):
        add_audit(store.engine, key_id=key_id, key_name=name, route=route, filters=used,
                  rows_returned=rows, client=client)


def audit_page(store: ResultStore, since: datetime | None, key_id: str | None, limit: int,
               offset: int) -> AuditPage:
    """One page of the audit log, newest first, with the total."""
    since = None if since is None else _utc_naive(since)
    with store._guard("read"):
        total = count_audit(store.engine, since, key_id)
        rows = list_audit(store.engine, since, limit, key_id, offset)
    items = [AuditEntry(**{**r, "created_at": aware_utc(r["created_at"])}) for r in rows]
    return AuditPage(total=total, limit=limit, offset=offset, items=items)


def filters_used(filters: Filters, **more: Any) -> dict[str, Any]:
    """The filters of a request and ``more`` (limit, offset, format), for the audit log."""
    return {**asdict(filters), **more}


def stats(store: ResultStore, filters: Filters, bucket: str | None = None) -> Stats:
    """Distribution, trend per time bucket and emotion x group shares (as `emolens report`),
    and the rows of each model per modality."""
    filters = filters.in_store(store)
    frame = store.to_frame(source=filters.source, group=filters.group, model=filters.model,
                           label=filters.label, since=filters.since, until=filters.until)
    if filters.modality is not None:
        frame = frame[frame["modality"] == filters.modality]
    if frame.empty:
        return Stats(total=0, colors={}, distribution=Distribution(labels=[], counts=[],
                     shares=[]), trend=Trend(), heatmap=Heatmap())
    dist = label_shares(frame)
    labels = [str(x) for x in dist.table.index]
    counts = frame["label"].value_counts().reindex(labels, fill_value=0)
    groups = group_shares(frame)
    per_modality = model_counts(frame)
    return Stats(
        total=len(frame),
        colors=emotion_colors(labels),
        distribution=Distribution(labels=labels, counts=[int(c) for c in counts],
                                  shares=_numbers(dist.table["all"])),
        trend=_trend(frame, bucket),
        heatmap=Heatmap(groups=[str(g) for g in groups.table.columns],
                        counts=[int(c) for c in groups.counts],
                        shares={str(k): _numbers(v) for k, v in groups.table.iterrows()}),
        models=[ModelRows(model=str(model), modality=kind, rows=int(n))
                for kind, counts in per_modality.items() for model, n in counts.items()],
        mixed=[kind for kind, counts in per_modality.items() if len(counts) > 1],
    )


def _trend(frame: pd.DataFrame, bucket: str | None) -> Trend:
    """Shares per time bucket, or a note instead when the span holds too many buckets."""
    times = pd.to_datetime(frame[time_column(frame)]).dropna()
    bucket = bucket or choose_bucket(times)
    periods = times.dt.to_period(BUCKETS[bucket])
    n = periods.max().ordinal - periods.min().ordinal + 1
    if n > MAX_BUCKETS:  # one item from the year 1161 must not cost millions of hours
        return Trend(bucket=bucket, note=f"{n:,} {bucket}s from {times.min():%Y-%m-%d} to "
                     f"{times.max():%Y-%m-%d}; at most {MAX_BUCKETS:,} are drawn: narrow "
                     "since/until or choose a coarser bucket.")
    trend = trend_shares(frame, bucket)
    starts = list(trend.table.columns)
    ends = [(s.to_period(BUCKETS[bucket]) + 1).start_time for s in starts]
    return Trend(bucket=trend.bucket, time_column=trend.time_column,
                 starts=[aware_utc(s.to_pydatetime()) for s in starts],
                 ends=[aware_utc(e.to_pydatetime()) for e in ends],
                 counts=[int(c) for c in trend.counts],
                 shares={str(k): _numbers(v) for k, v in trend.table.iterrows()})


def _stored(row: Any) -> StoredResult:
    result = stored_result(row)
    # The service shows an item's row and own id, not its author or URL.
    details = {key: result.details[key] for key in ("row", "item_id") if key in result.details}
    return StoredResult(**result.model_dump(exclude={"details"}), details=details, id=row["id"],
                        created_at=result.details["stored_at"])


def _numbers(values: Any) -> list[float | None]:
    """Rounded floats, None for NaN (a bucket or group with no items)."""
    return [None if math.isnan(v) else round(float(v), 3) for v in values]


def _utc_naive(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)
