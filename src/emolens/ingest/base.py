"""The connector contract: a ``Source`` yields ``IngestItem``s (and ``BadItem``s and ``Note``s).

A connector is one small class with a ``name`` (its kind: 'rss', 'twitter', ...), the
``source`` it reads (a path or URL, also the key its state is kept under) and
``items(state)``. Its constructor only stores its keyword arguments; reading starts when
``items`` is iterated. A source that cannot be read at all raises ``InvalidInputError``; an
entry that cannot be read becomes a ``BadItem`` named so that a person can find it, and
reading goes on.

``state`` is a dict the connector may read and change (an ETag, a cursor); the caller keeps it
once the source has been read to the end and everything in it stored, and gives it back next
time. Incrementality does not depend on it: items whose ``id`` was seen before are not
analysed again either way.

Item times are naive UTC. A connector that may read times written without a zone (a chat
export, a table) takes ``source_tz``, the IANA zone they were written in, and reads every time
with ``time_or_none(value, self.source_tz)``; ``open_source`` gives it the ``source_tz``
setting. Connectors whose times always carry a zone (X/Twitter, Reddit) do not take it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from emolens.io.times import parse_time, source_zone


@dataclass
class IngestItem:
    """One collected item: a text (or a media file), and where, when and by whom it was written.

    ``id`` is stable: the same item gives the same id on every run (a tweet id, a feed
    entry's guid, a file path and row), so that it is analysed once. ``post_id`` is the
    post's own id as its source gives it, stored as ``item_id`` so that exports join back to
    the user's data; None when it has none (a row keyed by its content).
    """

    id: str  # the key it is known by across runs and sources (not shown to people)
    text: str | None = None
    source: str | None = None  # where it was read (a file, a feed); None: the Source's own
    author: str | None = None
    time: datetime | None = None  # when it was written (naive UTC)
    url: str | None = None
    group: str | None = None  # a thread, chat, subreddit or feed title
    media: Path | None = None  # an audio, video or image file, instead of a text
    extra: dict[str, Any] = field(default_factory=dict)  # what else the source tells
    post_id: str | None = None  # the post's own id (id column, guid, tweet id): item_id


@dataclass
class BadItem:
    """An entry that could not be read, named so that a person can find it."""

    name: str
    message: str

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"


@dataclass
class Note:
    """Something left out on purpose (a service message, a removed comment, a media file
    without its extra); not an error."""

    name: str
    message: str

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"


@dataclass
class Empty(BadItem):
    """A source with nothing in it (a folder without files, a glob that matches none): an
    error when it was asked for once, normal for a polled drop folder
    (``IngestOptions.empty_ok``), where ``normal`` says it ('no files yet')."""

    normal: str = "nothing yet"


@dataclass
class Unchanged(Note):
    """The source says it has not changed since the last run (an HTTP 304): nothing to read."""


Entry = IngestItem | BadItem | Note


@runtime_checkable
class Source(Protocol):
    """A connector: what it is (``name``), what it reads (``source``), and its entries."""

    name: str
    source: str

    def items(self, state: dict[str, Any]) -> Iterator[Entry]:
        """Entries in the source's order; may update ``state`` (see the module docstring)."""
        ...


def digest(*parts: object) -> str:
    """A short stable id from parts (SHA-256, 32 hex digits)."""
    data = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(data.encode("utf-8", errors="surrogatepass")).hexdigest()[:32]


def time_or_none(value: Any, tz: str | tzinfo | None = None) -> datetime | None:
    """``parse_time(value, tz)``, or None when it cannot be read (the item is kept without
    it); a naive time is read in ``tz`` (a connector's ``source_tz``; None: UTC). A bad
    ``tz`` raises InvalidInputError: every time of the source would be wrong."""
    zone = source_zone(tz)
    try:
        return parse_time(value, zone)
    except ValueError:
        return None


def text_or_none(value: Any) -> str | None:
    """A non-empty string, or None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value == value:
        value = str(value)
    return (value.strip() or None) if isinstance(value, str) else None


_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def is_url(source: str) -> bool:
    """True for http(s) and other scheme://... strings, False for paths."""
    return bool(_URL.match(source))


def local_source(source: str) -> str:
    """A path as stored and used as a state key: absolute, resolved."""
    return str(Path(source).expanduser().resolve())
