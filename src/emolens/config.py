"""Settings, declared once. Priority: defaults < config file < EMOLENS_* env vars < CLI flags.

The config file is TOML, found at ``$EMOLENS_CONFIG`` or ``~/.config/emolens/config.toml``.
Components never read settings themselves: callers pass the values in as arguments.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from importlib import import_module
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from emolens.errors import InvalidInputError
from emolens.vision.faces import MIN_FACE_SIZE

# Texts per recognizer call. Large on purpose: the default cascade sends only its unsure
# texts to the encoders, and the more texts a call holds, the more of those there are to
# group into batches of similar length (2,000 mixed posts: 455 texts/s in calls of 256,
# 538 in one call; benchmarks/text_batching.py).
DEFAULT_BATCH_SIZE = 2048
# Modules declaring settings on top of these (same file, same variables): a key of the
# config file is known when one of them declares it.
SETTINGS_MODULES = ("emolens.llm.settings", "emolens.server.settings", "emolens.ingest.settings")


def _config_path() -> tuple[Path | None, bool]:
    """The config file to read and whether EMOLENS_CONFIG names it (then it must exist);
    EMOLENS_CONFIG set but empty means no file at all."""
    named = os.environ.get("EMOLENS_CONFIG")
    if named is None:
        return Path.home() / ".config/emolens/config.toml", False
    return (Path(named).expanduser(), True) if named.strip() else (None, True)


class _TomlSource(PydanticBaseSettingsSource):
    """Reads the TOML config file, if there is one."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns everything at once

    def __call__(self) -> dict[str, Any]:
        path, named = _config_path()
        if path is None:
            return {}
        if not path.is_file():
            if named:  # a path given on purpose: a typo there would be ignored silently
                raise InvalidInputError(
                    f"Config file {path} (EMOLENS_CONFIG) does not exist; fix the path, or set "
                    "EMOLENS_CONFIG= (empty) to read no config file.")
            return {}
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"Config file {path} is not valid TOML: {exc}") from exc
        _check_keys(path, values, self.settings_cls)
        return values


def _check_keys(path: Path, values: dict[str, Any], cls: type[BaseSettings]) -> None:
    """Refuse keys that no settings class declares (a typo would be ignored silently)."""
    unknown = [key for key in values if key not in cls.model_fields]
    if not unknown:
        return
    for module in SETTINGS_MODULES:  # imported only when a key is not the class's own
        import_module(module)
    known = set(_known_settings(Settings))
    unknown = [key for key in unknown if key not in known]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, known, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise InvalidInputError(
            f"Config file {path}: unknown setting(s) {', '.join(hints)}; its keys are the "
            "setting names (README, Settings)")


def _known_settings(cls: type[BaseSettings]) -> list[str]:
    names = list(cls.model_fields)
    for sub in cls.__subclasses__():
        names += _known_settings(sub)
    return names


S = TypeVar("S", bound=BaseSettings)


