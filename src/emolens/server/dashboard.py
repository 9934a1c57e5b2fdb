"""The dashboard: static files shipped in this package, and plotly.js from the plotly package.

Nothing is fetched from a CDN: the page works on a machine with no network.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"

pages = APIRouter(include_in_schema=False)


@cache
def plotly_js() -> Path | None:
    """plotly.min.js as shipped inside the plotly Python package, if it is there."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return path if path.is_file() else None


@pages.get("/")
def index() -> FileResponse:
    """The dashboard page (it asks for an API key when the service needs one)."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")


@pages.get("/vendor/plotly.min.js")
def plotly() -> FileResponse:
    """plotly.js from the installed plotly package."""
    path = plotly_js()
    if path is None:
        raise HTTPException(404, "plotly.min.js is not in the installed plotly package")
    return FileResponse(path, media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=86400"})


def mount(app: FastAPI) -> None:
    """Add the dashboard's page and files to ``app``."""
    app.include_router(pages)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
