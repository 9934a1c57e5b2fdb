"""Voice emotion: how something is said, from a Whisper encoder embedding and prosody.

The shipped model (``src/emolens/models/voice``) is a logistic regression over the mean final
Whisper-base encoder state of a clip plus acoustic statistics (pitch, level, spectrum), trained
on RAVDESS (acted North-American English; see its MODEL_CARD.md). It scores the emotion an
actor *expresses* in a short utterance, not what a speaker feels.

Clips too short (under ``MIN_SECONDS``) or silent (loudest 25 ms under ``SILENCE_DBFS``) carry
no evidence: they get a uniform row, and ``usable()`` reports which clips those are.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from emolens.audio.bandwidth import is_narrow_band
from emolens.audio.voice_features import (
    ACOUSTIC_DIM,
    BAND_DEPENDENT,
    SAMPLE_RATE,
    WIN,
    acoustic_features,
    whisper_embedding,
)
from emolens.audio.whisper_models import PACKAGED, _sha256, whisper_model_dir
from emolens.errors import (
    InvalidInputError,
    MissingExtraError,
    ModelFileError,
    UnknownComponentError,
)
from emolens.io.model_files import peek_model, read_model_meta

VOICE_DIR = Path(__file__).resolve().parent.parent / "models" / "voice"
VOICE_MODELS: dict[str, Path] = {"default": VOICE_DIR}
MODEL_FILE = "emolens-model.json"
WEIGHTS_FILE = "weights.npz"
MODEL_TYPE = "voice-whisper-logreg"
MIN_SECONDS = 0.25
SILENCE_DBFS = -55.0
# Probe embeddings of one encoder agree far above this across compute types (see same_encoder).
SAME_ENCODER_COSINE = 0.98


@runtime_checkable
class VoiceRecognizer(Protocol):
    """Scores mono 16 kHz float32 clips on the model's native labels."""

    name: str
    version: str
    labels: tuple[str, ...]
    scheme: str

    def predict_proba(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        """Probabilities, shape (len(clips), len(labels)), rows summing to 1."""
        ...


def probe_signal() -> np.ndarray:
    """A fixed 1 s harmonic glide: its embedding tells which Whisper encoder is loaded."""
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    phase = 2 * np.pi * (140 * t + 60 * t**2)
    tone = sum(np.sin(k * phase) / k for k in range(1, 6)) * (0.5 - 0.4 * np.cos(2 * np.pi * t))
    return (0.2 * tone).astype(np.float32)


def check_clip(clip: Any) -> np.ndarray:
    """The clip as a 1-D float32 array, or InvalidInputError saying what is wrong with it."""
    array = np.asarray(clip)
    if array.ndim != 1:
        raise InvalidInputError(
            f"A voice clip must be mono (one dimension); got shape {array.shape}. "
            "Average the channels first."
        )
    if not np.issubdtype(array.dtype, np.floating):
        raise InvalidInputError(
            f"A voice clip must hold float samples in [-1, 1] at 16 kHz; got {array.dtype}"
        )
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        raise InvalidInputError("A voice clip contains NaN or infinite samples")
    return array


def is_usable(clip: np.ndarray) -> bool:
    """Long enough (MIN_SECONDS) and not silent (loudest 25 ms frame over SILENCE_DBFS)."""
    if len(clip) < MIN_SECONDS * SAMPLE_RATE:
        return False
    usable = len(clip) // WIN * WIN
    loudest = np.sqrt((clip[:usable].reshape(-1, WIN).astype(np.float64) ** 2).mean(1)).max()
    return bool(20 * np.log10(loudest + 1e-12) > SILENCE_DBFS)


def load_whisper(name: str, cpu_threads: int = 0) -> Any:
    """A faster_whisper WhisperModel on CPU (int8), from a packaged name or a directory."""
    try:
        from faster_whisper import WhisperModel
    except ImportError as exc:
        raise MissingExtraError("Voice emotion", "audio") from exc
    return WhisperModel(
        str(whisper_model_dir(name)), device="cpu", compute_type="int8", cpu_threads=cpu_threads
    )


def whisper_sha256(name: str) -> str:
    """sha256 of the model.bin the name resolves to (packaged joined models: checked at join)."""
    packaged = PACKAGED.get(name)
    if packaged is not None and packaged.sha256 is not None:
        whisper_model_dir(name)  # joins and verifies the parts on first use
        return packaged.sha256
    return _sha256(whisper_model_dir(name) / "model.bin")


class WhisperVoiceRecognizer:
    """Standardised [Whisper embedding, acoustic statistics] -> multinomial logistic regression."""

    scheme = "ravdess"

    def __init__(
        self,
        whisper: Any,
        *,
        mean: np.ndarray,
        scale: np.ndarray,
        coef: np.ndarray,
        intercept: np.ndarray,
        labels: Sequence[str],
        name: str = "voice",
        version: str = "0",
    ) -> None:
        self.whisper = whisper
        self.mean = np.asarray(mean, dtype=np.float32)
        self.scale = np.asarray(scale, dtype=np.float32)
        self.coef = np.asarray(coef, dtype=np.float32)
        self.intercept = np.asarray(intercept, dtype=np.float32)
        self.labels = tuple(labels)
        self.name = name
        self.version = version

    @classmethod
    def load(
        cls, directory: str | Path, whisper: Any = None, cpu_threads: int = 0
    ) -> WhisperVoiceRecognizer:
        """The model saved in ``directory``; shares ``whisper`` only if it is the same encoder."""
        directory = Path(directory)
        meta = _read_meta(directory)
        arrays = _read_weights(directory / WEIGHTS_FILE, meta)
        probe = arrays.pop("probe")
        needed = meta["whisper"]
        if whisper_sha256(needed["name"]) != needed["sha256"]:
            raise ModelFileError(
                f"{directory} was trained on Whisper {needed['name']!r} with model.bin sha256 "
                f"{needed['sha256'][:12]}..., but that name resolves to other weights here; "
                f"install the exact model it names: {_install_hint(needed['name'])}"
            )
        if whisper is None or not same_encoder(whisper, probe):
            whisper = load_whisper(needed["name"], cpu_threads)
        return cls(whisper, **arrays, labels=meta["labels"], name=meta["name"],
                   version=meta["version"])

    def features(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        """Unstandardised features (n x dims) of usable clips; callers check usable() first."""
        return np.stack([
            np.concatenate([whisper_embedding(self.whisper, clip), acoustic_features(clip)])
            for clip in clips
        ])

    def usable(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        """Which clips get a real prediction (the others get a uniform row)."""
        return np.array([is_usable(check_clip(clip)) for clip in clips], dtype=bool)

    def predict_features(
        self, features: np.ndarray, narrow_band: np.ndarray | None = None
    ) -> np.ndarray:
        """Probabilities from features as returned by ``features``.

        Rows flagged in ``narrow_band`` (clips with nothing above 4 kHz, see audio.bandwidth)
        get their band-dependent acoustic statistics set to the training mean: the model
        learnt them on 16 kHz speech, and an 8 kHz clip's values (MFCC, flatness, contrast
        many standard deviations away) swung it to one label (happy for 1,040 of 1,440
        RAVDESS clips). Left out, the decision rests on the Whisper embedding, pitch and timing.
        """
        standard = (features - self.mean) / self.scale
        if narrow_band is not None and np.any(narrow_band):
            dims = features.shape[1] - ACOUSTIC_DIM + BAND_DEPENDENT
            standard[np.ix_(np.asarray(narrow_band, bool), dims)] = 0.0
        logits = standard @ self.coef.T + self.intercept
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(logits.astype(np.float64))
        return exp / exp.sum(axis=1, keepdims=True)

    def predict_proba(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        """Probabilities (n x len(labels)); uniform rows for too-short or silent clips."""
        checked = [check_clip(clip) for clip in clips]
        probs = np.full((len(checked), len(self.labels)), 1.0 / len(self.labels))
        keep = [i for i, clip in enumerate(checked) if is_usable(clip)]
        if keep:
            kept = [checked[i] for i in keep]
            narrow = np.array([is_narrow_band(clip) for clip in kept])
            probs[keep] = self.predict_features(self.features(kept), narrow)
        return probs


def _install_hint(name: str) -> str:
    if name in PACKAGED:
        return f"pip install {PACKAGED[name].pip_names}"
    return f"the directory {name}"


def same_encoder(whisper: Any, probe: Sequence[float]) -> bool:
    """Whether ``whisper`` embeds the probe signal as the encoder the model was trained on."""
    expected = np.asarray(probe, dtype=np.float32)
    try:
        got = whisper_embedding(whisper, probe_signal())
    except (AttributeError, TypeError, ValueError, RuntimeError):
        return False
    return got.shape == expected.shape and float(got @ expected) / float(
        np.linalg.norm(expected) or 1.0
    ) > SAME_ENCODER_COSINE


def _read_meta(directory: Path) -> dict:
    meta = read_model_meta(directory, "voice", MODEL_TYPE,
                           ("name", "version", "whisper", "features"))
    if not {"name", "sha256"} <= set(meta["whisper"]):
        raise ModelFileError(f"{directory / MODEL_FILE} lacks the whisper name/sha256")
    if meta["features"].get("acoustic", {}).get("dims") != ACOUSTIC_DIM:
        raise ModelFileError(
            f"{directory} was trained on other acoustic features than this emolens computes "
            f"({meta['features'].get('acoustic')} vs {ACOUSTIC_DIM} dims); retrain it"
        )
    if meta["scheme"] != "ravdess":
        raise ModelFileError(f"{directory}: a voice model must use the ravdess scheme")
    return meta


def _read_weights(path: Path, meta: dict) -> dict[str, np.ndarray]:
    """Standardisation, logistic regression and probe arrays, checked against the metadata."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k], dtype=np.float32)
                      for k in ("mean", "scale", "coef", "intercept", "probe")}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"Cannot read voice model weights {path}: {exc}") from exc
    embedding = meta["features"]["whisper"]["dims"]
    dims, classes = embedding + ACOUSTIC_DIM, len(meta["labels"])
    shapes = {"probe": (embedding,), "mean": (dims,), "scale": (dims,), "coef": (classes, dims),
              "intercept": (classes,)}
    for key, shape in shapes.items():
        if arrays[key].shape != shape or not np.isfinite(arrays[key]).all():
            raise ModelFileError(
                f"{path}: {key} has shape {arrays[key].shape} (expected {shape}) "
                "or non-finite values; retrain or reinstall the model"
            )
    if (arrays["scale"] <= 0).any():
        raise ModelFileError(f"{path}: scale must be positive")
    return arrays


def save_model(
    directory: str | Path, recognizer: WhisperVoiceRecognizer, whisper_name: str, **extra: Any
) -> Path:
    """Write ``weights.npz`` and ``emolens-model.json`` (``extra`` goes into the JSON)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    probe = whisper_embedding(recognizer.whisper, probe_signal())
    # The probe's embedding lets load() tell whether a shared WhisperModel is this encoder.
    np.savez(directory / WEIGHTS_FILE, mean=recognizer.mean, scale=recognizer.scale,
             coef=recognizer.coef, intercept=recognizer.intercept, probe=probe)
    meta = {
        "type": MODEL_TYPE, "name": recognizer.name, "version": recognizer.version,
        "labels": list(recognizer.labels), "scheme": recognizer.scheme,
        "whisper": {"name": whisper_name, "sha256": whisper_sha256(whisper_name)},
        "features": {
            "whisper": {"dims": len(probe), "pooling": "mean final encoder state, L2-normalised"},
            "acoustic": {"dims": ACOUSTIC_DIM, "what": "MFCC-20 + deltas, pitch, level, "
                         "spectral shape, ZCR, contrast, voicing (voice_features.py)"},
        },
        **extra,
    }
    (directory / MODEL_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return directory


def load_voice_model(
    name_or_dir: str = "default", whisper: Any = None, *, cpu_threads: int = 0
) -> WhisperVoiceRecognizer:
    """A shipped voice model by name, or one saved in a directory.

    ``whisper``: an already loaded faster_whisper WhisperModel to share; used only when it is
    the encoder the voice model was trained on (checked on a probe signal), otherwise the
    model loads its own.
    """
    if name_or_dir in VOICE_MODELS:
        return WhisperVoiceRecognizer.load(VOICE_MODELS[name_or_dir], whisper, cpu_threads)
    if (peek_model(name_or_dir) or {}).get("type") == "media-head":  # `emolens train audio`
        from emolens.train.audio import load_voice_head

        return load_voice_head(name_or_dir, whisper, cpu_threads)  # type: ignore[return-value]
    if Path(name_or_dir).is_dir():
        return WhisperVoiceRecognizer.load(name_or_dir, whisper, cpu_threads)
    raise UnknownComponentError(
        f"Unknown voice model {name_or_dir!r}: use one of {sorted(VOICE_MODELS)} or a directory "
        f"holding {MODEL_FILE} and {WEIGHTS_FILE}"
    )
