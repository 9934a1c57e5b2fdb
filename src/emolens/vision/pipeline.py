"""Images and video: faces and their expressions, on-screen text, the audio track, fused.

For a video, frames are sampled at ``fps`` (default 5) as a stream. In each sampled frame
every face is detected, tracked across frames (a stable id per person), cropped and scored
by the expression model; every ``ocr_interval`` seconds the frame's text is read and
repeated captions are merged into one event with its time span, whose text goes through
the text model. The audio track goes through the speech pipeline. ``fuse_timeline`` then
pools everything per ``window`` seconds. Results use ``modality`` face / screen_text /
speech / fused, with ``t_start``/``t_end``; faces carry ``group="person N"``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emolens import labels as L
from emolens.blas import one_blas_thread
from emolens.errors import EmolensError, InvalidInputError
from emolens.fusion import fuse, fuse_timeline
from emolens.io.fingerprint import file_fingerprint
from emolens.types import EmotionResult
from emolens.vision.frames import iter_video_frames, load_image, media_duration

if TYPE_CHECKING:
    from emolens.audio.pipeline import SpeechAnalyzer
    from emolens.pipeline import Analyzer
    from emolens.vision.tracking import FaceTracker

log = logging.getLogger(__name__)

# OCR reads single characters off faces and textures now and then ("0", "l"); a caption
# needs at least this many letters, digits or Hanzi.
MIN_CAPTION_CHARS = 2


@dataclass
class PersonSummary:
    """One face track: when it was seen and its mean expression."""

    track_id: int
    first_t: float
    last_t: float
    detections: int
    label: str
    scores: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"person": self.track_id, "first_t": self.first_t, "last_t": self.last_t,
                "detections": self.detections, "label": self.label, "scores": self.scores}


@dataclass
class VideoTimeline:
    """Everything found in one video (or image: one instant at t = 0)."""

    source: str
    duration: float
    faces: list[EmotionResult] = field(default_factory=list)
    captions: list[EmotionResult] = field(default_factory=list)
    speech: list[EmotionResult] = field(default_factory=list)
    fused: list[EmotionResult] = field(default_factory=list)
    people: list[PersonSummary] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. "no audio track"
    # Parts of the file that could not be analysed (an audio track that does not decode):
    # the file counts as partly failed.
    failed: list[str] = field(default_factory=list)
    model: str = ""  # the model id its face, screen-text and fused results are stored under

    def results(self) -> list[EmotionResult]:
        """Every result, as stored: faces, captions, speech segments, fused windows."""
        return [*self.faces, *self.captions, *self.speech, *self.fused]

    def summary(self) -> dict[str, Any]:
        """Overall fused distribution (time-weighted) and the per-person summaries."""
        overall: dict[str, float] = {}
        if self.fused:
            spans = np.array([1.0 if r.t_start is None or r.t_end is None  # an image
                              else r.t_end - r.t_start for r in self.fused])
            probs = np.array([[r.scores[k] for k in L.CANONICAL] for r in self.fused])
            mean = (spans[:, None] * probs).sum(0) / spans.sum()
            overall = {k: float(v) for k, v in zip(L.CANONICAL, mean, strict=True)}
        return {
            "source": self.source, "duration": round(self.duration, 3),
            "faces": len(self.faces), "people": [p.to_dict() for p in self.people],
            "captions": len(self.captions), "speech_segments": len(self.speech),
            "label": max(overall, key=overall.__getitem__) if overall else None,
            "scores": overall, "notes": self.notes,
        }


class VisualAnalyzer:
    """Face detector, tracker, expression model, OCR and text model, loaded once."""

    def __init__(
        self,
        expression_model: str = "default",
        text_model: str = "default",
        fps: float = 5.0,
        ocr_interval: float | None = 1.0,
        window: float = 1.0,
        weights: dict[str, float] | None = None,
        speech: SpeechAnalyzer | None = None,
        text_analyzer: Analyzer | None = None,
        min_face_size: int | None = None,
    ) -> None:
        """``ocr_interval=None`` turns OCR off; ``speech=None`` leaves the audio track out;
        ``min_face_size``: narrower faces are not scored (None: the detector's default)."""
        from emolens.pipeline import build_analyzer
        from emolens.vision.expression import load_expression_model
        from emolens.vision.faces import FaceDetector

        if fps <= 0 or window <= 0 or (ocr_interval is not None and ocr_interval <= 0):
            raise InvalidInputError("fps, window and ocr_interval must be positive")
        self.detector = (FaceDetector() if min_face_size is None
                         else FaceDetector(min_size=min_face_size))
        self.expression = load_expression_model(expression_model)
        # A model trained on a user's own labels (`emolens train image`, e.g. engaged / bored)
        # reports them per face and per person; they cannot be pooled with the canonical
        # scores of text and speech, so such faces stay out of the fused timeline.
        self.own_face_labels = self.expression.scheme == "custom"
        self.face_labels: tuple[str, ...] = (tuple(self.expression.labels)
                                             if self.own_face_labels else L.CANONICAL)
        self._face_matrix = (None if self.own_face_labels else
                             L.mapping_matrix(self.expression.labels, self.expression.scheme))
        self.text = text_analyzer or (speech.text if speech else build_analyzer(text_model))
        self.reader = None
        if ocr_interval is not None:
            from emolens.vision.ocr import TextReader

            self.reader = TextReader()
        # Taken now: the service wraps the reader in a lock that does not carry it.
        self._ocr_model = self.reader.model_id if self.reader is not None else None
        self.fps, self.ocr_interval, self.window = fps, ocr_interval, window
        self.weights = weights
        self.speech = speech

    @property
    def output_labels(self) -> tuple[str, ...]:
        """Every label a result may carry: canonical ones, then the models' own labels."""
        others = self.speech.output_labels if self.speech is not None else self.text.output_labels
        return tuple(dict.fromkeys((*L.CANONICAL, *self.face_labels, *others)))

    @property
    def model_id(self) -> str:
        """What produces a video's results, e.g. 'video[face=fer@1,text=…,ocr=PP-OCRv6-small/1s,
        asr=base,voice=default@1,fps=5,window=1s]'. Results are stored once per item key and
        model id, so every setting that changes them is named: a run with another voice
        model, OCR on, or another sampling rate stores its own rows beside the earlier ones."""
        if self.speech is None:
            audio = ["audio=off"]
        else:
            voice = self.speech.voice
            audio = [f"asr={self.speech.transcriber.name}", f"voice={voice.name}@{voice.version}"]
        ocr = "off" if self._ocr_model is None else f"{self._ocr_model}/{self.ocr_interval:g}s"
        parts = [*self._common_parts(ocr), *audio, f"fps={self.fps:g}",
                 f"window={self.window:g}s"]
        return "video[" + ",".join(parts + self._tuned_parts()) + "]"

    @property
    def image_model_id(self) -> str:
        """What produces an image's results: the face, text and OCR models (no audio, no
        sampling), e.g. 'image[face=fer@1,text=…,ocr=PP-OCRv6-small]'."""
        parts = self._common_parts(self._ocr_model or "off")
        return "image[" + ",".join(parts + self._tuned_parts()) + "]"

    def _common_parts(self, ocr: str) -> list[str]:
        return [f"face={self.expression.name}@{self.expression.version}",
                f"text={self.text.model_id}", f"ocr={ocr}"]

    def _tuned_parts(self) -> list[str]:
        """Settings named only when they differ from the defaults, to keep ids short."""
        from emolens.fusion import DEFAULT_WEIGHTS
        from emolens.vision.faces import MIN_FACE_SIZE

        parts = []
        if self.detector.min_size != MIN_FACE_SIZE:
            parts.append(f"min_face={self.detector.min_size}")
        changed = {k: v for k, v in sorted((self.weights or {}).items())
                   if DEFAULT_WEIGHTS.get(k) != v}
        if changed:
            parts.append("weights=" + ";".join(f"{k}:{v:g}" for k, v in changed.items()))
        return parts

    # -- one frame ----------------------------------------------------------------------

    def faces_in(self, image: np.ndarray) -> tuple[list[Any], np.ndarray]:
        """Detected faces and their expression probabilities (one row each), on
        ``face_labels``: canonical, or the model's own labels."""
        from emolens.vision.faces import crop

        faces = self.detector.detect(image)
        if not faces:
            return [], np.zeros((0, len(self.face_labels)))
        probs = self.expression.predict_proba([crop(image, f, margin=0.1) for f in faces])
        if self._face_matrix is not None:
            probs = probs @ self._face_matrix
        return faces, probs / probs.sum(axis=1, keepdims=True)

    def frame_faces(self, image: np.ndarray, t: float, tracker: FaceTracker, step: float = 0.0
                    ) -> list[EmotionResult]:
        """Faces of one video frame at ``t`` seconds, each with its track id from ``tracker``
        (one ``FaceTracker`` per video or live stream); ``step``: seconds until the next."""
        with one_blas_thread():  # small per-face products between onnxruntime calls
            faces, probs = self.faces_in(image)
            matched = tracker.update(faces, image, t)
        return [self._face_result(row, round(t, 3), round(t + step, 3), track=track,
                                  box=face.to_dict()["box"], detection=round(face.score, 4))
                for (track, face), row in zip(matched, probs, strict=True)]

    def _face_result(self, probs: np.ndarray, t0: float | None, t1: float | None, **details: Any
                     ) -> EmotionResult:
        scores = {k: float(v) for k, v in zip(self.face_labels, probs, strict=True)}
        va = None if self.own_face_labels else L.valence_arousal(probs[None])[0]
        label = max(scores, key=scores.__getitem__)
        below = getattr(self.expression, "abstain_below", None)  # set by `emolens train image`
        if below is not None and scores[label] < below:
            label, details = "uncertain", {**details, "uncertain": True, "top": label}
        return EmotionResult(
            label=label, scores=scores, valence=None if va is None else float(va[0]),
            arousal=None if va is None else float(va[1]), modality="face", model=self.model_id,
            t_start=t0, t_end=t1,
            group=f"person {details['track']}" if "track" in details else None,
            details=details,
        )

    def _caption_results(self, captions: list[Any], end_pad: float) -> list[EmotionResult]:
        if not captions:
            return []
        found = self.text.analyze_batch([c.text for c in captions])
        results = []
        for caption, result in zip(captions, found, strict=True):
            result.modality = "screen_text"
            result.t_start = caption.t_start
            result.t_end = caption.t_end + end_pad  # seen until the next sample, about
            result.details = {**result.details, "box": [round(v, 1) for v in caption.box],
                              "ocr_score": round(caption.score, 4)}
            results.append(result)
        return results

    # -- images and videos ----------------------------------------------------------------

    def analyze_image(self, path: str | Path, source: str | None = None) -> VideoTimeline:
        """Faces (one result each, ``group`` "face N" left to right) and the image's text;
        ``source`` as in ``SpeechAnalyzer.analyze_file``."""
        path = Path(path)
        image = load_image(path)
        timeline = VideoTimeline(str(path) if source is None else source, 0.0)
        with one_blas_thread():
            faces, probs = self.faces_in(image)
        order = sorted(range(len(faces)), key=lambda i: faces[i].box[0])
        for n, i in enumerate(order, start=1):
            result = self._face_result(probs[i], None, None, face=n,
                                       box=faces[i].to_dict()["box"],
                                       detection=round(faces[i].score, 4))
            result.group = f"face {n}"
            timeline.faces.append(result)
        if self.reader is not None:
            from emolens.vision.ocr import CaptionTracker

            tracker = CaptionTracker(min_chars=MIN_CAPTION_CHARS)
            with one_blas_thread():
                captions = tracker.push(0.0, self.reader.read(image)) + tracker.flush()
            timeline.captions = self._caption_results(captions, 0.0)
            for r in timeline.captions:
                r.t_start = r.t_end = None  # an image is one instant
        if not faces:
            timeline.notes.append("no faces found")
        self._note_own_labels(timeline)
        timeline.fused = _fuse_instant(_on_canonical(timeline.faces),
                                       _on_canonical(timeline.captions), self.weights)
        timeline.people = _people(timeline.faces, by="face")
        _identify(timeline, _ident(path, source), self.image_model_id)
        return timeline

    def analyze_video(
        self,
        path: str | Path,
        language: str | None = None,
        progress: Callable[[float], None] | None = None,
        source: str | None = None,
    ) -> VideoTimeline:
        """The timeline of one video; ``progress`` receives seconds of video sampled.
        ``language`` ('en'/'zh', else detected) is checked before any frame is read;
        ``source`` as in ``SpeechAnalyzer.analyze_file``."""
        from emolens.text.language import check_language
        from emolens.vision.ocr import CaptionTracker
        from emolens.vision.tracking import FaceTracker

        # A caller's mistake, not a fault of the file: raised now, rather than after every
        # frame is analysed and the audio track reported as merely not analysed.
        check_language(language)
        path = Path(path)
        timeline = VideoTimeline(str(path) if source is None else source, 0.0)
        tracker, captions = FaceTracker(), CaptionTracker(min_chars=MIN_CAPTION_CHARS)
        found_captions: list[Any] = []
        step = 1.0 / self.fps
        next_ocr = 0.0
        last_t = 0.0
        for frame in iter_video_frames(path, fps=self.fps):
            timeline.faces += self.frame_faces(frame.image, frame.t, tracker, step)
            if self.reader is not None and frame.t >= next_ocr - 1e-6:
                with one_blas_thread():  # the OCR's box and line post-processing in numpy
                    found_captions += captions.push(frame.t, self.reader.read(frame.image))
                next_ocr = frame.t + self.ocr_interval
            if progress is not None:
                progress(frame.t - last_t)
            last_t = frame.t
        found_captions += captions.flush()
        timeline.captions = self._caption_results(found_captions, self.ocr_interval or step)
        heard = self._speech_of(path, language, source, timeline)
        # What was read (the last frame shown for one step, the audio decoded), never past
        # what the headers declare: a 1 s video with 11 s of sound lasts 11 s.
        timeline.duration = min(max(last_t + step, heard), media_duration(path) or np.inf)
        _clip(timeline.faces + timeline.captions + timeline.speech, timeline.duration)
        if not timeline.faces:
            timeline.notes.append("no faces found")
        self._note_own_labels(timeline)
        timeline.fused = fuse_timeline(
            _on_canonical([*timeline.faces, *timeline.captions, *timeline.speech]), self.window,
            self.weights,
        )
        _clip(timeline.fused, timeline.duration)
        timeline.people = _people(timeline.faces, by="track")
        _identify(timeline, _ident(path, source), self.model_id)
        return timeline

    def _speech_of(self, path: Path, language: str | None, source: str | None,
                   timeline: VideoTimeline) -> float:
        """The audio track's speech into ``timeline``; returns the seconds of audio decoded.
        No audio track is a note; a track that does not decode is a part that failed."""
        if self.speech is None:
            return 0.0
        try:
            heard = self.speech.analyze_file(path, language=language, source=source)
        except EmolensError as exc:
            note = f"audio track not analysed: {exc}"
            timeline.notes.append(note)
            if _has_audio(path):
                timeline.failed.append(note)
            return 0.0
        timeline.speech = heard.segments
        return heard.duration

    def _note_own_labels(self, timeline: VideoTimeline) -> None:
        if self.own_face_labels and timeline.faces:
            timeline.notes.append(
                f"faces scored on the face model's own labels "
                f"({', '.join(self.face_labels)}): reported per face and per person, not "
                "fused with on-screen text and speech")
        if self.speech is not None and self.speech.own_voice_labels and timeline.speech:
            timeline.notes.append(
                f"speech labelled by the voice model's own labels "
                f"({', '.join(self.speech.voice.labels)}): not fused with faces and text")


def _on_canonical(results: list[EmotionResult]) -> list[EmotionResult]:
    """The results fusion can pool: those scored on the canonical labels (a model trained on
    a user's own labels reports those instead, and stays out)."""
    return [r for r in results if set(r.scores) == set(L.CANONICAL)]


def _fuse_instant(
    faces: list[EmotionResult], captions: list[EmotionResult], weights: dict[str, float] | None
) -> list[EmotionResult]:
    """One fused result for an image: all its faces, pooled with all its text."""
    parts = {name: np.mean([[r.scores[k] for k in L.CANONICAL] for r in found], axis=0)
             for name, found in (("face", faces), ("screen_text", captions)) if found}
    if not parts:
        return []
    fused, shares = fuse(parts, weights)
    scores = {k: float(v) for k, v in zip(L.CANONICAL, fused, strict=True)}
    va = L.valence_arousal(fused[None])[0]
    return [EmotionResult(
        label=max(scores, key=scores.__getitem__), scores=scores, valence=float(va[0]),
        arousal=float(va[1]), modality="fused", model="fusion",
        details={"modalities": {m: {k: round(float(v), 4) for k, v in zip(L.CANONICAL, p,
                                                                          strict=True)}
                                for m, p in parts.items()},
                 "fusion_weights": {m: round(v, 4) for m, v in shares.items()}},
    )]


def _people(faces: list[EmotionResult], by: str) -> list[PersonSummary]:
    """Mean expression per track (or per face of an image), on the faces' own labels."""
    groups: dict[int, list[EmotionResult]] = {}
    for r in faces:
        groups.setdefault(int(r.details[by]), []).append(r)
    people = []
    for track, results in sorted(groups.items()):
        labels = list(results[0].scores)
        mean = np.mean([[r.scores[k] for k in labels] for r in results], axis=0)
        scores = {k: round(float(v), 4) for k, v in zip(labels, mean, strict=True)}
        times = [r.t_start or 0.0 for r in results]
        people.append(PersonSummary(track, min(times), max(times), len(results),
                                    max(scores, key=scores.__getitem__), scores))
    return people


def _has_audio(path: Path) -> bool:
    """Whether the file has an audio stream at all (decodable or not)."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            return bool(container.streams.audio)
    except av.error.FFmpegError:
        return False


def _clip(results: list[EmotionResult], duration: float) -> None:
    """Spans end at the end of the media at the latest (a caption seen in the last sample,
    the last fused window); those starting after it are not moved."""
    for r in results:
        if r.t_end is not None and r.t_end > duration:
            r.t_end = round(max(duration, r.t_start or 0.0), 3)


def _ident(path: Path, source: str | None) -> str:
    """What item keys name a file by: its content, and the source when one is given."""
    return file_fingerprint(path) if source is None else f"{file_fingerprint(path)}:{source}"


def _identify(timeline: VideoTimeline, fingerprint: str, model_id: str) -> None:
    """Source, stable item keys and model name on every result (for the store)."""
    timeline.model = model_id
    for r in timeline.results():
        r.source_id = timeline.source
        if r.modality != "speech":
            r.model = model_id
            where = r.details.get("track", r.details.get("face", ""))
            r.item_key = f"video:{fingerprint}:{r.modality}:{r.t_start}:{where}"
