"""``create_app(settings)``: the FastAPI application of ``emolens serve``."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

import emolens
from emolens.errors import (
    EmolensError,
    InvalidInputError,
    MissingExtraError,
    StoreError,
    UnknownComponentError,
)
from emolens.server import dashboard
from emolens.server.media import media
from emolens.server.middleware import BodyLimit, LoopbackOnly, SecurityHeaders
from emolens.server.routes import api, health
from emolens.server.service import Service
from emolens.server.settings import ServerSettings
from emolens.server.ws import stream
from emolens.server.ws_video import video_stream

log = logging.getLogger("emolens.server")

DESCRIPTION = """Emotion expressed in English and Chinese text, offline; in speech
(`/v1/analyze/audio`, `/v1/stream/audio`) when the service runs with `--audio`; in faces and
on-screen text (`/v1/analyze/image`, `/v1/analyze/video` as a job, `/v1/stream/video`) when it
runs with `--vision`.

Every `/v1` route needs `Authorization: Bearer <key>` or `X-API-Key: <key>` (keys come from
`emolens keys create`), unless the service runs on loopback with `--no-auth`. Results
describe expressed emotion, not anyone's inner state."""


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """The service's app; models load and the store opens when it starts (its lifespan)."""
    settings = (settings or ServerSettings()).check()
    if settings.audio and not all(importlib.util.find_spec(m) for m in ("av", "faster_whisper")):
        raise MissingExtraError("Speech in the service (--audio)", "audio")
    if settings.vision and not all(importlib.util.find_spec(m)
                                   for m in ("av", "cv2", "onnxruntime", "rapidocr")):
        raise MissingExtraError("Images and video in the service (--vision)", "video")
    service = Service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(service.start)  # the loop stays free while models load
        service.open()
        log.info("ready: models %s, store %s", ", ".join(
            a.model_id for a in service.analyzers.values()), service.store)
        try:
            yield
        finally:
            await service.close()
            service.stop()
            log.info("stopped")

    app = FastAPI(title="emolens", version=emolens.__version__, description=DESCRIPTION,
                  lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.service = service
    app.include_router(health)
    app.include_router(api)
    app.include_router(media)
    app.include_router(stream)
    app.include_router(video_stream)
    _add_docs(app)
    _served_models_in_spec(app, service)
    dashboard.mount(app)
    _add_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"])
    uploads = {path: (settings.max_upload_bytes, "max_upload_bytes") for path, on in
               (("/v1/analyze/audio", settings.audio), ("/v1/analyze/video", settings.vision))
               if on}
    if settings.vision:
        uploads["/v1/analyze/image"] = (settings.max_image_bytes, "max_image_bytes")
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, uploads=uploads)
    app.add_middleware(SecurityHeaders)
    if not settings.auth:
        app.add_middleware(LoopbackOnly)
    return app


def _status(exc: EmolensError) -> int:
    if isinstance(exc, InvalidInputError | UnknownComponentError):
        return 422
    if isinstance(exc, StoreError):
        return 503
    if isinstance(exc, MissingExtraError):
        return 501
    return 500


def _add_error_handlers(app: FastAPI) -> None:
    """The one place that turns library errors and invalid requests into HTTP answers."""

    @app.exception_handler(EmolensError)
    async def emolens_error(request: Request, exc: EmolensError) -> JSONResponse:
        status = _status(exc)
        if status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"detail": "Internal error; the server log has the details."},
                            status_code=500)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{k: v for k, v in e.items() if k in ("type", "loc", "msg", "ctx")}
                  for e in exc.errors()]
        first = errors[0] if errors else {"msg": "invalid request", "loc": ()}
        where = ".".join(str(x) for x in first.get("loc", ()))
        detail = f"{where}: {first['msg']}" if where else first["msg"]
        if first.get("type") == "json_invalid":
            detail = f"body is not valid JSON: {first.get('ctx', {}).get('error', first['msg'])}"
        return JSONResponse({"detail": detail, "errors": jsonable_encoder(errors)},
                            status_code=422)


def _served_models_in_spec(app: FastAPI, service: Service) -> None:
    """The OpenAPI spec lists the models this service runs as the values `model` may take,
    and the speech, image and video routes only when they are served."""
    build = app.openapi

    def openapi() -> dict:
        spec = build()
        names = [*service.analyzers, *(a.model_id for a in service.analyzers.values())]
        field = spec.get("components", {}).get("schemas", {}).get("AnalyzeRequest", {}) \
            .get("properties", {}).get("model")
        if names and field is not None:
            field["anyOf"] = [{"type": "string", "enum": list(dict.fromkeys(names))},
                              {"type": "null"}]
        # The spec lists only the routes served; the result schemas stay (jobs refer to them).
        if not service.settings.audio:
            spec.get("paths", {}).pop("/v1/analyze/audio", None)
        if not service.settings.vision:
            for path in ("/v1/analyze/image", "/v1/analyze/video"):
                spec.get("paths", {}).pop(path, None)
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def _add_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the fastapi-offline package's files (no CDN)."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        return
    files = Path(next(iter(spec.submodule_search_locations))) / "static"
    app.mount("/docs-static", StaticFiles(directory=files), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="emolens API",
            swagger_js_url="/docs-static/swagger-ui-bundle.js",
            swagger_css_url="/docs-static/swagger-ui.css",
            swagger_favicon_url="/docs-static/favicon.png",
        )
