"""`emolens serve` and `emolens keys ...`, added to the main CLI by ``register``.

Only typer and the standard library are imported here, so the CLI starts without the
``server`` extra; `emolens serve` says which extra to install when it is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

import typer

DbOpt = Annotated[
    str | None, typer.Option("--db", help="SQLite file or SQLAlchemy URL (env EMOLENS_DB).")
]
LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]  # uvicorn's


def register(app: typer.Typer, guard: Callable[[Any], Any]) -> None:
    """Add `serve` and the `keys` sub-app to ``app``; ``guard`` turns errors into messages."""
    keys_app = typer.Typer(help="Create, list and revoke API keys of the service.",
                           no_args_is_help=True)
    app.add_typer(keys_app, name="keys")
    app.command("serve")(guard(serve_cmd))
    keys_app.command("create")(guard(keys_create))
    keys_app.command("list")(guard(keys_list))
    keys_app.command("revoke")(guard(keys_revoke))


def serve_cmd(
    host: Annotated[str | None, typer.Option(
        "--host", help="Address to bind (default 127.0.0.1; env EMOLENS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(
        "--port", help="TCP port (default 8000; env EMOLENS_PORT).")] = None,
    model: Annotated[list[str] | None, typer.Option(
        "--model", "-m", help="Model to serve (repeat to serve several; the first is the "
        "default; default: default).")] = None,
    db: DbOpt = None,
    no_auth: Annotated[bool, typer.Option(
        "--no-auth", help="Serve without API keys; allowed on a loopback address only.")] = False,
    cors_origin: Annotated[list[str] | None, typer.Option(
        "--cors-origin", help="Let pages from this origin call the API (repeatable); "
        "CORS is off by default.")] = None,
    rate_limit: Annotated[float | None, typer.Option(
        "--rate-limit", min=0.0, help="Requests per second per key; 0: no limit (default 20; "
        "env EMOLENS_RATE_LIMIT).")] = None,
    audio: Annotated[bool, typer.Option(
        "--audio", help="Also serve speech: POST /v1/analyze/audio and WS /v1/stream/audio "
        "(loads Whisper and the voice model at start; needs the audio extra).")] = False,
    vision: Annotated[bool, typer.Option(
        "--vision", help="Also serve images and video: POST /v1/analyze/image, "
        "POST /v1/analyze/video (jobs) and WS /v1/stream/video (loads the face, expression "
        "and OCR models at start; needs the video extra).")] = False,
    log_level: Annotated[LogLevel, typer.Option(
        case_sensitive=False, help="uvicorn's log level.")] = "info",
) -> None:
    """Run the REST + WebSocket API and the dashboard (Ctrl+C stops it after open requests)."""
    import logging

    from emolens.config import build_settings
    from emolens.display import console
    from emolens.errors import InvalidInputError
    from emolens.server import create_app
    from emolens.server.settings import ServerSettings

    overrides: dict[str, Any] = {"host": host, "port": port, "db": db, "rate_limit": rate_limit,
                                 "cors_origins": cors_origin or None,
                                 "auth": False if no_auth else None,
                                 "audio": True if audio else None,
                                 "vision": True if vision else None}
    if model:
        overrides.update(model=model[0], extra_models=model[1:])
    # A bad value (--port 70000, EMOLENS_PORT=abc) is named in one line, not a pydantic dump.
    settings = build_settings(ServerSettings, **overrides).check()
    _check_port(settings.host, settings.port)  # before the models load, not after the banner
    app = create_app(settings)  # raises MissingExtraError without the server extra
    import uvicorn

    logging.basicConfig(level=log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s")
    _load(app.state.service)

    url = f"http://{_url_host(settings.host)}:{settings.port}"
    auth = "on (send Authorization: Bearer <key>)" if settings.auth else "OFF (loopback only)"
    speech = ("  speech on" if settings.audio else "") + ("  vision on" if settings.vision
                                                          else "")
    console.print(f"emolens serve: [bold]{url}[/]  model {', '.join(settings.models())}{speech}  "
                  f"auth {auth}  store {settings.db}\n  dashboard {url}/  API docs {url}/docs",
                  highlight=False, soft_wrap=True)
    if settings.auth:
        _warn_without_keys(settings.db)
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level,
                    ws_max_size=settings.max_body_bytes, timeout_graceful_shutdown=15,
                    server_header=False)
    except SystemExit as exc:
        if exc.code in (None, 0):
            raise
        # uvicorn exits 3 when it cannot start (the port taken since the check): in emolens
        # 3 means partly done, so say it failed and exit 1.
        raise InvalidInputError(f"the service did not start on {url} (uvicorn's log above "
                                "says why)") from None


def _check_port(host: str, port: int) -> None:
    """InvalidInputError when ``host``:``port`` cannot be listened on (in use, or not an
    address of this machine), found by binding each of its addresses as uvicorn will."""
    import errno
    import socket

    from emolens.errors import InvalidInputError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise InvalidInputError(f"cannot listen on {host}: {exc.strerror}") from None
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio does
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise InvalidInputError(
                        f"port {port} on {host} is in use; stop what listens there or choose "
                        "another with --port (or EMOLENS_PORT)") from None
                raise InvalidInputError(f"cannot listen on {host} port {port}: "
                                        f"{exc.strerror}") from None


def _load(service: Any) -> None:
    """Load the models and open the store before uvicorn starts: an unknown model or a bad
    store is then one clear error from the CLI, not a traceback from the app's lifespan
    (which finds the service started and loads nothing twice)."""
    try:
        service.start()
    except BaseException:
        service.stop()
        raise


def keys_create(
    name: Annotated[str, typer.Option("--name", help="Who or what the key is for.")] = "",
    db: DbOpt = None,
) -> None:
    """Create an API key; it is printed once and only its hash is kept."""
    from emolens.display import console

    with _keys(db) as keys:
        key, token = keys.create(name)
    console.print(f"created API key [bold]{key.id}[/]{f' ({name})' if name else ''}; "
                  "copy it now, it is not shown again:", highlight=False)
    typer.echo(token)


def keys_list(db: DbOpt = None) -> None:
    """List API keys (ids and names; secrets are never stored)."""
    from rich.table import Table

    from emolens.display import console

    with _keys(db, must_exist=True) as keys:
        rows = keys.list()
    table = Table(title="API keys")
    for column in ("id", "name", "created (UTC)", "state"):
        table.add_column(column)
    for k in rows:
        state = "active" if k.active else f"revoked {k.revoked_at:%Y-%m-%d %H:%M}"
        table.add_row(k.id, k.name, f"{k.created_at:%Y-%m-%d %H:%M}", state)
    console.print(table)


def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (from `emolens keys list`).")],
    db: DbOpt = None,
) -> None:
    """Revoke an API key; requests with it are refused from then on."""
    from emolens.display import console

    with _keys(db, must_exist=True) as keys:
        key = keys.revoke(key_id)
    console.print(f"revoked API key {key.id}", highlight=False)


@contextmanager
def _keys(db: str | None, must_exist: bool = False) -> Iterator[Any]:
    """The key store of the configured database, closed after use; with ``must_exist``, a
    missing store is refused (StoreError) rather than created empty."""
    from emolens.config import load_settings
    from emolens.server.keys import KeyStore
    from emolens.store import ResultStore

    with ResultStore(load_settings(db=db).db, must_exist=must_exist) as store:
        yield KeyStore(store)


def _warn_without_keys(db: str) -> None:
    from emolens.display import err_console

    with _keys(db) as keys:
        if keys.active_count() == 0:
            err_console.print("[yellow]warning:[/] no API key yet, so every /v1 request will "
                              f"be refused; create one with `emolens keys create --db {db}`")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
