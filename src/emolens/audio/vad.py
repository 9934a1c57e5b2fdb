"""Voice-activity detection: speech probabilities from silero VAD, and a streaming segmenter.

The silero VAD ONNX model ships inside faster-whisper (``assets/silero_vad_v6.onnx``). We
drive it ourselves, block by block with its recurrent state carried over, instead of calling
faster-whisper's whole-file helper: a two-hour file then needs memory for one block, and the
same code serves a microphone stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emolens.audio.bandwidth import BandwidthMeter
from emolens.errors import MissingExtraError, ModelFileError

WINDOW = 512  # samples per silero decision at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous window the model sees before each window


def silero_model_path() -> Path:
    try:
        from faster_whisper.utils import get_assets_path
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MissingExtraError("Voice-activity detection", "audio") from exc
    path = Path(get_assets_path()) / "silero_vad_v6.onnx"
    if not path.is_file():
        raise ModelFileError(f"faster-whisper's silero VAD model is missing: {path}")
    return path


class SpeechProbability:
    """Streaming speech probability per 32 ms window; feed it audio of any block size."""

    def __init__(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # a tiny recurrent model: threads only add overhead
        options.inter_op_num_threads = 1
        options.log_severity_level = 4
        self._session = ort.InferenceSession(
            str(silero_model_path()), options, providers=["CPUExecutionProvider"]
        )
        self.reset()

    def reset(self) -> None:
        self._state_h = np.zeros((1, 1, 128), np.float32)
        self._state_c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(CONTEXT, np.float32)
        self._leftover = np.zeros(0, np.float32)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """Probabilities for every whole window completed by ``audio`` (the rest waits)."""
        audio = np.concatenate([self._leftover, np.asarray(audio, np.float32).reshape(-1)])
        whole = audio.size - audio.size % WINDOW
        self._leftover = audio[whole:]
        if whole == 0:
            return np.zeros(0, np.float32)
        windows = audio[:whole].reshape(-1, WINDOW)
        contexts = np.concatenate([self._context[None], windows[:-1, -CONTEXT:]])
        self._context = windows[-1, -CONTEXT:].copy()
        batch = np.concatenate([contexts, windows], axis=1)
        probs, self._state_h, self._state_c = self._session.run(
            None, {"input": batch, "h": self._state_h, "c": self._state_c}
        )
        return np.asarray(probs, np.float32).reshape(-1)

    def flush(self) -> np.ndarray:
        """Probability of the last partial window (zero-padded), if any."""
        if self._leftover.size == 0:
            return np.zeros(0, np.float32)
        pad = np.zeros(WINDOW - self._leftover.size, np.float32)
        return self(pad)


@dataclass(frozen=True)
class SegmentOptions:
    """How speech probabilities become utterance segments (seconds unless named otherwise)."""

    threshold: float = 0.5  # a window at or above this is speech
    neg_threshold: float = 0.35  # inside speech, only below this counts as silence
    min_speech: float = 0.25  # shorter bursts (clicks, coughs) are dropped
    min_silence: float = 0.5  # a pause this long ends an utterance
    max_segment: float = 15.0  # longer speech is split, at its longest pause if it has one
    pad: float = 0.3  # kept either side of each segment so word onsets are not clipped
    # Thresholds for narrow-band audio (telephone, 8 kHz; see audio.bandwidth). Silero scores
    # speech without its band above 4 kHz lower: through 8 kHz, RAVDESS clips' first words
    # often stay at 0.2-0.45 where the 16 kHz originals reach 0.6-0.9, so their segments began
    # a word or more late: 45 of 1,440 clips over 0.3 s late and 31 with no segment at all
    # (11 at 16 kHz); with these, 14 and 15 (benchmarks/narrow_band.py). Band-limited noise
    # scores lower too (white or brown noise through 8 kHz: under 0.1), so the lower
    # thresholds stay clear of it.
    narrow_threshold: float = 0.3
    narrow_neg_threshold: float = 0.15


class Segmenter:
    """Turns a stream of window probabilities into (start, end) sample spans as they close.

    ``narrow_band`` (settable between pushes, e.g. from a BandwidthMeter) selects the
    narrow-band thresholds of the options.
    """

    def __init__(self, options: SegmentOptions | None = None, sample_rate: int = 16_000):
        self.options = options or SegmentOptions()
        self.rate = sample_rate
        self.narrow_band = False
        o = self.options
        self._min_speech = round(o.min_speech * sample_rate / WINDOW)
        self._min_silence = round(o.min_silence * sample_rate / WINDOW)
        self._max_windows = max(1, round(o.max_segment * sample_rate / WINDOW))
        self._pad = round(o.pad * sample_rate)
        self._index = 0  # windows seen so far
        self._start: int | None = None  # window where the open segment began
        self._silence_run = 0  # consecutive silent windows inside the open segment
        self._best_pause: tuple[int, int] | None = None  # (length, end window) of longest pause
        self._last_end = 0  # sample where the previous segment ended (pads never overlap it)

    @property
    def position(self) -> int:
        """Samples consumed so far."""
        return self._index * WINDOW

    @property
    def open_start(self) -> int | None:
        """First sample (pad included) the open segment may need, or None when none is open."""
        if self._start is None:
            return None
        return max(self._last_end, self._start * WINDOW - self._pad)

    def push(self, probs: np.ndarray) -> list[tuple[int, int]]:
        """Feed window probabilities; return the segments they closed, as sample spans."""
        o = self.options
        threshold, neg_threshold = ((o.narrow_threshold, o.narrow_neg_threshold)
                                    if self.narrow_band else (o.threshold, o.neg_threshold))
        closed: list[tuple[int, int]] = []
        for p in np.asarray(probs, np.float32):
            i = self._index
            self._index += 1
            if self._start is None:
                if p >= threshold:
                    self._start, self._silence_run, self._best_pause = i, 0, None
                continue
            if p < neg_threshold or (self._silence_run and p < threshold):
                self._silence_run += 1
                if self._silence_run >= self._min_silence:
                    self._close(i + 1 - self._silence_run, closed)
                    continue
            else:
                if self._silence_run and (
                    self._best_pause is None or self._silence_run >= self._best_pause[0]
                ):
                    self._best_pause = (self._silence_run, i - self._silence_run)
                self._silence_run = 0
            if i + 1 - self._start >= self._max_windows:
                self._split(i + 1, closed)
        return closed

    def _split(self, now: int, closed: list[tuple[int, int]]) -> None:
        """The open segment hit max_segment: cut at its longest pause, else right here."""
        if self._best_pause is not None and self._best_pause[0] >= 3:  # a pause of >= ~100 ms
            length, pause_start = self._best_pause
            self._emit(self._start, pause_start, closed, pad_end=False)
            self._start = pause_start + length
        else:
            self._emit(self._start, now, closed, pad_end=False)
            self._start = now
        self._silence_run, self._best_pause = 0, None

    def _close(self, end_window: int, closed: list[tuple[int, int]]) -> None:
        if end_window - self._start >= self._min_speech:
            self._emit(self._start, end_window, closed, pad_end=True)
        self._start, self._silence_run, self._best_pause = None, 0, None

    def _emit(self, start_w: int, end_w: int, closed: list[tuple[int, int]], pad_end: bool):
        start = max(self._last_end, start_w * WINDOW - self._pad)
        end = end_w * WINDOW + (self._pad if pad_end else 0)
        end = min(end, self._index * WINDOW)
        if end > start:
            closed.append((start, end))
            self._last_end = end

    def flush(self) -> list[tuple[int, int]]:
        """Close the segment still open at the end of the stream."""
        closed: list[tuple[int, int]] = []
        if self._start is not None:
            self._close(self._index - self._silence_run, closed)
        return closed


class SpeechSpans:
    """Speech spans of one stream of 16 kHz blocks, as they close: silero's probabilities fed
    to a Segmenter that uses the narrow-band thresholds once the bandwidth meter tells."""

    def __init__(self, options: SegmentOptions | None = None) -> None:
        self.probability = SpeechProbability()
        self.segmenter = Segmenter(options)
        self.bandwidth = BandwidthMeter()

    def push(self, block: np.ndarray) -> list[tuple[int, int]]:
        self.segmenter.narrow_band = bool(self.bandwidth(block))
        return self.segmenter.push(self.probability(block))

    def flush(self) -> list[tuple[int, int]]:
        """The spans still open at the end of the stream."""
        return self.segmenter.push(self.probability.flush()) + self.segmenter.flush()


def speech_segments(
    blocks: Iterator[np.ndarray], options: SegmentOptions | None = None
) -> Iterator[tuple[int, int]]:
    """Sample spans of speech over a stream of 16 kHz audio blocks (narrow-band aware)."""
    spans = SpeechSpans(options)
    for block in blocks:
        yield from spans.push(block)
    yield from spans.flush()
