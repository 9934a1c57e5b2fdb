"""pandas in, pandas out: analyse a DataFrame's text column and add the results beside it
(``analyze_frame``), and results as a DataFrame (``results_frame``).

The added columns are ``emotion`` (the top label), ``confidence``, ``valence``, ``arousal``,
``language`` and one ``p_<label>`` per output label (``uncertain`` too when a threshold is
set). A row without text (NaN, None, empty or blank, or a value that is no text: True/False,
a list, a dict) gets empty result columns and is counted in one warning, so that one missing
cell does not stop the other rows; bytes are decoded as UTF-8 (those that are not UTF-8 are
left empty, with a warning), and numbers are read as their text, as `analyze file` reads a
workbook's number cells. Warnings name rows by index label (and position when labels repeat).
The frame given is left as it is; its index and columns are kept in the copy returned.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from emolens.errors import InvalidInputError
from emolens.io.encoding import LONE_SURROGATE
from emolens.io.results import result_columns, result_row
from emolens.labels import ordered_labels
from emolens.types import EmotionResult

log = logging.getLogger(__name__)

RESULT_COLUMNS: tuple[str, ...] = ("emotion", "confidence", "valence", "arousal", "language")


def analyze_frame(analyzer: Any, frame: pd.DataFrame | pd.Series, text_col: str = "text",
                  language: str | None = None, prefix: str = "",
                  progress: bool = False) -> pd.DataFrame:
    """A copy of ``frame`` with the analysis of ``frame[text_col]`` in added columns (named
    with ``prefix``); a Series is read as the texts themselves. ``progress`` shows a bar."""
    if isinstance(frame, pd.Series):
        frame = frame.to_frame(name=text_col if frame.name is None else frame.name)
        text_col = str(frame.columns[0])
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInputError(f"analyze_frame takes a pandas DataFrame or Series, got "
                                f"{type(frame).__name__}; use analyze_batch for a list of texts.")
    if text_col not in frame.columns:
        raise InvalidInputError(f"The frame has no column {text_col!r}; its columns are "
                                f"{[str(c) for c in frame.columns]}. Say which one holds the "
                                "texts with text_col=.")
    cells = frame[text_col]
    if isinstance(cells, pd.DataFrame):
        raise InvalidInputError(f"The frame has {cells.shape[1]} columns named {text_col!r}; "
                                "rename them so that one holds the texts.")
    read = [_text(value) for value in cells]
    has_text = [isinstance(value, str) for value in read]
    texts = [value for value in read if isinstance(value, str)]
    labels = list(analyzer.output_labels)
    wanted = [*RESULT_COLUMNS, *(f"p_{label}" for label in labels)]
    if analyzer.uncertain_below is not None or analyzer.abstain_below is not None:
        wanted.append("uncertain")
    added = [prefix + name for name in wanted]
    clash = [name for name in added if name in frame.columns]
    if clash:
        raise InvalidInputError(f"The frame already has columns {clash}; give a prefix "
                                "(prefix='pred_') for the added ones.")
    _warn_unread(frame.index, read, text_col, analyzer.max_chars)
    # Cut here, so that the analyzer does not warn again, naming texts by their place in a list.
    texts = [text[: analyzer.max_chars] for text in texts]
    with _progress_bar(len(texts) if progress else 0) as advance:
        results = iter(analyzer.analyze_batch(texts, language=language, progress=advance)
                       if texts else [])
    rows_out = [_columns(next(results), labels, wanted) if ok else dict.fromkeys(wanted)
                for ok in has_text]
    table = pd.DataFrame(rows_out, index=frame.index, columns=wanted)
    for name in ("confidence", "valence", "arousal", *(f"p_{label}" for label in labels)):
        table[name] = table[name].astype("float64")
    table.columns = added
    return pd.concat([frame, table], axis=1)


@contextmanager
def _progress_bar(total: int) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar over ``total`` texts (a terminal or a notebook); none for 0."""
    if not total:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("analysing", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as bar:
        task = bar.add_task("analysing", total=total)
        yield lambda done: bar.advance(task, done)


_UNDECODABLE = object()  # a cell of bytes that are not UTF-8
_SURROGATE = object()  # a text with a lone surrogate, which cannot be analysed or stored
_NO_TEXT = (bool, np.bool_, list, tuple, set, dict, np.ndarray)  # not read as their str()


def _text(value: Any) -> str | object | None:
    """A cell's text; None when it has none, ``_UNDECODABLE`` or ``_SURROGATE`` when it
    cannot be read."""
    if value is None or (isinstance(value, float) and value != value):  # NaN
        return None
    if value is pd.NA or value is pd.NaT or isinstance(value, _NO_TEXT):
        return None
    if isinstance(value, bytes | bytearray):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return _UNDECODABLE
    text = value if isinstance(value, str) else str(value)
    if LONE_SURROGATE.search(text):
        return _SURROGATE
    return text if text.strip() else None


def _warn_unread(index: pd.Index, read: list[Any], col: str, limit: int) -> None:
    """A warning for each kind of cell that is not analysed, or not whole."""
    _warn_rows(index, [value is None for value in read], "have no text in {col}", col,
               "their result columns are left empty.")
    _warn_rows(index, [value is _UNDECODABLE for value in read],
               "of {col} are bytes that are not UTF-8", col,
               "their result columns are left empty; decode them first.")
    _warn_rows(index, [value is _SURROGATE for value in read],
               "of {col} have a lone surrogate (such as a \\ud800 escape)", col,
               "no character, so their result columns are left empty.")
    _warn_rows(index, [isinstance(value, str) and len(value) > limit for value in read],
               f"of {{col}} have more than {limit:,} characters", col,
               f"only the first {limit:,} of each are analysed (max_text_chars).")


def _warn_rows(index: pd.Index, flagged: list[bool], what: str, col: str, then: str) -> None:
    """One warning counting the flagged rows, named by index label (and by position where
    labels repeat, as ``r1 (iloc 3)``)."""
    count = sum(flagged)
    if not count:
        return
    repeated = Counter(index)
    names = [str(label) if repeated[label] == 1 else f"{label} (iloc {i})"
             for i, (label, hit) in enumerate(zip(index, flagged, strict=True)) if hit]
    shown = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
    log.warning("%d of %d rows %s (index %s): %s", count, len(flagged),
                what.format(col=repr(col)), shown, then)


def _columns(result: Any, labels: list[str], wanted: list[str]) -> dict[str, Any]:
    row = {"emotion": result.label, "confidence": result.confidence,
           "valence": result.valence, "arousal": result.arousal, "language": result.language,
           **{f"p_{label}": result.scores.get(label) for label in labels}}
    if "uncertain" in wanted:
        row["uncertain"] = bool(result.details.get("uncertain", False))
    return row


def results_frame(results: Iterable[EmotionResult]) -> pd.DataFrame:
    """Results (of ``analyze_batch``, a recording's segments, a video's timeline) as a table
    with the columns of `analyze file --out`: one ``p_<label>`` per label any result scores,
    canonical labels first, and ``uncertain`` when any result is marked so."""
    if isinstance(results, EmotionResult) or results is None or isinstance(results, str | dict):
        got = ("one EmotionResult" if isinstance(results, EmotionResult)
               else "None" if results is None else f"a {type(results).__name__}")
        raise InvalidInputError(f"results_frame takes a list of results (got {got}); pass "
                                "analyze_batch's list, or [result] for one.")
    results = list(results)
    for i, result in enumerate(results):
        if not isinstance(result, EmotionResult):
            raise InvalidInputError(f"Item {i} is {type(result).__name__}, not an "
                                    "EmotionResult.")
    labels = ordered_labels(label for result in results for label in result.scores)
    frame = pd.DataFrame([result_row(r, labels, "full") for r in results],
                         columns=result_columns(labels))
    for name in ("confidence", "valence", "arousal", "t_start", "t_end",
                 *(f"p_{label}" for label in labels)):
        frame[name] = frame[name].astype("float64")
    if any("uncertain" in r.details for r in results):
        frame.insert(frame.columns.get_loc("confidence") + 1, "uncertain",
                     [bool(r.details.get("uncertain", False)) for r in results])
    return frame
