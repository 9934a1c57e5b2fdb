"""RSS and Atom feeds (feedparser), from a URL or a saved file.

A fetched feed's ETag and Last-Modified are kept in the state and sent back next time, so a
feed that has not changed costs one 304 answer. An entry's text is its title and its content
(or summary), HTML removed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from emolens.errors import InvalidInputError, MissingExtraError
from emolens.ingest.base import (
    BadItem,
    Entry,
    IngestItem,
    Note,
    digest,
    is_url,
    local_source,
    text_or_none,
)


class FeedSource:
    """An RSS or Atom feed: each entry's title and text, author, time and link."""

    name = "rss"

    def __init__(self, source: str, timeout: float = 30.0) -> None:
        self.source = source if is_url(source) else local_source(source)
        self.timeout = timeout

    def items(self, state: dict[str, Any]) -> Iterator[Entry]:
        """Entries of the feed; none when the server says it has not changed (304)."""
        try:
            import feedparser
        except ImportError as exc:
            raise MissingExtraError("Reading RSS and Atom feeds", "ingest") from exc
        content, validators = self._fetch(state)
        if content is None:
            return
        feed = feedparser.parse(content)
        if feed.get("bozo") and not feed.entries:
            raise InvalidInputError(
                f"{self.source} is not an RSS or Atom feed: {feed.get('bozo_exception')}"
            )
        if feed.get("bozo"):
            yield Note(self.source, f"the feed is not well-formed ({feed.get('bozo_exception')})"
                       "; the entries that could be read are used")
        title = text_or_none(feed.feed.get("title"))
        for number, entry in enumerate(feed.entries, 1):
            yield self._entry(number, entry, title)
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
        name = f"{self.source} entry {number}" + (f" ({own})" if own else "")
        title = html_to_text(entry.get("title") or "")
        body = entry.get("content")[0].get("value", "") if entry.get("content") else ""
        body = html_to_text(body or entry.get("summary") or "")
        parts = [title] if title and not body.startswith(title) else []
        text = "\n".join(parts + ([body] if body else []))
        if not text:
            return BadItem(name, "no title or text")
        when = entry.get("published_parsed") or entry.get("updated_parsed")
        return IngestItem(
            id=f"{self.source}\x1f{own or digest(title, body)}", text=text,
            author=text_or_none(entry.get("author")),
            time=datetime(*when[:6]) if when else None,  # feedparser gives UTC
            url=link, group=feed_title,
            extra={"tags": [t.get("term") for t in entry.get("tags", []) if t.get("term")]},
        )
