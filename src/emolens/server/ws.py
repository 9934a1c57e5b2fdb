"""WebSockets ``/v1/stream/text`` (JSON messages in, results out, in order) and
``/v1/stream/audio`` (PCM in, a result per utterance out as soon as it ends; see
``stream_audio``).

Text: a reader task parses messages into a bounded queue; when the queue is full it stops
reading, so a client that sends faster than the model answers is slowed by TCP itself.
Messages over the caller's rate wait for a token instead of being refused.

Audio is live, so it is never slowed that way (a reader that stops reading also leaves
uvicorn's keepalive pings unanswered, and uvicorn then closes the socket with 1011
"keepalive ping timeout"): the reader always reads, into a feed bounded in seconds of audio.
When the analysis is more than ``audio_max_lag_seconds`` (30) behind the audio received, the
waiting audio is skipped, all but the newest frame, so the stream jumps back to live (as a
video stream keeps only the newest frame), and the client gets ``{"type": "skipped",
"t_start", "t_end", "seconds", "total_seconds", "behind", "reason"}``; the stream stays open.
Results keep the stream's clock: their times count the skipped audio and never fall inside
it, and the summary names ``skipped_seconds``.

Bad input closes the socket with a code and a reason, after the results of every earlier
message have been sent:

- 1003: a binary frame;  1007: not JSON, or not a valid request (the reason says which field);
- 1009: a message over max_body_bytes;  4401: API key missing or not valid.

Browsers cannot set headers on a WebSocket, so a stream also takes its key as the subprotocol
``emolens.key.<key>`` offered beside ``emolens`` (the one the server agrees to).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from emolens.errors import EmolensError
from emolens.server.auth import AuthError, token_from
from emolens.server.schemas import StreamMessage, StreamReply
from emolens.server.service import Service
from emolens.server.speech import AudioFeed, Skipped, SpeechService, StreamAborted
from emolens.types import EmotionResult

log = logging.getLogger("emolens.server")

stream = APIRouter(prefix="/v1")

UNSUPPORTED, INVALID, TOO_BIG, UNAUTHORIZED = 1003, 1007, 1009, 4401
INTERNAL, TRY_LATER, NOT_SERVED = 1011, 1013, 4404
PROTOCOL, KEY_PROTOCOL = "emolens", "emolens.key."
RATES = (8_000, 192_000)  # sample rates a stream may declare, in Hz


@dataclass(frozen=True)
class _Close:
    code: int
    reason: str


_END = _Close(1000, "")  # the client has gone: nothing to send
_END_OK = _Close(1000, "")  # the stream is done: close normally


@stream.websocket("/stream/text")
async def stream_text(websocket: WebSocket) -> None:
    """Analyse each JSON message ({"text": ...} or {"texts": [...]}) and reply with results."""
    service: Service = websocket.app.state.service
    await accept(websocket)
    caller = await _caller(websocket, service)
    if caller is None:
        return
    queue: asyncio.Queue[tuple[int, StreamMessage] | _Close] = asyncio.Queue(
        maxsize=service.settings.ws_queue
    )
    reader = asyncio.create_task(_read(websocket, queue, service.settings.max_body_bytes))
    try:
        await _answer(websocket, queue, service, caller)
    except WebSocketDisconnect:
        pass
    finally:
        reader.cancel()


async def accept(websocket: WebSocket) -> None:
    """Accept the socket, agreeing to the ``emolens`` subprotocol when the client offers it."""
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol=PROTOCOL if PROTOCOL in offered else None)


async def _caller(websocket: WebSocket, service: Service) -> str | None:
    """The caller, or None after closing with 4401 (the socket is accepted)."""
    client = websocket.client.host if websocket.client else None
    headers: Mapping[str, str] = websocket.headers
    offered = [p for p in websocket.scope.get("subprotocols") or []
               if p.startswith(KEY_PROTOCOL)]
    if offered and token_from(headers) is None:  # a browser: the key is a subprotocol
        headers = {"authorization": f"Bearer {offered[0][len(KEY_PROTOCOL):]}"}
    try:
        return await run_in_threadpool(service.auth.identify, headers, client)
    except AuthError as exc:
        await websocket.close(UNAUTHORIZED, _short(exc.message))
        return None


async def _read(websocket: WebSocket, queue: asyncio.Queue, max_bytes: int) -> None:
    """Parse messages into the queue until the client leaves or sends something bad."""
    seq = 0
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            await queue.put(_END)
            return
        seq += 1
        if message.get("text") is None:
            await queue.put(_Close(UNSUPPORTED, f"message {seq}: binary frames are not "
                                                "accepted; send JSON text"))
            return
        text = message["text"]
        if len(text.encode("utf-8", errors="surrogatepass")) > max_bytes:
            await queue.put(_Close(TOO_BIG, f"message {seq}: over {max_bytes} bytes"))
            return
        try:
            parsed = StreamMessage.model_validate_json(text)
        except ValidationError as exc:
            await queue.put(_Close(INVALID, f"message {seq}: {_first_error(exc)}"))
            return
        await queue.put((seq, parsed))  # waits while the queue is full: back-pressure


async def _answer(
    websocket: WebSocket, queue: asyncio.Queue, service: Service, caller: str
) -> None:
    """Reply to queued messages in order; close with the reason the reader gave."""
    while True:
        item = await queue.get()
        if isinstance(item, _Close):
            if item is not _END:
                await websocket.close(item.code, _short(item.reason))
            return
        seq, message = item
        wait = service.auth.limiter.take(caller)
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            response = await service.analyze(message)
        except EmolensError as exc:  # over a limit, unknown model: the client's to fix
            await websocket.close(INVALID, _short(f"message {seq}: {exc}"))
            return
        reply = StreamReply(id=message.id, seq=seq, model=response.model,
                            results=response.results, stored=response.stored,
                            already_stored=response.already_stored)
        await websocket.send_text(reply.model_dump_json())


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False, include_input=False)[0]
    if error["type"] == "json_invalid":
        return f"not valid JSON ({error.get('ctx', {}).get('error', error['msg'])})"
    where = ".".join(str(x) for x in error["loc"]) or "message"
    return f"{where}: {error['msg']}"


def _short(reason: str) -> str:
    """A close reason fits in 123 bytes of UTF-8 (RFC 6455)."""
    encoded = reason.encode("utf-8")
    if len(encoded) <= 123:
        return reason
    return encoded[:120].decode("utf-8", errors="ignore") + "..."


# -- /v1/stream/audio ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Finished:
    """The analysis thread has ended (its task holds the outcome)."""


@stream.websocket("/stream/audio")
async def stream_audio(websocket: WebSocket) -> None:
    """Live speech: binary frames of 16-bit little-endian mono PCM in, a result per utterance
    out as soon as its speech ends.

    Query: ``sample_rate`` (Hz, default 16000), ``language`` (en|zh; else detected). The
    server sends ``{"type": "start", "model", "sample_rate", "language"}`` once the stream is
    set up, then ``{"type": "segment", "seq", "result"}`` per utterance. The text frame
    ``{"end": true}`` ends the audio: the last segment is flushed, ``{"type": "summary",
    "model", "summary", "skipped_seconds"}`` follows and the server closes with 1000. When
    the analysis falls more than ``audio_max_lag_seconds`` behind, the waiting audio is
    skipped and ``{"type": "skipped", ...}`` says which span (see the module docstring).
    Closes: 1007 bad query or frame, 1009 frame over max_body_bytes, 1013 ``audio_streams``
    streams already open, 4401 no valid key, 4404 audio not served.
    """
    service: Service = websocket.app.state.service
    await accept(websocket)
    caller = await _caller(websocket, service)
    if caller is None:
        return
    speech = service.speech
    if speech is None:
        await websocket.close(NOT_SERVED, "speech is not served here; start the service with "
                              "--audio")
        return
    try:
        sample_rate, language = _audio_params(websocket.query_params)
    except ValueError as exc:
        await websocket.close(INVALID, _short(str(exc)))
        return
    if not speech.open_stream():
        await websocket.close(TRY_LATER, _short(
            f"{speech.streams} audio streams are open, the most this service analyses at once "
            "(audio_streams); try again later"))
        return
    try:
        wait = service.auth.limiter.take(caller)  # a stream counts as one request
        if wait > 0:
            await asyncio.sleep(wait)
        closing = await _run_audio(websocket, service, speech, sample_rate, language)
    finally:
        speech.close_stream()  # before the close frame, so the client may open another at once
    if closing is not None:
        await websocket.close(closing.code, _short(closing.reason))


def _audio_params(query: Mapping[str, str]) -> tuple[int, str | None]:
    """sample_rate and language from the query string; ValueError says what is wrong."""
    unknown = sorted(set(query) - {"sample_rate", "language"})
    if unknown:
        raise ValueError(f"unknown query parameter {unknown[0]!r}; known: sample_rate, language")
    rate = query.get("sample_rate", "16000")
    if not rate.isdigit() or not RATES[0] <= int(rate) <= RATES[1]:
        raise ValueError(f"sample_rate must be a whole number of Hz from {RATES[0]} to "
                         f"{RATES[1]}, got {rate[:20]!r}")
    language = query.get("language")
    if language not in (None, "en", "zh"):
        raise ValueError(f"language must be 'en' or 'zh' (or left out), got {language[:20]!r}")
    return int(rate), language


async def _run_audio(
    websocket: WebSocket, service: Service, speech: SpeechService, sample_rate: int,
    language: str | None,
) -> _Close | None:
    """Feed frames to the analysis thread and send its segments back as they come.

    Returns how to close the socket (None: the client has left); the analysis thread has
    ended by then.
    """
    try:
        await websocket.send_text(json.dumps({"type": "start", "model": speech.model_id,
                                              "sample_rate": sample_rate, "language": language}))
    except WebSocketDisconnect:
        return None
    loop = asyncio.get_running_loop()
    max_lag = service.settings.audio_max_lag_seconds
    feed = AudioFeed(sample_rate, max_lag)
    out: asyncio.Queue[EmotionResult | Skipped | _Close | _Finished] = asyncio.Queue()

    def emit(result: EmotionResult) -> None:  # called in the analysis thread
        loop.call_soon_threadsafe(out.put_nowait, result)

    worker = asyncio.ensure_future(
        run_in_threadpool(speech.run_stream, feed, emit, sample_rate, language))
    worker.add_done_callback(lambda _: out.put_nowait(_Finished()))
    reader = asyncio.create_task(_read_audio(websocket, feed, out,
                                             service.settings.max_body_bytes))
    segments: list[EmotionResult] = []
    try:
        while True:
            item = await out.get()
            if isinstance(item, EmotionResult):
                segments.append(item)
                await websocket.send_text(json.dumps(
                    {"type": "segment", "seq": len(segments), "result": item.to_dict()}))
            elif isinstance(item, Skipped):
                await websocket.send_text(json.dumps(item.message(max_lag)))
            elif isinstance(item, _Close):
                return None if item is _END else item
            else:
                return await _finish(websocket, worker, speech, segments, feed)
    except WebSocketDisconnect:
        return None
    finally:
        reader.cancel()
        feed.abort()
        await asyncio.wait([worker])  # the stream's slot is free once its thread has ended
        if not worker.cancelled():
            worker.exception()  # seen: StreamAborted (the client left) needs no log


async def _read_audio(
    websocket: WebSocket, feed: AudioFeed, out: asyncio.Queue, max_bytes: int
) -> None:
    """Frames into the feed until the end frame; the client leaving, a bad frame and skipped
    audio go to out. It never waits for the analysis, so the socket is always read."""
    seq = 0
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            out.put_nowait(_END)
            return
        seq += 1
        data = message.get("bytes")
        if data is not None:
            if len(data) > max_bytes:
                out.put_nowait(_Close(TOO_BIG, f"frame {seq}: over {max_bytes} bytes"))
                return
            skipped = feed.put(data)  # never waits: too far behind, waiting audio is skipped
            if skipped is not None:
                log.warning("audio stream %.1f s behind: skipped %.1f s of audio",
                            skipped.behind, skipped.t_end - skipped.t_start)
                out.put_nowait(skipped)
            continue
        if _is_end(message.get("text") or ""):
            feed.end()
            return
        out.put_nowait(_Close(INVALID, f'frame {seq}: send binary 16-bit PCM frames, then the '
                                       'text {"end": true}'))
        return


def _is_end(text: str) -> bool:
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, dict) and value.get("end") is True and len(value) == 1


async def _finish(
    websocket: WebSocket, worker: asyncio.Future, speech: SpeechService,
    segments: list[EmotionResult], feed: AudioFeed,
) -> _Close | None:
    """After the analysis thread ended: send the summary, or say why it failed."""
    from emolens.audio.pipeline import AudioTimeline

    error = worker.exception()
    if isinstance(error, StreamAborted):
        return None
    if isinstance(error, EmolensError):
        return _Close(INVALID, str(error))
    if error is not None:
        log.error("audio stream failed", exc_info=error)
        return _Close(INTERNAL, "internal error; the server log has the details")
    summary = AudioTimeline("stream", feed.bytes / 2 / feed.rate, segments).summary()
    await websocket.send_text(json.dumps(
        {"type": "summary", "model": speech.model_id, "summary": summary,
         "skipped_seconds": round(feed.skipped / 2 / feed.rate, 3)}))
    return _END_OK
