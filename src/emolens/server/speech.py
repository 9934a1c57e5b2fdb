"""Speech in the service: one SpeechAnalyzer, uploads and live streams, one analysis at a time.

Speech analysis is CPU-bound (Whisper and the voice model use every core), so it runs in
worker threads and takes turns under one lock: an upload holds it for its whole recording;
a live stream holds it only while it has audio to work on and lets go while it waits for
the next chunk, so a few streams and uploads interleave. Nothing here runs on the event loop
except ``AudioFeed.put`` (which never waits: a stream too far behind skips audio instead) and
``spool`` (which only waits).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import mimetypes
import re
import tempfile
import threading
import time
from collections import deque
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
                emit(feed.restamp(result))


@dataclass(frozen=True)
class Skipped:
    """Audio a live stream left out because its analysis was too far behind (stream seconds)."""

    t_start: float
    t_end: float
    behind: float  # seconds of audio that were waiting, the newest frame included
    total: float  # seconds skipped in this stream so far

    def message(self, limit: float) -> dict[str, object]:
        seconds = round(self.t_end - self.t_start, 3)
        return {"type": "skipped", "t_start": round(self.t_start, 3),
                "t_end": round(self.t_end, 3), "seconds": seconds,
                "total_seconds": round(self.total, 3), "behind": round(self.behind, 3),
                "reason": f"the analysis was {self.behind:.1f} s behind the audio received, more "
                          f"than audio_max_lag_seconds ({limit:g} s): {seconds:.1f} s of "
                          "waiting audio were not analysed"}


@dataclass
class _Gap:
    """Skipped audio, in bytes of the stream's PCM, as it waits in the feed."""

    size: int


class AudioFeed:
    """PCM frames from the event loop to a stream's analysis thread; the loop never waits.

    ``put`` queues a frame at once, so the socket is always read (and uvicorn's keepalive pings
    answered) however far the analysis is behind. The audio waiting is bounded in seconds:
    when more than ``max_lag`` seconds wait, all of it but the newest frame is skipped (the
    stream jumps back to live, like a video stream keeping the newest frame) and ``put``
    returns what was skipped, for the client. The analysis sees a skipped span as at most
    ``GAP_SILENCE`` seconds of silence, which ends any utterance that was open, and
    ``restamp`` puts its results back on the stream's clock, so their times count the
    skipped audio too and never fall inside it.
    """

    GAP_SILENCE = 1.0  # seconds: longer than the VAD's min_silence plus its pad

    def __init__(self, sample_rate: int, max_lag: float) -> None:
        self.rate = sample_rate
        self.max_lag = max_lag
        self._limit = max(2, 2 * round(max_lag * sample_rate))  # bytes of audio that may wait
        self._items: deque[bytes | _Gap] = deque()
        self._waiting = 0  # bytes of audio (not gaps) in _items
        self._ended = self._aborted = False
        self._ready = threading.Condition()
        self.bytes = 0  # received: the stream's clock
        self.skipped = 0  # bytes received but never analysed
        self._given = 0  # bytes handed to the analysis, silence included (analysis thread)
        self._gaps: list[tuple[float, float, float]] = []  # analysis seconds: start, silence,
        # and how much longer the skipped audio was than that silence (analysis thread)

    def _seconds(self, size: int) -> float:
        return size / 2 / self.rate

    def put(self, chunk: bytes) -> Skipped | None:
        """Queue a frame (on the loop, without waiting); what was skipped to make room, if
        anything."""
        with self._ready:
            received = self.bytes
            self.bytes += len(chunk)
            skipped = None
            if self._waiting and self._waiting + len(chunk) > self._limit:
                behind = self._waiting + len(chunk)
                gap = self._waiting + sum(i.size for i in self._items if isinstance(i, _Gap))
                self.skipped += self._waiting
                skipped = Skipped(self._seconds(received - self._waiting),
                                  self._seconds(received), self._seconds(behind),
                                  self._seconds(self.skipped))
                self._items.clear()
                self._items.append(_Gap(gap))  # one gap: audio only ever waits after it
                self._waiting = 0
            self._items.append(chunk)
            self._waiting += len(chunk)
            self._ready.notify()
        return skipped

    @property
    def behind(self) -> float:
        """Seconds of audio waiting for the analysis."""
        return self._seconds(self._waiting)

    def end(self) -> None:
        """No more audio: the analysis flushes what it holds and finishes."""
        with self._ready:
            self._ended = True
            self._ready.notify()

    def abort(self) -> None:
        """Stop the analysis at its next chunk, without flushing (the client is gone)."""
        with self._ready:
            self._aborted = True
            self._ready.notify()

    def chunks(self, cpu: threading.Lock) -> Iterator[bytes]:
        """The audio, in the analysis thread, letting go of ``cpu`` while none is waiting."""
        while True:
            item = self._take(cpu)
            if item is None:
                return
            if isinstance(item, _Gap):
                yield from self._silence(item.size)
                continue
            self._given += len(item)
            yield item

    def _take(self, cpu: threading.Lock) -> bytes | _Gap | None:
        """The next item (None: the end), waiting without ``cpu`` while there is none."""
        while True:
            with self._ready:
                if self._aborted:
                    raise StreamAborted
                if self._items:
                    item = self._items.popleft()
                    if not isinstance(item, _Gap):
                        self._waiting -= len(item)
                    return item
                if self._ended:
                    return None
            cpu.release()  # outside _ready: the loop's put must never wait for the CPU
            try:
                with self._ready:
                    while not (self._items or self._ended or self._aborted):
                        self._ready.wait(0.25)
            finally:
                cpu.acquire()

    def _silence(self, size: int) -> Iterator[bytes]:
        """A skipped span as up to GAP_SILENCE seconds of silence, noting the difference."""
        cap = 2 * round(self.GAP_SILENCE * self.rate)
        silence = size if size <= cap else cap + (size - cap) % 2  # whole samples left out
        self._gaps.append((self._seconds(self._given), self._seconds(silence),
                           self._seconds(size - silence)))
        self._given += silence
        step = 2 * (self.rate // 10)
        for at in range(0, silence, step):
            yield bytes(min(step, silence - at))

    def stream_time(self, t: float) -> float:
        """A time in the analysed audio as a time on the stream's clock (analysis thread).

        A time inside the silence standing for a skipped span goes to the span's nearer edge.
        """
        shift = 0.0
        for start, silence, extra in self._gaps:
            if t < start:
                break
            if t < start + silence:
                return start + shift + (silence + extra if t >= start + silence / 2 else 0.0)
            shift += extra
        return t + shift

    def restamp(self, result: EmotionResult) -> EmotionResult:
        """The result with its times on the stream's clock (analysis thread)."""
        if self._gaps:
            if result.t_start is not None:
                result.t_start = round(self.stream_time(result.t_start), 3)
            if result.t_end is not None:
                result.t_end = round(self.stream_time(result.t_end), 3)
        return result


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
