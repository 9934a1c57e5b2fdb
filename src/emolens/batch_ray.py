"""The Ray engine of ``emolens analyze file --engine ray`` (``pip install 'emolens[ray]'``).

The driver reads the files exactly as the local engine (``emolens.batch``) does: the same item
keys, the same items skipped because their results are stored, the same row errors. The items
still to analyse are gathered into windows of up to ``RayOptions.window``; each window is one
Ray Data run, ``map_batches`` over a pool of actors that each build the analyzer once, in
batches of ``chunk_size`` items. The driver stores each batch as it comes back
(``iter_batches``), so a run that is killed loses only the batches in flight (at most two per
worker) and running it again analyses only what is not stored yet.

Every node of a cluster needs emolens and the model installed as on the driver: a worker whose
model differs (another name@version) refuses to start.
"""

from __future__ import annotations

import logging
import math
import os
import re
import resource
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any

from emolens.batch import (
    CHUNK_SIZE,
    BatchReport,
    FileReport,
    ProgressCallback,
    ResultSink,
    Store,
    StoredResults,
    check_options,
    chunk_results,
    describe,
    expand_paths,
    file_item_key,
    open_readers,
    read_chunks,
    start_file,
)
from emolens.config import DEFAULT_BATCH_SIZE
from emolens.errors import EmolensError, InvalidInputError, MissingExtraError, ModelFileError
from emolens.io.textfiles import Item, RowError
from emolens.io.times import source_zone
from emolens.llm.errors import LLMAnswerError
from emolens.pipeline import Analyzer, build_analyzer
from emolens.types import EmotionResult

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
WINDOW = 50_000  # items per Ray Data run: each run starts the workers (and loads the model)


class RayEngineError(EmolensError, RuntimeError):
    """The Ray cluster could not be reached, or a Ray run failed."""


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide to run: ``address`` None starts a local Ray instance (or joins the
    one ``RAY_ADDRESS`` names); ``workers`` actors of ``cpus_per_worker`` CPUs each."""

    address: str | None = None
    workers: int = 2
    cpus_per_worker: float = 1.0
    window: int = WINDOW

    def check(self) -> None:
        """Raise InvalidInputError for values a run would refuse."""
        if self.workers < 1:
            raise InvalidInputError(f"workers must be at least 1, got {self.workers}")
        if self.cpus_per_worker <= 0:
            raise InvalidInputError(f"cpus_per_worker must be above 0, got {self.cpus_per_worker}")
        if self.window < 1:
            raise InvalidInputError(f"window must be at least 1, got {self.window}")


@dataclass(frozen=True)
class AnalyzerSpec:
    """What a worker needs to build the driver's analyzer again: the model name or directory
    and the analyzer's settings."""

    model: str
    batch_size: int = DEFAULT_BATCH_SIZE
    max_chars: int = 100_000
    uncertain_below: float | None = None

    @classmethod
    def of(cls, analyzer: Analyzer, model: str | Path) -> AnalyzerSpec:
        """The spec of ``analyzer``, built from ``model``; a model directory is made absolute
        (read as ``resolve_recognizer`` reads it: a registered name is never a path)."""
        from emolens.models import recognizers

        is_dir = isinstance(model, Path) or (
            Path(model).is_dir() and str(model) not in recognizers.names())
        name = str(Path(model).resolve()) if is_dir else str(model)
        return cls(name, analyzer.batch_size, analyzer.max_chars, analyzer.uncertain_below)

    def build(self) -> Analyzer:
        """The analyzer (loads the model)."""
        return build_analyzer(self.model, batch_size=self.batch_size, max_chars=self.max_chars,
                              uncertain_below=self.uncertain_below)


@dataclass
class WorkerStats:
    """What one Ray worker did: items, batches, and its process's peak resident memory."""

    items: int = 0
    batches: int = 0
    peak_rss: int = 0  # bytes


@dataclass
class RayBatchReport(BatchReport):
    """A BatchReport with each worker's counts and peak memory (``host:pid`` keys)."""

    workers: dict[str, WorkerStats] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """BatchReport.to_dict() with ``workers``: items, batches, peak_rss_mib per worker."""
        workers = {name: {"items": w.items, "batches": w.batches,
                          "peak_rss_mib": round(w.peak_rss / 2**20, 1)}
                   for name, w in self.workers.items()}
        return {**super().to_dict(), "workers": workers}


