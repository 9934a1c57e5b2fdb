"""WebSocket ``/v1/stream/video``: JPEG frames in, faces with track ids and expressions out.

Frames are still images, never a video container, so a stream's display rotation (which
``vision.frames.upright_rgb`` applies to video files) has nothing to read here; a JPEG's
EXIF orientation is applied when it is decoded (``server.vision.decode_jpeg``).

Back-pressure is by dropping: while a frame is being analysed, at most one more waits; a
newer frame replaces the waiting one, which is dropped (a live camera wants the latest
picture, not a growing backlog). Every reply names the frames dropped since the previous
reply, and the summary counts them, so a client knows to send fewer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from emolens.errors import EmolensError
from emolens.server.service import Service
from emolens.server.vision import JPEG_MAGIC, VisionService
from emolens.server.ws import (
    INTERNAL,
    INVALID,
    NOT_SERVED,
    TOO_BIG,
    TRY_LATER,
    UNSUPPORTED,
    _caller,
    _Close,
    _short,
    accept,
)
from emolens.types import EmotionResult

log = logging.getLogger("emolens.server")

video_stream = APIRouter(prefix="/v1")

POLICY = ("drop: while a frame is analysed one more may wait; a newer frame replaces it and "
          "the replaced frame is listed in the next reply's 'dropped'")
_CONTROL_KEYS = {"t", "id"}


@dataclass
class _Frame:
    seq: int
    data: bytes
    t: float
    id: str | int | None = None


@dataclass
class _Inbox:
    """What the reader hands the analysis: the one waiting frame, drops, and how to end."""

    waiting: _Frame | None = None
    dropped: list[int] = field(default_factory=list)
    dropped_total: int = 0
    closing: _Close | None = None
    ended: bool = False  # the client sent {"end": true}
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, frame: _Frame) -> None:
        if self.waiting is not None:
            self.dropped.append(self.waiting.seq)
            self.dropped_total += 1
        self.waiting = frame
        self.wake.set()

    def stop(self, closing: _Close | None = None, ended: bool = False) -> None:
        self.closing, self.ended = closing, ended
        self.wake.set()


@video_stream.websocket("/stream/video")
async def stream_video(websocket: WebSocket) -> None:
    """Live video: binary JPEG frames in, ``{"type": "frame", "seq", "t", "faces", "dropped"}``
    out per analysed frame, faces keeping their track id (``details.track``) across frames.

    A JPEG with an EXIF orientation is turned upright first; ``width`` and ``height`` in the
    reply, and the face boxes, are of the upright frame.
    A text frame ``{"t": seconds, "id": ...}`` before a JPEG gives that frame's time (else
    the time since the first frame) and an id echoed in its reply; ``{"end": true}`` ends the
    stream: the waiting frame is answered, ``{"type": "summary", ...}`` follows, close 1000.
    The server starts with ``{"type": "start", "model", "max_frame_bytes", "policy"}``.
    Closes: 1003 a binary frame that is not a JPEG, 1007 a JPEG that does not decode or a
    bad text frame, 1009 a frame over max_body_bytes, 1013 ``video_streams`` streams already
    open, 4401 no valid key, 4404 vision not served.
    """
    service: Service = websocket.app.state.service
    await accept(websocket)
    caller = await _caller(websocket, service)
    if caller is None:
        return
    vision = service.vision
    if vision is None:
        await websocket.close(NOT_SERVED, "images and video are not served here; start the "
                              "service with --vision")
        return
    if websocket.query_params:
        await websocket.close(INVALID, _short("unknown query parameter "
                                              f"{next(iter(websocket.query_params))!r}"))
        return
    if not vision.open_stream():
        await websocket.close(TRY_LATER, _short(
            f"{vision.streams} video streams are open, the most this service analyses at once "
            "(video_streams); try again later"))
        return
    try:
        wait = service.auth.limiter.take(caller)  # a stream counts as one request
        if wait > 0:
            await asyncio.sleep(wait)
        closing = await _run_video(websocket, service, vision)
    finally:
        vision.close_stream()
    if closing is not None:
        await websocket.close(closing.code, _short(closing.reason))


async def _run_video(websocket: WebSocket, service: Service, vision: VisionService
                     ) -> _Close | None:
    """Answer frames until the end, a bad frame or the client leaving (None: it left)."""
    from emolens.vision.tracking import FaceTracker

    limit = service.settings.max_body_bytes
    try:
        await websocket.send_text(json.dumps({"type": "start", "model": vision.model_id,
                                              "max_frame_bytes": limit, "policy": POLICY}))
    except WebSocketDisconnect:
        return None
    inbox = _Inbox()
    reader = asyncio.create_task(_read_frames(websocket, inbox, limit))
    tracker = FaceTracker()
    answered = 0
    try:
        while True:
            if inbox.waiting is None and not inbox.ended and inbox.closing is None:
                await inbox.wake.wait()
                inbox.wake.clear()
                continue
            frame, inbox.waiting = inbox.waiting, None
            if frame is not None:
                try:
                    faces, size = await run_in_threadpool(vision.frame, tracker, frame.data,
                                                          frame.t)
                except EmolensError as exc:
                    return _Close(INVALID, f"frame {frame.seq}: {exc}")
                except Exception:  # noqa: BLE001 (logged; the client gets a clean close)
                    log.exception("video stream frame %d failed", frame.seq)
                    return _Close(INTERNAL, "internal error; the server log has the details")
                answered += 1
                dropped, inbox.dropped = inbox.dropped, []
                await websocket.send_text(_reply(frame, faces, size, dropped))
                continue
            if inbox.ended:
                await websocket.send_text(json.dumps(_summary(tracker, answered, inbox)))
                return _Close(1000, "")
            if inbox.closing is not None:
                return None if inbox.closing.code == 1000 else inbox.closing
    except WebSocketDisconnect:
        return None
    finally:
        reader.cancel()


async def _read_frames(websocket: WebSocket, inbox: _Inbox, limit: int) -> None:
    """Messages into the inbox until the end, the client leaving, or a bad message."""
    seq, first, last_t = 0, None, -math.inf
    control: dict[str, Any] = {}
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            inbox.stop(_Close(1000, ""))
            return
        data, text = message.get("bytes"), message.get("text")
        if data is not None:
            seq += 1
            if len(data) > limit:
                inbox.stop(_Close(TOO_BIG, f"frame {seq}: {len(data)} bytes, over the "
                                           f"{limit} of max_body_bytes"))
                return
            if not data.startswith(JPEG_MAGIC):
                inbox.stop(_Close(UNSUPPORTED, f"frame {seq}: not a JPEG; send each frame as "
                                               "one binary message of JPEG bytes"))
                return
            now = time.monotonic()
            first = now if first is None else first
            t = control.get("t", now - first)
            if t < last_t:
                inbox.stop(_Close(INVALID, f"frame {seq}: t={t} is before the previous "
                                           f"frame's {last_t}"))
                return
            last_t = t
            inbox.put(_Frame(seq, data, float(t), control.get("id")))
            control = {}
            continue
        try:
            parsed = _control(text or "")
        except ValueError as exc:
            inbox.stop(_Close(INVALID, f"after frame {seq}: {exc}"))
            return
        if parsed.get("end") is True:
            inbox.stop(ended=True)
            return
        control = parsed


def _control(text: str) -> dict[str, Any]:
    """A text frame: {"end": true}, or {"t": seconds, "id": ...} for the next JPEG."""
    try:
        value = json.loads(text)
    except ValueError:
        raise ValueError('text frames must be JSON: {"t": seconds, "id": ...} before a JPEG, '
                         'or {"end": true}') from None
    if not isinstance(value, dict):
        raise ValueError("a text frame must be a JSON object")
    if value == {"end": True}:
        return value
    unknown = sorted(set(value) - _CONTROL_KEYS)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}; known: t, id (or only end)")
    t = value.get("t")
    if t is not None and (isinstance(t, bool) or not isinstance(t, int | float)
                          or not math.isfinite(t) or t < 0):
        raise ValueError(f"t must be seconds, a number >= 0; got {str(t)[:20]!r}")
    if not isinstance(value.get("id"), str | int | None) or isinstance(value.get("id"), bool):
        raise ValueError("id must be a string or an integer")
    return {k: v for k, v in value.items() if v is not None}


def _reply(frame: _Frame, faces: list[EmotionResult], size: tuple[int, int],
           dropped: list[int]) -> str:
    return json.dumps({"type": "frame", "seq": frame.seq, "id": frame.id, "t": round(frame.t, 3),
                       "width": size[0], "height": size[1],
                       "faces": [f.to_dict() for f in faces], "dropped": dropped},
                      ensure_ascii=False)


def _summary(tracker: Any, answered: int, inbox: _Inbox) -> dict[str, Any]:
    return {"type": "summary", "frames": answered, "dropped": inbox.dropped_total,
            "tracks": [t.to_dict() for t in tracker.tracks()]}
