"""An identity for a media file's content, used in the item keys of its results."""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def file_fingerprint(path: str | Path) -> str:
    """16 hex digits from the whole content, read in 1 MiB chunks (memory stays flat): any
    edit, even one that keeps the size, gives a new identity, so its results are not reused.
    blake2b reads about 1 GB/s, so a two-hour video costs a few seconds once per run."""
    digest = hashlib.blake2b(digest_size=8)
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
