"""Offline speech recognition with faster-whisper (CTranslate2), English and Chinese.

The model is a setting (``EMOLENS_ASR_MODEL``): ``base`` (multilingual, the default),
``tiny.en`` (English only, about twice as fast) or a local CTranslate2 Whisper directory.
See ``benchmarks/asr_wer.py`` for measured word/character error rates and speed.
"""

from __future__ import annotations

import logging
import os
import zlib
from dataclasses import dataclass, field

import numpy as np

from emolens.audio.whisper_models import is_multilingual, whisper_model_dir
from emolens.errors import InvalidInputError, MissingExtraError
from emolens.text.language import LANGUAGES, check_language

# Chinese decoding, chosen on the espeak-ng Chinese set of benchmarks/asr_wer.py (40 posts;
# mean CER 0.58 vs 0.66 with neither, 0.83 with the prompt alone): a prompt in Simplified
# Chinese keeps Whisper off Traditional characters (the text models read Simplified), and a
# repetition penalty stops the loops ("铁镜铁镜铁镜...") the prompt otherwise sets off.
# Those figures came with faster-whisper's sampling fallback. With the deterministic decoding
# below, the same set reads mean CER 0.676 (corpus 0.672), and plain faster-whisper with its
# defaults 0.657 once converted to Simplified (benchmarks/results/asr.json, 2026-12-07).
PROMPTS = {"zh": "以下是普通话的句子。"}
REPETITION_PENALTY = {"zh": 1.2}
# Greedy/beam decoding only. faster-whisper's default falls back to sampling at temperatures
# 0.2-1.0 when a decode looks bad (Chinese heard as English, say), so the same file gave a
# different transcript, and label, run to run. A fixed ctranslate2.set_random_seed does not
# help: CTranslate2 seeds each worker thread's generator once, on its first use, so the
# second transcription in a process (and every file after the first in a batch) still draws
# from wherever the first one left it off. Measured on tests/fixtures/audio/zh_gift.ogg read
# as English: three different transcripts in one process, seeded before each call or not.
# The fallback stays, deterministic: a decode that loops (compressing better than
# faster-whisper's own threshold, 2.4) is decoded once more with the repetition penalty that
# already keeps Chinese out of loops; that clip then reads as one sentence, not 200 words.
TEMPERATURE = 0.0
LOOP_RATIO = 2.4
LOOP_PENALTY = 1.2
# Language detection reads one token's distribution over ~100 languages; emolens reads only
# English and Chinese, so those two are compared alone. Below this share of their sum the
# call is unclear (tests/fixtures/audio/zh_gift.ogg: en 0.36 vs zh 0.15, a share of 0.70,
# while en_flight.ogg gives 1.00) and is settled by decoding in both languages and keeping
# the one Whisper finds more probable token by token (zh_gift: -0.44 vs -1.02 for English).
CLEAR_SHARE = 0.8

log = logging.getLogger(__name__)


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
        """'en' or 'zh', whichever Whisper finds more likely, comparing only those two
        (English-only models: 'en'); a close call is decided by decoding in both, with a
        warning that suggests --language."""
        if not self.multilingual:
            return "en"
        _, _, probabilities = self.model.detect_language(audio)
        scores = {lang: dict(probabilities).get(lang, 0.0) for lang in LANGUAGES}
        best = max(scores, key=scores.__getitem__)
        if scores[best] >= CLEAR_SHARE * (sum(scores.values()) or 1.0):
            return best
        fits = {lang: self._mean_logprob(audio, lang) for lang in LANGUAGES}
        chosen = max(fits, key=fits.__getitem__)
        log.warning(
            "spoken language unclear (Whisper: %s); decoded in both and chose %r (mean token "
            "log-probability %s); pass --language en|zh if that is wrong",
            ", ".join(f"{k} {v:.2f}" for k, v in scores.items()), chosen,
            ", ".join(f"{k} {v:.2f}" for k, v in fits.items()))
        return chosen

    def _mean_logprob(self, audio: np.ndarray, language: str) -> float:
        """Mean log-probability per token of a plain decode of ``audio`` in ``language``."""
        segments, _ = self.model.transcribe(
            audio, language=language, beam_size=self.beam_size,
            initial_prompt=PROMPTS.get(language), temperature=TEMPERATURE,
            condition_on_previous_text=False, vad_filter=False, without_timestamps=True)
        found = [(s.avg_logprob, len(s.tokens)) for s in segments if s.tokens]
        tokens = sum(n for _, n in found)
        return sum(p * n for p, n in found) / tokens if tokens else -np.inf

    def transcribe(self, audio: np.ndarray, language: str | None = None) -> Transcript:
        """Text and word timings of ``audio``; ``language`` is detected when None."""
        check_language(language)
        if language == "zh" and not self.multilingual:
            raise InvalidInputError(
                f"The ASR model {self.name!r} is English-only; use 'base' for Chinese speech"
            )
        language = language or self.detect_language(audio)
        penalty = REPETITION_PENALTY.get(language, 1.0)
        texts, words = self._decode(audio, language, penalty)
        if penalty < LOOP_PENALTY and _compression_ratio(" ".join(texts)) > LOOP_RATIO:
            texts, words = self._decode(audio, language, LOOP_PENALTY)
        echo = PROMPTS.get(language, "").strip("。")
        if echo and any(echo in t for t in texts):
            # Whisper now and then repeats its prompt instead of transcribing: drop that.
            texts = [t.replace(echo + "。", "").replace(echo, "") for t in texts]
            words = _without_run(words, echo)
        joiner = "" if language == "zh" else " "
        return Transcript(joiner.join(t for t in texts if t), language, words)

    def _decode(self, audio: np.ndarray, language: str, penalty: float
                ) -> tuple[list[str], list[Word]]:
        """Segment texts and words of one deterministic decode."""
        segments, _ = self.model.transcribe(
            audio,
            language=language,
            beam_size=self.beam_size,
            initial_prompt=PROMPTS.get(language),
            repetition_penalty=penalty,
            temperature=TEMPERATURE,
            condition_on_previous_text=False,
            vad_filter=False,  # we segment speech ourselves
            word_timestamps=True,
        )
        words: list[Word] = []
        texts: list[str] = []
        for segment in segments:
            texts.append(segment.text.strip())
            words.extend(Word(w.start, w.end, w.word) for w in segment.words or [])
        return texts, words


def _compression_ratio(text: str) -> float:
    """How much zlib shrinks ``text``: Whisper's own measure of a decode stuck in a loop."""
    data = text.encode()
    return len(data) / len(zlib.compress(data))


def _without_run(words: list[Word], run: str) -> list[Word]:
    """``words`` less every stretch of consecutive words that spells ``run`` (punctuation
    aside); other occurrences of the same characters stay."""
    kept: list[Word] = []
    i = 0
    while i < len(words):
        spelled, j = "", i
        while j < len(words) and len(spelled) < len(run):
            spelled += words[j].text.strip().strip("。，,.")
            j += 1
        if spelled == run:
            i = j
            continue
        kept.append(words[i])
        i += 1
    return kept
