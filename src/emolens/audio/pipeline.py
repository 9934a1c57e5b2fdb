"""Speech analysis: decode -> voice activity -> Whisper ASR -> voice + words -> fusion.

Each utterance segment becomes one ``EmotionResult`` with ``modality="speech"``, its time
span (``t_start``/``t_end`` in seconds from the start of the recording), its transcript as
``text``, the fused canonical scores, and in ``details`` what the voice and the words said on
their own and the weight each got.

Speed comes from packing: consecutive segments are joined (with short silences between)
into one window of up to ``pack_seconds`` for Whisper, whose encoder always works on 30 s,
and each recognised word goes back to the segment it was spoken in by its timestamp.
Memory stays bounded: audio is decoded block by block and only the speech not yet analysed
is held.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emolens import labels as L
from emolens.audio.asr import Transcriber, Transcript
from emolens.audio.decode import SAMPLE_RATE, check_recording, iter_audio_blocks
from emolens.audio.vad import SegmentOptions, SpeechSpans
from emolens.errors import InvalidInputError
from emolens.fusion import fuse, words_reliability
from emolens.io.fingerprint import file_fingerprint
from emolens.types import EmotionResult

if TYPE_CHECKING:
    from emolens.pipeline import Analyzer

GAP_SECONDS = 0.3  # silence put between packed segments, so words do not run together
WHISPER_WINDOW = 30.0
MIN_RETRY_SECONDS = 0.6  # a wordless packed segment this long gets a second, solo pass
RELAXED_THRESHOLD = 0.3  # VAD threshold of the second look at a recording with no speech found


@dataclass
class Segment:
    """One utterance: its span in the recording (samples at 16 kHz) and its audio."""

    start: int
    end: int
    audio: np.ndarray

    @property
    def seconds(self) -> float:
        return (self.end - self.start) / SAMPLE_RATE


@dataclass
class AudioTimeline:
    """Every speech segment of one recording, in order, and a summary of them."""

    source: str
    duration: float  # seconds of audio decoded
    segments: list[EmotionResult] = field(default_factory=list)
    skipped: int = 0  # segments already in the store (a resumed run)

    def results(self) -> list[EmotionResult]:
        """Every result, as stored: the segments."""
        return list(self.segments)

    @property
    def speech_seconds(self) -> float:
        return sum((s.t_end or 0.0) - (s.t_start or 0.0) for s in self.segments)

    def summary(self) -> dict[str, object]:
        """Speech-time-weighted mean distribution, its top label, valence and arousal."""
        if not self.segments:
            return {"source": self.source, "duration": self.duration, "segments": 0,
                    "speech_seconds": 0.0, "label": None, "scores": {}}
        labels = list(self.segments[0].scores)
        spans = np.array([max(1e-3, (s.t_end or 0) - (s.t_start or 0)) for s in self.segments])
        probs = np.array([[s.scores[k] for k in labels] for s in self.segments])
        mean = (spans[:, None] * probs).sum(0) / spans.sum()
        scores = {k: float(v) for k, v in zip(labels, mean, strict=True)}
        va = L.valence_arousal(mean[None])[0] if tuple(labels) == L.CANONICAL else None
        return {
            "source": self.source,
            "duration": round(self.duration, 3),
            "segments": len(self.segments),
            "speech_seconds": round(self.speech_seconds, 3),
            "label": max(scores, key=scores.__getitem__),
            "scores": scores,
            "valence": None if va is None else float(va[0]),
            "arousal": None if va is None else float(va[1]),
        }


def segment_stream(
    blocks: Iterable[np.ndarray], options: SegmentOptions | None = None
) -> Iterator[Segment]:
    """Utterance segments with their audio, holding only audio that may still be needed.

    Narrow-band audio (an 8 kHz or telephone recording) is segmented with the options'
    narrow-band thresholds, from the first block in which the bandwidth meter can tell.
    """
    spans = SpeechSpans(options)
    segmenter = spans.segmenter
    buffer = np.zeros(0, np.float32)
    offset = 0  # recording sample index of buffer[0]
    keep_before = int(segmenter.options.pad * SAMPLE_RATE) + 1024

    def cut(spans: list[tuple[int, int]]) -> Iterator[Segment]:
        for start, end in spans:
            yield Segment(start, end, buffer[start - offset : end - offset].copy())

    for block in blocks:
        buffer = np.concatenate([buffer, np.asarray(block, np.float32).reshape(-1)])
        yield from cut(spans.push(block))
        # Drop audio no open or future segment can reach (its start pad included).
        needed = segmenter.open_start
        if needed is None:
            needed = segmenter.position - keep_before
        drop = max(0, min(needed, offset + buffer.size) - offset)
        buffer, offset = buffer[drop:], offset + drop
    yield from cut(spans.flush())


def _packs(segments: Iterable[Segment], pack_seconds: float) -> Iterator[list[Segment]]:
    """Consecutive segments grouped so each group (with gaps) fits one Whisper window."""
    limit = min(pack_seconds, WHISPER_WINDOW - 1.0)
    pack: list[Segment] = []
    length = 0.0
    for segment in segments:
        added = segment.seconds + (GAP_SECONDS if pack else 0.0)
        if pack and length + added > limit:
            yield pack
            pack, length, added = [], 0.0, segment.seconds
        pack.append(segment)
        length += added
        if length >= limit:
            yield pack
            pack, length = [], 0.0
    if pack:
        yield pack


def _join(pack: Sequence[Segment]) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The pack's audio with gaps between, and where each segment sits in it (seconds)."""
    gap = np.zeros(int(GAP_SECONDS * SAMPLE_RATE), np.float32)
    pieces: list[np.ndarray] = []
    places: list[tuple[float, float]] = []
    at = 0
    for i, segment in enumerate(pack):
        if i:
            pieces.append(gap)
            at += gap.size
        audio = segment.audio[: int((WHISPER_WINDOW - 0.5) * SAMPLE_RATE)]
        pieces.append(audio)
        places.append((at / SAMPLE_RATE, (at + audio.size) / SAMPLE_RATE))
        at += audio.size
    return np.concatenate(pieces), places


