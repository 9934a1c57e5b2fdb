"""Answers cached by content hash in one SQLite file, so no text is paid for twice.

The key is the SHA-256 of the endpoint, the model, the sampling temperature, the prompt
version and the exact messages sent (hence the text as sent, its language and the label
set). Only valid answers are stored, with the tokens they cost. The file holds hashes and
answers, not texts; an answer's evidence quotes are fragments of the text as sent (redacted
when redaction is on).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from emolens.config import cache_root
from emolens.errors import StoreError

CACHE_FILE = "llm-answers.sqlite3"


def default_cache_path() -> Path:
    """``<cache dir>/llm-answers.sqlite3`` (the cache dir is ``emolens.config.cache_root()``)."""
    return cache_root() / CACHE_FILE


def cache_key(identity: str, prompt_version: str, messages: list[dict[str, str]]) -> str:
    """SHA-256 naming one question to one model."""
    payload = json.dumps([identity, prompt_version, messages], ensure_ascii=False,
                         sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8", errors="surrogatepass")).hexdigest()


class AnswerCache:
    """Key -> a JSON object (the answer and what it cost), in SQLite; thread-safe."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, answer TEXT NOT NULL,"
                " created REAL NOT NULL)"
            )
            self._db.commit()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"The LLM answer cache {self.path} cannot be opened: {exc}; delete the file, "
                "point EMOLENS_CACHE_DIR elsewhere, or turn the cache off (EMOLENS_LLM_CACHE=false)"
            ) from exc

    def get(self, key: str) -> dict[str, Any] | None:
        """The answer stored under ``key``, or None."""
        with self._lock:
            row = self._db.execute("SELECT answer FROM answers WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, key: str, answer: dict[str, Any]) -> None:
        """Store (or replace) the answer under ``key``."""
        data = json.dumps(answer, ensure_ascii=False)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO answers (key, answer, created) VALUES (?, ?, ?)",
                (key, data, time.time()),
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
