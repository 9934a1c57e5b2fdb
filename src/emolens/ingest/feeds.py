"""RSS and Atom feeds (feedparser), from a URL or a saved file.

A fetched feed's ETag and Last-Modified are kept in the state and sent back next time, so a
feed that has not changed costs one 304 answer (an ``Unchanged`` entry). An entry's text is
its title and its content (or summary), HTML removed. A feed that is not well-formed XML is an
error of the source (the entries read are used); one cut off midway (the XML ends early) has
its last entry left out, since it may lack its date or link and, once stored, would never be
read again, and keeps no validator, so that the next run fetches it whole.

An entry's time is feedparser's reading of it; feedparser takes a date written without a zone
(against RSS and Atom, but seen) as UTC, so such a date is read in ``source_tz`` instead, and
one feedparser cannot read at all ("Fri, 01 Mar 2024 12:00:00") is read by ``time_or_none``.
A zone abbreviation that is ``source_tz``'s own name on that date is read as that zone:
feedparser knows one meaning of each, so "CST" in a Chinese feed (China Standard Time, as
Asia/Shanghai calls itself) would otherwise be US Central, 14 hours off.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax import SAXParseException

from emolens.errors import InvalidInputError, MissingExtraError
from emolens.ingest.base import (
    BadItem,
    Entry,
    IngestItem,
    Note,
    Unchanged,
    digest,
    is_url,
    local_source,
    text_or_none,
    time_or_none,
)
from emolens.io.times import source_zone

# How a feed date with a zone ends: Z, +08:00, -0500, or a name (GMT, EST, UT). A date alone,
# or a time ending in digits, has none.
_ZONE_AT_END = re.compile(r"(?:[zZ]|[+-]\d{2}:?\d{2}|[A-Za-z]{1,5})\s*$")
_NAME_AT_END = re.compile(r"\s([A-Za-z]{2,5})\s*$")
# What expat says when the document ends before its elements do: a feed cut off in transfer.
_CUT_OFF = ("no element found", "unclosed token", "unclosed CDATA section", "partial character")


class FeedSource:
    """An RSS or Atom feed: each entry's title and text, author, time and link."""

    name = "rss"

    def __init__(self, source: str, timeout: float = 30.0,
                 source_tz: str | None = None) -> None:
        self.source = source if is_url(source) else local_source(source)
        self.timeout = timeout
        self.source_tz = source_tz  # the zone of dates written without one; None: UTC

    def items(self, state: dict[str, Any]) -> Iterator[Entry]:
        """Entries of the feed; none when the server says it has not changed (304)."""
        try:
            import feedparser
        except ImportError as exc:
            raise MissingExtraError("Reading RSS and Atom feeds", "ingest") from exc
        content, validators = self._fetch(state)
        if content is None:
            yield Unchanged(self.source, "unchanged (304)")
            return
        feed = feedparser.parse(content)
        problem = feed.get("bozo_exception")
        if feed.get("bozo") and not feed.entries:
            raise InvalidInputError(f"{self.source} is not an RSS or Atom feed: {problem}")
        title = text_or_none(feed.feed.get("title"))
        entries = [self._entry(n, entry, title) for n, entry in enumerate(feed.entries, 1)]
        not_xml = isinstance(problem, SAXParseException)
        if not_xml and any(words in str(problem) for words in _CUT_OFF):
            # The last entry may lack its date, link or text; once stored it would count as
            # seen, so it waits for a complete fetch, and no validator is kept to prevent one.
            entries.pop()
            last = _named(len(feed.entries), feed.entries[-1])
            yield BadItem(self.source, f"the feed is cut off ({problem}): {last} is left out "
                          "until the feed is fetched whole")
            validators = {}
        elif not_xml:
            yield BadItem(self.source, f"the feed is not well-formed XML ({problem}); the "
                          "entries that could be read are used")
        elif feed.get("bozo"):
            yield Note(self.source, f"the feed is not well-formed ({problem}); the entries "
                       "that could be read are used")
        yield from entries
        state.update(validators)  # kept by the caller once every entry is stored

    def _fetch(self, state: dict[str, Any]) -> tuple[bytes | None, dict[str, str]]:
        """The feed's bytes (None: not modified) and the validators to send next time."""
        if not is_url(self.source):
            try:
                return Path(self.source).read_bytes(), {}
            except OSError as exc:
                raise InvalidInputError(f"Cannot read {self.source}: {exc.strerror}") from exc
        from emolens.ingest.http import client, get

        headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, "
                             "*/*;q=0.5"}
        if state.get("etag"):
            headers["If-None-Match"] = state["etag"]
        if state.get("last_modified"):
            headers["If-Modified-Since"] = state["last_modified"]
        with client(timeout=self.timeout) as http:
            response = get(http, self.source, headers)
        if response.status_code == 304:
            return None, {}
        validators = {key: response.headers[header] for key, header in (
            ("etag", "etag"), ("last_modified", "last-modified")) if header in response.headers}
        return response.content, validators

    def _entry(self, number: int, entry: Any, feed_title: str | None) -> Entry:
        from emolens.ingest.web import html_to_text

        link = text_or_none(entry.get("link"))
        own = text_or_none(entry.get("id")) or link
        name = f"{self.source} {_named(number, entry)}"
        title = html_to_text(entry.get("title") or "")
        body = entry.get("content")[0].get("value", "") if entry.get("content") else ""
        body = html_to_text(body or entry.get("summary") or "")
        parts = [title] if title and not body.startswith(title) else []
        text = "\n".join(parts + ([body] if body else []))
        if not text:
            return BadItem(name, "no title or text")
        return IngestItem(
            id=f"{self.source}\x1f{own or digest(title, body)}", text=text,
            author=text_or_none(entry.get("author")), time=self._time(entry),
            url=link, group=feed_title, post_id=own,
            extra={"tags": [t.get("term") for t in entry.get("tags", []) if t.get("term")]},
        )

    def _time(self, entry: Any) -> datetime | None:
        """The entry's time in UTC: feedparser's, which is UTC, unless the date as written had
        no zone, when feedparser's UTC is really the wall time in ``source_tz``."""
        for key in ("published", "updated"):
            written = str(entry.get(key) or "")
            parsed = entry.get(f"{key}_parsed")
            if parsed:
                if (local := self._in_source_zone(written)) is not None:
                    return local
                aware = _ZONE_AT_END.search(written) is not None
                return time_or_none(datetime(*parsed[:6], tzinfo=UTC if aware else None),
                                    self.source_tz)
            if written and (found := time_or_none(written, self.source_tz)) is not None:
                return found
        return None

    def _in_source_zone(self, written: str) -> datetime | None:
        """The UTC time of ``written`` when it ends in ``source_tz``'s own abbreviation for
        that date ("... 12:00:00 CST" with Asia/Shanghai); else None."""
        zone = source_zone(self.source_tz)
        found = _NAME_AT_END.search(written)
        if zone is None or found is None:
            return None
        wall = time_or_none(written[:found.start()])  # the time as written, naive
        if wall is None or wall.replace(tzinfo=zone).tzname() != found.group(1).upper():
            return None
        return time_or_none(wall, zone)


def _named(number: int, entry: Any) -> str:
    """An entry as messages name it: 'entry 3 (its guid or link)'."""
    own = text_or_none(entry.get("id")) or text_or_none(entry.get("link"))
    return f"entry {number}" + (f" ({own})" if own else "")
