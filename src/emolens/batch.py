"""Analysing files of texts: read, skip what is stored, analyse, store, one chunk at a time.

Each chunk is committed before the next is read, so a run that is killed loses at most one
chunk of work, and running it again analyses only the items that are not stored yet: an
item's key is the SHA-256 of its file's absolute path, its row and its text.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any, Protocol

from emolens.errors import InvalidInputError
from emolens.io.textfiles import SUPPORTED_EXTENSIONS, Item, ItemReader, RowError, read_items
from emolens.io.times import source_zone
from emolens.llm.errors import LLMAnswerError
from emolens.pipeline import Analyzer
from emolens.text.language import check_language
from emolens.types import EmotionResult

CHUNK_SIZE = 2000  # rows per store commit; the analyzer gets each chunk in one call
MAX_KEPT = 1000  # row errors and warnings kept for the report; all of them are counted
STORE_TEXT_MODES: tuple[str, ...] = ("full", "redacted", "hash", "none")

ProgressCallback = Callable[[int], None]  # called with the number of rows just done
ResultSink = Callable[[list[EmotionResult]], None]  # receives each chunk's results


class Store(Protocol):
    """The part of the result store contract (``emolens.store``) that batches use."""

    def add(self, results: Sequence[EmotionResult], store_text: str = "full") -> int: ...

    def existing_keys(self, keys: Iterable[str], model: str) -> set[str]: ...

    def iter_results(self, **filters: Any) -> Iterator[list[EmotionResult]]: ...


def item_key(source: str, row: int | str, text: str) -> str:
    """Identity of an item in the store: the same row of the same file with the same text."""
    data = f"{source}\x1f{row}\x1f{text}".encode("utf-8", errors="surrogatepass")
    return hashlib.sha256(data).hexdigest()


def file_item_key(source: str, item: Item) -> str:
    """``item_key`` of an item read from a file: by its own id where --id-col gives one, so
    rows added above it or reordered are not analysed and stored again, else by its row."""
    place = item.row if item.item_id is None else f"id:{item.item_id}"
    return item_key(source, place, item.text)


@dataclass
class FileReport:
    """What happened to one file."""

    path: str
    format: str | None = None
    encoding: str | None = None
    text_col: str | None = None
    read: int = 0  # items read (rows that could not be read are errors)
    analysed: int = 0
    skipped_existing: int = 0
    stored: int = 0
    errors: int = 0  # rows that could not be read, or 1 for a file that could not be read
    failed: str | None = None  # why nothing of the file could be read

    @property
    def status(self) -> str:
        """'ok', 'partial' (some rows failed) or 'failed' (nothing could be read)."""
        return _status(self.read, self.errors)


@dataclass
class BatchReport:
    """Counts, row errors and warnings of a batch run over one or more files."""

    files: list[FileReport] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)  # the first MAX_KEPT
    warnings: list[str] = field(default_factory=list)  # the first MAX_KEPT
    error_count: int = 0
    warning_count: int = 0
    truncated: int = 0  # texts cut to the analyzer's max_chars
    elapsed: float = 0.0

    @property
    def read(self) -> int:
        """Items read, over all files."""
        return sum(f.read for f in self.files)

    @property
    def analysed(self) -> int:
        """Items analysed in this run."""
        return sum(f.analysed for f in self.files)

    @property
    def skipped_existing(self) -> int:
        """Items not analysed because their results were already stored."""
        return sum(f.skipped_existing for f in self.files)

    @property
    def stored(self) -> int:
        """Results newly stored."""
        return sum(f.stored for f in self.files)

    @property
    def status(self) -> str:
        """'ok', 'partial' (some rows or files failed) or 'failed' (nothing could be read)."""
        return _status(self.read, self.error_count)

    def add_error(self, error: RowError) -> None:
        """Count a row error, keeping the first MAX_KEPT."""
        self.error_count += 1
        if len(self.errors) < MAX_KEPT:
            self.errors.append(error)

    def add_warning(self, message: str) -> None:
        """Count a warning, keeping the first MAX_KEPT."""
        self.warning_count += 1
        if len(self.warnings) < MAX_KEPT:
            self.warnings.append(message)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary: totals, status, files, kept errors and warnings."""
        return {
            "status": self.status, "read": self.read, "analysed": self.analysed,
            "skipped_existing": self.skipped_existing, "stored": self.stored,
            "errors": self.error_count, "warnings": self.warning_count,
            "truncated": self.truncated, "elapsed": round(self.elapsed, 3),
            "files": [{**vars(f), "status": f.status} for f in self.files],
            "error_list": [str(e) for e in self.errors],
            "warning_list": list(self.warnings),
        }


