"""Collecting one source: read its entries, skip items seen before, analyse the new texts in
chunks, store each chunk with its author and URL, and report every bad entry by name.

An item's key in the store is the SHA-256 of its stable id, so an item read again (the next
poll of a feed, a re-exported archive) is not analysed again, and a run that is killed loses
at most the chunk it was analysing. Media files go to the media
analyzers (``emolens.ingest.media``) once the texts are done.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emolens.batch import MAX_KEPT, check_options
from emolens.errors import EmolensError
from emolens.ingest.base import BadItem, Empty, IngestItem, Note, Source, Unchanged
from emolens.ingest.media import MediaAnalyzers
from emolens.io.encoding import LONE_SURROGATE
from emolens.pipeline import Analyzer
from emolens.privacy import hash_author
from emolens.types import EmotionResult

CHUNK_SIZE = 200


@dataclass
class IngestReport:
    """What happened to one source."""

    source: str
    kind: str
    read: int = 0  # items read (texts and media files)
    analysed: int = 0  # texts analysed in this run, and media files analysed
    skipped_existing: int = 0  # items seen before (stored, or twice in this run)
    stored: int = 0  # results newly stored
    truncated: int = 0
    error_count: int = 0
    note_count: int = 0
    errors: list[str] = field(default_factory=list)  # the first MAX_KEPT, 'name: why'
    notes: list[str] = field(default_factory=list)  # the first MAX_KEPT
    failed: str | None = None  # why nothing of the source could be read
    nothing_new: str | None = None  # why there was nothing to read, when that is normal
    elapsed: float = 0.0

    @property
    def status(self) -> str:
        """'ok', 'partial' (some entries failed) or 'failed' (nothing could be read)."""
        if self.failed is not None or (self.error_count and not self.read):
            return "failed"
        return "partial" if self.error_count else "ok"

    @property
    def outcome(self) -> str:
        """The status as shown: 'unchanged (304)' or 'no files yet' for an ok run that had
        nothing to read, as the source said."""
        return self.nothing_new if self.status == "ok" and self.nothing_new else self.status

    def add_error(self, message: str) -> None:
        """Count a bad entry, keeping the first MAX_KEPT."""
        self.error_count += 1
        if len(self.errors) < MAX_KEPT:
            self.errors.append(message)

    def add_note(self, message: str) -> None:
        """Count something left out on purpose, keeping the first MAX_KEPT."""
        self.note_count += 1
        if len(self.notes) < MAX_KEPT:
            self.notes.append(message)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary."""
        data = dict(vars(self))
        data["elapsed"] = round(self.elapsed, 3)
        return {"status": self.status, **data}


@dataclass(frozen=True)
class IngestOptions:
    """How a source is collected; see ``ingest``."""

    store_text: str = "full"
    language: str | None = None
    chunk_size: int = CHUNK_SIZE
    author_salt: str | None = None  # given: authors are stored as salted SHA-256 hashes
    use_state: bool = True  # False: ignore and keep no connector state (fetch everything)
    empty_ok: bool = False  # an empty source (a drop folder) is normal, not an error
    progress: Callable[[int], None] | None = None  # called with entries just handled
    media: MediaAnalyzers | None = None  # None: media files are left out with a note


def ingest_key(item_id: str) -> str:
    """An item's key in the store, from its stable id (connectors make their ids distinct:
    'tweet:...', a file's path, a feed's URL), so a file read as a table or within its folder
    is the same item."""
    data = f"ingest\x1f{item_id}".encode("utf-8", errors="surrogatepass")
    return hashlib.sha256(data).hexdigest()


def ingest(
    source: Source, analyzer: Analyzer, store: Any | None = None,
    options: IngestOptions | None = None,
) -> IngestReport:
    """Collect, analyse and store the new items of ``source``; see the module docstring.

    A source that cannot be read at all, or stops midway, is reported (``failed``, or an
    error after what was read); nothing is raised for it. The connector's state is kept only
    when the source was read to the end and everything stored.
    """
    options = options or IngestOptions()
    check_options(options.language, options.store_text, options.chunk_size)
    run = _Run(source, analyzer, store, options)
    started = time.perf_counter()
    state = run.load_state()
    before = dict(state)
    complete = run.read(state)
    run.media()
    if complete and state != before:
        run.save_state(state)
    run.report.elapsed = time.perf_counter() - started
    return run.report


