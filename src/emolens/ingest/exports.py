"""Exports of social networks: an X/Twitter archive and a Reddit JSON dump.

- X/Twitter archive ("Download an archive of your data"): ``data/tweets.js`` (older archives:
  ``tweet.js``; large ones add ``tweets-part1.js`` ...), each a JavaScript assignment
  ``window.YTD.tweets.part0 = [{"tweet": {...}}, ...]``. The folder of the archive, its
  ``data`` folder or one .js file may be given. The author is the account in ``account.js``
  beside it, when there is one.
- Reddit: a listing as the site's ``.json`` pages give it (``{"kind": "Listing", ...}``, or
  a list of them for a thread: the post, then its comment tree), or NDJSON with one comment
  or submission object per line (Pushshift-style dumps). Removed and deleted entries are left
  out (noted, not errors).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from emolens.errors import InvalidInputError
from emolens.ingest.base import (
    BadItem,
    Entry,
    IngestItem,
    Note,
    local_source,
    text_or_none,
    time_or_none,
)

_YTD = re.compile(r"\s*window\.YTD\.(\w+)\.part(\d+)\s*=\s*")
_TWEET_TIME = "%a %b %d %H:%M:%S %z %Y"  # Wed Oct 10 20:19:24 +0000 2018


def read_ytd(path: Path) -> list[Any]:
    """The array a Twitter archive's .js file assigns to ``window.YTD.<name>.partN``."""
    try:
        content = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"Cannot read {path}: {exc}") from exc
    match = _YTD.match(content)
    if match is None:
        raise InvalidInputError(f"{path} is not a Twitter archive data file: it should start "
                                "with 'window.YTD.tweets.part0 = ['")
    try:
        data = json.loads(content[match.end():])
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{path}: the archive's JSON is broken at line {exc.lineno}, "
                                f"column {exc.colno}: {exc.msg}") from exc
    if not isinstance(data, list):
        raise InvalidInputError(f"{path}: expected an array after '=', got "
                                f"{type(data).__name__}")
    return data


def twitter_files(path: Path) -> list[Path]:
    """The tweets files of an archive folder, its data folder, or the file given."""
    if path.is_file():
        return [path]
    for folder in (path / "data", path):
        found = sorted(folder.glob("tweets.js")) + sorted(folder.glob("tweets-part*.js"))
        found = found or sorted(folder.glob("tweet.js")) + sorted(folder.glob("tweet-part*.js"))
        if found:
            return found
    return []


class TwitterArchive:
    """An X/Twitter archive: every tweet with its time, link and (from account.js) author."""

    name = "twitter"

    def __init__(self, source: str) -> None:
        self.source = local_source(source)

    def items(self, state: dict[str, Any]) -> Iterator[Entry]:
        """Tweets in archive order; an entry without id or text is a BadItem."""
        files = twitter_files(Path(self.source))
        if not files:
            raise InvalidInputError(f"No tweets.js in {self.source} or its data folder: give "
                                    "the unzipped archive's folder or its data/tweets.js")
        username = _account(files[0].parent)
        for path in files:
            for number, entry in enumerate(read_ytd(path), 1):
                yield self._tweet(entry, f"{path}: tweet {number}", str(path), username)

    def _tweet(self, entry: Any, name: str, source: str, username: str | None) -> Entry:
        tweet = entry.get("tweet", entry) if isinstance(entry, dict) else None
        if not isinstance(tweet, dict):
            return BadItem(name, f"is {type(entry).__name__}, not a tweet object")
        tweet_id = text_or_none(tweet.get("id_str") or tweet.get("id"))
        text = tweet.get("full_text", tweet.get("text"))
        if tweet_id is None:
            return BadItem(name, "has no id_str")
        if not isinstance(text, str) or not text.strip():
            return BadItem(f"{name} ({tweet_id})", "has no full_text")
        try:
            when = datetime.strptime(str(tweet.get("created_at")), _TWEET_TIME)
        except ValueError:
            when = None
        url = (f"https://x.com/{username}/status/{tweet_id}" if username
               else f"https://x.com/i/web/status/{tweet_id}")
        return IngestItem(
            id=f"tweet:{tweet_id}", text=html.unescape(text), source=source, author=username,
            time=time_or_none(when), url=url, post_id=tweet_id,
            extra={"lang": tweet.get("lang"), "reply_to": tweet.get("in_reply_to_screen_name"),
                   "retweet": text.startswith("RT @")},
        )


