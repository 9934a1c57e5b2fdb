"""Tables of posts: CSV, TSV, JSONL, JSON, TXT and Parquet through ``emolens.io.textfiles``,
Excel through openpyxl (the ``ingest`` extra), with author, URL and id columns; and the Weibo
CSV export, whose usual column names are known.

Rows are read by textfiles' ``ItemReader``, so encodings (GB18030/GBK included), bad rows and
times are handled as ``emolens analyze file`` handles them; the extra columns are taken from
the same record.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from emolens.errors import InvalidInputError
from emolens.ingest.base import BadItem, Entry, IngestItem, Note, digest, local_source, text_or_none
from emolens.io.encoding import detect_encoding
from emolens.io.formats import OPENERS, Record, open_excel
from emolens.io.textfiles import (
    SUPPORTED_EXTENSIONS,
    Columns,
    Item,
    ItemReader,
    RowError,
    file_format,
    resolve_columns,
)
from emolens.io.times import source_zone

TABLE_EXTENSIONS: tuple[str, ...] = SUPPORTED_EXTENSIONS
ROLES: tuple[str, ...] = ("text", "time", "author", "url", "id", "group")
_NO_LIMIT = 1 << 62  # the ingest run cuts long texts itself, to the analyzer's max_chars


class _Tap:
    """Passes records through, keeping the last, whose other columns ItemReader leaves out."""

    def __init__(self, records: Iterator[Record]) -> None:
        self._records = records
        self.record: dict[str, Any] = {}

    def __iter__(self) -> _Tap:
        return self

    def __next__(self) -> Record:
        found = next(self._records)
        if isinstance(found, tuple) and isinstance(found[1], Mapping):
            self.record = dict(found[1])
        else:
            self.record = {}
        return found


def _first(fields: Sequence[str], names: Sequence[str]) -> str | None:
    """The first of ``names`` that ``fields`` has (case-insensitive), as the field is spelled."""
    folded = {f.strip().casefold(): f for f in fields}
    return next((folded[n.casefold()] for n in names if n.casefold() in folded), None)


def _resolve(
    path: Path, fmt: str, fields: Sequence[str], given: Mapping[str, str | None],
    candidates: Mapping[str, Sequence[str]],
) -> dict[str, str | None]:
    """Role -> column: as given (checked), else the first known name the table has."""
    names: dict[str, str | None] = dict.fromkeys(ROLES)
    if fmt == "txt":
        names["text"] = "text"
        return names
    for role in ROLES:
        name = given.get(role)
        if name is not None and role in ("author", "url"):
            found = _first(fields, [name])
            if found is None:
                raise InvalidInputError(
                    f"{path} has no column {name!r} (asked for as the {role} column); its "
                    f"columns are: {', '.join(map(repr, fields[:30]))}"
                )
            name = found
        names[role] = name or _first(fields, candidates.get(role, ()))
    checked = resolve_columns(path, fields, names["text"], names["time"], names["group"],
                              names["id"])
    names.update(text=checked.text, time=checked.time, group=checked.group, id=checked.id)
    return names


def open_table(
    path: Path, given: Mapping[str, str | None], candidates: Mapping[str, Sequence[str]],
    sheet: str | None = None, source_tz: str | None = None,
) -> tuple[ItemReader, _Tap, dict[str, str | None]]:
    """A reader of the table's items (naive times read in ``source_tz``), the tap holding
    each item's whole record, and the columns used per role. Raises InvalidInputError when
    the file cannot be read at all."""
    zone = source_zone(source_tz)
    if not path.is_file():
        raise InvalidInputError(f"Cannot read {path}: no such file.")
    fmt = file_format(path)
    try:
        encoding = None if fmt in ("parquet", "excel") else detect_encoding(path)
        if fmt == "excel":
            fields, rows, close = open_excel(path, None, sheet)
        else:
            fields, rows, close = OPENERS[fmt](path, encoding)
    except OSError as exc:
        raise InvalidInputError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    try:
        names = _resolve(path, fmt, fields, given, candidates)
        tap = _Tap(rows([c for c in dict.fromkeys(names.values()) if c is not None]))
    except BaseException:
        close()
        raise
    columns = Columns(text=names["text"], time=names["time"], group=names["group"],
                      id=names["id"])
    reader = ItemReader(path, fmt, encoding, fields, columns, tap, close, _NO_LIMIT, zone)
    return reader, tap, names


class TableSource:
    """A table of posts: CSV, TSV, JSONL, JSON, TXT, Parquet or Excel (.xlsx)."""

    name = "table"
    # Columns taken for a role when none is named (case-insensitive, first found).
    candidates: ClassVar[dict[str, tuple[str, ...]]] = {
        "time": ("time", "created_at", "date", "timestamp", "published", "时间", "发布时间"),
        "author": ("author", "user", "username", "user_name", "screen_name", "作者", "用户名"),
        "url": ("url", "link", "permalink", "链接"),
        "id": ("id",),
    }

    def __init__(
        self,
        source: str,
        text_col: str | None = None,
        time_col: str | None = None,
        author_col: str | None = None,
        url_col: str | None = None,
        id_col: str | None = None,
        group_col: str | None = None,
        sheet: str | None = None,
        source_tz: str | None = None,
    ) -> None:
        self.source = local_source(source)
        self.text_col, self.time_col, self.author_col = text_col, time_col, author_col
        self.url_col, self.id_col, self.group_col, self.sheet = url_col, id_col, group_col, sheet
        self.source_tz = source_tz  # the zone naive times were written in; None: UTC

    def items(self, state: dict[str, Any]) -> Iterator[Entry]:
        """Each row's item; rows that cannot be read are BadItems named file:row."""
        path = Path(self.source)
        given = {"text": self.text_col, "time": self.time_col, "author": self.author_col,
                 "url": self.url_col, "id": self.id_col, "group": self.group_col}
        reader, tap, names = open_table(path, given, self.candidates, self.sheet,
                                        self.source_tz)
        seen: dict[str, int] = {}
        ids: dict[str, tuple[int, str]] = {}  # own id -> the row it was first met on, its text
        with reader:
            for entry in reader:
                if isinstance(entry, RowError):
                    yield BadItem(f"{path}:{entry.row}", entry.message)
                    continue
                if entry.warning:
                    yield Note(f"{path}:{entry.row}", entry.warning)
                if entry.item_id:
                    first, text = ids.setdefault(entry.item_id, (entry.row, digest(entry.text)))
                    if first != entry.row:
                        yield _duplicate(f"{path}:{entry.row}", entry.item_id, first,
                                         text == digest(entry.text))
                        continue
                yield self._item(entry, tap.record, names, seen)

    def _item(
        self, item: Item, record: dict[str, Any], names: dict[str, str | None],
        seen: dict[str, int],
    ) -> IngestItem:
        author = text_or_none(record.get(names["author"])) if names["author"] else None
        url = text_or_none(record.get(names["url"])) if names["url"] else None
        if item.item_id:
            own = f"{self.source}\x1fid\x1f{item.item_id}"
        else:  # by content, so that rows added or moved elsewhere in the file keep their id
            content = digest(item.text, item.timestamp, author)
            seen[content] = seen.get(content, 0) + 1
            own = f"{self.source}\x1f{content}\x1f{seen[content]}"
        return IngestItem(id=own, text=item.text, author=author, time=item.timestamp, url=url,
                          group=item.group, extra={"row": item.row}, post_id=item.item_id)


