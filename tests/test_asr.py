"""Whisper speech recognition from the packaged offline models, English and Chinese."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("faster_whisper", reason="needs the audio extra")

from emolens.audio import whisper_models  # noqa: E402
from emolens.audio.asr import Transcriber  # noqa: E402
from emolens.audio.decode import load_audio  # noqa: E402
from emolens.audio.pipeline import Segment, _join, split_words  # noqa: E402
from emolens.errors import InvalidInputError, ModelFileError  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "audio"


@pytest.fixture(scope="module")
def base() -> Transcriber:
    return Transcriber("base")


def test_english_speech_is_transcribed_with_word_times(base: Transcriber) -> None:
    audio = load_audio(FIXTURES / "en_flight.ogg")
    transcript = base.transcribe(audio)
    assert transcript.language == "en"  # detected
    text = transcript.text.lower()
    assert "flight" in text and "worst service" in text
    assert transcript.words
    starts = [w.start for w in transcript.words]
    assert starts == sorted(starts) and transcript.words[-1].end <= audio.size / 16_000 + 0.5


def test_chinese_speech_is_transcribed_in_simplified_characters(base: Transcriber) -> None:
    transcript = base.transcribe(load_audio(FIXTURES / "zh_gift.ogg"), language="zh")
    assert transcript.language == "zh"
    assert "开心" in transcript.text and "礼物" in transcript.text
    assert "禮" not in transcript.text  # the Simplified prompt keeps Whisper off Traditional
    assert "普通话" not in transcript.text  # and is not echoed


def test_the_same_clip_gives_the_same_transcript_every_time(base: Transcriber) -> None:
    # Chinese read as English: the decode that used to fall back to sampling, so each run
    # (and each call in one process) gave another transcript, or looped.
    audio = load_audio(FIXTURES / "zh_gift.ogg")
    first = base.transcribe(audio, language="en")
    again = base.transcribe(audio, language="en")
    assert first == again
    assert first.text and len(first.text.split()) < 30  # not "the city of the city of ..."


def test_english_only_model(base: Transcriber) -> None:
    tiny = Transcriber("tiny.en")
    assert not tiny.multilingual
    transcript = tiny.transcribe(load_audio(FIXTURES / "en_flight.ogg"))
    assert transcript.language == "en" and "flight" in transcript.text.lower()
    with pytest.raises(InvalidInputError, match="English-only"):
        tiny.transcribe(np.zeros(16_000, np.float32), language="zh")


def test_words_go_back_to_the_segment_they_were_spoken_in(base: Transcriber) -> None:
    audio = load_audio(FIXTURES / "en_flight.ogg")
    # The fixture's two sentences, as two segments packed into one Whisper window.
    cut = int(2.9 * 16_000)
    segments = [Segment(0, cut, audio[:cut]), Segment(cut, audio.size, audio[cut:])]
    joined, places = _join(segments)
    texts = split_words(base.transcribe(joined, "en"), places)
    assert "flight" in texts[0].lower() and "flight" not in texts[1].lower()
    assert "service" in texts[1].lower() and "service" not in texts[0].lower()


def test_unknown_model_name_is_a_clear_error() -> None:
    with pytest.raises(ModelFileError, match="Unknown Whisper model 'large-v9'"):
        whisper_models.whisper_model_dir("large-v9")


def test_joined_weights_are_checked_against_the_recorded_sha256(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMOLENS_CACHE_DIR", str(tmp_path))
    good = whisper_models.PACKAGED["base"]
    bad = replace(good, sha256="0" * 64)
    monkeypatch.setitem(whisper_models.PACKAGED, "base", bad)
    with pytest.raises(ModelFileError, match="sha256"):
        whisper_models.whisper_model_dir("base")
    assert not list(tmp_path.rglob("model.bin"))  # nothing half-checked left behind
    monkeypatch.setitem(whisper_models.PACKAGED, "base", good)
    directory = whisper_models.whisper_model_dir("base")
    assert directory.is_relative_to(tmp_path)
    assert (directory / "model.bin").stat().st_size > 100e6


def test_an_echoed_prompt_is_removed_but_its_characters_elsewhere_stay() -> None:
    from emolens.audio.asr import Word, _without_run

    words = [Word(i, i + 1, t) for i, t in enumerate(
        ["我", "是", "以下", "是", "普通话", "的", "句子。", "的", "礼物"])]
    kept = [w.text for w in _without_run(words, "以下是普通话的句子")]
    assert kept == ["我", "是", "的", "礼物"]
    assert [w.text for w in _without_run(words[:2], "以下是普通话的句子")] == ["我", "是"]
