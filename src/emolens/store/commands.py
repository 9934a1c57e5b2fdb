"""`emolens db upgrade` and `emolens db current`, added to the main CLI by ``register``.

Only typer is imported here, so the CLI starts without loading SQLAlchemy or alembic.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

DbOpt = Annotated[
    str | None, typer.Option("--db", help="SQLite file or database URL (env EMOLENS_DB).")
]


def register(app: typer.Typer, guard: Callable[[Any], Any]) -> None:
    """Add the `db` sub-app to ``app``; ``guard`` turns errors into messages."""
    db_app = typer.Typer(help="The result store's schema: migrations (SQLite and PostgreSQL).",
                         no_args_is_help=True)
    app.add_typer(db_app, name="db")
    db_app.command("upgrade")(guard(db_upgrade))
    db_app.command("current")(guard(db_current))


def db_upgrade(db: DbOpt = None) -> None:
    """Bring the store's schema to the newest revision (opening a store also does this)."""
    from emolens.display import console
    from emolens.store.migrate import schema_state, upgrade
    from emolens.store.sql import _Guard

    engine, where = _engine(db, must_exist=False)
    try:
        with _Guard(f"Could not upgrade the result store {where}"):
            before = upgrade(engine, where)
            after = schema_state(engine)
    finally:
        engine.dispose()
    if before.up_to_date:
        console.print(f"{where}: already at revision {after.current} (newest)",
                      highlight=False, soft_wrap=True)
    else:
        console.print(f"{where}: upgraded from {before.current or 'no revision'} to "
                      f"{after.current} (newest)", highlight=False, soft_wrap=True)


def db_current(db: DbOpt = None) -> None:
    """Show the store's schema revision and whether it is the newest (changes nothing)."""
    from emolens.display import console
    from emolens.store.migrate import schema_state
    from emolens.store.sql import _Guard

    engine, where = _engine(db, must_exist=True)
    try:
        with _Guard(f"Could not read the schema revision of {where}"):
            state = schema_state(engine)
    finally:
        engine.dispose()
    if state.up_to_date:
        console.print(f"{where}: revision {state.current} (newest)",
                      highlight=False, soft_wrap=True)
    else:
        console.print(f"{where}: revision {state.current or 'none'}; newest is {state.head}: "
                      "run `emolens db upgrade`", highlight=False, soft_wrap=True)


def _engine(db: str | None, must_exist: bool) -> tuple[Any, str]:
    """An engine on the configured store, its schema untouched, and where it is."""
    from emolens.config import load_settings
    from emolens.errors import InvalidInputError
    from emolens.store.sql import open_database

    url = load_settings(db=db).db
    if must_exist and "://" not in url and url != ":memory:" and not Path(url).exists():
        raise InvalidInputError(f"No result store at {url}: nothing to show.")
    return open_database(url)
