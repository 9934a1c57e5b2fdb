"""Routes for images, videos and jobs: ``POST /v1/analyze/image`` (answered at once),
``POST /v1/analyze/video`` and ``POST /v1/analyze/audio?job=true`` (jobs), ``/v1/jobs/{id}``.

An upload is the request body as it is, or the one file of a multipart/form-data form; it
is spooled to a private temporary file (never a path the client names) that is removed
once the answer or the job is done.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect

from emolens.errors import InvalidInputError
from emolens.server.auth import require_key
from emolens.server.jobs import JobsFull
from emolens.server.schemas import ErrorBody, JobState, Language, VisualAnalyzeResponse
from emolens.server.service import Service
from emolens.server.speech import Upload, spool, upload_suffix
from emolens.server.vision import VisionService, named_errors

_ERRORS = {401: {"model": ErrorBody, "description": "API key missing, not valid or revoked"},
           413: {"model": ErrorBody, "description": "Upload too large"},
           415: {"model": ErrorBody, "description": "The body is not of the media type taken"},
           422: {"model": ErrorBody, "description": "Not a readable file (the reason is given)"},
           429: {"model": ErrorBody, "description": "Rate limit exceeded (see Retry-After)"}}
_NOT_SERVED = {404: {"model": ErrorBody, "description": "Images and video are not served here"}}
_FULL = {503: {"model": ErrorBody, "description": "Too many jobs, or shutting down"}}

media = APIRouter(prefix="/v1", dependencies=[Depends(require_key)], responses=_ERRORS)
Caller = Annotated[str, Depends(require_key)]  # cached: the router's check, not a second one

_MEDIA = {"schema": {"type": "string", "format": "binary"}}


def _body(kind: str, what: str) -> dict[str, Any]:
    form = {"schema": {"type": "object", "required": ["file"],
                       "properties": {"file": {"type": "string", "format": "binary"}}}}
    return {"requestBody": {
        "required": True,
        "description": f"The {what}'s bytes as they are, or a multipart form whose part "
                       "'file' holds them.",
        "content": {"application/octet-stream": _MEDIA, f"{kind}/*": _MEDIA,
                    "multipart/form-data": form},
    }}


Store = Annotated[bool, Query(description="Also keep the results in the store.")]
Source = Annotated[str | None, Query(max_length=200, description="Stored as the source "
                                     "(default: api-upload:<SHA-256 prefix of the file>).")]
Filename = Annotated[str | None, Query(max_length=255, description="The file's name, for its "
                                       "extension and for messages (a form's file name else).")]


@media.post("/analyze/image", response_model=VisualAnalyzeResponse, tags=["analyze"],
            openapi_extra=_body("image", "image"), responses=_NOT_SERVED)
async def analyze_image(request: Request, store: Store = False, source: Source = None,
                        filename: Filename = None) -> VisualAnalyzeResponse:
    """Faces with their boxes and expressions, the image's text, and both fused."""
    service = _service(request)
    vision = _vision(service)
    upload, name = await receive_upload(request, "image", filename)
    try:
        source = source or f"api-upload:{upload.sha256[:16]}"
        async with vision.images:
            return await run_in_threadpool(vision.analyze_image, upload, name, source,
                                           service.store if store else None)
    finally:
        upload.path.unlink(missing_ok=True)


@media.post("/analyze/video", status_code=202, response_model=JobState, tags=["jobs"],
            openapi_extra=_body("video", "video"), responses={**_NOT_SERVED, **_FULL})
async def analyze_video(
    request: Request, response: Response, caller: Caller, store: Store = False,
    source: Source = None, filename: Filename = None,
    language: Annotated[Language | None, Query(description="Speech language, 'en' or 'zh' "
                                               "(else detected); with --audio only.")] = None,
) -> JobState:
    """Start a job over a video: faces tracked, on-screen text, the audio track (with
    --audio), fused per second. Poll ``GET /v1/jobs/{id}`` (the Location header) for it."""
    service = _service(request)
    vision = _vision(service)
    upload, name = await receive_upload(request, "video", filename)
    try:
        total, has_audio = await run_in_threadpool(vision.probe_video, upload, name)
        source = source or f"api-upload:{upload.sha256[:16]}"
        run = vision.video_job(upload, name, source, language, service.store if store else None,
                               has_audio)
        state = submit(service, caller, "video", name, source, run, upload, total)
    except BaseException:
        upload.path.unlink(missing_ok=True)
        raise
    response.headers["Location"] = f"/v1/jobs/{state.id}"
    return state


async def audio_job(request: Request, caller: str, upload: Upload, name: str, source: str,
                    language: str | None, store: bool) -> JSONResponse:
    """``POST /v1/analyze/audio?job=true``: the recording analysed as a job (202)."""
    from emolens.server.schemas import AudioAnalyzeResponse

    service = _service(request)
    speech = service.speech
    total = await run_in_threadpool(_audio_seconds, upload, name)

    def run(job: Any) -> AudioAnalyzeResponse:
        done = speech.analyze_upload(upload, name, source, language,
                                     service.store if store else None, progress=job.progress)
        timeline = done.timeline
        return AudioAnalyzeResponse(model=speech.model_id, source=source,
                                    duration=round(timeline.duration, 3),
                                    summary=timeline.summary(), segments=timeline.segments,
                                    stored=done.stored)

    state = submit(service, caller, "audio", name, source, run, upload, total)
    return JSONResponse(state.model_dump(mode="json"), status_code=202,
                        headers={"Location": f"/v1/jobs/{state.id}"})


