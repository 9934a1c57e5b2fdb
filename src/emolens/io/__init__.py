"""Reading inputs: text files of items (CSV, TSV, JSONL, JSON, TXT, Parquet) and their encodings."""

from emolens.io.encoding import detect_encoding
from emolens.io.textfiles import (
    SUPPORTED_EXTENSIONS,
    TEXT_COLUMN_NAMES,
    Columns,
    Item,
    ItemReader,
    RowError,
    estimate_rows,
    file_format,
    read_items,
)
from emolens.io.times import parse_time

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "TEXT_COLUMN_NAMES",
    "Columns",
    "Item",
    "ItemReader",
    "RowError",
    "detect_encoding",
    "estimate_rows",
    "file_format",
    "parse_time",
    "read_items",
]
