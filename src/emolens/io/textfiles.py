"""Reading items (a text, and its time, group and id) from CSV, TSV, JSONL, JSON, TXT, Parquet.

Files are streamed, never loaded whole: a row that cannot be read becomes a ``RowError`` and
reading goes on; only a file that cannot be read at all raises ``InvalidInputError``.
Row numbers count as a person would: data rows from 1 (a CSV header is not a row), lines
for TXT and JSONL, elements for a JSON array, rows for Parquet.
"""

from __future__ import annotations

import difflib
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from emolens.errors import InvalidInputError
from emolens.io.encoding import LONE_SURROGATE, UNDECODABLE, detect_encoding
from emolens.io.formats import OPENERS, BadRow, Record, excel_time, open_sheet
from emolens.io.times import parse_time, source_zone

log = logging.getLogger(__name__)

SUPPORTED_EXTENSIONS: tuple[str, ...] = (
    ".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".txt", ".parquet", ".xlsx", ".xlsm"
)
# What each role's column holds, for messages.
_HOLDS = {"text": "texts", "time": "times", "group": "groups", "id": "ids"}
# Column names taken as the text when no text column is given (compared case-insensitively).
TEXT_COLUMN_NAMES: tuple[str, ...] = (
    "text", "content", "body", "message", "post", "utterance", "内容", "微博内容", "正文",
)
_FORMATS = {
    ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json",
    ".txt": "txt", ".parquet": "parquet", ".xlsx": "excel", ".xlsm": "excel",
}


@dataclass
class Item:
    """One text read from a file, with the time, group and id the file gives it."""

    row: int
    text: str
    timestamp: datetime | None = None
    group: str | None = None
    item_id: str | None = None
    truncated: bool = False  # the text was cut to max_chars
    warning: str | None = None  # e.g. a time that could not be read (the item is kept)


@dataclass
class RowError:
    """A row that could not be read (``row`` is None when the whole file failed)."""

    path: str
    row: int | None
    message: str

    def __str__(self) -> str:
        if self.row is None:  # a whole-file error, whose message usually names the file
            return self.message if self.path in self.message else f"{self.path}: {self.message}"
        return f"{self.path}:{self.row}: {self.message}"


@dataclass(frozen=True)
class Columns:
    """Which column holds what; only ``text`` is required."""

    text: str
    time: str | None = None
    group: str | None = None
    id: str | None = None


def file_format(path: str | Path) -> str:
    """'csv', 'tsv', 'jsonl', 'json', 'txt', 'parquet' or 'excel', from the file's extension."""
    suffix = Path(path).suffix.lower()
    if suffix not in _FORMATS:
        raise InvalidInputError(
            f"Cannot read {path}: unknown file type {suffix or '(no extension)'!r}; "
            f"supported: {', '.join(SUPPORTED_EXTENSIONS)}"
            + (" (save the spreadsheet as .xlsx or CSV)" if suffix in (".xls", ".ods") else "")
        )
    return _FORMATS[suffix]


