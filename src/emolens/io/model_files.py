"""Reading a shipped model's ``emolens-model.json``, with errors that say what is wrong."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emolens.errors import ModelFileError
from emolens.labels import SCHEMES

MODEL_FILE = "emolens-model.json"


def peek_model(directory: str | Path) -> dict[str, Any] | None:
    """The ``emolens-model.json`` of ``directory`` as a dict, or None when there is none (or
    it is not a JSON object); for dispatching on its ``type`` before a loader checks it."""
    try:
        meta = json.loads((Path(directory) / MODEL_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def media_modality(directory: str | Path) -> str | None:
    """'audio' or 'image' for a model made by `emolens train audio|image`, else None."""
    meta = peek_model(directory) or {}
    return meta.get("modality") if meta.get("type") == "media-head" else None


def read_model_meta(
    directory: Path, what: str, model_type: str, required: Sequence[str]
) -> dict[str, Any]:
    """The metadata of the ``what`` model (e.g. "voice") in ``directory``, checked: its
    type, the ``required`` keys, and labels that all belong to its declared scheme."""
    try:
        meta = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelFileError(
            f"{directory} is not a {what} model directory: it has no {MODEL_FILE}"
        ) from exc
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{directory / MODEL_FILE} is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("type") != model_type:
        kind = meta.get("type") if isinstance(meta, dict) else None
        raise ModelFileError(f"{directory} holds a model of type {kind!r}; expected {model_type!r}")
    missing = [k for k in ("labels", "scheme", *required) if k not in meta]
    if missing:
        raise ModelFileError(f"{directory / MODEL_FILE} lacks {missing}")
    unknown = [label for label in meta["labels"] if label not in SCHEMES.get(meta["scheme"], {})]
    if unknown or not meta["labels"]:
        raise ModelFileError(
            f"{directory}: labels {unknown or '(none)'} are not in the {meta['scheme']!r} scheme"
        )
    return meta
