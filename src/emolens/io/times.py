"""Reading the time an item was written from whatever a file holds: text, a number, a date.

Times come back without a zone, in UTC, as the result store keeps them: one given with an
offset (or as a Unix time) is converted to UTC; a naive one (as chat exports, Weibo CSVs and
most spreadsheets write them) is read in the zone it was written in, ``tz`` (the
``source_tz`` setting), and converted to UTC; without ``tz`` it is taken as UTC already.
"""

from __future__ import annotations

import difflib
import math
import re
import warnings
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from emolens.errors import InvalidInputError

_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
_CJK_DATE = re.compile(r"(\d{2,4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?")
# Unix times above these magnitudes are taken as ns, us, ms; below as seconds. 1e11 s is the
# year 5138, so no plausible seconds value is mistaken for milliseconds.
_UNIX_SCALES: tuple[tuple[float, float], ...] = ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3))


def source_zone(name: str | tzinfo | None) -> tzinfo | None:
    """The zone of an IANA name ('Asia/Shanghai'); None stays None (naive times are UTC).

    Raises InvalidInputError, naming close names, when there is no such zone.
    """
    if name is None or isinstance(name, tzinfo):
        return name
    key = name.strip()
    try:
        return ZoneInfo(key)
    except (KeyError, ValueError, OSError):  # unknown, not a key, a folder ('Asia')
        pass
    # Zone names are case-sensitive on most systems: 'asia/shanghai' is refused but meant.
    known = {zone.casefold(): zone for zone in available_timezones()}
    close = ([known[key.casefold()]] if key.casefold() in known else
             [known[k] for k in difflib.get_close_matches(key.casefold(), list(known), n=3)])
    hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
    raise InvalidInputError(f"Unknown time zone {name!r}: give an IANA name such as "
                            f"'Asia/Shanghai', 'Europe/Berlin' or 'UTC'.{hint}")


def zone_name(name: str) -> str:
    """``name`` stripped, once it is known to be an IANA zone (see ``source_zone``): the
    check settings, configs and requests make as they are read."""
    source_zone(name)
    return name.strip()


def _utc_naive(value: datetime, zone: tzinfo | None) -> datetime:
    if value.tzinfo is None:
        if zone is None:
            return value
        # A wall time that a DST change makes ambiguous or skipped is taken with fold=0:
        # the first of two, or as if the clock had not yet moved.
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC).replace(tzinfo=None)


def _from_number(value: float) -> datetime:
    if math.isnan(value) or math.isinf(value):
        raise ValueError("not a finite number")
    if 19000101 <= value <= 21001231 and float(value).is_integer():
        # A compact calendar date (20240301), common in spreadsheet exports, not a Unix time.
        text = str(int(value))
        return datetime(int(text[:4]), int(text[4:6]), int(text[6:]))
    for bound, scale in _UNIX_SCALES:
        if abs(value) >= bound:
            value = value / scale
            break
    return datetime.fromtimestamp(value, UTC)  # aware: a Unix time is the same everywhere


def _from_text(value: str) -> datetime:
    value = value.strip()
    if _NUMBER.fullmatch(value):
        return _from_number(float(value))
    value = _CJK_DATE.sub(lambda m: f"{m[1]}-{m[2]}-{m[3]} ", value).strip()
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        pass
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "could not infer format": expected for one value
        parsed = pd.to_datetime(value)
    if parsed is pd.NaT:
        raise ValueError("not a time")
    return parsed.to_pydatetime()


def parse_time(value: Any, tz: str | tzinfo | None = None) -> datetime | None:
    """A naive UTC datetime for ``value`` (None when it is empty); raises ValueError if
    unreadable.

    Reads ISO 8601, "2024-03-01 12:00", "2024/03/01", "2024年3月1日", other formats pandas
    knows, compact dates (20240301) and Unix times in seconds, ms, us or ns. A time without
    an offset is read in ``tz`` (a zone or its IANA name; None: UTC); one with an offset, and
    a Unix time, are the same whatever ``tz`` is. A bad ``tz`` raises InvalidInputError
    before ``value`` is looked at.
    """
    zone = source_zone(tz)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        return _utc_naive(_convert(value), zone)
    except (ValueError, TypeError, OverflowError, OSError) as exc:
        raise ValueError(str(exc) or "not a time") from exc


def _convert(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    if isinstance(value, bool):
        raise ValueError("a true/false value is not a time")
    if isinstance(value, int | float):
        return _from_number(float(value))
    if isinstance(value, str):
        return _from_text(value)
    raise ValueError(f"a {type(value).__name__} is not a time")
