"""Decode any audio (or a video's audio track) to 16 kHz mono float32, in bounded blocks.

PyAV (FFmpeg) reads every common container and codec: wav, flac, mp3, m4a/aac, ogg/opus,
webm, mp4/mkv/mov audio tracks. Blocks are yielded as they are decoded, so a two-hour
recording never has to be in memory at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emolens.errors import InvalidInputError, MissingExtraError
from emolens.io.media import open_media

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, read from its headers (duration may be None for some streams)."""

    path: str
    codec: str
    sample_rate: int
    channels: int
    duration: float | None


def _av():
    try:
        import av
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MissingExtraError("Decoding audio", "audio") from exc
    return av


def check_recording(path: Path) -> None:
    """InvalidInputError naming ``path`` when it is missing or a folder, as images and videos
    say it: the OSError that opening it would raise names neither what was wrong nor the file
    in a form the batch report and the CLI show."""
    if path.is_dir():
        raise InvalidInputError(f"{path} is a folder, not a recording")
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file")


def _open(path: Path):
    check_recording(path)
    return open_media(path, "audio")


def probe(path: str | Path) -> AudioInfo:
    """Codec, native rate, channels and duration of the first audio track."""
    path = Path(path)
    with _open(path) as container:
        stream = container.streams.audio[0]
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000  # av.time_base is microseconds
        return AudioInfo(
            str(path), stream.codec_context.name, stream.codec_context.sample_rate or 0,
            stream.codec_context.channels or 0, duration,
        )


def iter_audio_blocks(
    path: str | Path, block_seconds: float = 30.0, sample_rate: int = SAMPLE_RATE
) -> Iterator[np.ndarray]:
    """Mono float32 blocks of ``block_seconds`` at ``sample_rate`` (the last one shorter).

    A file that breaks partway (truncated download, corrupt packets) yields what decoded
    and logs a warning naming the file and the time; one that yields nothing raises
    InvalidInputError naming the file.
    """
    av = _av()
    path = Path(path)
    block = max(1, int(block_seconds * sample_rate))
    pending: list[np.ndarray] = []
    pending_len = 0
    produced = 0
    with _open(path) as container:
        stream = container.streams.audio[0]
        declared = (float(stream.duration * stream.time_base)
                    if stream.duration is not None and stream.time_base is not None else None)
        stream.thread_type = "AUTO"
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    samples = out.to_ndarray().reshape(-1)
                    pending.append(samples)
                    pending_len += samples.size
                while pending_len >= block:
                    joined = np.concatenate(pending)
                    yield joined[:block]
                    produced += block
                    pending, pending_len = [joined[block:]], joined.size - block
            for out in resampler.resample(None):  # flush the resampler's delay line
                pending.append(out.to_ndarray().reshape(-1))
                pending_len += pending[-1].size
        except (av.error.FFmpegError, ValueError) as exc:
            if produced + pending_len == 0:
                raise InvalidInputError(f"{path}: the audio cannot be decoded ({exc})") from exc
            log.warning(
                "%s: decoding stopped at %.1f s (%s); analysing what was read",
                path, (produced + pending_len) / sample_rate, exc,
            )
    if pending_len:
        yield np.concatenate(pending)
        produced += pending_len
    if produced == 0:
        raise InvalidInputError(f"{path}: the audio track holds no samples")
    seconds = produced / sample_rate
    why = _truncated(path) or (
        f"its header declares {declared:.1f} s" if declared is not None
        and declared - seconds > max(0.5, 0.02 * declared) else None)
    if why:
        log.warning("%s looks truncated (%s): analysing the %.1f s that decoded", path, why,
                    seconds)


def _truncated(path: Path) -> str | None:
    """Why a WAV or Ogg file looks cut short, read from its own framing (FFmpeg estimates
    their duration from what is there, so a cut file looks whole to it): a WAV whose data
    chunk declares more bytes than follow it, an Ogg file whose last page is incomplete or
    does not end the stream. None otherwise, or for other formats."""
    with path.open("rb") as handle:
        head = handle.read(4096)
        size = handle.seek(0, 2)
        handle.seek(max(0, size - 65536))
        tail = handle.read()
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        at, rate, align = 12, 0, 0
        while at + 8 <= len(head):
            chunk, length = head[at:at + 4], int.from_bytes(head[at + 4:at + 8], "little")
            if chunk == b"fmt ":
                rate = int.from_bytes(head[at + 12:at + 16], "little")
                align = int.from_bytes(head[at + 20:at + 22], "little")
            elif chunk == b"data":
                there, tenth = size - (at + 8), rate * align // 10
                # 0 and 0xFFFFFFFF: written to a pipe, the size never filled in
                if 0 < length < 0xFFFFFFF0 and tenth and length - there > tenth:
                    return (f"its data chunk declares {length / (rate * align):.1f} s, the file "
                            f"holds {there / (rate * align):.1f} s")
                return None
            at += 8 + length + length % 2
    elif head[:4] == b"OggS":
        last = tail.rfind(b"OggS")
        if last < 0 or last + 27 > len(tail):
            return "its last Ogg page is cut"
        segments = tail[last + 27:last + 27 + tail[last + 26]]
        if last + 27 + len(segments) + sum(segments) > len(tail) or len(segments) < tail[last + 26]:
            return "its last Ogg page is cut"
        if not tail[last + 5] & 4:
            return "no Ogg end-of-stream page"
    return None


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The whole file as one mono float32 array (for short clips; long files: iterate)."""
    return np.concatenate(list(iter_audio_blocks(path, 60.0, sample_rate)))