def _status(read: int, errors: int) -> str:
    if errors and not read:
        return "failed"
    return "partial" if errors else "ok"


def expand_paths(
    paths: Iterable[str | Path], extensions: Iterable[str] = SUPPORTED_EXTENSIONS
) -> list[Path]:
    """Files to read: each file as given, and each folder's files with one of ``extensions``
    (recursive, sorted).

    Hidden files and folders (names starting with '.') inside a folder are left out. A
    missing path is kept, so that reading it reports the error.
    """
    files: dict[Path, None] = {}
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in extensions
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            files.update(dict.fromkeys(found or [path]))
        else:
            files[path] = None
    return list(files)


def check_options(language: str | None, store_text: str, chunk_size: int) -> None:
    """Raise InvalidInputError for options a run would refuse, before anything is read."""
    check_language(language)
    if store_text not in STORE_TEXT_MODES:
        raise InvalidInputError(
            f"store_text must be one of {list(STORE_TEXT_MODES)}, got {store_text!r}"
        )
    if chunk_size < 1:
        raise InvalidInputError(f"chunk_size must be at least 1, got {chunk_size}")


@dataclass(frozen=True)
class _Job:
    """Everything a run needs besides the file."""

    analyzer: Analyzer
    store: Store | None
    language: str | None
    store_text: str
    chunk_size: int
    progress: ProgressCallback | None
    sink: ResultSink | None


def analyze_file(
    path: str | Path,
    analyzer: Analyzer,
    store: Store | None = None,
    *,
    text_col: str | None = None,
    time_col: str | None = None,
    group_col: str | None = None,
    id_col: str | None = None,
    language: str | None = None,
    store_text: str = "full",
    chunk_size: int = CHUNK_SIZE,
    progress: ProgressCallback | None = None,
    sink: ResultSink | None = None,
    source_tz: str | tzinfo | None = None,
    sheet: str | None = None,
) -> BatchReport:
    """Analyse every item of one file, storing results in ``store`` (when given) chunk by chunk.

    Items already stored for the analyzer's model are not analysed again. ``sink`` receives
    each chunk's results in file order, those read back from the store included. Times
    without an offset are read in ``source_tz`` (an IANA name; None: UTC) and stored in UTC.
    Raises InvalidInputError when the file cannot be read at all.
    """
    check_options(language, store_text, chunk_size)
    job = _Job(analyzer, store, language, store_text, chunk_size, progress, sink)
    started = time.perf_counter()
    report = BatchReport()
    reader = read_items(path, text_col, time_col, group_col, id_col, max_chars=analyzer.max_chars,
                        source_tz=source_tz, sheet=sheet)
    _run_file(reader, job, report)
    report.elapsed = time.perf_counter() - started
    return report


def analyze_paths(
    paths: Iterable[str | Path],
    analyzer: Analyzer,
    store: Store | None = None,
    *,
    text_col: str | None = None,
    time_col: str | None = None,
    group_col: str | None = None,
    id_col: str | None = None,
    language: str | None = None,
    store_text: str = "full",
    chunk_size: int = CHUNK_SIZE,
    progress: ProgressCallback | None = None,
    sink: ResultSink | None = None,
    on_file: Callable[[Path], None] | None = None,
    source_tz: str | tzinfo | None = None,
    sheet: str | None = None,
) -> BatchReport:
    """Like ``analyze_file`` for several files and folders (see ``expand_paths``).

    A file that cannot be read at all is recorded as an error and the run goes on.
    ``on_file`` is called with each file's path before it is read.
    """
    check_options(language, store_text, chunk_size)
    zone = source_zone(source_tz)  # a bad name fails the run, not each file
    files = expand_paths(paths)
    if not files:
        raise InvalidInputError("No files to analyse: give one or more files or folders.")
    job = _Job(analyzer, store, language, store_text, chunk_size, progress, sink)
    started = time.perf_counter()
    report = BatchReport()
    readers = open_readers(files, report, text_col, time_col, group_col, id_col,
                           max_chars=analyzer.max_chars, on_file=on_file, tz=zone, sheet=sheet)
    for reader in readers:
        _run_file(reader, job, report)
    report.elapsed = time.perf_counter() - started
    return report


