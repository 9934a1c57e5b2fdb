"""Reading labelled tables for training and evaluation."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from emolens.errors import InvalidInputError, MissingExtraError
from emolens.io.encoding import detect_encoding


@dataclass
class LabelledData:
    """Texts with gold labels (and, optionally, each text's language and group)."""

    texts: list[str]
    labels: list[str]
    languages: list[str] | None
    path: Path
    groups: list[str] | None = None  # speaker, author, ...: kept on one side of a split
    # Rows of the file left out, by reason ("no text", "no label"); for the commands to report.
    skipped: dict[str, int] = field(default_factory=dict)

    def subset(self, index: Sequence[int]) -> LabelledData:
        """The rows at ``index``, in that order."""
        def pick(values: list[str] | None) -> list[str] | None:
            return None if values is None else [values[i] for i in index]

        return LabelledData([self.texts[i] for i in index], [self.labels[i] for i in index],
                            pick(self.languages), self.path, pick(self.groups))

    def label_sets(self, known: Collection[str] = ()) -> list[tuple[str, ...]]:
        """Each item's gold labels: one, or several separated by ',' or '|' (GoEmotions)."""
        return [split_labels(label, known) for label in self.labels]

    def is_multilabel(self, known: Collection[str] = ()) -> bool:
        """Whether any item has several gold labels."""
        return any(len(labels) > 1 for labels in self.label_sets(known))

    def explode(self, known: Collection[str] = ()) -> LabelledData:
        """One row per (item, gold label): how single-label trainers learn multi-label data
        (an item with two labels teaches both, each at half the confidence)."""
        rows = [(i, label) for i, labels in enumerate(self.label_sets(known))
                for label in labels]
        out = self.subset([i for i, _ in rows])
        out.labels = [label for _, label in rows]
        return out


_SEPARATOR = re.compile(r"[,|]")


def split_labels(value: str, known: Collection[str] = ()) -> tuple[str, ...]:
    """Labels in ``value`` separated by ',' or '|'; a value that is itself in ``known`` (a label
    with a comma in its name) is kept whole."""
    if value in known:
        return (value,)
    parts = (part.strip() for part in _SEPARATOR.split(value))
    return tuple(dict.fromkeys(part for part in parts if part)) or (value,)


def read_table(path: Path) -> pd.DataFrame:
    """A CSV/TSV (encoding detected, all columns as text), JSONL, JSON, Parquet or Excel
    (first sheet) table."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix in (".jsonl", ".ndjson"):
        return pd.read_json(path, lines=True, dtype=False)
    if suffix == ".json":
        return pd.read_json(path, dtype=False)
    if suffix in (".xlsx", ".xlsm"):
        return _read_excel(path)
    if suffix not in (".csv", ".tsv"):
        raise InvalidInputError(
            f"{path}: unsupported extension {suffix!r}; use .csv, .tsv, .jsonl, .json, .parquet "
            "or .xlsx"
        )
    separator = "\t" if suffix == ".tsv" else ","
    encoding = detect_encoding(path)  # the same detection `analyze file` uses
    try:
        return pd.read_csv(path, sep=separator, encoding=encoding, dtype=str,
                           keep_default_na=False)
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path}: not readable as {encoding}: {exc}") from exc


def _read_excel(path: Path) -> pd.DataFrame:
    """The first sheet of a workbook, its first row naming the columns, cells as text."""
    try:
        import openpyxl  # noqa: F401  (pandas reads .xlsx through it)
    except ImportError as exc:
        raise MissingExtraError("Reading Excel workbooks", "ingest") from exc
    try:
        return pd.read_excel(path, dtype=str)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InvalidInputError(f"Cannot read {path} as an Excel workbook: {exc}") from exc


def read_labelled(
    path: str | Path,
    text_col: str = "text",
    label_col: str = "label",
    language_col: str | None = None,
    group_col: str | None = None,
) -> LabelledData:
    """Rows with a non-empty text and label; the others are dropped and counted in ``skipped``
    (``skipped_note`` says it for people). A missing language is detected from the text."""
    path = Path(path)
    if path.is_dir():
        raise InvalidInputError(f"{path} is a directory; pass the labelled file itself "
                                "(.csv, .tsv, .jsonl, .json or .parquet)")
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file")
    frame = read_table(path)
    for column in (text_col, label_col, language_col, group_col):
        if column is not None and column not in frame.columns:
            raise InvalidInputError(
                f"{path}: no column {column!r}; columns are {list(frame.columns)}"
            )
    no_text, no_label = _blank(frame[text_col]), _blank(frame[label_col])
    no_label &= ~no_text  # a row with neither counts once, as having no text
    skipped = {reason: int(mask.sum()) for reason, mask in
               (("no text", no_text), ("no label", no_label)) if mask.any()}
    frame = frame[~(no_text | no_label)]
    if frame.empty:
        why = f" (of {sum(skipped.values()):,} rows, {_reasons(skipped)})" if skipped else ""
        raise InvalidInputError(f"{path}: no rows with both a text and a label{why}")
    texts = frame[text_col].astype(str).tolist()
    return LabelledData(
        texts=texts,
        labels=frame[label_col].astype(str).str.strip().tolist(),
        languages=_languages(frame[language_col], texts) if language_col else None,
        path=path,
        groups=frame[group_col].astype(str).tolist() if group_col else None,
        skipped=skipped,
    )


def _blank(column: pd.Series) -> pd.Series:
    """Null (JSONL null, Parquet NA: ``astype(str)`` would keep them as NaN) or blank cells."""
    return column.isna() | (column.astype(str).str.strip() == "")


def _languages(column: pd.Series, texts: list[str]) -> list[str]:
    """Each row's language as given, or detected where the cell is empty."""
    from emolens.text.language import detect_language

    given = column.where(~_blank(column), "").astype(str).str.strip().tolist()
    return [language or detect_language(text) for language, text in zip(given, texts,
                                                                         strict=True)]


def _reasons(skipped: dict[str, int]) -> str:
    return ", ".join(f"{n:,} with {reason}" for reason, n in skipped.items())


def skipped_note(data: LabelledData) -> str | None:
    """A line saying how many rows of ``data``'s file were left out and why, if any were."""
    if not data.skipped:
        return None
    n = sum(data.skipped.values())
    return (f"{data.path}: skipped {n:,} of {n + len(data.texts):,} rows "
            f"({_reasons(data.skipped)})")


def parse_labels(value: str | None) -> list[str] | None:
    """A comma-separated --labels value as a list; refuses empty and repeated labels."""
    if value is None:
        return None
    labels = [x.strip() for x in value.split(",")]
    if not all(labels):
        raise InvalidInputError(f"--labels {value!r} has an empty label; separate labels by "
                                "single commas")
    repeated = sorted({x for x in labels if labels.count(x) > 1})
    if repeated:
        raise InvalidInputError(f"--labels lists {', '.join(repeated)} more than once "
                                f"({value!r}); give each label once")
    return labels
