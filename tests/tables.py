"""Writing small labelled tables for the tests: a CSV with a header row."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path


def write_rows(path: Path, rows: Iterable[Sequence[object]],
               header: Sequence[str] = ("text", "label")) -> Path:
    """``rows`` under ``header`` as a UTF-8 CSV file at ``path``; returns ``path``."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path
