"""Connectors by name, and which one reads a given URL or path.

Built-in connectors register here; third parties add theirs through the entry-point group
``emolens.sources`` (a class or factory taking ``source`` and keyword options) and are picked
with ``--kind``. ``guess_kind`` looks at a URL's form, or at a path's extension and first
bytes (a header row, a JSON key), never at more than a small sample.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import PydanticUserError, TypeAdapter, ValidationError

from emolens.errors import InvalidInputError
from emolens.ingest.api import ApiSource
from emolens.ingest.base import Source, is_url
from emolens.ingest.chats import TelegramExport, WeChatExport, looks_like_wechat_txt
from emolens.ingest.exports import RedditDump, TwitterArchive, twitter_files
from emolens.ingest.feeds import FeedSource
from emolens.ingest.files import HTML_EXTENSIONS, FilesSource, media_kind
from emolens.ingest.tables import TABLE_EXTENSIONS, TableSource, WeiboSource
from emolens.ingest.web import WebSource
from emolens.io.encoding import detect_encoding
from emolens.io.times import source_zone
from emolens.registry import Registry

sources = Registry("source")
for _connector in (FilesSource, TableSource, FeedSource, ApiSource, WebSource, TwitterArchive,
                   RedditDump, WeiboSource, TelegramExport, WeChatExport):
    sources.register(_connector.name, _connector)

_FEED_PATH = re.compile(r"(^|/)(feed|feeds|rss|atom)(/|\.|$)|\.(xml|rss|atom)$")
_REDDIT_KIND = re.compile(r'"kind"\s*:\s*"(Listing|t1|t3)"')
_HEAD_BYTES = 1 << 16


def guess_kind(source: str, items_path: str | None = None) -> str:
    """The connector for ``source``: from a URL's form, or a path's type and first bytes."""
    if is_url(source):
        path = urlsplit(source).path.lower()
        if "{page}" in source or "{cursor}" in source or items_path or path.endswith(".json"):
            return "api"
        return "rss" if _FEED_PATH.search(path) else "web"
    path = Path(source).expanduser()
    if set("*?[") & set(source):
        return "files"
    if path.is_dir():
        if twitter_files(path):
            return "twitter"
        result = path / "result.json"
        return "telegram" if result.is_file() and _is_telegram(_head(result)) else "files"
    suffix = path.suffix.lower()
    by_suffix = {".js": "twitter", ".xml": "rss", ".rss": "rss", ".atom": "rss"}
    if suffix in by_suffix:
        return by_suffix[suffix]
    if suffix in HTML_EXTENSIONS:
        return "web"
    if media_kind(path) is not None or not path.is_file():
        return "files"  # a missing file is reported as such when it is read
    if suffix not in TABLE_EXTENSIONS:
        raise InvalidInputError(
            f"Cannot tell what {source} holds from its type ({suffix or 'no extension'}); "
            f"name the connector with --kind ({', '.join(sources.names())})"
        )
    return _sniff_table(path, suffix)


def _sniff_table(path: Path, suffix: str) -> str:
    """'reddit', 'telegram', 'weibo', 'wechat' when the first bytes say so, else 'table'."""
    if suffix in (".parquet", ".xlsx", ".xlsm"):
        return "table"
    head = _head(path)
    first = head.split("\n", 1)[0]
    if suffix == ".json":
        if _is_telegram(head):
            return "telegram"
        return "reddit" if _is_reddit(head) else "table"
    if suffix in (".jsonl", ".ndjson"):
        return "reddit" if _is_reddit(first) else "table"
    if suffix in (".csv", ".tsv"):
        if any(marker in first for marker in WeiboSource.markers):
            return "weibo"
        return "wechat" if "StrContent" in first else "table"
    if suffix == ".txt" and looks_like_wechat_txt(head.splitlines()[:20]):
        return "wechat"
    return "table"


def _head(path: Path) -> str:
    """The first bytes of a text file, decoded; '' when it cannot be read as text."""
    try:
        encoding = detect_encoding(path)
        with open(path, "rb") as fh:
            return fh.read(_HEAD_BYTES).decode(encoding, errors="replace").lstrip("\ufeff")
    except (OSError, InvalidInputError, LookupError):
        return ""


def _is_telegram(head: str) -> bool:
    return '"messages"' in head and any(
        key in head for key in ('"date_unixtime"', '"from_id"', '"personal_chat"', '"chats"'))


def _is_reddit(head: str) -> bool:
    return bool(_REDDIT_KIND.search(head)) or (
        '"subreddit"' in head and ('"body"' in head or '"selftext"' in head))


def open_source(
    source: str, kind: str | None = None, *, default_tz: str | None = None, **options: Any
) -> Source:
    """The connector of ``kind`` (guessed when None) for ``source``, with ``options`` (None
    values are left out); an option the connector does not take, or of the wrong type, is an
    InvalidInputError.

    ``default_tz`` (the source_tz setting: the zone naive times were written in) is the
    ``source_tz`` option of connectors whose signature names it, unless ``options`` gives
    the source its own; the others' times carry their zone (X/Twitter, Reddit) or are their
    own affair (a plugin that does not name it). An unknown zone is an InvalidInputError
    here, before anything is read.
    """
    options = {k: v for k, v in options.items() if v is not None}
    kind = kind or guess_kind(source, _text(options.get("items_path")))
    check_options(kind, options)
    if (default_tz is not None and "source_tz" not in options
            and "source_tz" in _parameters(sources.factory(kind))):
        options["source_tz"] = default_tz
    if isinstance(options.get("source_tz"), str):
        source_zone(options["source_tz"])
    return sources.factory(kind)(source=source, **options)


def check_options(kind: str, options: dict[str, Any], where: str = "") -> None:
    """Refuse an option the ``kind`` connector does not take, or whose value does not fit
    the type its signature declares; ``where`` prefixes the option in the message (e.g.
    'sources[2].'), so a config file's mistake is found before any source is read."""
    factory = sources.factory(kind)
    takes = _parameters(factory)
    extra = sorted(set(options) - takes)
    if extra and "**" not in takes:
        raise InvalidInputError(
            f"{', '.join(where + name for name in extra)} do{'es' if len(extra) == 1 else ''} "
            f"not apply to the {kind!r} connector; it takes: "
            f"{', '.join(sorted(takes - {'source'})) or 'no options'}"
        )
    hints = _annotations(factory)
    for name, value in options.items():
        if name in hints and not _fits(hints[name], value):
            raise InvalidInputError(f"{where}{name}: expected {_describe(hints[name])}, "
                                    f"got {value!r}")


