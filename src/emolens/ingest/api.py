"""A generic paginated HTTP JSON API (httpx + JMESPath).

The URL is a template: ``{page}`` is replaced by the page number (from ``start_page``, one
more each request) and ``{cursor}`` by the cursor the previous page named (empty at first;
a cursor that is a whole URL is fetched as it is). ``items_path`` (JMESPath) finds the list
of items in a page, ``next_path`` the next cursor; each item's fields come from JMESPaths
relative to it (``fields``: role -> path, over ``DEFAULT_FIELDS``). Paging stops at an empty
page, a missing or repeated cursor, or ``max_pages``. An auth secret is only ever read from
the environment variable named by ``auth_env``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

from emolens.errors import InvalidInputError, MissingExtraError
from emolens.ingest.base import (
    BadItem,
    Entry,
    IngestItem,
    digest,
    text_or_none,
    time_or_none,
)

DEFAULT_FIELDS: dict[str, str] = {
    "id": "id", "text": "text", "author": "author", "time": "time", "url": "url",
}
ROLES: tuple[str, ...] = ("id", "text", "author", "time", "url", "group")


def _compile(expression: str, what: str) -> Any:
    try:
        import jmespath
        from jmespath.exceptions import JMESPathError
    except ImportError as exc:
        raise MissingExtraError("Reading JSON APIs", "ingest") from exc
    try:
        return jmespath.compile(expression)
    except JMESPathError as exc:
        raise InvalidInputError(f"{what} {expression!r} is not a valid JMESPath: {exc}") from exc


class ApiSource:
    """A paginated JSON API: URL template with {page} and/or {cursor}, JMESPaths to the items,
    the next cursor and each item's fields."""

    name = "api"

    def __init__(
        self,
        source: str,
        items_path: str = "@",
        next_path: str | None = None,
        fields: Mapping[str, str] | None = None,
        auth_env: str | None = None,
        auth_header: str = "Authorization",
        auth_prefix: str | None = None,
        start_page: int = 1,
        max_pages: int = 100,
        resume: bool = False,
        timeout: float = 30.0,
        source_tz: str | None = None,
    ) -> None:
        self.source = source
        self.items_path, self.next_path = items_path, next_path
        self.fields = dict(fields or {})
        self.auth_env, self.auth_header, self.auth_prefix = auth_env, auth_header, auth_prefix
        self.start_page, self.max_pages, self.resume = start_page, max_pages, resume
        self.timeout = timeout
        self.source_tz = source_tz  # the zone of times without an offset; None: UTC

    def items(self, state: dict[str, Any]) -> Iterator[Entry]:
        """Items of every page; a page that fails after the first ends paging as a BadItem.

        With ``resume``, paging starts at the cursor the last complete run ended at (for
        APIs whose cursor moves forward, such as an event stream)."""
        unknown = set(self.fields) - set(ROLES)
        if unknown:
            raise InvalidInputError(f"Unknown field roles {sorted(unknown)}; known: {ROLES}")
        paths = {role: _compile(path, f"the {role} field")
                 for role, path in {**DEFAULT_FIELDS, **self.fields}.items() if path}
        items_expr = _compile(self.items_path, "items_path")
        next_expr = _compile(self.next_path, "next_path") if self.next_path else None
        from emolens.ingest.http import auth_header, client

        cursor = str(state.get("cursor", "")) if self.resume else ""
        headers = {"Accept": "application/json",
                   **auth_header(self.auth_env, self.auth_header, self.auth_prefix)}
        with client(headers, self.timeout) as http:
            seen = {cursor}
            for number in range(self.max_pages):
                url = self._url(self.start_page + number, cursor)
                try:
                    page = self._page(http, url)
                except InvalidInputError as exc:
                    if number == 0:
                        raise
                    yield BadItem(url, f"paging stopped: {exc}")
                    return
                found = items_expr.search(page)
                if not isinstance(found, list):
                    if number == 0 and found is not None:
                        raise InvalidInputError(f"{url}: items_path {self.items_path!r} gives "
                                                f"{type(found).__name__}, not a list")
                    found = []
                for index, raw in enumerate(found, 1):
                    yield self._item(raw, paths, f"{url} item {index}")
                if not found:
                    break
                if next_expr is None:
                    if "{page}" not in self.source:
                        break  # one request: no page number and no cursor to follow
                    continue
                cursor_next = next_expr.search(page)
                if cursor_next in (None, "", False) or str(cursor_next) in seen:
                    break
                cursor = str(cursor_next)
                seen.add(cursor)
            if next_expr is not None and cursor:
                state["cursor"] = cursor

    def _url(self, page: int, cursor: str) -> str:
        if cursor.startswith(("http://", "https://")):
            return cursor
        return self.source.replace("{page}", str(page)).replace("{cursor}", quote(cursor))

    def _page(self, http: Any, url: str) -> Any:
        from emolens.ingest.http import get

        response = get(http, url)
        try:
            return response.json()
        except ValueError as exc:
            raise InvalidInputError(f"{url} did not answer JSON: {exc}") from exc

    def _item(self, raw: Any, paths: dict[str, Any], name: str) -> Entry:
        if not isinstance(raw, dict):
            return BadItem(name, f"is {type(raw).__name__}, not a JSON object")
        values = {role: expr.search(raw) for role, expr in paths.items()}
        text = values.get("text")
        if not isinstance(text, str) or not text.strip():
            path = {**DEFAULT_FIELDS, **self.fields}["text"]
            if text is None:
                return BadItem(name, f"no text at {path!r}")
            if not isinstance(text, str):
                return BadItem(name, f"{path!r} is {type(text).__name__}, not text")
            return BadItem(name, "empty text")
        own = text_or_none(values.get("id"))
        return IngestItem(
            id=f"{self.source}\x1f{own or digest(text)}", text=text,
            author=text_or_none(values.get("author")),
            time=time_or_none(values.get("time"), self.source_tz),
            url=text_or_none(values.get("url")), group=text_or_none(values.get("group")),
            post_id=own, extra={} if own else {"id": "from the text"},
        )