def peak_rss() -> int:
    """Peak resident memory of this process, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


class AnalyzeBatches:
    """The callable class given to ``map_batches``: one analyzer per actor, built once."""

    def __init__(self, spec: AnalyzerSpec, model_id: str, language: str | None) -> None:
        self.analyzer = spec.build()
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        if self.analyzer.model_id != model_id:
            raise ModelFileError(
                f"Ray worker {self.worker} loaded {self.analyzer.model_id} for {spec.model!r} "
                f"but the driver has {model_id}: install the same emolens and models on every "
                "node."
            )
        self.language = language

    def __call__(self, batch: Any) -> Any:
        """pyarrow table of key, text -> key, result (JSON, without the text; "" where the
        item got none), error ("" or why it got none), worker, peak_rss."""
        import pyarrow as pa

        results, errors = self._analyse(batch.column("text").to_pylist())
        n = len(results)
        return pa.table({
            "key": batch.column("key"),
            "result": ["" if r is None else r.model_dump_json(exclude={"text"})
                       for r in results],
            "error": errors,
            "worker": [self.worker] * n,
            "peak_rss": pa.array([peak_rss()] * n, pa.int64()),
        })

    def _analyse(self, texts: list[str]) -> tuple[list[EmotionResult | None], list[str]]:
        """Each text's result, or None and why where an LLM gave no usable answer: those are
        row errors, and the rest of the batch is kept (as the local engine does)."""
        try:
            return list(self.analyzer.analyze_batch(texts, language=self.language)), \
                [""] * len(texts)
        except LLMAnswerError:
            pass
        # One at a time: the recognizer keeps the answers it got, so only the failed texts
        # are asked again.
        results: list[EmotionResult | None] = []
        errors: list[str] = []
        for text in texts:
            try:
                results.append(self.analyzer.analyze_batch([text], language=self.language)[0])
                errors.append("")
            except LLMAnswerError as exc:
                results.append(None)
                errors.append(exc.failures[0].reason if exc.failures else str(exc))
        return results, errors


def analyze_paths_ray(
    paths: Iterable[str | Path],
    analyzer: Analyzer,
    store: Store | None = None,
    *,
    model: str | Path = "default",
    options: RayOptions | None = None,
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
) -> RayBatchReport:
    """``emolens.batch.analyze_paths`` with the analysis on Ray workers; the same results.

    ``analyzer`` is the driver's, built from ``model`` (a name or a model directory), which
    each worker builds again. Ray starts only when something is left to analyse, and a local
    instance started here is shut down at the end; where this process has initialized Ray
    already, that is used as it is (``options.address`` is then not read). Raises
    RayEngineError when the cluster cannot be reached or a Ray run fails (the batches stored
    before stay stored).
    """
    started = time.perf_counter()
    options = options or RayOptions()
    check_options(language, store_text, chunk_size)
    zone = source_zone(source_tz)  # naive times are read there (None: UTC), as in analyze_paths
    options.check()
    _import_ray()  # before any reading: without the extra, say so at once
    files = expand_paths(paths)
    if not files:
        raise InvalidInputError("No files to analyse: give one or more files or folders.")
    spec = AnalyzerSpec.of(analyzer, model)
    report = RayBatchReport()
    session = _RaySession(options)
    try:
        window = _Window(_Run(analyzer.model_id, spec, language, store, store_text, chunk_size,
                              options, session.connect, progress, sink), report)
        for reader in open_readers(files, report, text_col, time_col, group_col, id_col,
                                   max_chars=analyzer.max_chars, on_file=on_file, tz=zone,
                                   sheet=sheet):
            file = start_file(reader, report)
            source = str(reader.path.resolve())
            stored = StoredResults(store, source, analyzer.model_id)
            for chunk, rows in read_chunks(reader, chunk_size, file, report):
                window.add(_Pending(chunk, rows, source, file, stored))
                if window.todo >= options.window:
                    window.run()
        window.run()
    finally:
        session.close()
    report.elapsed = time.perf_counter() - started
    return report


@dataclass(frozen=True)
class _Run:
    """Everything a window needs besides its chunks."""

    model_id: str
    spec: AnalyzerSpec
    language: str | None
    store: Store | None
    store_text: str
    chunk_size: int
    options: RayOptions
    connect: Callable[[], Any]  # returns the ray module, connected
    progress: ProgressCallback | None
    sink: ResultSink | None


@dataclass
class _Pending:
    """A chunk read but not analysed yet, with its keys and which of them are stored."""

    items: list[Item]
    rows: int  # rows read for it, bad ones included
    source: str
    file: FileReport
    stored: StoredResults
    keys: list[str] = field(default_factory=list)
    existing: set[str] = field(default_factory=set)
    fresh: dict[str, EmotionResult] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)  # keys whose items got no result


class _Window:
    """Chunks waiting for one Ray Data run; results stored batch by batch as they return."""

    def __init__(self, run: _Run, report: RayBatchReport) -> None:
        self.run_, self.report = run, report
        self.pending: list[_Pending] = []
        self.todo = 0

    def add(self, chunk: _Pending) -> None:
        """Queue a chunk, finding which of its items are stored already."""
        chunk.keys = [file_item_key(chunk.source, item) for item in chunk.items]
        store = self.run_.store
        if store is not None and chunk.keys:
            chunk.existing = store.existing_keys(chunk.keys, self.run_.model_id)
        self.pending.append(chunk)
        self.todo += len(chunk.keys) - len(chunk.existing)

    def run(self) -> None:
        """Analyse the queued items on Ray, store and count them, and empty the window."""
        run, places = self.run_, self._places()
        if run.progress is not None:  # rows with nothing to analyse: bad or stored already
            run.progress(sum(c.rows for c in self.pending) - self.todo)
        if places:
            texts = {key: chunk.items[i].text for key, ((chunk, i), *_) in places.items()}
            # closed at once when storing or the progress callback raises (Ctrl-C): the Ray
            # Data run stops and frees its workers instead of waiting for garbage collection
            with closing(_analyse(run, texts)) as batches:
                for keys, results, errors, workers, rss in batches:
                    self._keep(keys, results, errors, places)
                    self._count_workers(workers, rss)
                    if run.progress is not None:
                        run.progress(len(keys))
        for chunk in self.pending:
            chunk.file.skipped_existing += len(chunk.keys) - len(chunk.fresh) - len(chunk.failed)
            if run.sink is not None:
                run.sink(chunk_results(chunk.items, chunk.keys, chunk.existing, chunk.fresh,
                                       chunk.source, chunk.stored))
        self.pending, self.todo = [], 0

    def _places(self) -> dict[str, list[tuple[_Pending, int]]]:
        """Where each item to analyse sits (one key may sit in two files given by two paths
        to the same file)."""
        places: dict[str, list[tuple[_Pending, int]]] = {}
        for chunk in self.pending:
            for i, key in enumerate(chunk.keys):
                if key not in chunk.existing:
                    places.setdefault(key, []).append((chunk, i))
        return places

    def _keep(self, keys: list[str], results: list[str], errors: list[str],
              places: dict[str, list[tuple[_Pending, int]]]) -> None:
        """Describe a returned batch's results and store them, a commit per file; items that
        got no result are errors of their rows."""
        by_file: dict[int, tuple[FileReport, list[EmotionResult]]] = {}
        for key, data, error in zip(keys, results, errors, strict=True):
            for chunk, i in places[key]:
                if error:
                    chunk.failed.add(key)
                    chunk.file.errors += 1
                    self.report.add_error(RowError(chunk.file.path, chunk.items[i].row, error))
                    continue
                result = describe(EmotionResult.model_validate_json(data), chunk.items[i],
                                  chunk.source, key)
                chunk.fresh[key] = result
                by_file.setdefault(id(chunk.file), (chunk.file, []))[1].append(result)
        for file, fresh in by_file.values():
            file.analysed += len(fresh)
            if self.run_.store is not None:
                file.stored += self.run_.store.add(fresh, store_text=self.run_.store_text)

    def _count_workers(self, workers: list[str], rss: list[int]) -> None:
        for name, peak in zip(workers, rss, strict=True):
            stats = self.report.workers.setdefault(name, WorkerStats())
            stats.items += 1
            stats.peak_rss = max(stats.peak_rss, peak)
        for name in set(workers):
            self.report.workers[name].batches += 1


def _analyse(
    run: _Run, texts: dict[str, str]
) -> Iterator[tuple[list[str], list[str], list[str], list[str], list[int]]]:
    """One Ray Data run over ``texts`` (key -> text): each batch's keys, result JSON, errors,
    workers and peak memory, in the order batches finish."""
    ray = run.connect()
    options = run.options
    records = [{"key": key, "text": text} for key, text in texts.items()]
    blocks = max(1, math.ceil(len(records) / run.chunk_size))
    try:
        dataset = ray.data.from_items(records, override_num_blocks=blocks).map_batches(
            AnalyzeBatches,
            fn_constructor_args=(run.spec, run.model_id, run.language),
            batch_size=run.chunk_size,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=options.workers,
                                               max_tasks_in_flight_per_actor=2),
            num_cpus=options.cpus_per_worker,
        )
        batches = iter(dataset.iter_batches(batch_size=None, batch_format="pyarrow"))
        with closing(batches):  # its `finally` shuts the run down
            for batch in batches:
                yield (batch.column("key").to_pylist(), batch.column("result").to_pylist(),
                       batch.column("error").to_pylist(), batch.column("worker").to_pylist(),
                       batch.column("peak_rss").to_pylist())
    except ray.exceptions.RayError as exc:
        raise RayEngineError(
            f"The Ray run failed: {_reason(exc)} (every batch that came back is stored: run "
            "the same command again to resume)"
        ) from exc


class _RaySession:
    """Connects to Ray on first use; on close, shuts down a local instance it started and puts
    back the Ray Data settings it changed (no progress bars or execution logs)."""

    def __init__(self, options: RayOptions) -> None:
        self.options = options
        self._ray: Any = None
        self._saved: tuple[Any, bool, bool] | None = None
        self._started = False

    def connect(self) -> Any:
        """The ray module, connected."""
        if self._ray is not None:
            return self._ray
        ray = _import_ray()
        context = ray.data.DataContext.get_current()
        self._saved = (context, context.enable_progress_bars, context.print_on_execution_start)
        context.enable_progress_bars = context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)  # no log line per run
        # "Progress bars disabled": what was asked for, not worth a warning on every run.
        logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
        if not ray.is_initialized():
            _init(ray, self.options)
            self._started = True
        self._ray = ray
        return ray

    def close(self) -> None:
        """Undo what connect() did."""
        if self._saved is not None:
            context, context.enable_progress_bars, context.print_on_execution_start = self._saved
        if self._started:
            self._ray.shutdown()
        self._ray, self._saved, self._started = None, None, False


def _init(ray: Any, options: RayOptions) -> None:
    """Join the cluster at ``options.address`` (or RAY_ADDRESS), or start a local instance
    with CPUs enough for every worker."""
    common = {"include_dashboard": False, "log_to_driver": False,
              "logging_level": logging.WARNING}
    address = options.address or os.environ.get("RAY_ADDRESS")
    if address:
        _check_reachable(address)
    try:
        if address:
            ray.init(address=address, **common)
        else:
            # "local": a new instance for this run, even where `ray start` left one running
            # (join that with --address auto)
            cpus = max(os.cpu_count() or 1, math.ceil(options.workers * options.cpus_per_worker))
            ray.init(address="local", num_cpus=cpus, **common)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        hint = ""
        if address and "RAY_AUTH_MODE" not in os.environ:
            hint = (" (Ray clusters use token authentication by default: set RAY_AUTH_MODE=token "
                    "and the cluster's token in RAY_AUTH_TOKEN or ~/.ray/auth_token, or use "
                    "--address auto on a node of the cluster)")
        raise RayEngineError(f"Cannot start or reach {where}: {_reason(exc)}{hint}") from exc


def _check_reachable(address: str) -> None:
    """Fail at once on a host:port that does not answer (Ray retries it for many minutes)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():  # "auto", "local": Ray finds those itself
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as exc:
        raise RayEngineError(
            f"Cannot reach the Ray cluster at {address}: {exc.strerror or exc}"
        ) from exc


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise MissingExtraError("The Ray engine (--engine ray)", "ray") from exc
    return ray


def _reason(exc: BaseException) -> str:
    """The last line of an error's text: a Ray error's text ends with the worker's traceback,
    whose last line is the error raised there."""
    lines = [line.strip() for line in _ANSI.sub("", str(exc)).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__
