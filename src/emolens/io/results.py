"""Writing results to a CSV, JSONL or Parquet file as they come, one chunk at a time.

Columns: source, row, item_id, group, timestamp, t_start, t_end, modality (text, speech,
face, screen_text or fused), language, label, confidence, valence, arousal, one
``p_<label>`` per label, model, item_key, and the text as ``text_mode`` says:
the text itself ("full"), the text with personal data replaced ("redacted", see
``emolens.privacy``), its SHA-256 as ``text_sha256`` ("hash"), or nothing ("none").
CSV is written with a UTF-8 byte-order mark, so that Excel shows Chinese text correctly;
the path ``-`` writes CSV without it to standard output. In CSV, a text cell that a
spreadsheet would run as a formula gets a leading ``'`` (``defuse``); JSONL and Parquet keep
values as they are. Times are UTC and marked so (``+00:00``; tz-aware in Parquet). ``extra``
columns come from each result's ``details`` (the store's ``author``, ``url``, ``stored_at``).
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from emolens.errors import InvalidInputError
from emolens.pipeline import text_hash
from emolens.privacy import redact
from emolens.types import EmotionResult

OUTPUT_EXTENSIONS: tuple[str, ...] = (".csv", ".jsonl", ".parquet")
# Cells a spreadsheet would run as a formula (=, +, -, @, and tab or CR before one).
FORMULA_START: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
# Columns that hold text from the data or its source, defused in CSV; numbers never are.
CSV_TEXT_COLUMNS: tuple[str, ...] = ("source", "item_id", "group", "modality", "label",
                                     "author", "url", "text")
TIME_COLUMNS: tuple[str, ...] = ("timestamp", "stored_at")


_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def defuse(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text a spreadsheet would run as a formula
    (CSV injection); anything else, plain numbers such as a label "-1" included, as it is."""
    if (isinstance(value, str) and value.startswith(FORMULA_START)
            and not _PLAIN_NUMBER.match(value)):
        return "'" + value
    return value


def output_format(path: str | Path) -> str:
    """The format (csv, jsonl, parquet) of an output path, ``-`` being CSV on standard output;
    InvalidInputError naming the extensions that work otherwise."""
    suffix = ".csv" if str(path) == "-" else Path(path).suffix.lower()
    if suffix not in OUTPUT_EXTENSIONS:
        raise InvalidInputError(
            f"Cannot write results to {path}: {suffix or 'no extension'} is not an output "
            "format; use .csv (with a byte-order mark, so that Excel opens it as it is), .jsonl "
            "or .parquet")
    return suffix.lstrip(".")


def result_columns(labels: Sequence[str], text_mode: str = "full",
                   extra: Sequence[str] = ()) -> list[str]:
    """Column names of an output file for results over ``labels``."""
    text = {"full": ["text"], "redacted": ["text"], "hash": ["text_sha256"], "none": []}[text_mode]
    return [
        "source", "row", "item_id", "group", "timestamp", "t_start", "t_end", "modality",
        "language", "label", "confidence",
        "valence", "arousal", *(f"p_{label}" for label in labels), "model", "item_key", *extra,
        *text,
    ]


def result_row(result: EmotionResult, labels: Sequence[str], text_mode: str,
               extra: Sequence[str] = ()) -> dict[str, Any]:
    """One output row for a result."""
    row: dict[str, Any] = {
        "source": result.source_id, "row": result.details.get("row"),
        "item_id": result.details.get("item_id"), "group": result.group,
        "timestamp": result.timestamp, "t_start": result.t_start, "t_end": result.t_end,
        "modality": result.modality, "language": result.language, "label": result.label,
        "confidence": result.confidence if result.scores else None, "valence": result.valence,
        "arousal": result.arousal,
        **{f"p_{label}": result.scores.get(label) for label in labels},
        "model": result.model, "item_key": result.item_key,
        **{column: result.details.get(column) for column in extra},
    }
    if text_mode == "full":
        row["text"] = result.text
    elif text_mode == "redacted":
        row["text"] = redact(result.text).text if result.text is not None else None
    elif text_mode == "hash":
        row["text_sha256"] = _sha256(result)
    return row


