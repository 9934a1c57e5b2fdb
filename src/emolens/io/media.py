"""Opening an audio or video file with PyAV, with one set of checks and messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from emolens.errors import InvalidInputError, MissingExtraError

_READABLE = {"audio": "audio or video", "video": "video"}
_MISSING = {"audio": "no audio track", "video": "no video stream"}


def open_media(path: Path, kind: Literal["audio", "video"]) -> Any:
    """A PyAV container holding at least one ``kind`` stream, or InvalidInputError naming
    the file (missing, empty, not media, no such stream)."""
    try:
        import av
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MissingExtraError(f"Decoding {kind}", kind) from exc
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise InvalidInputError(f"{path}: the file is empty (0 bytes)")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            f"{path}: not a readable {_READABLE[kind]} file ({exc.__class__.__name__}: {exc})"
        ) from exc
    if not getattr(container.streams, kind):
        container.close()
        raise InvalidInputError(f"{path}: the file has {_MISSING[kind]}")
    return container