class ItemReader:
    """Items and row errors of one file, read lazily; close it, or read it to the end."""

    def __init__(
        self,
        path: Path,
        format: str,
        encoding: str | None,
        fields: Sequence[str],
        columns: Columns,
        records: Iterator[Record],
        close: Callable[[], None],
        max_chars: int,
        tz: tzinfo | None = None,
    ) -> None:
        self.path = path
        self.format = format
        self.encoding = encoding  # None for Parquet, whose strings are always UTF-8
        self.fields = list(fields)
        self.columns = columns
        self.max_chars = max_chars
        self.tz = tz  # the zone naive times were written in; None: UTC
        self._records = records
        self._close = close
        self._last_row = 0
        self._done = False

    def __iter__(self) -> ItemReader:
        return self

    def __next__(self) -> Item | RowError:
        if self._done:
            raise StopIteration
        try:
            record = next(self._records)
        except StopIteration:
            self.close()
            raise
        except (OSError, ValueError) as exc:  # the rest of the file cannot be read
            self.close()
            return RowError(str(self.path), self._last_row + 1, f"reading stopped here: {exc}")
        if isinstance(record, BadRow):
            self._last_row = record.row
            return self._error(record.row, record.message)
        self._last_row = record[0]
        return self._item(*record)

    def close(self) -> None:
        """Close the file; iteration ends."""
        self._done = True
        self._close()

    def __enter__(self) -> ItemReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _error(self, row: int, message: str) -> RowError:
        return RowError(str(self.path), row, message)

    def _item(self, row: int, record: Any) -> Item | RowError:
        if not isinstance(record, Mapping):
            return self._error(row, f"expected an object with fields, got {_kind(record)}")
        cols = self.columns
        if cols.text not in record:
            return self._error(row, f"has no {cols.text!r} field")
        values = {}
        for role in ("text", "group", "id"):
            name = getattr(cols, role)
            value = record.get(name) if name is not None else None
            if isinstance(value, dict | list):
                return self._error(row, f"{name!r} is {_kind(value)}, not text")
            values[role] = _as_str(value)
        text = values["text"]
        if text is None or not text.strip():
            return self._error(row, "empty text")
        raw_time = record.get(cols.time) if cols.time is not None else None
        if self.format == "excel":  # a number there is a serial date, not a Unix time
            raw_time = excel_time(raw_time)
        cells = [v for v in (*values.values(), raw_time) if isinstance(v, str)]
        if any(UNDECODABLE.search(v) for v in cells):
            return self._error(row, f"has bytes that are not valid {self.encoding}")
        if any(LONE_SURROGATE.search(v) for v in cells):
            return self._error(row, "has a lone surrogate (such as a \\ud800 escape), which is "
                               "not a valid character")
        truncated = len(text) > self.max_chars
        timestamp, warning = None, None
        try:
            timestamp = parse_time(raw_time, self.tz)
        except ValueError:
            warning = f"could not read the time {str(raw_time)[:40]!r}; kept without a time"
        return Item(
            row=row, text=text[: self.max_chars] if truncated else text, timestamp=timestamp,
            group=values["group"] or None, item_id=values["id"], truncated=truncated,
            warning=warning,
        )


def read_items(
    path: str | Path,
    text_col: str | None = None,
    time_col: str | None = None,
    group_col: str | None = None,
    id_col: str | None = None,
    max_chars: int = 100_000,
    source_tz: str | tzinfo | None = None,
    sheet: str | None = None,
) -> ItemReader:
    """Items of a text file, streamed; the file type comes from its extension.

    Raises InvalidInputError at once when the file cannot be read at all (unknown type,
    binary, no such column, an unknown ``source_tz``); rows that cannot be read come out as
    ``RowError``. Without ``text_col`` the one column named like ``TEXT_COLUMN_NAMES`` is
    used. A TXT file's lines are its texts, so column arguments do not apply to it. Times
    without an offset are read in ``source_tz`` (None: UTC) and come out in UTC. A workbook's
    first sheet is read, or ``sheet``; a plain number in its time column is an Excel serial
    date. Other files ignore ``sheet``.
    """
    zone = source_zone(source_tz)
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"Cannot read {path}: no such file.")
    fmt = file_format(path)
    if max_chars < 1:
        raise InvalidInputError(f"max_chars must be at least 1, got {max_chars}")
    where = ""  # which sheet was read, for a column that is not found
    try:
        encoding = None if fmt in ("parquet", "excel") else detect_encoding(path)
        if fmt == "excel":
            (fields, rows, close), read, sheets = open_sheet(path, sheet)
            where = _sheet_note(read, sheets)
        else:
            fields, rows, close = OPENERS[fmt](path, encoding)
    except OSError as exc:  # unreadable: permissions, a vanished file, a device error
        raise InvalidInputError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    try:
        columns = (
            Columns(text="text") if fmt == "txt"
            else resolve_columns(path, fields, text_col, time_col, group_col, id_col)
        )
        records = rows([c for c in dict.fromkeys(vars(columns).values()) if c is not None])
    except InvalidInputError as exc:
        close()
        if not where:
            raise
        raise InvalidInputError(f"{exc} {where}") from exc
    except BaseException:
        close()
        raise
    return ItemReader(path, fmt, encoding, fields, columns, records, close, max_chars, zone)


