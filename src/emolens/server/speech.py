"""Speech in the service: one SpeechAnalyzer, uploads and live streams, one analysis at a time.

Speech analysis is CPU-bound (Whisper and the voice model use every core), so it runs in
worker threads and takes turns under one lock: an upload holds it for its whole recording;
a live stream holds it only while it has audio to work on and lets go while it waits for
the next chunk, so a few streams and uploads interleave. Nothing here runs on the event loop
except ``AudioFeed.put`` and ``spool``, which only wait.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import mimetypes
import queue
import re
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool

from emolens.errors import InvalidInputError
from emolens.server.settings import ServerSettings
from emolens.types import EmotionResult

if TYPE_CHECKING:
    from emolens.audio.pipeline import AudioTimeline, SpeechAnalyzer
    from emolens.pipeline import Analyzer
    from emolens.store import ResultStore

log = logging.getLogger("emolens.server")

_WRITE_BYTES = 1 << 20  # an upload is written to disk a MiB at a time, off the event loop


class StreamAborted(Exception):
    """The client of a live stream left (or broke the protocol): stop without flushing."""


@dataclass
class Upload:
    """A request body spooled to a temporary file, with its size and SHA-256."""

    path: Path
    size: int
    sha256: str


@dataclass
class UploadAnalysis:
    """The timeline of one upload and how many of its segments were newly stored."""

    timeline: AudioTimeline
    stored: int


class SpeechService:
    """The loaded SpeechAnalyzer, the CPU lock, and the count of open live streams."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.analyzer: SpeechAnalyzer | None = None
        self.cpu = threading.Lock()
        self.uploads = asyncio.Lock()  # uploads wait here, on the loop, not in a thread
        self.streams = 0

    def start(self, text_analyzer: Analyzer | None = None) -> None:
        """Load Whisper and the voice model (blocking: call it from a thread); the words are
        read by ``text_analyzer`` (the service's default model, shared) or a new one."""
        from emolens.audio.pipeline import SpeechAnalyzer

        s = self.settings
        began = time.perf_counter()
        self.analyzer = SpeechAnalyzer(
            asr_model=s.asr_model, voice_model=s.voice_model, text_model=s.model,
            weights=s.fusion_weights, beam_size=s.asr_beam_size, text_analyzer=text_analyzer,
        )
        log.info("speech model %s loaded in %.1f s", self.analyzer.model_id,
                 time.perf_counter() - began)

    @property
    def model_id(self) -> str:
        """What produces the results: ASR + voice model + text model."""
        return self.analyzer.model_id if self.analyzer is not None else ""

    # -- uploads ------------------------------------------------------------------------

    def analyze_upload(
        self, upload: Upload, name: str, source: str, language: str | None,
        store: ResultStore | None, progress: Callable[[float], None] | None = None,
    ) -> UploadAnalysis:
        """Timeline of a spooled upload, stored as it goes when ``store`` is given (blocking);
        ``progress`` receives seconds of audio decoded (a job's, which may stop it there)."""
        stored = 0

        def keep(results: list[EmotionResult]) -> None:
            nonlocal stored
            for r in results:
                r.source_id = source
                r.item_key = _item_key(source, r.item_key or "")
            if store is not None:
                stored += store.add(results, self.settings.store_text)

        with self.cpu:
            try:
                timeline = self.analyzer.analyze_file(upload.path, language=language,
                                                      on_results=keep, progress=progress)
            except InvalidInputError as exc:  # name the upload, not the temporary file
                raise InvalidInputError(str(exc).replace(str(upload.path), name)) from None
        timeline.source = source
        return UploadAnalysis(timeline, stored)

    # -- live streams -------------------------------------------------------------------

    def open_stream(self) -> bool:
        """Take a stream slot (on the event loop); False when all are in use."""
        if self.streams >= self.settings.audio_streams:
            return False
        self.streams += 1
        return True

    def close_stream(self) -> None:
        """Give the slot back once the stream's thread has ended."""
        self.streams -= 1

    def run_stream(
        self, feed: AudioFeed, emit: Callable[[EmotionResult], None], sample_rate: int,
        language: str | None,
    ) -> None:
        """Analyse a live stream until its feed ends, passing each segment to ``emit``.

        Blocking: run it in a worker thread. Raises StreamAborted when the feed is aborted.
        """
        with self.cpu:
            for result in self.analyzer.stream(feed.chunks(self.cpu), sample_rate, language):
                emit(result)


