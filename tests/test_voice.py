"""The shipped voice emotion model on real RAVDESS clips, and its model-file checks."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("faster_whisper", reason="voice emotion needs the 'audio' extra")
sf = pytest.importorskip("soundfile", reason="voice emotion needs the 'audio' extra")

from emolens.audio.voice import (  # noqa: E402
    VOICE_DIR,
    VoiceRecognizer,
    is_usable,
    load_voice_model,
)
from emolens.errors import InvalidInputError, ModelFileError, UnknownComponentError  # noqa: E402
from emolens.labels import SCHEMES  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared/data/ravdess_speech"
needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"RAVDESS speech files not found at {DATA}")
# Strong intensity, statement 1, repetition 1: emotion code -> label.
CLEAR = {"03": "happy", "04": "sad", "05": "angry", "06": "fearful", "08": "surprised"}


def clip(emotion: str, actor: int, intensity: str = "02") -> np.ndarray:
    name = f"Actor_{actor:02d}/03-01-{emotion}-{intensity}-01-01-{actor:02d}.flac"
    audio, rate = sf.read(DATA / name, dtype="float32")
    assert rate == 16000
    return audio


@pytest.fixture(scope="module")
def model():
    return load_voice_model()


def test_contract(model):
    assert isinstance(model, VoiceRecognizer)
    assert model.scheme == "ravdess"
    assert set(model.labels) == set(SCHEMES["ravdess"])
    meta = json.loads((VOICE_DIR / "emolens-model.json").read_text())
    assert meta["whisper"]["name"] in ("base", "tiny.en")


@needs_data
def test_probabilities_and_top_labels(model):
    clips = [clip(code, actor) for code in CLEAR for actor in (1, 2)]
    probs = model.predict_proba(clips)
    assert probs.shape == (len(clips), len(model.labels))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert (probs >= 0).all()
    gold = [CLEAR[code] for code in CLEAR for _ in (1, 2)]
    top = [model.labels[i] for i in probs.argmax(axis=1)]
    # Held-in training clips of clearly distinct emotions: most must come out right.
    pairs = list(zip(top, gold, strict=True))
    assert sum(t == g for t, g in pairs) >= 8, pairs
    # Each clip is scored on its own: in a batch or alone, the same row.
    np.testing.assert_allclose(model.predict_proba(clips[:1])[0], probs[0], atol=1e-5)


def trimmed(audio: np.ndarray) -> np.ndarray:
    """The clip cut to where it is within 35 dB of its loudest 10 ms, as a VAD would cut it."""
    level = 10 * np.log10((audio[: len(audio) // 160 * 160].reshape(-1, 160) ** 2).mean(1) + 1e-12)
    active = np.flatnonzero(level > level.max() - 35)
    return audio[active[0] * 160 : (active[-1] + 1) * 160]


@needs_data
def test_clips_cut_to_speech_are_scored_alike(model):
    full = [clip(code, actor) for code in CLEAR for actor in (1, 2)]
    clips = [trimmed(c) for c in full]
    assert all(len(t) < len(f) - 8000 for t, f in zip(clips, full, strict=True))  # > 0.5 s cut
    top = [model.labels[i] for i in model.predict_proba(clips).argmax(axis=1)]
    gold = [CLEAR[code] for code in CLEAR for _ in (1, 2)]
    pairs = list(zip(top, gold, strict=True))
    assert sum(t == g for t, g in pairs) >= 8, pairs


@needs_data
def test_short_and_silent_clips_get_uniform_rows(model):
    speech = clip("05", 3)
    start = int(np.abs(speech).argmax())
    cases = [np.zeros(16000 * 2, np.float32), speech[start : start + 3200],
             np.zeros(0, np.float32)]
    assert not any(is_usable(c) for c in cases)
    probs = model.predict_proba(cases + [speech[start - 4000 : start + 4000]])
    np.testing.assert_allclose(probs[:3], 1 / len(model.labels))
    assert probs[3].max() > 1.5 / len(model.labels)  # half a second of speech is scored
    assert model.usable(cases + [speech]).tolist() == [False, False, False, True]


def test_bad_input_is_refused(model):
    with pytest.raises(InvalidInputError, match="mono"):
        model.predict_proba([np.zeros((2, 16000), np.float32)])
    with pytest.raises(InvalidInputError, match="NaN"):
        model.predict_proba([np.full(16000, np.nan, np.float32)])
    with pytest.raises(UnknownComponentError, match="Unknown voice model"):
        load_voice_model("no-such-voice-model")


def test_shares_only_the_same_whisper(model):
    shared = load_voice_model(whisper=model.whisper)
    assert shared.whisper is model.whisper
    from emolens.audio.voice import load_whisper

    trained_on = json.loads((VOICE_DIR / "emolens-model.json").read_text())["whisper"]["name"]
    other = load_whisper("tiny.en" if trained_on == "base" else "base", cpu_threads=1)
    assert load_voice_model(whisper=other).whisper is not other


def copy_model(tmp_path: Path) -> Path:
    target = tmp_path / "voice"
    shutil.copytree(VOICE_DIR, target)
    return target


def test_wrong_whisper_sha256_is_refused(tmp_path):
    directory = copy_model(tmp_path)
    meta_file = directory / "emolens-model.json"
    meta = json.loads(meta_file.read_text())
    meta["whisper"]["sha256"] = "0" * 64
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="sha256"):
        load_voice_model(str(directory))


def test_corrupt_weights_are_refused(tmp_path):
    directory = copy_model(tmp_path)
    weights = directory / "weights.npz"
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(ModelFileError, match="weights"):
        load_voice_model(str(directory))
    arrays = dict(np.load(VOICE_DIR / "weights.npz"))
    arrays["coef"] = arrays["coef"][:, :-3]
    np.savez(weights, **arrays)
    with pytest.raises(ModelFileError, match="coef has shape"):
        load_voice_model(str(directory))
