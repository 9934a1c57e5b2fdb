"""The emolens service: REST + WebSocket API and a dashboard (``pip install 'emolens[server]'``).

>>> from emolens.server import create_app, ServerSettings
>>> app = create_app(ServerSettings(db="emolens.db"))   # run with uvicorn, or `emolens serve`

Importing this package needs nothing beyond the base install (the CLI imports it to add its
commands); ``create_app`` needs the ``server`` extra.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ServerSettings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        try:
            from emolens.server.app import create_app
        except ImportError as exc:
            from emolens.errors import MissingExtraError

            raise MissingExtraError("The emolens service", "server") from exc
        return create_app
    if name == "ServerSettings":
        from emolens.server.settings import ServerSettings

        return ServerSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
