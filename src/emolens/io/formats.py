"""The file formats: each opener reads a file's column names and then streams its records.

An opener returns ``(fields, rows, close)``: the column names, a function giving the records
(``(row, value)`` pairs, or ``BadRow`` for a row that cannot be read) for the columns
needed, and a function that closes the file. Rows are numbered as a person would count them.
Excel workbooks need openpyxl (the ``ingest`` extra).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from emolens.errors import InvalidInputError, MissingExtraError

_PEEK_RECORDS = 100  # JSON records whose keys make up the columns of a JSON/JSONL file
_JSON_CHUNK = 1 << 20
_JSON_MAX_ELEMENT = 256 << 20
_EXCEL_LAST_DAY = 2_958_465  # 9999-12-31 as an Excel serial date


@dataclass(frozen=True)
class BadRow:
    """A row that cannot be read, and why."""

    row: int
    message: str


Record = tuple[int, Any] | BadRow

Opened = tuple[list[str], Callable[[list[str]], Iterator[Record]], Callable[[], None]]


def _open_text(path: Path, encoding: str) -> io.TextIOWrapper:
    # surrogateescape keeps undecodable bytes as lone surrogates, so one broken row is
    # reported as that row's error instead of stopping the file.
    raw = open(path, "rb", buffering=1 << 20)  # noqa: SIM115  (closed by the reader)
    return io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline="")


def _open_csv(path: Path, encoding: str | None, delimiter: str | None = None) -> Opened:
    fh = _open_text(path, encoding or "utf-8")
    try:
        if delimiter is None:
            first = fh.readline()
            fh.seek(0)
            delimiter = max(",;\t|", key=lambda d: (first.count(d), d == ","))
        # A single text may be far longer than csv's default 128 KiB field limit.
        csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
        reader = csv.reader(fh, delimiter=delimiter)
        header = [h.strip().lstrip("\ufeff") for h in next(reader, [])]
    except BaseException:
        fh.close()
        raise

    def rows(_needed: list[str]) -> Iterator[Record]:
        row = 0
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                row += 1
                yield BadRow(row, f"not valid CSV: {exc}")
                continue
            row += 1
            if not any(f.strip() for f in fields):
                continue  # a blank line, or a row of empty cells: nothing to report
            if len(fields) != len(header):
                yield BadRow(row, f"has {len(fields)} fields but the header has {len(header)}")
                continue
            yield row, dict(zip(header, fields, strict=True))

    return header, rows, fh.close


def _open_tsv(path: Path, encoding: str | None) -> Opened:
    return _open_csv(path, encoding, delimiter="\t")


def _open_txt(path: Path, encoding: str | None) -> Opened:
    fh = _open_text(path, encoding or "utf-8")

    def rows(_needed: list[str]) -> Iterator[Record]:
        for number, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if line.strip():
                yield number, {"text": line}

    return ["text"], rows, fh.close


def _open_jsonl(path: Path, encoding: str | None) -> Opened:
    fh = _open_text(path, encoding or "utf-8")

    def records() -> Iterator[Record]:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                yield BadRow(number, f"not valid JSON: {exc.msg} (column {exc.colno})")

    return _with_peeked_fields(path, records(), fh.close)


def _open_json(path: Path, encoding: str | None) -> Opened:
    fh = _open_text(path, encoding or "utf-8")
    return _with_peeked_fields(path, _json_array(fh), fh.close)


def _with_peeked_fields(path: Path, records: Iterator[Record], close: Callable[[], None]) -> Opened:
    """Fields of a JSON file: the keys of its first objects, read ahead and then replayed."""
    head: list[Record] = []
    stopped: Exception | None = None
    try:
        head.extend(islice(records, _PEEK_RECORDS))
    except (OSError, ValueError) as exc:  # replayed after the rows read before it
        stopped = exc
    except BaseException:
        close()
        raise
    fields = dict.fromkeys(
        key for r in head if not isinstance(r, BadRow) and isinstance(r[1], dict) for key in r[1]
    )
    if stopped is not None and not fields:
        close()
        raise InvalidInputError(f"Cannot read {path}: {stopped}") from stopped

    def rows(_needed: list[str]) -> Iterator[Record]:
        yield from head
        if stopped is not None:
            raise stopped
        yield from records

    return list(fields), rows, close


def _json_array(fh: io.TextIOWrapper) -> Iterator[Record]:
    """Elements of a JSON array, parsed one at a time from a stream."""
    decoder = json.JSONDecoder()
    buf, pos, eof, index = "", 0, False, 0

    def fill() -> None:
        nonlocal buf, pos, eof
        chunk = fh.read(max(_JSON_CHUNK, len(buf) - pos))  # doubles for huge elements
        eof = not chunk
        buf, pos = buf[pos:] + chunk, 0

    def skip_space() -> str:
        nonlocal pos
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n":
                pos += 1
            if pos < len(buf) or eof:
                return buf[pos] if pos < len(buf) else ""
            fill()

    fill()
    if skip_space().lstrip("\ufeff") != "[":
        raise ValueError("a .json file must hold one array of objects: [{...}, {...}]")
    pos += 1
    need_comma = False
    while True:
        char = skip_space()
        if char == "]" and (need_comma or index == 0):
            return
        if need_comma:
            if char != ",":
                raise ValueError(f"expected ',' or ']' after element {index}, got {char!r}")
            pos, need_comma = pos + 1, False
            continue
        try:
            value, end = decoder.raw_decode(buf, pos)
        except json.JSONDecodeError as exc:
            incomplete = "Unterminated string" in exc.msg or exc.pos >= len(buf) - 64
            if eof or not incomplete or len(buf) - pos > _JSON_MAX_ELEMENT:
                raise ValueError(f"element {index + 1} is not valid JSON: {exc.msg}") from exc
            fill()
            continue
        if end >= len(buf) and not eof:  # a number may go on in the next chunk
            fill()
            continue
        index, pos, need_comma = index + 1, end, True
        yield index, value


def _open_parquet(path: Path, _encoding: str | None) -> Opened:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInputError(f"Cannot read {path} as Parquet: {exc}") from exc

    def rows(needed: list[str]) -> Iterator[Record]:
        row = 0
        batches = parquet.iter_batches(batch_size=4096, columns=needed)
        while True:
            try:
                batch = next(batches, None)
            except pa.ArrowException as exc:  # the reader reports ValueError and OSError only
                raise ValueError(str(exc)) from exc
            if batch is None:
                return
            columns = {name: batch.column(name).to_pylist() for name in needed}
            for i in range(batch.num_rows):
                row += 1
                yield row, {name: values[i] for name, values in columns.items()}

    return list(parquet.schema_arrow.names), rows, parquet.close


def open_excel(path: Path, _encoding: str | None, sheet: str | None = None) -> Opened:
    """The first (or the named) sheet of a workbook: its first row names the columns."""
    return open_sheet(path, sheet)[0]


def open_sheet(path: Path, sheet: str | None = None) -> tuple[Opened, str, list[str]]:
    """``open_excel``, with the name of the sheet read and the names of all the sheets."""
    try:
        import openpyxl
    except ImportError as exc:
        raise MissingExtraError("Reading Excel workbooks", "ingest") from exc
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InvalidInputError(f"Cannot read {path} as an Excel workbook: {exc}") from exc
    names = list(book.sheetnames)
    if sheet is not None and sheet not in names:
        book.close()
        raise InvalidInputError(f"{path} has no sheet {sheet!r}; its sheets are "
                                f"{', '.join(map(repr, names))}.")
    if sheet is None and not book.worksheets:
        book.close()
        raise InvalidInputError(f"{path} has no worksheets to read.")
    # The first sheet, as pandas (`train text`) reads it; not `book.active`, the sheet that
    # happened to be shown when the workbook was saved.
    chosen = book[sheet] if sheet is not None else book.worksheets[0]
    rows_in = chosen.iter_rows(values_only=True)
    header = [
        f"column{i}" if h is None or not str(h).strip() else str(h).strip()
        for i, h in enumerate(next(rows_in, ()), 1)
    ]

    def rows(_needed: list[str]) -> Iterator[Record]:
        for number, values in enumerate(rows_in, 1):
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue
            yield number, dict(zip(header, values, strict=False))

    return (header, rows, book.close), chosen.title, names


def excel_time(value: Any) -> Any:
    """A plain number in a workbook's time column as the date it stands for (an Excel serial
    date, 1900 system: 45000 is 2023-03-15); other values, compact dates (20240301) and Unix
    times (past 9999-12-31 as serial dates) as they are."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if not 1 <= value <= _EXCEL_LAST_DAY:
        return value
    from openpyxl.utils.datetime import from_excel

    return from_excel(value)


OPENERS: dict[str, Callable[[Path, str | None], Opened]] = {
    "csv": _open_csv, "tsv": _open_tsv, "jsonl": _open_jsonl, "json": _open_json,
    "txt": _open_txt, "parquet": _open_parquet, "excel": open_excel,
}
