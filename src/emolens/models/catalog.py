"""What models exist, what one is, and removing one a user trained (never a shipped one).

Names resolve to the folders shipped inside the package (``default``/``ngram``, ``minilm-en``,
``e5-zh``, ``voice``, ``face``); any other argument is a model directory. Recognizers that
are code rather than a folder (``lexicon``, ``accurate``, ``llm``...) have a description only.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emolens.errors import InvalidInputError, ModelFileError, UnknownComponentError
from emolens.io.model_files import MODEL_FILE, peek_model

SHIPPED_DIR = Path(__file__).resolve().parent
# Names of the shipped model folders, as the commands and settings spell them.
SHIPPED: dict[str, tuple[str, str]] = {  # name -> (folder, modality)
    "default": ("default", "text"),
    "ngram": ("default", "text"),
    "minilm-en": ("minilm_en", "text"),
    "e5-zh": ("e5_zh", "text"),
    "voice": ("voice", "audio"),
    "face": ("face", "image"),
}
CARD_FILE = "MODEL_CARD.md"
_MODALITY_BY_TYPE = {"voice-whisper-logreg": "audio", "face-expression-onnx": "image"}


@dataclass
class ModelInfo:
    """One model: where it is, its metadata and model card, and whether it ships with emolens."""

    name: str
    modality: str
    path: Path | None
    meta: dict[str, Any]
    card: str | None
    shipped: bool
    description: str = ""

    def summary(self) -> dict[str, Any]:
        """JSON-safe overview: name, type, modality, labels, version, validation, size."""
        meta = self.meta
        validation = meta.get("validation") or meta.get("dev_metrics") or {}
        return {
            "name": meta.get("name", self.name), "version": meta.get("version"),
            "type": meta.get("type"), "modality": self.modality,
            "path": None if self.path is None else str(self.path), "shipped": self.shipped,
            "labels": meta.get("labels"), "scheme": meta.get("scheme"),
            "abstain_below": meta.get("abstain_below"),
            "trained_at": (meta.get("trained") or {}).get("at"),
            "validation": {k: validation.get(k) for k in (
                "method", "n", "accuracy", "macro_f1", "ece", "ece_scaled", "temperature")
                if validation.get(k) is not None},
            "size_bytes": None if self.path is None else folder_size(self.path),
            "description": self.description or None,
        }


def folder_size(path: Path) -> int:
    """Bytes of the files under ``path``."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def is_shipped(path: str | Path) -> bool:
    """Whether ``path`` is (or is inside) the models shipped in the emolens package."""
    resolved = Path(path).resolve()
    return resolved == SHIPPED_DIR or SHIPPED_DIR in resolved.parents


def model_info(name_or_path: str | Path) -> ModelInfo:
    """Metadata and card of a shipped model (by name), a model directory, or a recognizer."""
    text = str(name_or_path)
    if text in SHIPPED:
        folder, modality = SHIPPED[text]
        path = SHIPPED_DIR / folder
        if not (path / MODEL_FILE).is_file():
            raise ModelFileError(f"the shipped {text!r} model is not installed here ({path})")
        return _from_dir(path, text, modality)
    path = Path(name_or_path)
    if path.is_dir():
        return _from_dir(path, path.name, None)
    from emolens.registry import recognizers

    described = recognizers.describe()
    if text in described:
        return ModelInfo(text, "text", None, {"name": text}, None, True, described[text])
    raise UnknownComponentError(
        f"Unknown model {text!r}: use a shipped name {sorted(SHIPPED)}, a recognizer "
        f"{sorted(described)}, or a model directory")


def _from_dir(path: Path, name: str, modality: str | None) -> ModelInfo:
    meta = peek_model(path)
    if meta is None:
        if (path / "config.json").is_file():  # a Hugging Face model folder
            return ModelInfo(name, "text", path, {"type": "hf", "name": name},
                             _card(path / "README.md"), is_shipped(path))
        raise ModelFileError(f"{path} is not a model directory: it has no {MODEL_FILE}")
    kind = meta.get("type")
    modality = modality or meta.get("modality") or _MODALITY_BY_TYPE.get(kind, "text")
    return ModelInfo(meta.get("name", name), modality, path, meta, _card(path / CARD_FILE),
                     is_shipped(path))


def _card(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def remove_model(path: str | Path) -> Path:
    """Delete a model directory a user trained; refuses shipped models and non-model folders."""
    path = Path(path)
    if str(path) in SHIPPED and not path.exists():
        raise InvalidInputError(f"{str(path)!r} is a model shipped with emolens; it cannot be "
                                "removed (uninstall emolens to remove it)")
    if not path.is_dir():
        raise InvalidInputError(f"{path}: no such model directory")
    if is_shipped(path):
        raise InvalidInputError(f"{path} is a model shipped with emolens; it cannot be removed "
                                "(uninstall emolens to remove it)")
    if peek_model(path) is None:
        raise InvalidInputError(
            f"{path} holds no {MODEL_FILE}, so it is not a model emolens made; not deleting it")
    shutil.rmtree(path)
    return path
