"""A text model made by `emolens train text --encoder NAME`: a shipped encoder, frozen, and a
light head on its mean-pooled hidden states.

The model directory names its encoder and holds only the head:

    emolens-model.json   type "encoder-head", modality "text", labels, scheme, encoder
                         {"name": "minilm-en"|"e5-zh", "version", "dim"}, head, validation
    weights.npz          standardisation, coefficients, temperature (``LinearHead``)
    MODEL_CARD.md        generated

Loading builds the named encoder (its base package must be installed, as for the encoder
itself) and checks that its feature width matches the head.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import InvalidInputError, ModelFileError

MODEL_TYPE = "encoder-head"
MODEL_FILE = "emolens-model.json"
WEIGHTS_FILE = "weights.npz"
# Encoder name -> registered recognizer with ``embed(texts) -> (n, dim)``.
ENCODERS = ("minilm-en", "e5-zh")


def load_encoder(name: str, **kwargs: Any) -> Any:
    """The frozen shipped encoder ``name`` (a recognizer with ``embed``)."""
    if name not in ENCODERS:
        raise InvalidInputError(
            f"unknown text encoder {name!r}; use one of {', '.join(ENCODERS)} (or ngram)")
    from emolens.registry import recognizers

    return recognizers.create(name, **kwargs)


def encoder_identity(encoder: Any, name: str) -> dict[str, Any]:
    """What the features depend on: the encoder's name and version."""
    return {"name": name, "version": str(encoder.version)}


class EncoderHeadRecognizer:
    """Texts -> frozen encoder's pooled states -> ``LinearHead`` -> probabilities."""

    def __init__(self, encoder: Any, head: Any, meta: dict[str, Any]) -> None:
        self.encoder = encoder
        self.head = head
        self.meta = meta
        self.labels: tuple[str, ...] = tuple(meta["labels"])
        self.scheme: str | None = meta["scheme"]
        self.name: str = meta["name"]
        self.version: str = str(meta["version"])
        self.abstain_below: float | None = meta.get("abstain_below")
        self.label_thresholds: dict[str, float] | None = meta.get("label_thresholds")
        # Models saved before languages were recorded say nothing (None: no warning).
        self.trained_languages: tuple[str, ...] | None = (
            tuple(meta["languages"]) if meta.get("languages") else None)

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None
              ) -> np.ndarray:
        """The encoder's features of ``texts`` (n, dim)."""
        return self.encoder.embed(texts, progress)

    def predict_proba(self, texts: Sequence[str], languages: Sequence[str] | None = None
                      ) -> np.ndarray:
        """Calibrated probabilities (n, len(labels)); ``languages`` unused."""
        if len(texts) == 0:
            return np.zeros((0, len(self.labels)))
        return self.head.predict_proba(self.embed(texts))

    @classmethod
    def load(cls, directory: str | Path, **encoder_kwargs: Any) -> EncoderHeadRecognizer:
        """The model saved in ``directory`` by `emolens train text --encoder`."""
        from emolens.train.heads import LinearHead

        directory = Path(directory)
        try:
            meta = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
            encoder_name = meta["encoder"]["name"]
            for key in ("name", "version", "labels", "scheme"):
                meta[key]  # noqa: B018 - a KeyError names what is missing
            with np.load(directory / WEIGHTS_FILE, allow_pickle=False) as data:
                arrays = {k: np.asarray(data[k]) for k in data.files}
            head = LinearHead.from_arrays(arrays)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelFileError(f"Cannot read an encoder-head model from {directory}: "
                                 f"{type(exc).__name__}: {exc}") from exc
        if meta.get("type") != MODEL_TYPE:
            raise ModelFileError(f"{directory} holds no {MODEL_TYPE} model")
        if head.coef_.shape[0] != len(meta["labels"]):
            raise ModelFileError(f"{directory}: the head has {head.coef_.shape[0]} classes but "
                                 f"{len(meta['labels'])} labels; retrain the model")
        dim = meta["encoder"].get("dim")
        if dim is not None and head.coef_.shape[1] != dim:
            raise ModelFileError(f"{directory}: the head expects {head.coef_.shape[1]} features, "
                                 f"the model file says {dim}; retrain the model")
        encoder = load_encoder(encoder_name, **encoder_kwargs)
        saved = str(meta["encoder"].get("version", encoder.version))
        if saved != str(encoder.version):
            raise ModelFileError(
                f"{directory} was trained on {encoder_name} version {saved}, but this emolens "
                f"ships version {encoder.version}; retrain the head on this encoder")
        return cls(encoder, head, meta)
