"""`emolens train audio`: a head on the voice model's features (Whisper encoder + acoustics).

The encoder is the shipped voice model's own feature extractor
(``emolens.audio.voice_features``): the L2-normalised mean final Whisper encoder state of the
clip and 122 acoustic statistics. Files are decoded by ``emolens.audio.decode`` (any format
PyAV reads, resampled to 16 kHz mono). Like the shipped model (``recipes/voice_ravdess``),
each clip is also trained on trimmed to its speech, the way voice-activity detection hands
utterances over at analysis time; validation scores the clips as given.

A saved model replaces the voice model: ``emolens analyze audio --model DIR``,
``SpeechAnalyzer(voice_model=DIR)``, or ``emolens.load(DIR).analyze_files([...])``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import InvalidInputError, ModelFileError
from emolens.train.heads import LinearHead
from emolens.train.media import read_head, read_meta

MODALITY = "audio"
SCHEME = "ravdess"  # preferred when labels such as angry/happy/sad fit several schemes
ENCODER_NAME = "voice-features"


def trim_to_speech(clip: np.ndarray, margin_s: float = 0.1) -> np.ndarray:
    """The clip cut to its active frames (within 35 dB of the loudest) plus a margin."""
    from emolens.audio import voice_features as vf

    frames = len(clip) // vf.HOP
    if frames == 0:
        return clip
    level = 10 * np.log10((clip[: frames * vf.HOP].reshape(frames, vf.HOP).astype(np.float64)
                           ** 2).mean(1) + 1e-12)
    active = np.flatnonzero(level > level.max() - vf.ACTIVE_DB)
    margin = int(margin_s * vf.SAMPLE_RATE)
    return clip[max(0, active[0] * vf.HOP - margin): (active[-1] + 1) * vf.HOP + margin]


def file_extensions() -> frozenset[str]:
    """The file extensions this modality reads."""
    from emolens.audio.batch import MEDIA_EXTENSIONS

    return MEDIA_EXTENSIONS


class Encoder:
    """Whisper encoder mean + acoustic statistics of a clip (and of it trimmed to speech)."""

    modality = MODALITY

    def __init__(self, whisper_name: str = "base", trim_view: bool = True, whisper: Any = None,
                 cpu_threads: int = 0) -> None:
        self.whisper_name = whisper_name
        self.trim_view = trim_view
        self.cpu_threads = cpu_threads
        self.extensions = file_extensions()
        self._whisper = whisper
        self._sha256: str | None = None

    @property
    def whisper(self) -> Any:
        """The faster-whisper model (loaded on first use)."""
        if self._whisper is None:
            from emolens.audio.voice import load_whisper

            self._whisper = load_whisper(self.whisper_name, self.cpu_threads)
        return self._whisper

    def identity(self) -> dict[str, Any]:
        """What the features depend on: the Whisper weights and the acoustic feature set."""
        from emolens.audio.voice import whisper_sha256
        from emolens.audio.voice_features import ACOUSTIC_DIM

        if self._sha256 is None:
            self._sha256 = whisper_sha256(self.whisper_name)
        return {"name": ENCODER_NAME, "whisper": self.whisper_name,
                "whisper_sha256": self._sha256, "acoustic_dims": ACOUSTIC_DIM,
                "pooling": "mean final encoder state, L2-normalised",
                "training_views": ["as given", "trimmed to speech"] if self.trim_view
                else ["as given"]}

    def clip_features(self, clip: np.ndarray) -> np.ndarray:
        """Feature vector of one 16 kHz mono clip."""
        from emolens.audio.voice_features import acoustic_features, whisper_embedding

        return np.concatenate([whisper_embedding(self.whisper, clip), acoustic_features(clip)])

    def features(self, path: Path) -> tuple[np.ndarray, dict[str, Any]]:
        """Rows: the clip as given (and trimmed to its speech); a silent clip is refused."""
        from emolens.audio.decode import load_audio
        from emolens.audio.voice import MIN_SECONDS, is_usable

        clip = load_audio(path)
        if not is_usable(clip):
            raise InvalidInputError(f"{path}: shorter than {MIN_SECONDS} s or silent")
        rows = [self.clip_features(clip)]
        if self.trim_view:
            trimmed = trim_to_speech(clip)
            # A clip with hardly any silence to cut is its own trimmed view.
            rows.append(rows[0] if len(trimmed) > 0.95 * len(clip) or not is_usable(trimmed)
                        else self.clip_features(trimmed))
        return np.stack(rows).astype(np.float32), {"seconds": round(len(clip) / 16000, 2)}

    def check_arrays(self) -> dict[str, np.ndarray]:
        """The probe signal's embedding: tells at load time whether a shared Whisper fits."""
        from emolens.audio.voice import probe_signal
        from emolens.audio.voice_features import whisper_embedding

        return {"probe": whisper_embedding(self.whisper, probe_signal())}


