"""Images and video in the service: one VisualAnalyzer, image uploads, video jobs, live frames.

The face detector, expression model, OCR and text model are loaded once and shared by image
requests, video jobs and live streams; onnxruntime sessions may run from several threads at
once, and OCR (rapidocr keeps Python state) takes turns under its own lock. With ``--audio``
the videos' sound goes through the service's one speech analyzer, under its CPU lock.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emolens.errors import InvalidInputError
from emolens.server.schemas import VisualAnalyzeResponse
from emolens.server.settings import ServerSettings
from emolens.types import EmotionResult

if TYPE_CHECKING:
    from emolens.pipeline import Analyzer
    from emolens.server.jobs import Job
    from emolens.server.speech import SpeechService, Upload
    from emolens.store import ResultStore
    from emolens.vision.pipeline import VideoTimeline, VisualAnalyzer
    from emolens.vision.tracking import FaceTracker

log = logging.getLogger("emolens.server")

JPEG_MAGIC = b"\xff\xd8\xff"
_running = threading.local()  # the job a worker thread runs, so its audio track can stop too


class VisionService:
    """The loaded VisualAnalyzer and the count of open live video streams."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.analyzer: VisualAnalyzer | None = None
        self.streams = 0
        self.speech_served = False
        # Each image already keeps every core busy (onnxruntime); more would only queue there.
        self.images = asyncio.Semaphore(2)

    def start(self, text_analyzer: Analyzer | None, speech: SpeechService | None) -> None:
        """Load the models (blocking: call it from a thread) and warm them up, so the first
        client does not pay for lazy loading; ``text_analyzer`` and ``speech`` are shared."""
        from emolens.vision.pipeline import VisualAnalyzer

        s = self.settings
        began = time.perf_counter()
        shared = _SharedSpeech(speech) if speech is not None and speech.analyzer else None
        self.speech_served = shared is not None
        self.analyzer = VisualAnalyzer(
            expression_model=s.face_model, text_model=s.model, fps=s.video_fps,
            weights=s.fusion_weights, min_face_size=s.face_min_size,
            speech=shared, text_analyzer=text_analyzer,  # type: ignore[arg-type]
        )
        if self.analyzer.reader is not None:
            self.analyzer.reader = _LockedReader(self.analyzer.reader)
            self.analyzer.reader.read(np.full((64, 64, 3), 128, np.uint8))
        self.analyzer.faces_in(np.full((64, 64, 3), 128, np.uint8))
        log.info("vision models %s loaded in %.1f s", self.model_id, time.perf_counter() - began)

    @property
    def model_id(self) -> str:
        """What produces the results: face expression + text (+ speech) models."""
        return self.analyzer.model_id if self.analyzer is not None else ""

    # -- images -------------------------------------------------------------------------------

    def analyze_image(self, upload: Upload, name: str, source: str,
                      store: ResultStore | None) -> VisualAnalyzeResponse:
        """Faces, text and their fusion in an uploaded image, stored if asked (blocking)."""
        with named_errors(upload.path, name):
            timeline = self.analyzer.analyze_image(upload.path, source=source)  # keys as the CLI
        return self._response(timeline, source, store)

    # -- video jobs ---------------------------------------------------------------------------

    def probe_video(self, upload: Upload, name: str) -> tuple[float | None, bool]:
        """Duration and whether there is an audio track; InvalidInputError if not a video."""
        from emolens.io.media import open_media

        with named_errors(upload.path, name), open_media(upload.path, "video") as container:
            stream = container.streams.video[0]
            seconds = None
            if stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                seconds = container.duration / 1_000_000
            return seconds, bool(container.streams.audio)

    def video_job(self, upload: Upload, name: str, source: str, language: str | None,
                  store: ResultStore | None, has_audio: bool
                  ) -> Callable[[Job], VisualAnalyzeResponse]:
        """The work of one video job: analyse, note what was left out, store, answer."""
        def run(job: Job) -> VisualAnalyzeResponse:
            _running.job = job
            try:
                with named_errors(upload.path, name):
                    timeline = self.analyzer.analyze_video(upload.path, language=language,
                                                           progress=job.progress, source=source)
            finally:
                _running.job = None
            if job.cancel.is_set():  # cancelled during the last steps: nothing is stored
                from emolens.server.jobs import JobCancelled

                raise JobCancelled
            total = job.total_seconds
            if total and timeline.duration < total - max(1.0, 2.0 / self.analyzer.fps):
                timeline.notes.append(
                    f"decoding stopped at {timeline.duration:.1f} s of {total:.1f} s: the file "
                    "may be truncated; the results cover what could be read")
            if has_audio and not self.speech_served:
                timeline.notes.append("audio track not analysed: the service runs without "
                                      "--audio")
            return self._response(timeline, source, store)

        return run

    def _response(self, timeline: VideoTimeline, source: str,
                  store: ResultStore | None) -> VisualAnalyzeResponse:
        timeline.source = source
        for r in timeline.results():
            r.source_id = source
        stored = store.add(timeline.results(), self.settings.store_text) if store else 0
        return VisualAnalyzeResponse(
            model=timeline.model or self.model_id, source=source,
            duration=round(timeline.duration, 3),
            summary=timeline.summary(), faces=timeline.faces, captions=timeline.captions,
            speech=timeline.speech, fused=timeline.fused, notes=timeline.notes, stored=stored)

    # -- live streams -------------------------------------------------------------------------

    def open_stream(self) -> bool:
        """Take a stream slot (on the event loop); False when all are in use."""
        if self.streams >= self.settings.video_streams:
            return False
        self.streams += 1
        return True

    def close_stream(self) -> None:
        """Give the slot back."""
        self.streams -= 1

    def frame(self, tracker: FaceTracker, data: bytes, t: float) -> tuple[list[EmotionResult],
                                                                            tuple[int, int]]:
        """Faces in one JPEG frame with their track ids, and its (width, height) (blocking)."""
        image = decode_jpeg(data)
        return self.analyzer.frame_faces(image, t, tracker), (image.shape[1], image.shape[0])