class WeiboSource(TableSource):
    """A Weibo CSV export (weibo-crawler, weiboSpider and similar; UTF-8, GBK or GB18030)."""

    name = "weibo"
    candidates: ClassVar[dict[str, tuple[str, ...]]] = {
        "text": ("微博正文", "正文", "微博内容", "内容", "text", "content"),
        "time": ("发布时间", "完整日期", "日期", "创建时间", "时间", "created_at"),
        "author": ("用户昵称", "昵称", "用户名", "作者", "screen_name", "user_name", "nickname"),
        "url": ("微博链接", "链接", "url"),
        "id": ("微博id", "mid", "id", "bid"),
    }
    # Header names that tell a Weibo export from another table.
    markers: ClassVar[tuple[str, ...]] = (
        "微博正文", "微博id", "微博内容", "用户昵称", "转发数", "点赞数", "发布工具",
    )

    def _item(
        self, item: Item, record: dict[str, Any], names: dict[str, str | None],
        seen: dict[str, int],
    ) -> IngestItem:
        found = super()._item(item, record, names, seen)
        if item.item_id:  # Weibo ids are global: the same post in another export is the same
            found.id = f"weibo:{item.item_id}"
        if found.url is None:
            found.url = _weibo_url(record, item.item_id)
        counts = {key: record[col] for key, col in (
            ("likes", "点赞数"), ("reposts", "转发数"), ("comments", "评论数")) if col in record}
        found.extra.update(counts)
        return found


def _duplicate(name: str, item_id: str, first: int, same_text: bool) -> Entry:
    """A row whose id an earlier row of the file has: a note when it repeats that row's
    text, else an error, since its text would be lost."""
    if same_text:
        return Note(name, f"duplicate id {item_id!r} (row {first}, same text); left out")
    return BadItem(name, f"duplicate id {item_id!r} (row {first} has it, with another text); "
                   "left out: give each post its own id")


def _weibo_url(record: Mapping[str, Any], post_id: str | None) -> str | None:
    """https://weibo.com/<user id>/<bid> when both are known, else the mobile page of the id."""
    user = text_or_none(record.get("用户id") or record.get("user_id"))
    bid = text_or_none(record.get("bid"))
    if user and bid:
        return f"https://weibo.com/{user}/{bid}"
    if post_id and post_id.isdigit():
        return f"https://m.weibo.cn/detail/{post_id}"
    return None