def load_encoder(identity: dict[str, Any], check: dict[str, np.ndarray], whisper: Any = None,
                 cpu_threads: int = 0) -> Encoder:
    """The encoder a saved head needs; shares ``whisper`` only if it is that encoder."""
    from emolens.audio.voice import same_encoder, whisper_sha256
    from emolens.audio.voice_features import ACOUSTIC_DIM

    name = identity.get("whisper", "base")
    if whisper_sha256(name) != identity.get("whisper_sha256"):
        raise ModelFileError(f"this audio model was trained on Whisper {name!r} with sha256 "
                             f"{str(identity.get('whisper_sha256'))[:12]}..., but that name "
                             "resolves to other weights here; install the model it names")
    if identity.get("acoustic_dims") != ACOUSTIC_DIM:
        raise ModelFileError("this audio model was trained on other acoustic features than "
                             "this emolens computes; retrain it")
    if whisper is not None and "probe" in check and not same_encoder(whisper, check["probe"]):
        whisper = None
    return Encoder(name, whisper=whisper, cpu_threads=cpu_threads)


class HeadVoiceRecognizer:
    """A trained audio head in the voice model's place: scores clips on its own labels."""

    def __init__(self, encoder: Encoder, head: LinearHead, meta: dict[str, Any]) -> None:
        self.encoder = encoder
        self.head = head
        self.labels = tuple(meta["labels"])
        self.scheme = meta["scheme"]
        self.name = meta["name"]
        self.version = str(meta["version"])
        self.abstain_below = meta.get("abstain_below")

    @property
    def whisper(self) -> Any:
        """The Whisper model the features come from."""
        return self.encoder.whisper

    def usable(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        """Which clips get a real prediction (the others get a uniform row)."""
        from emolens.audio.voice import check_clip, is_usable

        return np.array([is_usable(check_clip(clip)) for clip in clips], dtype=bool)

    def predict_proba(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        """Probabilities (n, labels); uniform rows for too-short or silent clips."""
        from emolens.audio.voice import check_clip

        checked = [check_clip(clip) for clip in clips]
        probs = np.full((len(checked), len(self.labels)), 1.0 / len(self.labels))
        keep = np.flatnonzero(self.usable(checked)) if checked else []
        if len(keep):
            rows = np.stack([self.encoder.clip_features(checked[i]) for i in keep])
            probs[keep] = self.head.predict_proba(rows)
        return probs


def load_voice_head(directory: str | Path, whisper: Any = None,
                    cpu_threads: int = 0) -> HeadVoiceRecognizer:
    """A trained audio model as a voice recognizer (for the speech pipeline)."""
    meta = read_meta(directory)
    if meta["modality"] != MODALITY:
        raise InvalidInputError(f"{directory} is an {meta['modality']} model, not an audio one")
    head, check = read_head(Path(directory), meta)
    return HeadVoiceRecognizer(load_encoder(meta["encoder"], check, whisper, cpu_threads), head,
                               meta)