class AudioFeed:
    """PCM chunks from the event loop to a stream's analysis thread, at most ``size`` waiting.

    ``put`` waits while the feed is full, so a client sending faster than the analysis is
    slowed by TCP; ``end`` lets the analysis flush its last segment; ``abort`` stops it.
    """

    _END = object()

    def __init__(self, size: int) -> None:
        self._queue: queue.Queue[bytes | object] = queue.Queue(maxsize=size)
        self._aborted = threading.Event()
        self.bytes = 0

    async def put(self, chunk: bytes) -> None:
        """Queue a chunk (on the loop), waiting while the feed is full."""
        await self._put(chunk)
        self.bytes += len(chunk)

    async def end(self) -> None:
        """No more audio: the analysis flushes what it holds and finishes."""
        await self._put(self._END)

    def abort(self) -> None:
        """Stop the analysis at its next chunk, without flushing (the client is gone)."""
        self._aborted.set()

    async def _put(self, item: bytes | object) -> None:
        while not self._aborted.is_set():
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:
                await asyncio.sleep(0.02)  # polling: no thread is held while the feed is full

    def chunks(self, cpu: threading.Lock) -> Iterator[bytes]:
        """The chunks, in the analysis thread, letting go of ``cpu`` while none is waiting."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                cpu.release()
                try:
                    item = self._wait()
                finally:
                    cpu.acquire()
            if self._aborted.is_set():
                raise StreamAborted
            if item is self._END:
                return
            yield item  # type: ignore[misc]

    def _wait(self) -> bytes | object:
        while not self._aborted.is_set():
            try:
                return self._queue.get(timeout=0.25)
            except queue.Empty:
                continue
        return self._END


async def spool(body: AsyncIterator[bytes], suffix: str) -> Upload:
    """Write a request body to a temporary file a MiB at a time, hashing it on the way."""
    digest, size = hashlib.sha256(), 0
    pending: list[bytes] = []
    waiting = 0
    with tempfile.NamedTemporaryFile(prefix="emolens-upload-", suffix=suffix,
                                     delete=False) as handle:
        path = Path(handle.name)

        def write(data: bytes) -> None:
            digest.update(data)
            handle.write(data)

        try:
            async for chunk in body:
                pending.append(chunk)
                waiting += len(chunk)
                size += len(chunk)
                if waiting >= _WRITE_BYTES:
                    await run_in_threadpool(write, b"".join(pending))
                    pending, waiting = [], 0
            await run_in_threadpool(write, b"".join(pending))
        except BaseException:  # over the limit, client gone: no file is left behind
            handle.close()
            path.unlink(missing_ok=True)
            raise
    return Upload(path, size, digest.hexdigest())


def upload_suffix(filename: str | None, content_type: str) -> str:
    """The extension to give the temporary file, from the name or else the media type.

    FFmpeg finds most formats by their content; the extension helps for raw streams (ADTS
    AAC, AMR). Only a short alphanumeric extension is ever used, never a path.
    """
    suffix = Path(filename).suffix.lower() if filename else ""
    if not suffix and content_type not in ("", "application/octet-stream"):
        suffix = mimetypes.guess_extension(content_type) or ""
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""


def _item_key(source: str, segment_key: str) -> str:
    """A segment of the same recording under the same source is the same item (stored once)."""
    ident = json.dumps([source, segment_key], ensure_ascii=False)
    return "api-audio:" + hashlib.sha256(ident.encode("utf-8", errors="surrogatepass")).hexdigest()
