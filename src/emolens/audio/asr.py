"""Offline speech recognition with faster-whisper (CTranslate2), English and Chinese.

The model is a setting (``EMOLENS_ASR_MODEL``): ``base`` (multilingual, the default),
``tiny.en`` (English only, about twice as fast) or a local CTranslate2 Whisper directory.
See ``benchmarks/asr_wer.py`` for measured word/character error rates and speed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from emolens.audio.whisper_models import is_multilingual, whisper_model_dir
from emolens.errors import InvalidInputError, MissingExtraError

LANGUAGES = ("en", "zh")
# Whisper writes Chinese in Traditional or Simplified characters at random; a prompt in
# Simplified Chinese steers it to Simplified (what the text models were trained on).
PROMPTS = {"zh": "以下是普通话的句子。"}


@dataclass(frozen=True)
class Word:
    start: float  # seconds from the start of the audio given to transcribe()
    end: float
    text: str


@dataclass
class Transcript:
    text: str
    language: str
    words: list[Word] = field(default_factory=list)


def _cpu_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class Transcriber:
    """Whisper loaded once; transcribes 16 kHz mono float32 audio of up to 30 s at a time."""

    def __init__(
        self, model: str = "base", compute_type: str = "int8", threads: int | None = None,
        beam_size: int = 1,
    ) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise MissingExtraError("Speech recognition", "audio") from exc
        self.name = model
        self.directory = whisper_model_dir(model)
        self.multilingual = is_multilingual(model)
        self.beam_size = beam_size
        self.model = WhisperModel(
            str(self.directory), device="cpu", compute_type=compute_type,
            cpu_threads=threads or _cpu_threads(),
        )

    def detect_language(self, audio: np.ndarray) -> str:
        """'en' or 'zh', whichever Whisper finds more likely (English-only models: 'en')."""
        if not self.multilingual:
            return "en"
        _, _, probabilities = self.model.detect_language(audio)
        scores = dict(probabilities)
        return max(LANGUAGES, key=lambda lang: scores.get(lang, 0.0))

    def transcribe(self, audio: np.ndarray, language: str | None = None) -> Transcript:
        """Text and word timings of ``audio``; ``language`` is detected when None."""
        if language is not None and language not in LANGUAGES:
            raise InvalidInputError(f"language must be one of {LANGUAGES}, got {language!r}")
        if language == "zh" and not self.multilingual:
            raise InvalidInputError(
                f"The ASR model {self.name!r} is English-only; use 'base' for Chinese speech"
            )
        language = language or self.detect_language(audio)
        segments, _ = self.model.transcribe(
            audio,
            language=language,
            beam_size=self.beam_size,
            initial_prompt=PROMPTS.get(language),
            condition_on_previous_text=False,
            vad_filter=False,  # we segment speech ourselves
            word_timestamps=True,
        )
        words: list[Word] = []
        texts: list[str] = []
        for segment in segments:
            texts.append(segment.text.strip())
            words.extend(Word(w.start, w.end, w.word) for w in segment.words or [])
        joiner = "" if language == "zh" else " "
        return Transcript(joiner.join(t for t in texts if t), language, words)
