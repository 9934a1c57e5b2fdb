"""Web pages: the main text of a page (beautifulsoup4, Python's own HTML parser).

Navigation, scripts, styles, headers, footers, asides and forms are dropped; the text is the
paragraphs, headings, list items and quotes of the page's ``<article>`` (the longest, when
there are several), else its ``<main>``, else its body. The title, author, publication time
and canonical URL come from the usual ``<meta>``, ``<time>`` and ``<link>`` tags.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from emolens.errors import InvalidInputError, MissingExtraError
from emolens.ingest.base import (
    BadItem,
    Entry,
    IngestItem,
    digest,
    is_url,
    local_source,
    time_or_none,
)

_DROP = ("script", "style", "noscript", "nav", "footer", "header", "aside", "form", "iframe",
         "svg", "template", "button", "select")
_DROP_ROLES = ("navigation", "banner", "contentinfo", "complementary", "search")
_BLOCKS = ("h1", "h2", "h3", "h4", "p", "li", "blockquote", "pre", "figcaption", "td")
# Elements that end a line: a space is put after each, so that words of two blocks do not run
# together, while inline elements (<b>, <a>) join their neighbours as written.
_BREAKS = (*_BLOCKS, "br", "div", "section", "article", "main", "ul", "ol", "dl", "dt", "dd",
           "tr", "th", "table", "h5", "h6", "hr", "figure", "address")
_SPACE = re.compile(r"\s+")


@dataclass
class Page:
    """What a page says and about it."""

    text: str
    title: str | None = None
    author: str | None = None
    time: datetime | None = None
    url: str | None = None  # the canonical URL, when the page names one


def _soup(markup: str | bytes) -> Any:
    try:
        from bs4 import BeautifulSoup
    except ImportError as exc:
        raise MissingExtraError("Reading web pages and feed HTML", "ingest") from exc
    return BeautifulSoup(markup, "html.parser")


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment (a feed entry's summary), whitespace collapsed."""
    if "<" not in markup and "&" not in markup:
        return _SPACE.sub(" ", markup).strip()
    return _plain(_breaks(_soup(markup)))


def _breaks(soup: Any) -> Any:
    """``soup`` with a space after every block element (see ``_BREAKS``)."""
    for tag in soup.find_all(_BREAKS):
        tag.insert_after(" ")
    return soup


def _plain(tag: Any) -> str:
    return _SPACE.sub(" ", tag.get_text()).strip()


def _meta(soup: Any, *names: str) -> str | None:
    for name in names:
        tag = soup.find("meta", attrs={"property": name}) or soup.find("meta", attrs={"name": name})
        if tag is not None and str(tag.get("content", "")).strip():
            return str(tag["content"]).strip()
    return None


def extract_page(markup: str | bytes, url: str | None = None,
                 source_tz: str | None = None) -> Page:
    """The main text of an HTML page and what the page says about itself (a time without
    an offset read in ``source_tz``; None: UTC)."""
    soup = _soup(markup)
    title = _meta(soup, "og:title") or (soup.title.get_text(strip=True) if soup.title else None)
    author = _meta(soup, "author", "article:author", "twitter:creator")
    when = _meta(soup, "article:published_time", "date", "pubdate")
    if when is None and (tag := soup.find("time", attrs={"datetime": True})) is not None:
        when = str(tag["datetime"])
    canonical = soup.find("link", rel="canonical", href=True)
    for tag in soup(_DROP):
        tag.decompose()
    for tag in soup.find_all(attrs={"role": list(_DROP_ROLES)}):
        tag.decompose()
    container = _breaks(_main(soup))
    blocks = [
        _plain(el) for el in container.find_all(_BLOCKS)
        if el.find_parent(_BLOCKS) is None  # a <p> in an <li> is read once, with the <li>
    ]
    text = "\n".join(b for b in blocks if b) or _plain(container)
    return Page(text=text, title=title or None, author=author,
                time=time_or_none(when, source_tz),
                url=urljoin(url or "", str(canonical["href"])) if canonical else None)


def _main(soup: Any) -> Any:
    """The element holding the page's main text."""
    articles = soup.find_all("article")
    if articles:
        return max(articles, key=lambda a: sum(len(p.get_text()) for p in a.find_all("p")))
    return soup.find("main") or soup.find(attrs={"role": "main"}) or soup.body or soup


class WebSource:
    """A web page (http/https URL) or a saved HTML file: its main text, as one item."""

    name = "web"

    def __init__(self, source: str, timeout: float = 30.0,
                 source_tz: str | None = None) -> None:
        self.source = source if is_url(source) else local_source(source)
        self.timeout = timeout
        self.source_tz = source_tz  # the zone of a page time without an offset; None: UTC

    def items(self, state: dict[str, Any]) -> Iterator[Entry]:
        """One item: the page's title and main text. Its id holds a hash of the text, so a
        page whose text changed is analysed again."""
        markup = self._fetch()
        page = extract_page(markup, self.source if is_url(self.source) else None,
                            self.source_tz)
        if not page.text:
            yield BadItem(self.source, "no main text found in the page")
            return
        text = page.text
        if page.title and not text.startswith(page.title):
            text = f"{page.title}\n{text}"
        url = page.url or (self.source if is_url(self.source) else None)
        yield IngestItem(id=f"{url or self.source}#{digest(text)}", text=text,
                         author=page.author, time=page.time, url=url,
                         group=urlsplit(url).hostname if url else None,
                         extra={"title": page.title})

    def _fetch(self) -> bytes:
        if not is_url(self.source):
            try:
                return Path(self.source).read_bytes()
            except OSError as exc:
                raise InvalidInputError(f"Cannot read {self.source}: {exc.strerror}") from exc
        from emolens.ingest.http import client, get

        with client(timeout=self.timeout) as http:
            response = get(http, self.source)
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind.endswith(("rss+xml", "atom+xml")) or kind in ("application/xml", "text/xml"):
            raise InvalidInputError(f"{self.source} is a feed ({kind}), not a web page: "
                                    "use --kind rss")
        if kind.endswith("json"):
            raise InvalidInputError(f"{self.source} answers JSON, not a web page: use --kind "
                                    "api with --items-path")
        return response.content
