"""pandas in, pandas out: analyse a DataFrame's text column and add the results beside it
(``analyze_frame``), and results as a DataFrame (``results_frame``).

The added columns are ``emotion`` (the top label), ``confidence``, ``valence``, ``arousal``,
``language`` and one ``p_<label>`` per output label (``uncertain`` too when a threshold is
set). A row without text (NaN, None, empty or blank) gets empty result columns and is counted
in one warning, so that one missing cell does not stop the other rows. The frame given is left
as it is; its index and columns are kept in the copy returned.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd

from emolens.errors import InvalidInputError
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
    has_text = [_is_text(value) for value in cells]
    texts = [str(value) for value, ok in zip(cells, has_text, strict=True) if ok]
    labels = list(analyzer.output_labels)
    wanted = [*RESULT_COLUMNS, *(f"p_{label}" for label in labels)]
    if analyzer.uncertain_below is not None or analyzer.abstain_below is not None:
        wanted.append("uncertain")
    added = [prefix + name for name in wanted]
    clash = [name for name in added if name in frame.columns]
    if clash:
        raise InvalidInputError(f"The frame already has columns {clash}; give a prefix "
                                "(prefix='pred_') for the added ones.")
    missing = len(has_text) - len(texts)
    if missing:
        rows = [label for label, ok in zip(frame.index, has_text, strict=True) if not ok]
        shown = ", ".join(map(str, rows[:5])) + (" ..." if len(rows) > 5 else "")
        log.warning("%d of %d rows have no text in %r (index %s): their result columns are "
                    "left empty.", missing, len(has_text), text_col, shown)
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


def _is_text(value: Any) -> bool:
    if value is None or (isinstance(value, float) and value != value):  # NaN
        return False
    if value is pd.NA or value is pd.NaT:
        return False
    return bool(str(value).strip())


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
    canonical labels first."""
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
    return frame