class Settings(BaseSettings):
    """Every emolens setting, with its default and what it does."""

    model_config = SettingsConfigDict(env_prefix="EMOLENS_", extra="ignore")

    db: str = Field(
        "emolens.db",
        description="SQLite file path or SQLAlchemy URL where results are stored.",
    )
    model: str = Field(
        "default", description="Text recognizer: a registered name or a model directory."
    )
    batch_size: int = Field(DEFAULT_BATCH_SIZE, ge=1,
                            description="Texts per batch given to a recognizer.")
    store_text: Literal["full", "redacted", "hash", "none"] = Field(
        "full", description="Keep each item's text in the store, the text with emails, phone "
        "and ID numbers, URLs and @handles replaced (redacted), only its SHA-256, or nothing.",
    )
    hash_authors: bool = Field(
        False, description="Store each collected item's author as a salted SHA-256 "
        "(author_salt) instead of the name; `emolens purge --author` hashes the same way.",
    )
    author_salt: str | None = Field(
        None, description="Salt of the author hashes; keep it secret and unchanged (a new salt "
        "makes earlier hashes unmatchable). Required by hash_authors.",
    )
    out_dir: str = Field("emolens-out", description="Where reports and charts are written.")
    max_text_chars: int = Field(
        100_000, ge=1, description="Longer texts are truncated (with a warning) before analysis."
    )
    uncertain_below: float | None = Field(
        None, ge=0.0, le=1.0,
        description="Flag results whose top probability is below this as uncertain "
        '(details["uncertain"] = True; the label is kept).',
    )
    int8_encoders: bool = Field(
        True, description="Run the English encoder (minilm-en, in default and accurate) as an "
        "int8 graph, about 1.6x faster than float32. It quantizes activations per batch, so a "
        "text's scores move a little with the texts batched beside it (600 GoEmotions texts "
        "alone vs in one batch: 4.5 % of default's top labels differ); false makes results "
        "independent of the batch, at about 16 % of default's throughput.",
    )
    source_tz: str = Field(
        "UTC", description="IANA time zone (e.g. Asia/Shanghai) in which times written without "
        "an offset in files, exports, feeds and service requests are read; they are stored in "
        "UTC. Times with an offset, and Unix times, are not changed.",
    )

    asr_model: str = Field(
        "base",
        description="Speech recognition: 'base' (multilingual Whisper, English and Chinese), "
        "'tiny.en' (English only, faster) or a CTranslate2 Whisper directory.",
    )
    asr_beam_size: int = Field(1, ge=1, le=10, description="Whisper beam size (1 = greedy).")
    voice_model: str = Field(
        "default", description="Voice (prosody) emotion model: 'default' or a model directory."
    )
    face_model: str = Field(
        "default", description="Facial-expression model for images and video: 'default' or a "
        "model directory (e.g. one made by `emolens train image`).",
    )
    face_min_size: int = Field(
        MIN_FACE_SIZE, ge=4, le=4096,
        description="Faces narrower than this many pixels in the frame are not scored (images "
        "and video). Lower finds smaller faces, whose expressions are harder to read.",
    )
    fusion_weights: dict[str, float] = Field(
        default_factory=lambda: {"voice": 0.5, "words": 0.5},
        description="Base weight of each modality when fusing (JSON in the env var, e.g. "
        '{"voice": 0.6, "words": 0.4}); see emolens.fusion.',
    )

    @field_validator("fusion_weights")
    @classmethod
    def _known_modalities(cls, weights: dict[str, float]) -> dict[str, float]:
        from emolens.fusion import DEFAULT_WEIGHTS

        unknown = sorted(set(weights) - set(DEFAULT_WEIGHTS))
        if unknown:
            raise ValueError(f"unknown modality {unknown}; the modalities are "
                             f"{sorted(DEFAULT_WEIGHTS)}")
        if any(w < 0 for w in weights.values()) or not any(w > 0 for w in weights.values()):
            raise ValueError("weights must be 0 or more, and not all 0")
        return weights

    @field_validator("source_tz")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        from emolens.io.times import zone_name

        return zone_name(name)  # refused here, once, rather than when the first time is read

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Earlier sources win: CLI/init arguments, then env, then the TOML file.
        return (init_settings, env_settings, _TomlSource(settings_cls))


def cache_root() -> Path:
    """Where derived files (ONNX graphs, joined model weights) are cached.

    ``$EMOLENS_CACHE_DIR``, else ``$XDG_CACHE_HOME/emolens``, else ``~/.cache/emolens``.
    """
    root = os.environ.get("EMOLENS_CACHE_DIR")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "emolens"


def settings_error(exc: ValidationError, prefix: str = "EMOLENS_") -> InvalidInputError:
    """One clear message for invalid settings, naming each setting and its variable."""
    problems = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "settings"
        problems.append(f"{name} ({prefix}{name.split('.')[0].upper()}, the config file or "
                        f"the option): {error['msg']}, got {error.get('input')!r}")
    return InvalidInputError("Invalid setting: " + "; ".join(problems))


def unparsable_setting(exc: SettingsError, cls: type[BaseSettings],
                       prefix: str = "EMOLENS_") -> InvalidInputError:
    """One clear message for a variable that is not the JSON its setting needs."""
    found = re.search(r'field "(\w+)"', str(exc))
    if found is None or found.group(1) not in cls.model_fields:
        return InvalidInputError(f"Invalid setting: {exc}")
    name = found.group(1)
    field = cls.model_fields[name]
    kinds = {get_origin(t) or t for t in (field.annotation, *get_args(field.annotation))}
    kind = "a JSON object" if dict in kinds else "a JSON list" if list in kinds else "JSON"
    default = field.get_default(call_default_factory=True)
    example = f", e.g. {json.dumps(default)}" if default else ""
    return InvalidInputError(
        f"Invalid setting: {name} ({prefix}{name.upper()}) must be {kind}{example}, got "
        f"{os.environ.get(prefix + name.upper())!r}")


def build_settings(cls: type[S], prefix: str = "EMOLENS_", **overrides: Any) -> S:
    """``cls`` with CLI-level overrides (None values are ignored); a bad value from the
    environment, the config file or an option raises InvalidInputError naming it."""
    try:
        return cls(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise settings_error(exc, prefix) from None
    except SettingsError as exc:  # a complex value (dict, list) that is not JSON
        raise unparsable_setting(exc, cls, prefix) from None


def load_settings(**overrides: Any) -> Settings:
    """Settings with CLI-level overrides (None values are ignored)."""
    return build_settings(Settings, **overrides)