class _Run:
    """One source being collected: the chunk in hand and the counts."""

    def __init__(self, source: Source, analyzer: Analyzer, store: Any | None,
                 options: IngestOptions) -> None:
        self.source, self.analyzer, self.store, self.options = source, analyzer, store, options
        self.report = IngestReport(source.source, source.name)
        self.chunk: list[tuple[IngestItem, str]] = []
        self.keys: set[str] = set()  # keys met in this run
        self.media_files: dict[str, list[Path]] = {"audio": [], "video": [], "image": []}
        self.pending = 0  # entries handled since progress was last told

    def load_state(self) -> dict[str, Any]:
        if self.store is None or not self.options.use_state:
            return {}
        from emolens.store.tables import load_state

        return load_state(self.store.engine, self.source.source, self.analyzer.model_id)

    def save_state(self, state: dict[str, Any]) -> None:
        if self.store is not None and self.options.use_state:
            from emolens.store.tables import save_state

            save_state(self.store.engine, self.source.source, self.analyzer.model_id, state)

    def read(self, state: dict[str, Any]) -> bool:
        """Read every entry; False when reading stopped before the end."""
        report = self.report
        try:
            for entry in self.source.items(state):
                self.pending += 1
                if isinstance(entry, Empty) and self.options.empty_ok:
                    report.nothing_new = entry.normal
                elif isinstance(entry, BadItem):
                    report.add_error(str(entry))
                elif isinstance(entry, Unchanged):
                    report.nothing_new = entry.message
                    report.add_note(f"{entry}: nothing new since the last run (--refetch "
                                    "reads it all again)")
                elif isinstance(entry, Note):
                    report.add_note(str(entry))
                else:
                    self.add(entry)
                if self.pending >= self.options.chunk_size:
                    self.flush()
        except (EmolensError, OSError, ValueError) as exc:
            self.flush()
            if not report.read and not report.error_count:
                report.failed = str(exc)
            report.add_error(str(exc) if self.source.source in str(exc)
                             else f"{self.source.source}: reading stopped: {exc}")
            return False
        self.flush()
        return True

    def add(self, item: IngestItem) -> None:
        """Queue a text item (or note a media file), unless it was met before in this run."""
        report = self.report
        report.read += 1
        name = item.url or item.id
        if item.media is not None:
            kind = item.extra.get("media", "")
            if kind in self.media_files:
                self.media_files[kind].append(item.media)
            return
        text = item.text or ""
        if not text.strip():
            report.read -= 1
            report.add_error(f"{name}: empty text")
            return
        if LONE_SURROGATE.search(text):
            report.read -= 1
            report.add_error(f"{name}: has a lone surrogate or bytes that are not valid text")
            return
        if len(text) > self.analyzer.max_chars:
            item.text = text[: self.analyzer.max_chars]
            report.truncated += 1
            report.add_note(f"{name}: text cut to {self.analyzer.max_chars:,} characters")
        key = ingest_key(item.id)
        if key in self.keys:
            report.skipped_existing += 1
            return
        self.keys.add(key)
        self.chunk.append((item, key))

    def flush(self) -> None:
        """Analyse and store the chunk's items that are not stored yet."""
        chunk, self.chunk = self.chunk, []
        if chunk:
            model = self.analyzer.model_id
            keys = [key for _, key in chunk]
            existing = self.store.existing_keys(keys, model) if self.store is not None else set()
            todo = [(item, key) for item, key in chunk if key not in existing]
            results = self.analyzer.analyze_batch([item.text or "" for item, _ in todo],
                                                  language=self.options.language)
            for (item, key), result in zip(todo, results, strict=True):
                self._describe(result, item, key)
            self.report.analysed += len(results)
            self.report.skipped_existing += len(chunk) - len(todo)
            if self.store is not None and results:
                self.report.stored += self.store.add(results, store_text=self.options.store_text)
        if self.options.progress is not None and self.pending:
            self.options.progress(self.pending)
        self.pending = 0

    def _describe(self, result: EmotionResult, item: IngestItem, key: str) -> None:
        """Fill in where the result's item came from, by whom, when."""
        author = _clean(item.author)
        if author is not None and self.options.author_salt:
            author = hash_author(author, self.options.author_salt)
        result.source_id = _clean(item.source) or self.source.source
        result.item_key, result.group, result.timestamp = key, _clean(item.group), item.time
        result.details = {**result.details, "author": author, "url": _clean(item.url),
                          "item_id": item.post_id, "connector": self.source.name}

    def media(self) -> None:
        """Analyse the media files met, or note them as left out."""
        files = {kind: paths for kind, paths in self.media_files.items() if paths}
        if not files:
            return
        if self.options.media is None:
            for paths in files.values():
                for path in paths:
                    self.report.add_note(f"{path}: left out: media analysis is off")
            return
        outcome = self.options.media.run(files, self.store, self.options.store_text)
        self.report.analysed += outcome.analysed
        self.report.stored += outcome.stored
        for message in outcome.errors:
            self.report.add_error(message)
        for message in outcome.notes:
            self.report.add_note(message)


def _clean(value: str | None) -> str | None:
    """A string that can be stored: lone surrogates replaced, NUL removed; None for ''."""
    if not value:
        return None
    value = value.encode("utf-8", errors="replace").decode("utf-8").replace("\x00", "")
    return value.strip() or None