def _account(folder: Path) -> str | None:
    """The archive owner's username, from account.js beside the tweets, if it is there."""
    path = folder / "account.js"
    if not path.is_file():
        return None
    try:
        entries = read_ytd(path)
    except InvalidInputError:
        return None
    account = entries[0].get("account", {}) if entries and isinstance(entries[0], dict) else {}
    return text_or_none(account.get("username")) if isinstance(account, dict) else None


_GONE = ("[deleted]", "[removed]")


class RedditDump:
    """Reddit comments and submissions: a listing JSON file or NDJSON, one thing per line."""

    name = "reddit"

    def __init__(self, source: str) -> None:
        self.source = local_source(source)

    def items(self, state: dict[str, Any]) -> Iterator[Entry]:
        """Comments and posts (a post's text is its title and self text)."""
        path = Path(self.source)
        try:
            fh = open(path, encoding="utf-8-sig", errors="surrogateescape")  # noqa: SIM115
        except OSError as exc:
            raise InvalidInputError(f"Cannot read {path}: {exc.strerror}") from exc
        with fh:
            first = fh.readline()
            rest = fh.readline()
            if _is_object_line(first) and rest.strip():  # NDJSON
                fh.seek(0)
                for number, line in enumerate(fh, 1):
                    yield from self._line(line, f"{path}:{number}")
                return
            fh.seek(0)
            try:
                data = json.load(fh)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"{path} is not valid JSON (line {exc.lineno}, column "
                                        f"{exc.colno}: {exc.msg}) nor one object per line"
                                        ) from exc
        for number, (thing, kind) in enumerate(_walk(data), 1):
            yield self._thing(thing, kind, f"{path}: entry {number}")

    def _line(self, line: str, name: str) -> Iterator[Entry]:
        if not line.strip():
            return
        try:
            thing = json.loads(line)
        except json.JSONDecodeError as exc:
            yield BadItem(name, f"not valid JSON: {exc.msg} (column {exc.colno})")
            return
        if isinstance(thing, dict) and isinstance(thing.get("data"), dict):
            thing, kind = thing["data"], thing.get("kind")
        else:
            kind = None
        yield self._thing(thing, kind, name)

    def _thing(self, thing: Any, kind: str | None, name: str) -> Entry:
        if not isinstance(thing, dict):
            return BadItem(name, f"is {type(thing).__name__}, not a comment or post object")
        comment = kind == "t1" or (kind is None and "body" in thing)
        if comment:
            text = thing.get("body")
        else:
            title, body = thing.get("title"), thing.get("selftext") or ""
            text = f"{title}\n{body}".strip() if isinstance(title, str) else None
        own = text_or_none(thing.get("name")) or (
            f"{'t1' if comment else 't3'}_{thing['id']}" if thing.get("id") else None)
        if own is None:
            return BadItem(name, "has no id or name")
        if not isinstance(text, str):
            return BadItem(f"{name} ({own})", "has no body" if comment else "has no title")
        if text.strip() in _GONE or not text.strip():
            return Note(f"{name} ({own})", "left out: removed, deleted or empty")
        author = text_or_none(thing.get("author"))
        permalink = text_or_none(thing.get("permalink"))
        subreddit = text_or_none(thing.get("subreddit"))
        return IngestItem(
            id=f"reddit:{own}", text=text, author=None if author in _GONE else author,
            time=time_or_none(thing.get("created_utc")),
            url=f"https://www.reddit.com{permalink}" if permalink else None,
            group=f"r/{subreddit}" if subreddit else None, post_id=own,
            extra={"score": thing.get("score"), "parent": thing.get("parent_id")},
        )


def _is_object_line(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except json.JSONDecodeError:
        return False


def _walk(data: Any) -> Iterator[tuple[Any, str | None]]:
    """(thing data, kind) of every comment and post in listings, depth first, in order."""
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(reversed(node))
        elif isinstance(node, dict) and node.get("kind") == "Listing":
            children = (node.get("data") or {}).get("children") or []
            stack.extend(reversed(children if isinstance(children, list) else []))
        elif isinstance(node, dict) and node.get("kind") in ("t1", "t3"):
            data_ = node.get("data")
            yield data_, node["kind"]
            replies = data_.get("replies") if isinstance(data_, dict) else None
            if isinstance(replies, dict):
                stack.append(replies)
        elif isinstance(node, dict) and node.get("kind") == "more":
            continue
        else:
            yield node, None
