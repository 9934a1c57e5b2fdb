"""Chat exports: Telegram Desktop's JSON export and WeChat exports (TXT or CSV).

Telegram: ``result.json`` of "Export chat history" (one chat: ``{"name", "id", "messages"}``)
or of "Export Telegram data" (``{"chats": {"list": [...]}}``). A message's text is a string
or a list of strings and entity objects (links, bold, ...), joined. Service messages and
messages without text (photos, stickers) are left out.

WeChat has no export of its own; these two layouts are read:

- TXT, as WeChatMsg/MemoTrace ("留痕") and similar tools write it: a line ``YYYY-MM-DD
  HH:MM[:SS] NAME`` (a colon after the name is allowed, and the message may follow it on the
  same line), then the message's lines, up to the next such line; blank lines between
  messages are dropped. The chat's name is the file's name.
- CSV with the MemoTrace columns: ``StrContent`` (text), ``StrTime`` or ``CreateTime``,
  ``Sender``/``NickName``/``Remark`` (author), ``Type`` (1 = text; other types are left out),
  ``localId``/``MsgSvrID`` (id), ``TalkerId`` (the chat).

Placeholders of media messages (``[图片]``, ``[语音]``, ``[Sticker]`` ...) are left out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from emolens.errors import InvalidInputError
from emolens.ingest.base import (
    BadItem,
    Entry,
    IngestItem,
    Note,
    digest,
    local_source,
    text_or_none,
    time_or_none,
)
from emolens.ingest.tables import TableSource
from emolens.io.encoding import detect_encoding
from emolens.io.textfiles import Item

_PLACEHOLDER = re.compile(r"^\[[^\[\]]{1,12}\]$")  # [图片], [语音], [Photo], [Sticker]


class TelegramExport:
    """A Telegram Desktop JSON export (result.json): one chat, or every chat of an account."""

    name = "telegram"

    def __init__(self, source: str, source_tz: str | None = None) -> None:
        self.source = local_source(source)
        # date_unixtime is absolute; older exports have only "date", the exporting computer's
        # local time, read in this zone (None: UTC)
        self.source_tz = source_tz

    def items(self, state: dict[str, Any]) -> Iterator[Entry]:
        """Text messages of each chat, in order."""
        path = self._file()
        for entry in self._entries(path):
            if isinstance(entry, IngestItem):
                entry.source = str(path)  # as when the file itself is given, like tweets.js
            yield entry

    def _file(self) -> Path:
        """The export's result.json: the source itself, or the file in the export's folder
        (Telegram Desktop writes ChatExport_<date>/result.json beside the media folders)."""
        path = Path(self.source)
        if not path.is_dir():
            return path
        if not (path / "result.json").is_file():
            raise InvalidInputError(f"No result.json in {path}: give the folder Telegram "
                                    "Desktop exported (in JSON format) or its result.json")
        return path / "result.json"

    def _entries(self, path: Path) -> Iterator[Entry]:
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"Cannot read {path}: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{path} is not valid JSON (line {exc.lineno}, column "
                                    f"{exc.colno}: {exc.msg})") from exc
        chats = [data] if isinstance(data, dict) and "messages" in data else (
            (data.get("chats") or {}).get("list") if isinstance(data, dict) else None)
        if not isinstance(chats, list):
            raise InvalidInputError(f"{path} is not a Telegram export: no 'messages' and no "
                                    "'chats' list")
        for chat in chats:
            if not isinstance(chat, dict) or not isinstance(chat.get("messages"), list):
                yield BadItem(f"{path}: chat {chat.get('name') if isinstance(chat, dict) else ''}",
                              "has no messages list")
                continue
            chat_name = text_or_none(chat.get("name")) or f"chat {chat.get('id')}"
            for number, message in enumerate(chat["messages"], 1):
                entry = self._message(message, chat, chat_name, f"{path}: {chat_name}: "
                                      f"message #{number}")
                if entry is not None:
                    yield entry

    def _message(self, message: Any, chat: dict, chat_name: str, name: str) -> Entry | None:
        if not isinstance(message, dict):
            return BadItem(name, f"is {type(message).__name__}, not a message object")
        if message.get("type", "message") != "message":
            return None  # joins, pins, calls: not something anyone wrote
        text = _flatten(message.get("text", ""))
        if text is None:
            return BadItem(name, "its text is neither a string nor a list of parts")
        if message.get("id") is None:
            return BadItem(name, "has no id")
        if not text.strip() or _PLACEHOLDER.match(text.strip()):
            return Note(name, "left out: no text (a photo, sticker, file or poll)")
        when = message.get("date_unixtime") or message.get("date")
        return IngestItem(
            id=f"telegram:{chat.get('id')}:{message['id']}", text=text,
            author=text_or_none(message.get("from")), time=time_or_none(when, self.source_tz),
            group=chat_name, post_id=str(message["id"]),
            extra={"from_id": message.get("from_id"),
                   "reply_to": message.get("reply_to_message_id")},
        )


def _flatten(text: Any) -> str | None:
    """A Telegram message text: a string, or parts (strings and {"type", "text"} objects)."""
    if isinstance(text, str):
        return text
    if not isinstance(text, list):
        return None
    parts = []
    for part in text:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            parts.append(part["text"])
        else:
            return None
    return "".join(parts)


# 2024-01-05 20:31:02 张三   or   2024-01-05 20:31 张三: message on the same line
_WECHAT_HEADER = re.compile(
    r"^(\d{4}-\d{1,2}-\d{1,2}\s+\d{1,2}:\d{2}(?::\d{2})?)\s+(\S.*?)\s*(?:[:：]\s*(.*))?$"
)


def looks_like_wechat_txt(lines: list[str]) -> bool:
    """True when the first non-empty line is a WeChat 'time name' line."""
    first = next((line for line in lines if line.strip()), "")
    return _WECHAT_HEADER.match(first.strip()) is not None


class WeChatExport(TableSource):
    """A WeChat chat exported as TXT or CSV (the layouts in this module's docstring)."""

    name = "wechat"
    candidates: ClassVar[dict[str, tuple[str, ...]]] = {
        "text": ("StrContent", "content", "消息内容", "内容"),
        "time": ("StrTime", "CreateTime", "时间", "发送时间"),
        "author": ("Sender", "NickName", "Remark", "发送人", "发送者", "昵称"),
        "id": ("MsgSvrID", "localId", "消息ID"),
        "group": ("TalkerId",),
    }

    def items(self, state: dict[str, Any]) -> Iterator[Entry]:
        """Text messages, in order."""
        if Path(self.source).suffix.lower() == ".txt":
            yield from self._txt(Path(self.source))
        else:
            yield from super().items(state)

    def _item(
        self, item: Item, record: dict[str, Any], names: dict[str, str | None],
        seen: dict[str, int],
    ) -> Entry:
        kind = record.get("Type", record.get("类型", 1))
        if str(kind).strip() not in ("1", "文本", "text"):
            return Note(f"{self.source}:{item.row}", f"left out: message type {kind} is not text")
        if _PLACEHOLDER.match(item.text.strip()):
            return Note(f"{self.source}:{item.row}", "left out: no text (a media message)")
        found = super()._item(item, record, names, seen)
        chat = found.group or Path(self.source).stem
        found.group = chat
        if item.item_id:
            found.id = f"wechat:{chat}:{item.item_id}"
        return found

    def _txt(self, path: Path) -> Iterator[Entry]:
        encoding = detect_encoding(path) if path.is_file() else "utf-8"
        try:
            lines = path.read_text(encoding=encoding, errors="replace").splitlines()
        except OSError as exc:
            raise InvalidInputError(f"Cannot read {path}: {exc.strerror}") from exc
        if not looks_like_wechat_txt(lines):
            raise InvalidInputError(f"{path} is not a WeChat TXT export: its first line should "
                                    "be 'YYYY-MM-DD HH:MM:SS name'")
        chat, seen = path.stem, {}
        header: tuple[int, str, str] | None = None
        body: list[str] = []
        for number, line in enumerate(lines, 1):
            match = _WECHAT_HEADER.match(line.strip())
            if match is None:
                body.append(line)
                continue
            if header is not None:
                yield self._txt_message(path, header, body, chat, seen)
            header, body = (number, match[1], match[2]), [match[3]] if match[3] else []
        if header is not None:
            yield self._txt_message(path, header, body, chat, seen)

    def _txt_message(self, path: Path, header: tuple[int, str, str], body: list[str],
                     chat: str, seen: dict[str, int]) -> Entry:
        number, when, author = header
        text = "\n".join(body).strip()
        name = f"{path}:{number}"
        if not text:
            return BadItem(name, f"the message of {author} at {when} is empty")
        if _PLACEHOLDER.match(text):
            return Note(name, "left out: no text (a media message)")
        content = digest(when, author, text)
        seen[content] = seen.get(content, 0) + 1
        return IngestItem(id=f"wechat:{chat}:{content}:{seen[content]}", text=text,
                          author=author, time=time_or_none(when, self.source_tz), group=chat,
                          extra={"line": number})