def _parameters(factory: Any) -> set[str]:
    """Keyword parameters of a connector class or factory ('**' when it takes any)."""
    params = inspect.signature(factory).parameters.values()
    return {"**" if p.kind is p.VAR_KEYWORD else p.name for p in params}


def _annotations(factory: Any) -> dict[str, Any]:
    """The declared types of a connector's parameters; {} when they cannot be resolved (a
    plugin's, say), so that its options are passed on unchecked rather than refused."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        return typing.get_type_hints(target)
    except Exception:  # any failure to resolve them means: nothing to check
        return {}


def _fits(annotation: Any, value: Any) -> bool:
    """Whether ``value`` is of ``annotation`` as it is, without coercion ("2" is no int)."""
    try:
        adapter = TypeAdapter(annotation)
    except PydanticUserError:  # a type pydantic cannot check is passed on unchecked
        return True
    try:
        adapter.validate_python(value, strict=True)
    except ValidationError:
        return False
    return True


_WORDS = {str: ("a string", "strings"), int: ("an integer", "integers"),
          float: ("a number", "numbers"), bool: ("true or false", "true or false values")}


def _describe(annotation: Any, plural: bool = False) -> str:
    """``annotation`` in words: 'an integer', 'a table of strings', 'a list of strings'."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a, plural) for a in args if a is not type(None))
    if origin in (dict, Mapping):
        return "a table" + (f" of {_describe(args[1], plural=True)}" if args else "")
    if origin in (list, tuple, Sequence):
        return "a list" + (f" of {_describe(args[0], plural=True)}" if args else "")
    if annotation in _WORDS:
        return _WORDS[annotation][plural]
    return getattr(annotation, "__name__", str(annotation))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
