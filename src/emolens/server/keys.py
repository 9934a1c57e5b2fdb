"""API keys, kept in the result store's database as salted SHA-256 hashes (never in clear).

A key reads ``emk_<id>_<secret>``: the id is public (it names the key in listings and logs),
the secret has 192 random bits, so one salted SHA-256 is enough to make a stolen table useless.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, MetaData, String, Table, select, update

from emolens.errors import InvalidInputError
from emolens.store import ResultStore
from emolens.store.schema import UtcDateTime
from emolens.store.sql import _Guard

PREFIX = "emk"

_metadata = MetaData()
keys_table = Table(
    "api_keys",
    _metadata,
    Column("id", String(16), primary_key=True),
    Column("name", String, nullable=False, default=""),
    Column("salt", String(32), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
)


@dataclass(frozen=True)
class ApiKey:
    """What is known of a key without its secret."""

    id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        """Not revoked."""
        return self.revoked_at is None


class KeyStore:
    """Creates, checks, lists and revokes API keys in the store's database."""

    def __init__(self, store: ResultStore) -> None:
        # One engine (one pool, one SQLite file) for results and keys, so that a key made by
        # `emolens keys create --db X` is the one `emolens serve --db X` checks.
        self._engine = store._engine
        self._where = repr(store)
        with self._guard():
            _metadata.create_all(self._engine)

    def create(self, name: str = "") -> tuple[ApiKey, str]:
        """A new key; returns it and its full token, which is shown once and never stored."""
        key_id, secret = secrets.token_hex(4), secrets.token_urlsafe(24)
        salt = secrets.token_hex(16)
        row = {"id": key_id, "name": name, "salt": salt, "hash": _digest(salt, secret),
               "created_at": _now(), "revoked_at": None}
        with self._guard(), self._engine.begin() as conn:
            conn.execute(keys_table.insert().values(**row))
        return ApiKey(key_id, name, row["created_at"], None), f"{PREFIX}_{key_id}_{secret}"

    def verify(self, token: str) -> ApiKey | None:
        """The active key this token belongs to, or None."""
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
            return None
        with self._guard(), self._engine.connect() as conn:
            row = conn.execute(select(keys_table).where(keys_table.c.id == parts[1])).first()
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(_digest(row.salt, parts[2]), row.hash):
            return None
        return ApiKey(row.id, row.name, row.created_at, row.revoked_at)

    def get(self, key_id: str) -> ApiKey | None:
        """The key with this id (active or revoked), or None; for names in logs."""
        with self._guard(), self._engine.connect() as conn:
            row = conn.execute(select(keys_table).where(keys_table.c.id == key_id)).first()
        return None if row is None else ApiKey(row.id, row.name, row.created_at, row.revoked_at)

    def list(self) -> list[ApiKey]:
        """Every key, oldest first."""
        with self._guard(), self._engine.connect() as conn:
            rows = conn.execute(select(keys_table).order_by(keys_table.c.created_at)).all()
        return [ApiKey(r.id, r.name, r.created_at, r.revoked_at) for r in rows]

    def active_count(self) -> int:
        """Keys not revoked."""
        return sum(k.active for k in self.list())

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key by its id (or its full token); it stops working at once."""
        if key_id.startswith(f"{PREFIX}_"):
            key_id = key_id.split("_", 2)[1]
        table = keys_table
        with self._guard(), self._engine.begin() as conn:
            done = conn.execute(
                update(table).where(table.c.id == key_id, table.c.revoked_at.is_(None))
                .values(revoked_at=_now())
            ).rowcount
            row = conn.execute(select(table).where(table.c.id == key_id)).first()
        if row is None:
            raise InvalidInputError(
                f"No API key with id {key_id!r}; `emolens keys list` shows the ids."
            )
        if not done:
            raise InvalidInputError(f"API key {key_id!r} was already revoked.")
        return ApiKey(row.id, row.name, row.created_at, row.revoked_at)

    def _guard(self) -> _Guard:
        return _Guard(f"Could not use the API keys of {self._where}")


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
