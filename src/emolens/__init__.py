"""emolens: offline emotion recognition. Results describe *expressed* emotion, not inner states.

>>> import emolens
>>> r = emolens.analyze("They cancelled my flight AGAIN, I am furious")
>>> r.label, r.scores, r.valence, r.arousal, r.language
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from emolens.labels import CANONICAL
from emolens.types import EmotionResult

__version__ = "0.1.0"
__all__ = [
    "CANONICAL", "EmotionResult", "analyze", "analyze_audio", "analyze_batch", "analyze_frame",
    "analyze_image", "analyze_video", "load", "load_speech", "load_vision", "results_frame",
    "__version__",
]


@lru_cache(maxsize=8)
def _recognizer(model: str, _stamp: object = None):
    from emolens.models import resolve_recognizer

    return resolve_recognizer(model)


@lru_cache(maxsize=16)
def _analyzer(model: str, batch_size: int, max_chars: int, uncertain_below: float | None,
              _stamp: object = None):
    from emolens.pipeline import Analyzer

    # Analyzers with other settings share the loaded recognizer.
    return Analyzer(_recognizer(model, _stamp), batch_size=batch_size, max_chars=max_chars,
                    uncertain_below=uncertain_below)


def _model_key(model: str) -> tuple[str, object]:
    """The cache key of a model: a directory by its absolute path and its files' times, so
    that a model trained again into the same folder, or a relative path read from another
    working directory, is loaded afresh; a registered name as it is."""
    path = Path(model).expanduser()
    if not model.strip() or not path.is_dir():  # Path("") would be the current folder
        return model, None
    stamp = tuple(sorted((f.name, f.stat().st_mtime_ns, f.stat().st_size)
                         for f in path.iterdir() if f.is_file()))
    return str(path.resolve()), stamp


def load(model: str | Path | None = None, uncertain_below: float | None = None):
    """An Analyzer for a registered recognizer name or a model directory (loaded once, cached).

    ``model`` defaults to the ``model`` setting (``EMOLENS_MODEL``, else "default"); batch
    size, text length limit and ``uncertain_below`` also come from the settings unless given.
    With ``uncertain_below``, results whose top probability is below it carry
    ``details["uncertain"] = True`` (their label is unchanged). A directory made by
    `emolens train audio|image` gives a ``MediaModel`` (``analyze_files(paths)``) instead.
    """
    from emolens.config import load_settings
    from emolens.io.model_files import media_modality

    settings = load_settings(model=None if model is None else str(model),
                             uncertain_below=uncertain_below)
    if media_modality(settings.model) is not None:
        from emolens.train.media import load_media_model

        return load_media_model(settings.model)
    model_path, stamp = _model_key(str(settings.model))
    return _analyzer(model_path, settings.batch_size, settings.max_text_chars,
                     settings.uncertain_below, stamp)


def analyze(
    text: str, language: str | None = None, model: str | Path | None = None,
    uncertain_below: float | None = None,
) -> EmotionResult:
    """Emotion expressed in one text. ``language`` ('en'/'zh') is detected when not given."""
    return load(model, uncertain_below).analyze_batch([text], language=language)[0]


def analyze_batch(
    texts: Sequence[str], language: str | None = None, model: str | Path | None = None,
    uncertain_below: float | None = None,
) -> list[EmotionResult]:
    """One result per text, same order; batched internally for speed."""
    if not isinstance(texts, Sequence):  # a generator, say
        texts = list(texts)
    return load(model, uncertain_below).analyze_batch(texts, language=language)


def analyze_frame(
    frame, text_col: str = "text", language: str | None = None, model: str | Path | None = None,
    uncertain_below: float | None = None, prefix: str = "", progress: bool = False,
):
    """A copy of a pandas DataFrame with the emotion of its ``text_col`` in added columns:
    ``emotion``, ``confidence``, ``valence``, ``arousal``, ``language`` and ``p_<label>``
    (each name after ``prefix``). Rows without text get empty result columns (one warning
    counts them); the index and the other columns are kept. A Series is read as the texts.
    ``progress`` shows a progress bar (in a terminal or a notebook)."""
    from emolens.io.frames import analyze_frame as analyze

    return analyze(load(model, uncertain_below), frame, text_col, language, prefix, progress)


def results_frame(results):
    """Results (a list from ``analyze_batch``, a timeline's ``segments``) as a pandas
    DataFrame: label, confidence, valence, arousal, language, times and ``p_<label>``
    columns, one row per result."""
    from emolens.io.frames import results_frame as frame

    return frame(results)


@lru_cache(maxsize=2)
def load_speech(
    asr_model: str | None = None, voice_model: str | None = None, text_model: str | None = None
):
    """A SpeechAnalyzer (ASR, voice and text models loaded once, cached); None = settings."""
    from emolens.audio.pipeline import SpeechAnalyzer
    from emolens.config import load_settings

    settings = load_settings()
    return SpeechAnalyzer(
        asr_model=asr_model or settings.asr_model,
        voice_model=voice_model or settings.voice_model,
        text_model=text_model or settings.model,
        weights=settings.fusion_weights,
        beam_size=settings.asr_beam_size,
    )


def analyze_audio(path: str | Path, language: str | None = None, asr_model: str | None = None):
    """Timeline of emotion in a recording (audio file or a video's audio track).

    Returns an ``AudioTimeline``: ``.segments`` is one EmotionResult per utterance, with
    ``t_start``/``t_end`` in seconds, the transcript as ``text``, the fused scores, and what
    the voice and the words said on their own in ``details``; ``.summary()`` the whole.
    ``language`` ('en'/'zh') is detected when not given.
    """
    from emolens.audio.decode import check_recording

    check_recording(Path(path))  # before loading the models: a typo fails at once
    return load_speech(asr_model).analyze_file(path, language=language)


@lru_cache(maxsize=2)
def load_vision(audio: bool = True, ocr: bool = True, fps: float = 5.0,
                face_model: str | None = None, text_model: str | None = None,
                voice_model: str | None = None, asr_model: str | None = None):
    """A VisualAnalyzer (face, expression, OCR, text and, with ``audio``, speech models);
    a model left None comes from the settings (EMOLENS_FACE_MODEL, EMOLENS_MODEL,
    EMOLENS_VOICE_MODEL, EMOLENS_ASR_MODEL)."""
    from emolens.config import load_settings
    from emolens.vision.pipeline import VisualAnalyzer

    settings = load_settings()
    speech = load_speech(asr_model, voice_model, text_model) if audio else None
    return VisualAnalyzer(expression_model=face_model or settings.face_model,
                          text_model=text_model or settings.model, fps=fps,
                          ocr_interval=1.0 if ocr else None, weights=settings.fusion_weights,
                          speech=speech, min_face_size=settings.face_min_size)


def analyze_image(path: str | Path):
    """Faces and their expressions, the image's text, and both fused (a ``VideoTimeline``
    at one instant: ``.faces``, ``.captions``, ``.fused``, ``.people``, ``.summary()``)."""
    return load_vision(audio=False).analyze_image(path)


def analyze_video(path: str | Path, language: str | None = None, fps: float = 5.0):
    """Timeline of a video: tracked faces, on-screen text, the audio track, fused per
    second (``.faces``, ``.captions``, ``.speech``, ``.fused``, ``.people``)."""
    return load_vision(audio=True, fps=fps).analyze_video(path, language=language)