def resolve_columns(
    path: Path,
    fields: Sequence[str],
    text_col: str | None,
    time_col: str | None = None,
    group_col: str | None = None,
    id_col: str | None = None,
) -> Columns:
    """The columns to read, checked against those the file has.

    A name that several columns have is refused for a role (only the last of them would be
    read) and warned of otherwise.
    """
    if not fields:
        raise InvalidInputError(f"{path} has no rows or columns to read.")
    if text_col is None:
        found = [f for f in fields if f.strip().casefold() in TEXT_COLUMN_NAMES]
        if len(found) != 1:
            why = "several columns could be" if found else "none of its columns looks like"
            raise InvalidInputError(
                f"Which column of {path} holds the text? {why} it ({_show(found or fields)}); "
                "name it with text_col (--text-col)."
            )
        text_col = found[0]
    columns = Columns(
        text=_find(path, fields, text_col, "text"),
        time=_find(path, fields, time_col, "time") if time_col else None,
        group=_find(path, fields, group_col, "group") if group_col else None,
        id=_find(path, fields, id_col, "id") if id_col else None,
    )
    _check_unique(path, fields, columns)
    return columns


def _check_unique(path: Path, fields: Sequence[str], columns: Columns) -> None:
    counts = Counter(fields)
    for role, name in vars(columns).items():
        if name is not None and counts[name] > 1:
            raise InvalidInputError(f"{path} has {counts[name]} columns named {name!r}; rename "
                                    f"them so that one holds the {_HOLDS[role]}.")
    for name, count in counts.items():
        if count > 1:
            log.warning("%s has %d columns named %r; only the last of them is kept.",
                        path, count, name)


def _sheet_note(read: str, sheets: Sequence[str]) -> str:
    others = [s for s in sheets if s != read]
    if not others:
        return f"(It was read from sheet {read!r}, the workbook's only sheet.)"
    return (f"(It was read from sheet {read!r}; the workbook's other sheets are "
            f"{_show(others)}: choose one with sheet (--sheet).)")


def _find(path: Path, fields: Sequence[str], name: str, role: str) -> str:
    if name in fields:
        return name
    wanted = name.strip().casefold()
    # One match for a name that several columns have: refused as such by _check_unique.
    folded = list(dict.fromkeys(f for f in fields if f.strip().casefold() == wanted))
    if len(folded) == 1:
        return folded[0]
    folded = {f.casefold(): f for f in fields}
    close = [folded[f] for f in difflib.get_close_matches(name.casefold(), list(folded), n=3)]
    hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
    raise InvalidInputError(
        f"{path} has no column {name!r} (asked for as the {role} column); "
        f"its columns are: {_show(fields)}.{hint}"
    )


def _show(fields: Sequence[str], limit: int = 30) -> str:
    shown = ", ".join(repr(f) for f in fields[:limit])
    return shown + (f", ... ({len(fields) - limit} more)" if len(fields) > limit else "")


def _kind(value: Any) -> str:
    names = {dict: "a JSON object", list: "a list", str: "a string", bool: "true/false"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else "null")


def _as_str(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):  # NaN: a missing value
        return None
    return value if isinstance(value, str) else str(value)


def estimate_rows(path: str | Path, max_bytes: int = 200 << 20) -> int | None:
    """About how many rows a file has (for a progress bar), or None when counting is costly."""
    path = Path(path)
    try:
        fmt = file_format(path)
        if fmt == "excel":
            return None  # a zip archive: its lines are no rows
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows
        size = path.stat().st_size
        if fmt == "json" or size > max_bytes:
            return None
        lines, last = 0, b"\n"
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
    except (OSError, InvalidInputError, ValueError):
        return None
    lines += last != b"\n"
    return max(lines - (fmt in ("csv", "tsv")), 0)
