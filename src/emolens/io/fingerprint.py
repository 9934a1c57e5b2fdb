"""A cheap identity for a media file's content, used in the item keys of its results."""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def file_fingerprint(path: str | Path) -> str:
    """16 hex digits from the size and the first and last MiB: cheap for two-hour videos,
    and a re-encoded or edited file gets a new identity (so its results are not reused)."""
    path = Path(path)
    digest = hashlib.sha1(usedforsecurity=False)
    size = path.stat().st_size
    digest.update(str(size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(_CHUNK))
        if size > 2 * _CHUNK:
            handle.seek(-_CHUNK, 2)
            digest.update(handle.read(_CHUNK))
    return digest.hexdigest()[:16]