def split_words(transcript: Transcript, places: Sequence[tuple[float, float]]) -> list[str]:
    """Each segment's text: the words whose midpoint lies in it (else the nearest segment)."""
    parts: list[list[str]] = [[] for _ in places]
    for word in transcript.words:
        middle = (word.start + word.end) / 2
        distance = [
            0.0 if a <= middle <= b else min(abs(middle - a), abs(middle - b)) for a, b in places
        ]
        parts[int(np.argmin(distance))].append(word.text)
    # Whisper's English words carry their leading space and Chinese words none: join as is.
    return ["".join(p).strip() for p in parts]


def _count_words(text: str, language: str) -> int:
    if language == "zh":
        return sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff") // 2
    return len(text.split())


class SpeechAnalyzer:
    """Loads the ASR, voice and text models once; analyses files and live streams."""

    def __init__(
        self,
        asr_model: str = "base",
        voice_model: str = "default",
        text_model: str = "default",
        weights: dict[str, float] | None = None,
        segment_options: SegmentOptions | None = None,
        pack_seconds: float = 28.0,
        beam_size: int = 1,
        threads: int | None = None,
        text_analyzer: Analyzer | None = None,
    ) -> None:
        """``text_analyzer``: an already loaded text Analyzer to share (else ``text_model``
        is loaded)."""
        from emolens.audio.voice import load_voice_model
        from emolens.pipeline import build_analyzer

        self.transcriber = Transcriber(asr_model, beam_size=beam_size, threads=threads)
        # The voice model reads Whisper encoder states; it shares the ASR's model when that
        # is the encoder it was trained on, and loads its own otherwise.
        self.voice = load_voice_model(voice_model, whisper=self.transcriber.model)
        self.text = text_analyzer or build_analyzer(text_model)
        self.weights = {"voice": 0.5, "words": 0.5, **(weights or {})}
        self.segment_options = segment_options or SegmentOptions()
        self.pack_seconds = pack_seconds
        # A voice model trained on a user's own labels (`emolens train audio`, e.g. calm /
        # agitated) labels each segment with them; the words' canonical scores cannot be
        # pooled with those, so they are kept beside them in ``details["words"]``.
        self.own_voice_labels = self.voice.scheme == "custom"
        self._voice_matrix = (None if self.own_voice_labels else
                              L.mapping_matrix(self.voice.labels, self.voice.scheme))

    @property
    def output_labels(self) -> tuple[str, ...]:
        """Every label a result may carry: canonical ones, then the models' own labels."""
        voice = self.voice.labels if self.own_voice_labels else ()
        return tuple(dict.fromkeys((*L.CANONICAL, *voice, *self.text.output_labels)))

    @property
    def model_id(self) -> str:
        """What produced the stored results: ASR + voice model + text model."""
        voice = f"{self.voice.name}@{self.voice.version}"
        return f"speech[asr={self.transcriber.name},voice={voice},text={self.text.model_id}]"

    # -- one pack of segments -----------------------------------------------------------

    def analyze_segments(
        self, segments: Sequence[Segment], language: str | None = None
    ) -> list[EmotionResult]:
        """Results for consecutive segments that fit one Whisper window, in order."""
        if not segments:
            return []
        audio, places = _join(segments)
        transcript = self.transcriber.transcribe(audio, language)
        texts = split_words(transcript, places)
        for i, segment in enumerate(segments):
            # Whisper sometimes skips one utterance of a packed window (a shout next to a
            # quiet voice, an abrupt start): a segment left wordless is transcribed alone.
            if not texts[i] and len(segments) > 1 and segment.seconds >= MIN_RETRY_SECONDS:
                texts[i] = self.transcriber.transcribe(segment.audio, transcript.language).text
        voice = self.voice.predict_proba([s.audio for s in segments])
        if self._voice_matrix is not None:
            voice = voice @ self._voice_matrix
        spoken = [i for i, t in enumerate(texts) if t]
        words = {}
        if spoken:
            found = self.text.analyze_batch(
                [texts[i] for i in spoken], languages=[transcript.language] * len(spoken)
            )
            words = dict(zip(spoken, found, strict=True))
        results = []
        for i, segment in enumerate(segments):
            voice_p = voice[i] / voice[i].sum()
            if self.own_voice_labels:
                results.append(self._own_label_result(segment, voice_p, texts[i], words.get(i),
                                                      transcript.language))
                continue
            distributions = {"voice": voice_p}
            reliability = {"voice": 1.0}
            if i in words:
                distributions["words"] = np.array([words[i].scores[k] for k in L.CANONICAL])
                reliability["words"] = words_reliability(
                    _count_words(texts[i], transcript.language)
                )
            fused, shares = fuse(distributions, self.weights, reliability)
            va = L.valence_arousal(fused[None])[0]
            scores = {k: float(v) for k, v in zip(L.CANONICAL, fused, strict=True)}
            details = {
                "voice": {k: round(float(v), 4) for k, v in zip(L.CANONICAL, voice_p, strict=True)},
                "words": None if i not in words else {
                    k: round(v, 4) for k, v in words[i].scores.items()
                },
                "fusion_weights": {k: round(v, 4) for k, v in shares.items()},
            }
            label = max(scores, key=scores.__getitem__)
            below = getattr(self.voice, "abstain_below", None)  # set by `emolens train audio`
            if below is not None and i not in words and scores[label] < below:
                label, details["uncertain"] = "uncertain", True  # the voice alone, unsure
            results.append(
                EmotionResult(
                    label=label,
                    scores=scores,
                    valence=float(va[0]),
                    arousal=float(va[1]),
                    language=transcript.language,
                    modality="speech",
                    model=self.model_id,
                    text=texts[i],
                    t_start=round(segment.start / SAMPLE_RATE, 3),
                    t_end=round(segment.end / SAMPLE_RATE, 3),
                    details=details,
                )
            )
        return results

    def _own_label_result(self, segment: Segment, voice_p: np.ndarray, text: str,
                          words: EmotionResult | None, language: str | None) -> EmotionResult:
        """A segment labelled by a voice model's own labels, the words' scores beside them."""
        scores = {k: float(v) for k, v in zip(self.voice.labels, voice_p, strict=True)}
        label = max(scores, key=scores.__getitem__)
        details: dict[str, Any] = {
            "voice": {k: round(v, 4) for k, v in scores.items()},
            "words": None if words is None else {k: round(v, 4) for k, v in words.scores.items()},
            "own_labels": "the voice model's own labels; not fused with the words",
        }
        below = getattr(self.voice, "abstain_below", None)  # set by `emolens train audio`
        if below is not None and scores[label] < below:
            label, details["uncertain"] = "uncertain", True
        return EmotionResult(
            label=label, scores=scores, language=language, modality="speech",
            model=self.model_id, text=text, t_start=round(segment.start / SAMPLE_RATE, 3),
            t_end=round(segment.end / SAMPLE_RATE, 3), details=details)

    # -- streams and files --------------------------------------------------------------

    def analyze_blocks(
        self,
        blocks: Iterable[np.ndarray],
        language: str | None = None,
        pack_seconds: float | None = None,
        skip: Callable[[Segment], bool] | None = None,
        options: SegmentOptions | None = None,
    ) -> Iterator[EmotionResult]:
        """Results as segments close in a stream of 16 kHz mono float32 blocks.

        ``pack_seconds=0`` transcribes each segment alone as soon as it ends (lowest
        latency, used for live audio); larger values batch segments for speed. The
        language, when not given, is detected on the first pack and kept.
        ``skip(segment)`` True leaves a segment out (already stored by an earlier run).
        ``options`` replaces the analyzer's segmentation options.
        """
        pack = self.pack_seconds if pack_seconds is None else pack_seconds
        segments: Iterable[Segment] = segment_stream(blocks, options or self.segment_options)
        if skip is not None:
            segments = (s for s in segments if not skip(s))
        for group in _packs(segments, pack):
            results = self.analyze_segments(group, language)
            if language is None and results:
                language = results[0].language
            yield from results

    def stream(
        self,
        chunks: Iterable[np.ndarray | bytes],
        sample_rate: int = SAMPLE_RATE,
        language: str | None = None,
    ) -> Iterator[EmotionResult]:
        """Live analysis of PCM chunks as they arrive (a microphone, a socket).

        Chunks are float32 arrays in [-1, 1] or bytes of 16-bit little-endian mono PCM, at
        ``sample_rate``; each segment's result is yielded as soon as its speech ends.
        """
        return self.analyze_blocks(_pcm_blocks(chunks, sample_rate), language, pack_seconds=0)

    def analyze_file(
        self,
        path: str | Path,
        language: str | None = None,
        stored: Callable[[str], EmotionResult | None] | None = None,
        on_results: Callable[[list[EmotionResult]], None] | None = None,
        progress: Callable[[float], None] | None = None,
        source: str | None = None,
    ) -> AudioTimeline:
        """Timeline of one recording (any format PyAV reads, or a video's audio track).

        ``source``: the name its results carry and are keyed by (the CLI gives the absolute
        path), so that a copy of the recording under another name is stored for that name
        too; without it they carry ``path`` and are keyed by content alone (the service
        keys an upload by its own source name).

        ``stored(key)`` returns a segment's result from an earlier run (or None): such
        segments are not analysed again (a resumed run) but are in the timeline.
        ``on_results`` receives every result of the timeline, a few at a time as they exist:
        the new ones to store, and those read back from ``stored`` too (their ``details``
        say ``stored_before``), so that an export of a re-run or a resumed run is complete;
        ``progress`` receives seconds of audio decoded. A missing file or a folder raises
        InvalidInputError naming it.
        """
        path = Path(path)
        check_recording(path)
        ident = file_fingerprint(path) if source is None else f"{file_fingerprint(path)}:{source}"
        source = str(path) if source is None else source
        decoded = 0

        def blocks() -> Iterator[np.ndarray]:
            nonlocal decoded
            for block in iter_audio_blocks(path, block_seconds=10.0):
                decoded += block.size
                if progress is not None:
                    progress(block.size / SAMPLE_RATE)
                yield block

        timeline = AudioTimeline(source, 0.0)

        def key(segment: Segment) -> str:
            return f"audio:{ident}:{segment.start}-{segment.end}"

        hand_on = _HandOn(timeline, on_results)

        def skip(segment: Segment) -> bool:
            earlier = None if stored is None else stored(key(segment))
            if earlier is not None:
                timeline.skipped += 1
                hand_on(earlier)  # not analysed again, but still part of what is written out
            return earlier is not None

        found = self.analyze_blocks(blocks(), language, skip=skip)
        for result in itertools.chain(found, self._second_look(path, timeline, language, skip)):
            span = Segment(round(result.t_start * SAMPLE_RATE), round(result.t_end * SAMPLE_RATE),
                           np.zeros(0, np.float32))
            result.source_id = source
            result.item_key = key(span)
            hand_on(result)
        hand_on.flush()
        timeline.duration = decoded / SAMPLE_RATE
        timeline.segments.sort(key=lambda r: r.t_start or 0.0)
        return timeline

    def _second_look(self, path: Path, timeline: AudioTimeline, language: str | None,
                     skip: Callable[[Segment], bool]) -> Iterator[EmotionResult]:
        """A recording in which the VAD found no speech at all is segmented once more with a
        lower threshold. Silero hears screamed or strained speech as barely speech (0.2-0.5
        on RAVDESS' strong-intensity clips of one actor): a short clip of a shout should not
        come back empty. Silence and steady noise stay below the lower threshold too. Runs
        lazily, after the first pass has found nothing; its segments say so in ``details``."""
        options = self.segment_options
        relaxed = replace(options, threshold=min(options.threshold, RELAXED_THRESHOLD),
                          neg_threshold=min(options.neg_threshold, RELAXED_THRESHOLD - 0.15))
        if timeline.segments or relaxed == options:
            return
        blocks = iter_audio_blocks(path, block_seconds=10.0)
        for result in self.analyze_blocks(blocks, language, skip=skip, options=relaxed):
            result.details["vad_threshold"] = relaxed.threshold
            yield result


