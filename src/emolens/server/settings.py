"""Settings of the service, declared once on top of the library's (same load order and file)."""

from __future__ import annotations

import ipaddress

from pydantic import Field

from emolens.config import Settings
from emolens.errors import InvalidInputError


class ServerSettings(Settings):
    """Everything ``emolens serve`` reads: the library settings plus the service's own."""

    host: str = Field("127.0.0.1", description="Address to bind; loopback unless you need more.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port (0: any free port).")
    extra_models: list[str] = Field(
        default_factory=list,
        description="Registered recognizer names served beside `model` (chosen per request).",
    )
    auth: bool = Field(
        True, description="Require an API key on /v1; may be off only on a loopback address."
    )
    max_body_bytes: int = Field(
        1_000_000, ge=1, description="Largest request body or WebSocket message, in bytes (413)."
    )
    max_request_chars: int = Field(
        10_000, ge=1, description="Longest text the service accepts; longer ones get 422."
    )
    max_batch: int = Field(256, ge=1, description="Most texts in one request or message.")
    rate_limit: float = Field(
        20.0, ge=0.0, description="Requests per second per key (token bucket); 0 turns it off."
    )
    rate_burst: int = Field(40, ge=1, description="Requests a key may make at once (bucket size).")
    key_cache_seconds: float = Field(
        5.0, ge=0.0, description="A key found valid is not looked up again for this long, so a "
        "revoked key may work that much longer."
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed to call the API from a browser."
    )
    ws_queue: int = Field(
        16, ge=1, description="Messages a /v1/stream/text socket may have waiting; beyond, it "
        "stops reading (back-pressure)."
    )
    audio: bool = Field(
        False, description="Serve /v1/analyze/audio and /v1/stream/audio; loads Whisper and the "
        "voice model at start (needs the audio extra)."
    )
    max_upload_bytes: int = Field(
        200_000_000, ge=1, description="Largest recording or video POSTed to /v1/analyze/audio "
        "or /v1/analyze/video, in bytes (413); every other request keeps max_body_bytes."
    )
    vision: bool = Field(
        False, description="Serve /v1/analyze/image, /v1/analyze/video and /v1/stream/video; "
        "loads the face, expression and OCR models at start (needs the video extra)."
    )
    max_image_bytes: int = Field(
        20_000_000, ge=1, description="Largest image POSTed to /v1/analyze/image, in bytes (413)."
    )
    video_fps: float = Field(
        5.0, gt=0, le=30, description="Frames per second sampled from an uploaded video."
    )
    video_streams: int = Field(
        2, ge=1, description="Live video streams open at once; one more is closed with 1013."
    )
    job_workers: int = Field(
        1, ge=1, description="Jobs (videos, long recordings) analysed at once; others queue."
    )
    max_jobs: int = Field(
        16, ge=1, description="Jobs queued or running at once; one more is refused with 503."
    )
    job_keep_seconds: float = Field(
        3600.0, ge=0, description="How long a finished job's status and result stay readable."
    )
    job_grace_seconds: float = Field(
        60.0, ge=0, description="On shutdown, how long running jobs may take to finish before "
        "they are cancelled (queued ones are cancelled at once)."
    )
    audio_streams: int = Field(
        2, ge=1, description="Live audio streams open at once; one more is closed with 1013 "
        "(try again later). Their analysis takes turns on the CPU with uploads."
    )
    audio_max_lag_seconds: float = Field(
        30.0, gt=0, le=600, description="How far a live audio stream's analysis may fall behind "
        "the audio received (seconds of audio waiting); beyond, the waiting audio is skipped, "
        "all but the newest frame, and the client is told with a {\"type\": \"skipped\"} "
        "message."
    )
    max_page: int = Field(1000, ge=1, description="Most results one page of /v1/results holds.")
    max_export_rows: int = Field(100_000, ge=1, description="Most rows one CSV export holds.")

    def models(self) -> list[str]:
        """Every model served, the default first."""
        return list(dict.fromkeys([self.model, *self.extra_models]))

    def check(self) -> ServerSettings:
        """Refuse combinations that would expose the service (auth off beyond loopback)."""
        if not self.auth and not is_loopback(self.host):
            raise InvalidInputError(
                f"Authentication can be turned off only on a loopback address, but the host is "
                f"{self.host!r}; bind to 127.0.0.1, or create a key with `emolens keys create`."
            )
        return self


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
