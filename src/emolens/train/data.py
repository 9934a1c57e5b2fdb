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
    # Each label cell is one label even if it holds ',' or '|' ("anxious, worried").
    single_label: bool = False
    # Other things the commands should tell the user about how the file was read.
    notes: list[str] = field(default_factory=list)

    def subset(self, index: Sequence[int]) -> LabelledData:
        """The rows at ``index``, in that order."""
        def pick(values: list[str] | None) -> list[str] | None:
            return None if values is None else [values[i] for i in index]

        return LabelledData([self.texts[i] for i in index], [self.labels[i] for i in index],
                            pick(self.languages), self.path, pick(self.groups),
                            single_label=self.single_label)

    def label_sets(self, known: Collection[str] = ()) -> list[tuple[str, ...]]:
        """Each item's gold labels: one, or several separated by ',' or '|' (GoEmotions)."""
        if self.single_label:
            return [(label,) for label in self.labels]
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
        out.single_label = True  # each row now holds one label, whatever its characters
        return out

    def keep_labels(self, wanted: Collection[str]) -> tuple[LabelledData, int]:
        """The rows with a label in ``wanted``, their other labels dropped, and how many
        rows had none (``--labels`` naming a subset trains on that subset)."""
        wanted = set(wanted)
        kept = [(i, [x for x in labels if x in wanted])
                for i, labels in enumerate(self.label_sets(wanted))]
        kept = [(i, labels) for i, labels in kept if labels]
        out = self.subset([i for i, _ in kept])
        out.labels = ["|".join(labels) if len(labels) > 1 else labels[0] for _, labels in kept]
        out.single_label = self.single_label or all(len(labels) == 1 for _, labels in kept)
        out.skipped, out.notes = dict(self.skipped), list(self.notes)
        return out, len(self.texts) - len(kept)


_SEPARATOR = re.compile(r"[,|]")


def split_labels(value: str, known: Collection[str] = ()) -> tuple[str, ...]:
    """Labels in ``value`` separated by ',' or '|'; a value that is itself in ``known`` (a label
    with a comma in its name) is kept whole."""
    if value in known:
        return (value,)
    parts = (part.strip() for part in _SEPARATOR.split(value))
    return tuple(dict.fromkeys(part for part in parts if part)) or (value,)