def open_readers(
    files: Iterable[Path],
    report: BatchReport,
    text_col: str | None = None,
    time_col: str | None = None,
    group_col: str | None = None,
    id_col: str | None = None,
    *,
    max_chars: int,
    on_file: Callable[[Path], None] | None = None,
    tz: tzinfo | None = None,
    sheet: str | None = None,
) -> Iterator[ItemReader]:
    """A reader for each file in turn; a file that cannot be read at all is recorded in
    ``report`` as a failed file and an error, and the next one is opened. Naive times are
    read in ``tz`` (None: UTC)."""
    for path in files:
        if on_file is not None:
            on_file(path)
        try:
            if path.is_dir():
                raise InvalidInputError(
                    f"{path} holds no files of a supported type ({', '.join(SUPPORTED_EXTENSIONS)})"
                )
            reader = read_items(path, text_col, time_col, group_col, id_col, max_chars=max_chars,
                                source_tz=tz, sheet=sheet)
        except InvalidInputError as exc:
            report.files.append(FileReport(str(path), errors=1, failed=str(exc)))
            report.add_error(RowError(str(path), None, str(exc)))
            continue
        given = [f"--{name}-col" for name, col in (("text", text_col), ("time", time_col),
                                                    ("group", group_col), ("id", id_col)) if col]
        if reader.format == "txt" and given:
            report.add_warning(f"{path}: a TXT file's lines are its texts, with no columns: "
                               f"{', '.join(given)} ignored for it")
        yield reader


def _run_file(reader: ItemReader, job: _Job, report: BatchReport) -> None:
    """Read, analyse and store one file chunk by chunk, counting into ``report``."""
    file = start_file(reader, report)
    source = str(reader.path.resolve())
    stored = StoredResults(job.store, source, job.analyzer.model_id)
    for chunk, rows in read_chunks(reader, job.chunk_size, file, report):
        if chunk:
            _run_chunk(chunk, source, file, job, stored, report)
        if job.progress is not None:
            job.progress(rows)


def start_file(reader: ItemReader, report: BatchReport) -> FileReport:
    """The report of a file about to be read, added to ``report``."""
    file = FileReport(str(reader.path), reader.format, reader.encoding, reader.columns.text)
    report.files.append(file)
    return file


def read_chunks(
    reader: ItemReader, chunk_size: int, file: FileReport, report: BatchReport
) -> Iterator[tuple[list[Item], int]]:
    """The file's items, a chunk per ``chunk_size`` rows read, each with the number of rows it
    took (bad rows included, so that they also advance progress); bad rows, truncated texts
    and warnings are counted into ``file`` and ``report``. The reader is closed at the end."""
    chunk: list[Item] = []
    done = 0  # rows read since the last chunk
    with reader:
        for entry in reader:
            done += 1
            if isinstance(entry, RowError):
                file.errors += 1
                report.add_error(entry)
            else:
                file.read += 1
                _note(entry, reader, report)
                chunk.append(entry)
            if done >= chunk_size:
                yield chunk, done
                chunk, done = [], 0
    if done:
        yield chunk, done
    if not file.read and not file.errors:
        report.add_warning(f"{reader.path}: no texts found")


def _note(item: Item, reader: ItemReader, report: BatchReport) -> None:
    """Count what the reader noticed about an item."""
    if item.truncated:
        report.truncated += 1
        report.add_warning(
            f"{reader.path}:{item.row}: text cut to {reader.max_chars:,} characters"
        )
    if item.warning:
        report.add_warning(f"{reader.path}:{item.row}: {item.warning}")


