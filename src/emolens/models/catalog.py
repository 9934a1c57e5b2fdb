"""What models exist, what one is, and removing one a user trained (never a shipped one).

Names resolve to the folders shipped inside the package (``ngram``, ``minilm-en``, ``e5-zh``,
``voice``, ``face``); any other argument is a model directory. ``default`` is no one folder
but the cascade built from three of them, described from the recognizer it builds.
Recognizers that are code rather than a folder (``lexicon``, ``accurate``, ``llm``...) have a
description only.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from collections.abc import Mapping
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
CHECKPOINT_DIR = ".finetune"  # `train text --finetune` checkpoints, left by an unfinished run
# Every file `emolens train` writes into a model directory (and the shipped formats): removing
# a model deletes these and nothing else, and training writes only into a folder of these.
MODEL_DIR_FILES = frozenset({MODEL_FILE, CARD_FILE, "weights.npz", "adapter.npz", "model.onnx"})
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
            # a model made of others (the default cascade): its parts, and where their cards are
            **{key: meta[key] for key in ("parts", "thresholds", "config", "disgust_probe", "cards",
                                          "notes")
               if key in meta},
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
    if text == "default":
        return default_info()
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


def default_info() -> ModelInfo:
    """What ``default`` is: the n-gram model on every text, per language an encoder blended
    with it for the texts it is unsure of, emoji mixed in; with the versions, thresholds and
    model cards of the parts, read from the recognizer itself so they are the ones it runs."""
    from emolens.models import CASCADE_FILE, DISGUST_PROBE_FILE
    from emolens.registry import recognizers
    from emolens.text.cascade import CascadeRecognizer
    from emolens.text.chinese import SimplifiedChineseRecognizer
    from emolens.text.disgust import ChineseDisgustRecognizer
    from emolens.text.emoji import EmojiAwareRecognizer
    from emolens.text.ensemble import LanguageEnsemble
    from emolens.text.long import LongTextRecognizer

    with warnings.catch_warnings(record=True) as caught:  # an encoder that cannot load here
        warnings.simplefilter("always")
        model = recognizers.create("default")
    simplified = isinstance(model, SimplifiedChineseRecognizer)
    outer = model.base if simplified else model
    in_parts = isinstance(outer, LongTextRecognizer)
    outer = outer.base if in_parts else outer
    emoji = isinstance(outer, EmojiAwareRecognizer)
    inner = outer.base if emoji else outer
    disgust = inner if isinstance(inner, ChineseDisgustRecognizer) else None
    if disgust is not None:
        inner = disgust.base
    cascade = inner if isinstance(inner, CascadeRecognizer) else None
    fast = cascade.fast if cascade else inner
    members = cascade.accurate.members if cascade and isinstance(
        cascade.accurate, LanguageEnsemble) else {}
    dev = _dev_points(CASCADE_FILE, cascade.thresholds if cascade else {})
    parts = [_part("fast", "ngram", fast.version)]
    for language, group in members.items():
        for recognizer, weight in group:
            if recognizer is not fast:  # the n-gram's own share of the blend is 1 - weight
                parts.append(_part("escalation", recognizer.name, recognizer.version,
                                   language=language, weight=weight,
                                   threshold=cascade.thresholds.get(language),
                                   dev=dev.get(language)))
    meta: dict[str, Any] = {
        "name": model.name, "version": model.version,
        "type": "cascade" if cascade else "ngram", "labels": list(model.labels),
        "scheme": model.scheme, "parts": parts,
        "thresholds": dict(cascade.thresholds) if cascade else {},
        "cards": [p["card"] for p in parts if p.get("card")],
        "notes": [str(w.message) for w in caught if issubclass(w.category, UserWarning)],
    }
    if cascade:
        meta["config"] = str(CASCADE_FILE)
    if disgust is not None:
        meta["disgust_probe"] = str(DISGUST_PROBE_FILE)
    return ModelInfo(model.name, "text", None, meta, None, True,
                     _what_default_is(cascade, emoji, disgust is not None, simplified,
                                      in_parts))


def _what_default_is(cascade: object, emoji: bool, disgust: bool, simplified: bool,
                     in_parts: bool) -> str:
    from emolens.text.long import LONG_CHARS, PART_CHARS

    how = ("The n-gram model reads every text; a text whose top score is below its language's "
           "threshold is read again by that language's encoder, blended with the n-gram model"
           if cascade else "The n-gram model alone (cascade.json is missing)")
    extras = (["emoji count through the lexicon's emoji table"] if emoji else []) + (
        ["a Chinese text with a disgust cue gets disgust from the e5 probe learnt on English "
         "(Chinese training data has no disgust)"] if disgust else []) + (
        ["Traditional Chinese is read in Simplified form (OpenCC t2s)"] if simplified else []) + (
        [f"a Chinese text longer than {LONG_CHARS} characters is read in parts of up to "
         f"{PART_CHARS}, cut at sentence ends, and comes out emotional if a part is"]
        if in_parts else [])
    return how + "".join(f"; {e}" for e in extras) + "."


def _part(role: str, name: str, version: str, **extra: Any) -> dict[str, Any]:
    """One part of the default cascade: its name, version, folder and card."""
    folder = SHIPPED_DIR / SHIPPED[name][0] if name in SHIPPED else None
    card = folder / CARD_FILE if folder is not None else None
    return {"role": role, "name": name, "version": version, **extra,
            "path": None if folder is None else str(folder),
            "card": str(card) if card is not None and card.is_file() else None}


def _dev_points(path: Path, thresholds: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Per language, the share escalated and macro-F1 on dev at the chosen threshold, from
    the curves that recipes/cascade/choose.py saves beside the thresholds."""
    try:
        curves = json.loads(path.read_text(encoding="utf-8")).get("curves", {})
    except (OSError, ValueError, AttributeError):
        return {}
    points = {}
    for language, threshold in thresholds.items():
        for point in curves.get(language, []):
            if abs(point.get("threshold", -1.0) - threshold) < 1e-9:
                points[language] = {k: point[k] for k in ("escalated", "macro_f1") if k in point}
    return points


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


