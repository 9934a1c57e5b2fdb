"""HTTP routes: /v1 (analysis, stored results, statistics, models, alerts, the audit log of
exports) and health.

Reading routes are plain ``def``: FastAPI runs them in its threadpool. Analysis goes through
the service's micro-batcher, which runs the model in a worker thread. Either way the event
loop never waits on a model or the database.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from emolens.errors import InvalidInputError
from emolens.registry import recognizers
from emolens.server.auth import require_key
from emolens.server.middleware import JsonBodyRoute
from emolens.server.queries import (
    Filters,
    alerts_page,
    audit_page,
    filters_used,
    log_export,
    results_csv,
    results_page,
    stats,
    time_window,
)
from emolens.server.schemas import (
    AlertsPage,
    AnalyzeRequest,
    AnalyzeResponse,
    AudioAnalyzeResponse,
    AuditPage,
    ErrorBody,
    Health,
    JobState,
    Language,
    ModelInfo,
    ModelsResponse,
    Ready,
    ResultsPage,
    Stats,
)
from emolens.server.service import Service
from emolens.server.speech import SpeechService, spool, upload_suffix

_ERRORS = {400: {"model": ErrorBody, "description": "Body could not be read (not UTF-8)"},
           401: {"model": ErrorBody, "description": "API key missing, not valid or revoked"},
           413: {"model": ErrorBody, "description": "Request body too large"},
           422: {"model": ErrorBody, "description": "Invalid request (the reason is given)"},
           429: {"model": ErrorBody, "description": "Rate limit exceeded (see Retry-After)"}}

api = APIRouter(prefix="/v1", dependencies=[Depends(require_key)], responses=_ERRORS,
                route_class=JsonBodyRoute)
health = APIRouter(tags=["health"])


def _service(request: Request) -> Service:
    return request.app.state.service


_SINCE = ("From then on: an age (30m, 12h, 7d, 4w: that long ago) or an ISO 8601 time "
          "(without a zone, UTC), as `emolens export --since` takes.")


def _filters(
    source: Annotated[str | None, Query(description="Only results from this source.")] = None,
    group: Annotated[str | None, Query(description="Only results in this group.")] = None,
    label: Annotated[str | None, Query(description="Only results with this label.")] = None,
    modality: Annotated[str | None, Query(description="Only this modality (text, speech).")]
    = None,
    model: Annotated[str | None, Query(description="Only results of this model: name@version "
                                       "as stored (GET /v1/stats lists them), or a name alone "
                                       "(default) for each of its versions, as `emolens export "
                                       "--model` takes.")] = None,
    since: Annotated[str | None, Query(description=_SINCE)] = None,
    until: Annotated[str | None, Query(description="Before this ISO 8601 time (without a "
                                       "zone, UTC).")] = None,
) -> Filters:
    start, end = time_window(since, until)
    return Filters(source, group, label, modality, model, start, end)


@api.post("/analyze/text", response_model=AnalyzeResponse, tags=["analyze"],
          responses={415: {"model": ErrorBody, "description": "The body is not JSON (send "
                           "Content-Type application/json)"}})
async def analyze_text(body: AnalyzeRequest, request: Request) -> AnalyzeResponse:
    """Emotion expressed in one text or a batch; stored too when ``store`` is true."""
    return await _service(request).analyze(body)  # the model runs in a worker thread


_MEDIA = {"schema": {"type": "string", "format": "binary"}}
_AUDIO_BODY = {"requestBody": {
    "required": True,
    "description": "The recording's bytes as they are (any format FFmpeg reads, or a video "
                   "whose audio track is analysed); not a multipart form.",
    "content": {"application/octet-stream": _MEDIA, "audio/*": _MEDIA, "video/*": _MEDIA},
}}


@api.post("/analyze/audio", response_model=AudioAnalyzeResponse, tags=["analyze"],
          openapi_extra=_AUDIO_BODY,
          responses={202: {"model": JobState, "description": "With job=true: the job started "
                           "(poll the Location header)"},
                     404: {"model": ErrorBody, "description": "Speech is not served here"},
                     415: {"model": ErrorBody, "description": "The body is not audio or video"},
                     503: {"model": ErrorBody, "description": "With job=true: too many jobs"}})
async def analyze_audio(
    request: Request,
    caller: Annotated[str, Depends(require_key)],
    language: Annotated[Language | None, Query(description="Force 'en' or 'zh' (else "
                                                "detected on the first speech).")] = None,
    store: Annotated[bool, Query(description="Also keep the segments in the store.")] = False,
    source: Annotated[str | None, Query(max_length=200, description="Stored as the source "
                                        "(default: api-upload:<SHA-256 prefix of the file>).")]
    = None,
    filename: Annotated[str | None, Query(max_length=255, description="The file's name, for "
                                          "its extension and for messages.")] = None,
    job: Annotated[bool, Query(description="Analyse it as a job (202 and GET /v1/jobs/{id}), "
                               "for recordings longer than a request should wait.")] = False,
) -> AudioAnalyzeResponse | JSONResponse:
    """Emotion over time in one recording: a result per utterance with its transcript."""
    service = _service(request)
    speech = _speech(service)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("", "application/octet-stream") and \
            not content_type.startswith(("audio/", "video/")):
        raise HTTPException(415, f"Content-Type {content_type!r} is not a recording: send the "
                            "file's bytes as the body with Content-Type audio/* (e.g. audio/mpeg),"
                            " video/* or application/octet-stream; multipart forms are not read.")
    try:
        upload = await spool(request.stream(), upload_suffix(filename, content_type))
    except ClientDisconnect:
        raise HTTPException(400, "The client left before the upload ended.") from None
    try:
        name = filename or "the upload"
        if upload.size == 0:
            raise InvalidInputError(f"{name} is empty (0 bytes): send the recording's bytes as "
                                    "the request body.")
        source = source or f"api-upload:{upload.sha256[:16]}"
        if job:
            from emolens.server.media import audio_job

            answer = await audio_job(request, caller, upload, name, source, language, store)
            upload = None  # the job removes it when it ends
            return answer
        async with speech.uploads:  # one upload at a time, waiting here rather than in a thread
            done = await run_in_threadpool(speech.analyze_upload, upload, name, source, language,
                                           service.store if store else None)
    finally:
        if upload is not None:
            upload.path.unlink(missing_ok=True)
    timeline = done.timeline
    return AudioAnalyzeResponse(model=speech.model_id, source=source,
                                duration=round(timeline.duration, 3),
                                summary=timeline.summary(), segments=timeline.segments,
                                stored=done.stored)


def _speech(service: Service) -> SpeechService:
    if service.speech is None:
        raise HTTPException(404, "Speech is not served here: start the service with "
                            "`emolens serve --audio` (or the setting audio = true).")
    return service.speech


@api.get("/results", response_model=ResultsPage, tags=["results"],
         responses={200: {"content": {"text/csv": {}},
                          "description": "A page of results (JSON), or all of them as CSV"}})
def list_results(
    request: Request,
    caller: Annotated[str, Depends(require_key)],
    filters: Annotated[Filters, Depends(_filters)],
    limit: Annotated[int | None, Query(
        ge=1, description="Page size (default 100); at most max_page (1000) for JSON and "
        "max_export_rows (100,000) for CSV: a larger limit is lowered to that.")] = None,
    offset: Annotated[int, Query(ge=0, le=2**53, description="Results to skip.")] = 0,
    format: Annotated[Literal["json", "csv"], Query(description="csv: a file to download.")]
    = "json",
) -> ResultsPage | Response:
    """Stored results, newest first, filtered and paginated; ``format=csv`` exports them. Each
    read, JSON or CSV, is written to the audit log (GET /v1/audit)."""
    service = _service(request)
    most = service.settings.max_export_rows if format == "csv" else service.settings.max_page
    limit = min(limit or (most if format == "csv" else 100), most)
    page = results_page(service.store, filters, limit, offset)
    log_export(service.store, service.auth.keys, caller, "GET /v1/results",
               filters_used(filters, limit=limit, offset=offset, format=format), len(page.items),
               request.client.host if request.client else None)
    if format == "json":
        return page
    return Response(results_csv(page.items), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="emolens-results.csv"',
                             "X-Total-Count": str(page.total)})


@api.get("/stats", response_model=Stats, tags=["results"])
def get_stats(
    request: Request,
    filters: Annotated[Filters, Depends(_filters)],
    bucket: Annotated[Literal["hour", "day", "week", "month"] | None,
                      Query(description="Trend bucket (default: from the time span, with "
                            "about 10 or more results per bucket).")]
    = None,
) -> Stats:
    """Distribution, trend per time bucket and emotion x group heatmap of stored results, and
    the models behind them: ``mixed`` names the modalities whose charts pool several models
    (narrow with ``model``)."""
    return stats(_service(request).store, filters, bucket)


_LIMIT = "Page size (default 100, at most max_page: 1000)."


@api.get("/alerts", response_model=AlertsPage, tags=["alerts"])
def get_alerts(
    request: Request,
    since: Annotated[str | None, Query(description="Fired at or after this time: an age "
                                       "(30m, 12h, 7d, 4w) or an ISO 8601 time (without a "
                                       "zone, UTC).")] = None,
    rule: Annotated[str | None, Query(description="Only alerts of this rule (its name).")]
    = None,
    limit: Annotated[int | None, Query(ge=1, description=_LIMIT)] = None,
    offset: Annotated[int, Query(ge=0, le=2**53, description="Alerts to skip.")] = 0,
) -> AlertsPage:
    """Alerts fired by `emolens watch` on this store, newest first: the rule, the figures that
    fired it, the message and where it was sent."""
    service = _service(request)
    limit = min(limit or 100, service.settings.max_page)
    return alerts_page(service.store, time_window(since, None)[0], rule, limit, offset)


@api.get("/audit", response_model=AuditPage, tags=["audit"])
def get_audit(
    request: Request,
    since: Annotated[str | None, Query(description="At or after this time: an age (30m, 12h, "
                                       "7d, 4w) or an ISO 8601 time (without a zone, UTC).")]
    = None,
    key: Annotated[str | None, Query(max_length=16, description="Only exports with this API "
                                     "key id.")] = None,
    limit: Annotated[int | None, Query(ge=1, description=_LIMIT)] = None,
    offset: Annotated[int, Query(ge=0, le=2**53, description="Entries to skip.")] = 0,
) -> AuditPage:
    """The audit log: every read of stored results through the service (GET /v1/results, a
    JSON page or a CSV export), newest first, with the key's id and name (never the key),
    route, filters, rows and client address.

    Keys have no roles, and any key may export every stored result, so any valid key may read
    it; `emolens audit` reads it from the database."""
    service = _service(request)
    limit = min(limit or 100, service.settings.max_page)
    return audit_page(service.store, time_window(since, None)[0], key, limit, offset)


@api.get("/models", response_model=ModelsResponse, tags=["models"])
def list_models(request: Request) -> ModelsResponse:
    """Models this service runs (pick one with ``model``), and every registered recognizer."""
    served = [
        ModelInfo(name=name, id=a.model_id, labels=list(a.output_labels), default=i == 0)
        for i, (name, a) in enumerate(_service(request).analyzers.items())
    ]
    speech = _service(request).speech
    vision = _service(request).vision
    return ModelsResponse(served=served, registered=recognizers.describe(),
                          speech=speech.model_id if speech is not None else None,
                          vision=vision.model_id if vision is not None else None)


def _loaded(service: Service) -> list[str]:
    """name@version of every model loaded: text models (the default first), then speech and
    vision when served."""
    # list() first: a copy taken at once, in case a route reads while start() still loads
    models = [a.model_id for a in list(service.analyzers.values())]
    return models + [x.model_id for x in (service.speech, service.vision) if x is not None]


@health.get("/healthz", response_model=Health)
def healthz(request: Request) -> Health:
    """The process is up, the models it has loaded (name@version), and whether /v1 needs a
    key, so the dashboard knows to ask."""
    service = _service(request)
    return Health(status="ok", models=_loaded(service), auth=service.settings.auth)


@health.get("/readyz", response_model=Ready, responses={503: {"model": Health}})
def readyz(request: Request) -> Ready | JSONResponse:
    """Models loaded and store open (503 while starting or shutting down), what is served
    (speech with --audio, vision with --vision) and the jobs under way."""
    service = _service(request)
    if not service.ready:
        return JSONResponse(Health(status="not ready").model_dump(), status_code=503)
    speech, vision = service.speech, service.vision
    return Ready(status="ready", models=_loaded(service), auth=service.settings.auth,
                 speech=speech.model_id if speech else None,
                 vision=vision.model_id if vision else None, jobs=service.jobs.counts())