def _run_chunk(
    items: list[Item], source: str, file: FileReport, job: _Job, stored: StoredResults,
    report: BatchReport,
) -> None:
    """Analyse the chunk's items that are not stored yet, store them, and hand all to the sink."""
    model = job.analyzer.model_id
    keys = [file_item_key(source, item) for item in items]
    existing = job.store.existing_keys(keys, model) if job.store is not None else set()
    todo = [i for i, key in enumerate(keys) if key not in existing]
    file.skipped_existing += len(items) - len(todo)
    try:
        fresh = job.analyzer.analyze_batch([items[i].text for i in todo], language=job.language)
    except LLMAnswerError as exc:  # some items got no answer: their rows' errors, not the chunk's
        todo, fresh = _without_failed(items, todo, job, file, report, exc)
    by_key = {}
    for i, result in zip(todo, fresh, strict=True):
        by_key[keys[i]] = describe(result, items[i], source, keys[i])
    file.analysed += len(fresh)
    if job.store is not None and fresh:
        file.stored += job.store.add(fresh, store_text=job.store_text)
    if job.sink is not None:
        job.sink(chunk_results(items, keys, existing, by_key, source, stored))


def _without_failed(
    items: list[Item], todo: list[int], job: _Job, file: FileReport, report: BatchReport,
    first: LLMAnswerError,
) -> tuple[list[int], list[EmotionResult]]:
    """``todo``'s results batch by batch, the items without an answer counted as errors of
    their rows. A failure names its item by its place in the recognizer's batch; ``first``
    is that of the whole of ``todo`` when it was a single batch. Answers given are kept by
    the recognizer, so asking for a batch again sends only what failed."""
    kept: list[int] = []
    fresh: list[EmotionResult] = []
    size = job.analyzer.batch_size
    known: LLMAnswerError | None = first if len(todo) <= size else None
    for start in range(0, len(todo), size):
        batch = todo[start : start + size]
        while batch:
            error, known = known, None
            if error is None:
                try:
                    fresh += job.analyzer.analyze_batch([items[i].text for i in batch],
                                                        language=job.language)
                    kept += batch
                    break
                except LLMAnswerError as exc:
                    error = exc
            failed = {f.index: f.reason for f in error.failures if 0 <= f.index < len(batch)}
            if not failed:
                raise error
            for place, i in enumerate(batch):
                if place in failed:
                    file.errors += 1
                    report.add_error(RowError(file.path, items[i].row, failed[place]))
            batch = [i for place, i in enumerate(batch) if place not in failed]
    return kept, fresh


def chunk_results(
    items: list[Item],
    keys: list[str],
    existing: set[str],
    fresh: dict[str, EmotionResult],
    source: str,
    stored: StoredResults,
) -> list[EmotionResult]:
    """A chunk's results in file order: ``fresh`` ones by key, the others read back from the
    store (items whose results are neither are left out)."""
    results = []
    for item, key in zip(items, keys, strict=True):
        if key in fresh:
            results.append(fresh[key])
        elif key in existing and (old := stored.get(key)) is not None:
            results.append(describe(old, item, source, key))
    return results


def describe(result: EmotionResult, item: Item, source: str, key: str) -> EmotionResult:
    """The result with where its item came from filled in."""
    result.source_id, result.item_key = source, key
    result.text = item.text  # results read back from the store may have kept only a hash
    result.group, result.timestamp = item.group, item.timestamp
    result.details = {**result.details, "row": item.row}
    if item.item_id is not None:
        result.details["item_id"] = item.item_id
    return result


class StoredResults:
    """Results of one source already in the store, read once, when first asked for."""

    def __init__(self, store: Store | None, source: str, model: str) -> None:
        self.store, self.source, self.model = store, source, model
        self._found: dict[str, EmotionResult] | None = None

    def get(self, key: str) -> EmotionResult | None:
        """The stored result with this item key, or None; its ``details`` are those it kept
        in the store (a speech segment's voice and words) and ``stored_before``."""
        if self.store is None:
            return None
        if self._found is None:
            chunks = self.store.iter_results(source=self.source, model=self.model)
            self._found = {r.item_key or "": r for chunk in chunks for r in chunk}
        found = self._found.get(key)
        return None if found is None else _as_stored_before(found)


def _as_stored_before(result: EmotionResult) -> EmotionResult:
    """A copy of a result read back from the store, with only the details it kept (not its
    row, author or time of storing, which ``describe`` and the store add where wanted)."""
    from emolens.store.sql import KEPT_DETAILS

    details = {k: v for k, v in result.details.items() if k in KEPT_DETAILS}
    return result.model_copy(update={"details": {**details, "stored_before": True}})
