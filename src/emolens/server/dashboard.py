"""The dashboard: static files shipped in this package, plotly.js from the plotly package, and
a Chinese font from the mplfonts package (used only where the browser has no CJK font).

Nothing is fetched from a CDN: the page works on a machine with no network.
"""

from __future__ import annotations

import importlib.util
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


@cache
def cjk_font() -> Path | None:
    """Noto Sans CJK SC (OFL) as shipped by mplfonts, a dependency of emolens, if it is there."""
    spec = importlib.util.find_spec("mplfonts")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "fonts/NotoSansCJKsc-Regular.otf"
    return path if path.is_file() else None


@pages.get("/")
def index() -> FileResponse:
    """The dashboard page (it asks for an API key when the service needs one)."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")


@pages.get("/vendor/plotly.min.js")
def plotly() -> FileResponse:
    """plotly.js from the installed plotly package."""
    return _vendor(plotly_js(), "text/javascript; charset=utf-8", "plotly.min.js")


@pages.get("/vendor/cjk.otf")
def cjk() -> FileResponse:
    """The Chinese font, for browsers on machines that have none (loaded only then)."""
    return _vendor(cjk_font(), "font/otf", "the CJK font of mplfonts")


def _vendor(path: Path | None, media_type: str, what: str) -> FileResponse:
    if path is None:
        raise HTTPException(404, f"{what} is not installed")
    return FileResponse(path, media_type=media_type,
                        headers={"Cache-Control": "public, max-age=86400"})


def mount(app: FastAPI) -> None:
    """Add the dashboard's page and files to ``app``."""
    app.include_router(pages)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