def content_version(arrays: Mapping[str, Any], *parts: Any) -> str:
    """A short hash of a model's weights (and of ``parts``: labels, thresholds...): the
    default version of a trained model, so that two trainings never share a model id (the
    key stored results are kept under) unless they give the same model."""
    digest = hashlib.sha256()
    for key in sorted(arrays):
        array = arrays[key]
        digest.update(f"{key}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    digest.update(json.dumps(parts, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:12]


def foreign_entries(path: Path) -> list[str]:
    """Names in the folder ``path`` that are not files a model directory is known to hold."""
    return sorted(entry.name for entry in path.iterdir() if not _model_entry(entry))


def _model_entry(entry: Path) -> bool:
    if entry.is_symlink():  # a link would make removal reach outside the folder
        return entry.name in MODEL_DIR_FILES
    if entry.name == CHECKPOINT_DIR:
        return entry.is_dir()
    return entry.name in MODEL_DIR_FILES and entry.is_file()


def _listing(names: list[str], most: int = 5) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def check_output_dir(path: str | Path) -> Path:
    """``path`` if a model may be written there: a new or empty folder, or one that holds an
    emolens model already (training again replaces its files). A folder of other files is
    refused, so that the model is never mixed in with (and later removed with) a user's own
    files."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InvalidInputError(f"{path} is a file, not a folder; name a folder to write the "
                                "model to")
    if not path.is_dir() or (path / MODEL_FILE).is_file():
        return path
    others = foreign_entries(path)
    if others:
        raise InvalidInputError(
            f"{path} is not empty and holds no emolens model ({MODEL_FILE}); it has "
            f"{_listing(others)}. Write the model to a new or empty folder instead, e.g. "
            f"{path / 'model'}")
    return path


def removable_entries(path: str | Path) -> list[Path]:
    """The files that removing the model directory ``path`` deletes; refuses shipped models,
    folders that are not models, folders holding other files, and the current folder."""
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
    others = foreign_entries(path)
    if others:
        raise InvalidInputError(
            f"{path} holds files that are not part of a model: {_listing(others)}; not deleting "
            "anything. Move them out of the folder first (or delete it yourself)")
    here = Path.cwd().resolve()
    if path.resolve() == here or path.resolve() in here.parents:
        raise InvalidInputError(f"{path} is the current folder (or holds it); change to another "
                                "folder first")
    return sorted(path.iterdir())


def remove_model(path: str | Path) -> Path:
    """Delete a model directory a user trained: its model files, then the emptied folder
    (see ``removable_entries`` for what is refused)."""
    path = Path(path)
    for entry in removable_entries(path):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    path.rmdir()
    return path