class _HandOn:
    """Results into a timeline and, a few at a time, to ``on_results`` (to store and export)."""

    def __init__(self, timeline: AudioTimeline,
                 on_results: Callable[[list[EmotionResult]], None] | None, size: int = 8) -> None:
        self.timeline, self.on_results, self.size = timeline, on_results, size
        self.pending: list[EmotionResult] = []

    def __call__(self, result: EmotionResult) -> None:
        self.timeline.segments.append(result)
        self.pending.append(result)
        if len(self.pending) >= self.size:
            self.flush()

    def flush(self) -> None:
        """Hand on what is pending."""
        if self.on_results is not None and self.pending:
            # A stored segment comes when the VAD closes it, new ones before it only once
            # their pack is analysed: sorted, each batch goes out in time order.
            self.on_results(sorted(self.pending, key=lambda r: r.t_start or 0.0))
        self.pending = []


def _pcm_blocks(chunks: Iterable[np.ndarray | bytes], sample_rate: int) -> Iterator[np.ndarray]:
    """16 kHz float32 blocks from float arrays or 16-bit PCM bytes at any rate."""
    if sample_rate <= 0:
        raise InvalidInputError(f"sample_rate must be positive, got {sample_rate}")
    resampler = None
    if sample_rate != SAMPLE_RATE:
        import soxr  # streaming resampler: no clicks at chunk edges

        resampler = soxr.ResampleStream(sample_rate, SAMPLE_RATE, 1, dtype="float32")
    carry = b""
    for chunk in chunks:
        if isinstance(chunk, bytes | bytearray | memoryview):
            data = carry + bytes(chunk)
            whole = len(data) - len(data) % 2
            carry = data[whole:]
            samples = np.frombuffer(data[:whole], "<i2").astype(np.float32) / 32768.0
        else:
            samples = np.asarray(chunk, np.float32).reshape(-1)
        if resampler is not None:
            samples = resampler.resample_chunk(samples)
        yield samples
    if resampler is not None:
        yield resampler.resample_chunk(np.zeros(0, np.float32), last=True)