def _sha256(result: EmotionResult) -> str | None:
    """The SHA-256 of the text as given: the store's (which has it when the text it kept is
    redacted or none), else of the result's text."""
    stored = result.details.get("text_hash")
    if stored:
        return stored
    return text_hash(result.text) if result.text is not None else None


class ResultWriter:
    """Appends results to one output file; the format comes from the file's extension."""

    def __init__(self, path: str | Path, labels: Sequence[str], text_mode: str = "full",
                 extra: Sequence[str] = ()) -> None:
        self.path = Path(path)
        self.to_stdout = str(path) == "-"
        self.format = output_format(path)
        if text_mode not in ("full", "redacted", "hash", "none"):
            raise InvalidInputError(
                f"text_mode must be full, redacted, hash or none, got {text_mode!r}"
            )
        self.labels = tuple(labels)
        self.text_mode = text_mode
        self.extra = tuple(extra)
        self.columns = result_columns(self.labels, text_mode, self.extra)
        self.count = 0
        self._fh: Any = None
        self._csv: Any = None
        self._parquet: Any = None
        self._schema: Any = None

    def open(self) -> ResultWriter:
        """Create (or replace) the file and write its header."""
        if self.to_stdout:
            self._fh = sys.stdout
            self._csv = csv.DictWriter(self._fh, self.columns, lineterminator="\n")
            self._csv.writeheader()
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.format == "parquet":
                import pyarrow as pa
                import pyarrow.parquet as pq

                self._schema = pa.schema([(c, _arrow_type(c)) for c in self.columns])
                self._parquet = pq.ParquetWriter(self.path, self._schema)
            else:
                encoding = "utf-8-sig" if self.format == "csv" else "utf-8"
                self._fh = open(self.path, "w", encoding=encoding, newline="")  # noqa: SIM115
                if self.format == "csv":
                    self._csv = csv.DictWriter(self._fh, self.columns)
                    self._csv.writeheader()
        except OSError as exc:
            raise InvalidInputError(f"Cannot write results to {self.path}: {exc}") from exc
        return self

    def write(self, results: Sequence[EmotionResult]) -> None:
        """Append results."""
        rows = [result_row(r, self.labels, self.text_mode, self.extra) for r in results]
        if not rows:
            return
        for row in rows:
            for column in TIME_COLUMNS:
                if isinstance(row.get(column), datetime):
                    when = _utc(row[column])
                    row[column] = when if self._parquet is not None else when.isoformat()
        if self._parquet is not None:
            import pyarrow as pa

            table = pa.Table.from_pylist(rows, schema=self._schema)
            self._parquet.write_table(table)
        elif self._csv is not None:
            self._csv.writerows(
                [{k: defuse(v) if k in CSV_TEXT_COLUMNS else v for k, v in row.items()}
                 for row in rows])
        else:
            self._fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        self.count += len(rows)

    def close(self) -> None:
        """Finish the file."""
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._fh is not None:
            if self.to_stdout:
                self._fh.flush()
            else:
                self._fh.close()
            self._fh = None

    def __enter__(self) -> ResultWriter:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _arrow_type(column: str) -> Any:
    import pyarrow as pa

    if column == "row":
        return pa.int64()
    if column in TIME_COLUMNS:
        return pa.timestamp("us", tz="UTC")
    numeric = ("confidence", "valence", "arousal", "t_start", "t_end")
    if column in numeric or column.startswith("p_"):
        return pa.float64()
    return pa.string()


def _utc(value: datetime) -> datetime:
    """An aware UTC time (a naive one is UTC already, as everywhere in emolens)."""
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