def read_table(path: Path, sheet: str | None = None) -> pd.DataFrame:
    """A CSV/TSV (encoding detected, all columns as text), JSONL, JSON, Parquet or Excel
    (the first sheet, or ``sheet``) table."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix in (".jsonl", ".ndjson"):
        return pd.read_json(path, lines=True, dtype=False)
    if suffix == ".json":
        return pd.read_json(path, dtype=False)
    if suffix in (".xlsx", ".xlsm"):
        return _read_excel(path, sheet)
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


def _read_excel(path: Path, sheet: str | None = None) -> pd.DataFrame:
    """The first sheet (or ``sheet``) of a workbook, its first row naming the columns, cells
    as text."""
    try:
        import openpyxl
    except ImportError as exc:
        raise MissingExtraError("Reading Excel workbooks", "ingest") from exc
    # openpyxl opens the file first, so that a damaged one gets a plain message rather
    # than pandas' advice to choose an engine.
    try:
        book = openpyxl.load_workbook(path, read_only=True)
        sheets = list(book.sheetnames)
        book.close()
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InvalidInputError(f"{path} is not a readable Excel workbook (.xlsx): {exc}. "
                                "Open it in Excel and save it again, or save it as CSV"
                                ) from exc
    if sheet is not None and sheet not in sheets:
        raise InvalidInputError(f"{path} has no sheet {sheet!r}; its sheets are "
                                f"{', '.join(map(repr, sheets))}.")
    try:
        return pd.read_excel(path, sheet_name=sheet or 0, dtype=str)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InvalidInputError(f"Cannot read {path} as an Excel workbook: {exc}") from exc


def read_labelled(
    path: str | Path,
    text_col: str = "text",
    label_col: str = "label",
    language_col: str | None = None,
    group_col: str | None = None,
    *,
    single_label: bool = False,
    sheet: str | None = None,
) -> LabelledData:
    """Rows with a non-empty text and label; the others are dropped and counted in ``skipped``
    (``skipped_note`` says it for people). A missing language is detected from the text.

    A label cell may hold several labels separated by ',' or '|' (multi-label data) unless
    ``single_label``; a JSON list is read as such a set. Whole numbers read as floats
    ("2.0", from a column with blanks) are read as "2"."""
    path = Path(path)
    if path.is_dir():
        raise InvalidInputError(f"{path} is a directory; pass the labelled file itself "
                                "(.csv, .tsv, .jsonl, .json, .parquet or .xlsx)")
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file")
    frame = read_table(path, sheet)
    where = f"{path}" + (f" (sheet {sheet!r})" if sheet else "")
    for column in (text_col, label_col, language_col, group_col):
        if column is not None and column not in frame.columns:
            raise InvalidInputError(
                f"{where}: no column {column!r}; columns are {list(frame.columns)}"
            )
    frame = frame.assign(**{label_col: frame[label_col].map(_label_cell)})
    no_text, no_label = _blank(frame[text_col]), _blank(frame[label_col])
    no_label &= ~no_text  # a row with neither counts once, as having no text
    skipped = {reason: int(mask.sum()) for reason, mask in
               (("no text", no_text), ("no label", no_label)) if mask.any()}
    frame = frame[~(no_text | no_label)]
    if frame.empty:
        why = f" (of {sum(skipped.values()):,} rows, {_reasons(skipped)})" if skipped else ""
        raise InvalidInputError(f"{where}: no rows with both a text and a label{why}")
    texts = frame[text_col].astype(str).tolist()
    notes: list[str] = []
    return LabelledData(
        texts=texts,
        labels=frame[label_col].astype(str).str.strip().tolist(),
        languages=_languages(frame[language_col], texts, notes, where) if language_col
        else None,
        path=path,
        groups=frame[group_col].astype(str).tolist() if group_col else None,
        skipped=skipped,
        single_label=single_label,
        notes=notes,
    )


_WHOLE_FLOAT = re.compile(r"^-?\d+\.0+$")


def _label_cell(value: object) -> object:
    """A label cell as text: a list (JSON multi-label) joined by '|', 2.0 read as "2"; blanks
    and nulls are kept for ``_blank`` to count."""
    if isinstance(value, (list, tuple)):
        return "|".join(dict.fromkeys(str(x).strip() for x in value if str(x).strip()))
    if isinstance(value, float):
        if value != value:  # NaN: no label
            return value
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, str) and _WHOLE_FLOAT.match(value.strip()):
        return value.strip().split(".")[0]
    return value


def _blank(column: pd.Series) -> pd.Series:
    """Null (JSONL null, Parquet NA: ``astype(str)`` would keep them as NaN) or blank cells."""
    return column.isna() | (column.astype(str).str.strip() == "")


# Spellings of the two languages that people put in a language column.
LANGUAGE_NAMES = {
    "en": "en", "eng": "en", "english": "en", "英语": "en", "英文": "en",
    "zh": "zh", "zho": "zh", "chi": "zh", "cn": "zh", "chinese": "zh", "mandarin": "zh",
    "中文": "zh", "汉语": "zh", "漢語": "zh", "简体中文": "zh", "繁體中文": "zh",
}


def language_code(value: str) -> str | None:
    """'en' or 'zh' for a language cell ("EN", "English", "en-US", "zh-Hant", "中文"), else
    None."""
    key = value.strip().lower().replace("_", "-")
    return LANGUAGE_NAMES.get(key) or LANGUAGE_NAMES.get(key.split("-")[0])


def _languages(column: pd.Series, texts: list[str], notes: list[str], where: str) -> list[str]:
    """Each row's language as given ('en', 'English', 'zh-CN'...), or detected from the text
    where the cell is empty or names another language (a note counts those)."""
    from emolens.text.language import detect_language

    given = column.where(~_blank(column), "").astype(str).str.strip().tolist()
    out, other = [], {}
    for value, text in zip(given, texts, strict=True):
        code = language_code(value) if value else None
        if value and code is None:
            other[value] = other.get(value, 0) + 1
        out.append(code or detect_language(text))
    if other:
        listed = ", ".join(f"{v!r} ({n:,})" for v, n in sorted(other.items())[:8])
        notes.append(f"{where}: {sum(other.values()):,} rows name a language other than en/zh "
                     f"in the language column ({listed}); their language was detected from "
                     "the text instead")
    return out


def _reasons(skipped: dict[str, int]) -> str:
    return ", ".join(f"{n:,} with {reason}" for reason, n in skipped.items())


def skipped_note(data: LabelledData) -> str | None:
    """A line saying how many rows of ``data``'s file were left out and why, if any were."""
    if not data.skipped:
        return None
    n = sum(data.skipped.values())
    return (f"{data.path}: skipped {n:,} of {n + len(data.texts):,} rows "
            f"({_reasons(data.skipped)})")


def reading_notes(data: LabelledData | None, *, splits: bool = True) -> list[str]:
    """Everything worth telling about how ``data``'s file was read: rows skipped, language
    cells not understood and, with ``splits``, label cells read as several labels."""
    if data is None:
        return []
    notes = [skipped_note(data), *data.notes]
    if splits and not data.single_label:
        split = [label for label in data.labels if len(split_labels(label)) > 1]
        if split:
            notes.append(f"{data.path}: {len(split):,} label cells hold several labels "
                         f"separated by ',' or '|' (e.g. {split[0]!r}), so they are read as "
                         "multi-label; pass --single-label if each cell is one label")
    return [note for note in notes if note]


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
