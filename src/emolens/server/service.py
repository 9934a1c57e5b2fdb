"""The parts the service holds while it runs: models loaded once, the store, keys, limits."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool

from emolens.errors import InvalidInputError
from emolens.io.times import parse_time
from emolens.pipeline import Analyzer, build_analyzer
from emolens.registry import recognizers
from emolens.server.auth import Authenticator, RateLimiter
from emolens.server.batcher import MicroBatcher
from emolens.server.jobs import JobManager
from emolens.server.keys import KeyStore
from emolens.server.schemas import AnalyzeRequest, AnalyzeResponse
from emolens.server.settings import ServerSettings
from emolens.server.speech import SpeechService
from emolens.server.vision import VisionService
from emolens.store import ResultStore

log = logging.getLogger("emolens.server")


class Service:
    """Loads models and opens the store in ``start()`` (no I/O before); ``stop()`` closes.

    Between them, ``open()`` and ``close()`` run one micro-batching worker per model on the
    event loop.
    """

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.analyzers: dict[str, Analyzer] = {}  # public name -> analyzer; first is the default
        self.batchers: dict[str, MicroBatcher] = {}
        self.store: ResultStore | None = None
        self.auth: Authenticator | None = None
        self.speech: SpeechService | None = None  # with settings.audio only
        self.vision: VisionService | None = None  # with settings.vision only
        self.jobs = JobManager(settings.job_workers, settings.max_jobs, settings.job_keep_seconds)
        self.ready = False
        self.started = False

    def start(self) -> None:
        """Open the store, load every served model and, with audio or vision on, theirs; a
        second call does nothing (`emolens serve` starts the service before uvicorn does).

        Blocking: call it from a thread.
        """
        if self.started:
            return
        s = self.settings
        self.store = ResultStore(s.db)
        self.auth = Authenticator(
            KeyStore(self.store), RateLimiter(s.rate_limit, s.rate_burst), required=s.auth,
            cache_seconds=s.key_cache_seconds,
        )
        for spec in s.models():
            began = time.perf_counter()
            analyzer = build_analyzer(spec, batch_size=s.batch_size,
                                      max_chars=s.max_request_chars,
                                      uncertain_below=s.uncertain_below)
            analyzer.analyze_batch(["warm up"])  # first call pays lazy loading, not a client
            # A model directory is served under its model's name, so its path is not shown.
            name = spec if spec in recognizers.names() else analyzer.recognizer.name
            self.analyzers[name] = analyzer
            log.info("model %s (%s) loaded in %.1f s", name, analyzer.model_id,
                     time.perf_counter() - began)
        if s.audio:
            self.speech = SpeechService(s)
            self.speech.start(next(iter(self.analyzers.values()), None))
        if s.vision:
            self.vision = VisionService(s)
            self.vision.start(next(iter(self.analyzers.values()), None), self.speech)
        self.started = True

    def open(self) -> None:
        """Start the batching workers on the running loop; the service is then ready."""
        for name, analyzer in self.analyzers.items():
            self.batchers[name] = MicroBatcher(analyzer, max_texts=self.settings.max_batch)
            self.batchers[name].start()
        self.ready = True

    async def close(self) -> None:
        """Let running jobs finish (or cancel them after job_grace_seconds), then stop the
        batching workers (after uvicorn has let open requests finish)."""
        self.ready = False
        await self.jobs.shutdown(self.settings.job_grace_seconds)
        for batcher in self.batchers.values():
            await batcher.stop()

    def stop(self) -> None:
        """Stop answering readiness, release the database; ``start`` may load again."""
        self.ready = self.started = False
        if self.store is not None:
            self.store.close()

    def analyzer(self, name: str | None) -> tuple[str, Analyzer]:
        """A served model by public name or name@version; never a path from a client."""
        if name is None:
            return next(iter(self.analyzers.items()))
        for public, analyzer in self.analyzers.items():
            if name in (public, analyzer.model_id):
                return public, analyzer
        raise InvalidInputError(
            f"Model {name!r} is not served here; served: {sorted(self.analyzers)} "
            "(start the service with --model NAME to serve another)."
        )

    def check(self, texts: list[str]) -> None:
        """Refuse batches and texts over the limits, saying which and by how much."""
        s = self.settings
        if len(texts) > s.max_batch:
            raise InvalidInputError(
                f"{len(texts)} texts in one request; the limit is {s.max_batch} (max_batch)."
            )
        for i, text in enumerate(texts):
            if len(text) > s.max_request_chars:
                raise InvalidInputError(
                    f"Text {i} has {len(text):,} characters; the limit is "
                    f"{s.max_request_chars:,} (max_request_chars). Split it or shorten it."
                )

    async def analyze(self, request: AnalyzeRequest) -> AnalyzeResponse:
        """Results of one request (batched with concurrent ones), stored when asked."""
        texts = request.items()
        self.check(texts)
        name, analyzer = self.analyzer(request.model)
        results = await self.batchers[name].analyze(texts, request.language)
        source = request.source or "api"
        when = self.written_at(request)
        for r, own in zip(results, request.item_ids(), strict=True):
            r.source_id, r.group, r.timestamp = source, request.group, when
            r.item_key = _item_key(source, request, when, r.text or "", own)
            if own is not None:
                r.details["item_id"] = own  # as `analyze file --id-col` stores it
        stored = already = 0
        if request.store and self.store is not None:
            stored = await run_in_threadpool(self.store.add, results, self.settings.store_text)
            already = len(results) - stored
        return AnalyzeResponse(model=analyzer.model_id, results=results, stored=stored,
                               already_stored=already)

    def written_at(self, request: AnalyzeRequest) -> datetime | None:
        """The request's ``timestamp`` in UTC: one without an offset read in the request's
        ``source_tz``, else the service's setting."""
        given = request.timestamp
        if given is None or given.tzinfo is not None:
            return None if given is None else given.astimezone(UTC)
        zone = request.source_tz or self.settings.source_tz
        try:
            utc = parse_time(given, zone)
        except ValueError:  # 0001-01-01T00:00 east of UTC would fall before the year 1
            raise InvalidInputError(
                f"timestamp {given.isoformat()} in {zone} is out of range once converted to "
                "UTC; give a time further from the calendar's ends, or one with an offset."
            ) from None
        return None if utc is None else utc.replace(tzinfo=UTC)


def _item_key(source: str, request: AnalyzeRequest, when: datetime | None, text: str,
              own_id: str | None = None) -> str:
    """Same text, source, group, time and client id: the same item, stored once (a retry
    adds nothing)."""
    if request.timestamp is not None and request.timestamp.tzinfo is not None:
        when = request.timestamp  # keyed with the offset given, as items stored before
    elif when is not None:
        # A time given without an offset is keyed on the UTC time it stands for, written
        # without one as before source_tz: with the zone UTC, keys of items stored before stay.
        when = when.replace(tzinfo=None)
    parts = [source, request.group, when.isoformat() if when else None, text]
    ident = json.dumps(parts if own_id is None else [*parts, own_id], ensure_ascii=False)
    return "api:" + hashlib.sha256(ident.encode("utf-8", errors="surrogatepass")).hexdigest()