def decode_jpeg(data: bytes) -> np.ndarray:
    """A JPEG's bytes as upright RGB uint8 (EXIF orientation applied), scaled as video frames
    are; InvalidInputError if it is not a JPEG or does not decode."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    from emolens.vision.frames import MAX_IMAGE_PIXELS, VIDEO_MAX_SIDE

    if not data.startswith(JPEG_MAGIC):
        raise InvalidInputError("not a JPEG (it does not start with the JPEG marker FF D8 FF)")
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as opened:
            opened.draft("RGB", (VIDEO_MAX_SIDE, VIDEO_MAX_SIDE))  # fast JPEG shrink
            # A browser's canvas JPEG has no EXIF and is upright already, but a camera's or a
            # phone app's may be stored sideways with an EXIF orientation: turned as image
            # uploads are (load_image), or its faces lie on their side and are missed.
            rgb = ImageOps.exif_transpose(opened).convert("RGB")
            rgb.thumbnail((VIDEO_MAX_SIDE, VIDEO_MAX_SIDE), Image.Resampling.BOX)
            return np.asarray(rgb)
    except Image.DecompressionBombError:
        raise InvalidInputError(f"the JPEG is over {MAX_IMAGE_PIXELS:,} pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidInputError(f"the JPEG cannot be decoded ({exc})") from None


class named_errors:
    """Errors raised inside name the upload, never the temporary file."""

    def __init__(self, path: Path, name: str) -> None:
        self.path, self.name = str(path), name

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if isinstance(exc, InvalidInputError) and self.path in str(exc):
            raise InvalidInputError(str(exc).replace(self.path, self.name)) from None


class _LockedReader:
    """The OCR reader, one frame at a time (its engine holds Python state between calls)."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader
        self._lock = threading.Lock()

    def read(self, frame: np.ndarray) -> list[Any]:
        with self._lock:
            return self._reader.read(frame)


class _SharedSpeech:
    """The service's SpeechAnalyzer as the video pipeline sees it: a video's audio track is
    analysed under the speech CPU lock, taking turns with uploads and live audio streams."""

    def __init__(self, speech: SpeechService) -> None:
        self._speech = speech

    def __getattr__(self, name: str) -> Any:
        return getattr(self._speech.analyzer, name)

    def analyze_file(self, path: str | Path, **options: Any) -> Any:
        job = getattr(_running, "job", None)
        if job is not None:  # a cancelled job stops at the next block of its audio track
            options.setdefault("progress", lambda _seconds: job.progress(0.0))
        with self._speech.cpu:
            return self._speech.analyzer.analyze_file(path, **options)
