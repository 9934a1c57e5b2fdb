"""Collecting posts: connectors (files, feeds, JSON APIs, web pages, social exports) on one
contract (``emolens.ingest.base``), incremental runs into the result store
(``emolens.ingest.run``), and `emolens watch` with alert rules (``emolens.ingest.watch``).

Connectors need the ``ingest`` extra (feedparser, beautifulsoup4, jmespath, httpx, openpyxl)
only for the sources that use them. Nothing is imported here, so that the CLI, which imports
``emolens.ingest.commands``, starts fast; the names below load on first use.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "BadItem": "base", "IngestItem": "base", "Note": "base", "Source": "base",
    "IngestOptions": "run", "IngestReport": "run", "ingest": "run",
    "guess_kind": "sources", "open_source": "sources",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'emolens.ingest' has no attribute {name!r}")
    return getattr(import_module(f"emolens.ingest.{_EXPORTS[name]}"), name)