@media.get("/jobs/{job_id}", response_model=JobState, tags=["jobs"],
           responses={404: {"model": ErrorBody, "description": "No such job for this key"}})
def get_job(request: Request, caller: Caller, job_id: Annotated[str, Path(max_length=64)],
            results: Annotated[bool, Query(description="Include the result when done (false: "
                                           "status and progress only).")] = True) -> JobState:
    """A job's status (queued, running, done, failed, cancelled), progress and result."""
    job = _service(request).jobs.get(job_id, caller)
    if job is None:
        raise _no_job(job_id)
    return job.state(with_result=results)


@media.delete("/jobs/{job_id}", response_model=JobState, tags=["jobs"],
              responses={404: {"model": ErrorBody, "description": "No such job for this key"}})
def cancel_job(request: Request, caller: Caller,
               job_id: Annotated[str, Path(max_length=64)]) -> JobState:
    """Cancel a queued or running job (a running one stops at its next frame or block, and
    stores nothing more); a finished job is forgotten. Answers the job's state."""
    job = _service(request).jobs.cancel(job_id, caller)
    if job is None:
        raise _no_job(job_id)
    return job.state(with_result=False)


def submit(service: Service, caller: str, kind: str, name: str, source: str,
           run: Callable[[Any], Any], upload: Upload, total: float | None) -> JobState:
    """Queue a job that removes its upload when it ends; 503 when there is no room."""
    try:
        job = service.jobs.submit(caller, kind, name, source, run,
                                  lambda: upload.path.unlink(missing_ok=True), total)
    except JobsFull as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "10"}) from None
    return job.state()


# -- uploads ----------------------------------------------------------------------------------


async def receive_upload(request: Request, kind: str, filename: str | None) -> tuple[Upload, str]:
    """The body (or a form's file) spooled to a temporary file, and the name to show for it.

    415 for another media type; 422 for an empty upload or a form without a file.
    """
    content_type = _media_type(request.headers.get("content-type", ""))
    try:
        if content_type == "multipart/form-data":
            upload, filename = await _spool_form(request, kind, filename)
        else:
            _check_type(content_type, kind, "Content-Type")
            upload = await spool(request.stream(), upload_suffix(filename, content_type))
    except ClientDisconnect:
        raise HTTPException(400, "The client left before the upload ended.") from None
    name = filename or "the upload"
    if upload.size == 0:
        upload.path.unlink(missing_ok=True)
        raise InvalidInputError(f"{name} is empty (0 bytes): send the {kind}'s bytes as the "
                                "request body, or as the form's part 'file'.")
    return upload, name


async def _spool_form(request: Request, kind: str, filename: str | None) -> tuple[Upload, str]:
    async with request.form(max_files=1, max_fields=8) as form:
        files = [v for v in form.values() if isinstance(v, UploadFile)]
        part = form.get("file") if isinstance(form.get("file"), UploadFile) else None
        part = part or (files[0] if files else None)
        if part is None:
            raise InvalidInputError(f"The multipart form has no file; send the {kind} as its "
                                    "part 'file' (or send the bytes as the body).")
        content_type = _media_type(part.content_type or "")
        _check_type(content_type, kind, "The form's file has the type")
        filename = filename or _plain_name(part.filename)

        async def chunks() -> AsyncIterator[bytes]:
            while chunk := await part.read(1 << 20):
                yield chunk

        return await spool(chunks(), upload_suffix(filename, content_type)), filename


def _check_type(content_type: str, kind: str, what: str) -> None:
    if content_type in ("", "application/octet-stream") or content_type.startswith(f"{kind}/"):
        return
    raise HTTPException(415, f"{what} {content_type!r}, not {kind}/*: send the {kind}'s bytes "
                        f"with Content-Type {kind}/* or application/octet-stream, or a "
                        "multipart/form-data form with the file as part 'file'.")


def _media_type(header: str) -> str:
    return header.split(";")[0].strip().lower()


def _plain_name(filename: str | None) -> str | None:
    """The last part of a form's file name (browsers may send a path; it is never opened)."""
    if not filename:
        return None
    return filename.replace("\\", "/").rsplit("/", 1)[-1][:255] or None


def _audio_seconds(upload: Upload, name: str) -> float | None:
    """A recording's length from its headers; InvalidInputError if it holds no audio."""
    from emolens.io.media import open_media
    with named_errors(upload.path, name), open_media(upload.path, "audio") as container:
        stream = container.streams.audio[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        return None if container.duration is None else container.duration / 1_000_000


def _service(request: Request) -> Service:
    return request.app.state.service


def _vision(service: Service) -> VisionService:
    if service.vision is None:
        raise HTTPException(404, "Images and video are not served here: start the service "
                            "with `emolens serve --vision` (or the setting vision = true).")
    return service.vision


def _no_job(job_id: str) -> HTTPException:
    return HTTPException(404, f"No job {job_id!r} for this API key (a finished job is kept "
                         "for job_keep_seconds).")
