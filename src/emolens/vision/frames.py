"""Images and video frames as upright RGB arrays (EXIF orientation, a video stream's display
rotation), video sampled at a fixed rate.

Video is decoded as a stream with PyAV and sampled at ``fps`` frames per second of
*presentation time* (timestamps from the container, so variable-frame-rate recordings and
dropped frames keep their real times); only the current frame is held in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import InvalidInputError, MissingExtraError
from emolens.io.media import open_media

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(".jpg .jpeg .png .webp .bmp .gif .tif .tiff".split())
VIDEO_EXTENSIONS = frozenset(".mp4 .m4v .mkv .webm .avi .mov .mpg .mpeg .wmv .flv".split())
MAX_IMAGE_PIXELS = 100_000_000  # refuse decompression bombs; larger real photos are rare
VIDEO_MAX_SIDE = 1280  # frames are analysed at this size at most; boxes refer to it


@dataclass(frozen=True)
class Frame:
    t: float  # seconds from the start of the video (0 for an image)
    image: np.ndarray  # (H, W, 3) uint8 RGB


def _fit(image: np.ndarray, max_side: int | None) -> np.ndarray:
    """Downscale so the longer side is at most ``max_side`` (area averaging keeps detail)."""
    if max_side is None or max(image.shape[:2]) <= max_side:
        return image
    from PIL import Image

    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))


def _rotation(frame: Any, stream: Any) -> float:
    """Degrees counterclockwise the frame turns for display: the display matrix PyAV >= 14
    reads per frame, else the stream's older ``rotate`` tag (degrees clockwise)."""
    rotation = getattr(frame, "rotation", None)
    if rotation is not None:
        return float(rotation)
    try:
        return -float(stream.metadata.get("rotate", 0))
    except ValueError:  # a tag that is not a number: leave the frame as stored
        return 0.0


def upright_rgb(frame: Any, stream: Any) -> np.ndarray:
    """A decoded video frame as RGB uint8, turned the way a player shows it.

    Phones store portrait video sideways and tag the stream with its rotation (ffprobe:
    "displaymatrix: rotation of -90.00 degrees"); read as stored, faces lie on their side
    and the face detector misses them. Mirrored display matrices are rare and not undone.
    """
    image = frame.to_ndarray(format="rgb24")
    turns = round(_rotation(frame, stream) / 90) % 4
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def _on_white(image: Any) -> Any:
    """RGB as a viewer shows the image: transparent parts (RGBA, LA, a palette or grey with a
    transparent colour) over white. Dropping the alpha instead shows what lies under it: a
    face hidden at alpha 0 is found, black text drawn only in the alpha is lost."""
    from PIL import Image

    if image.mode not in ("RGBA", "LA", "PA", "RGBa", "La") and "transparency" not in image.info:
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")


def load_image(path: str | Path, max_side: int | None = 1920) -> np.ndarray:
    """An image file as upright RGB uint8 (EXIF orientation applied), downscaled if huge."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise InvalidInputError(f"{path}: the file is empty (0 bytes)")
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(path) as opened:
            opened.draft("RGB", (max_side, max_side) if max_side else None)  # fast JPEG shrink
            upright = ImageOps.exif_transpose(opened)
            rgb = np.asarray(_on_white(upright))
    except Image.DecompressionBombError as exc:
        raise InvalidInputError(
            f"{path}: the image is over {MAX_IMAGE_PIXELS:,} pixels; downscale it first"
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidInputError(f"{path}: not a readable image ({exc})") from exc
    return _fit(rgb, max_side)


def iter_video_frames(
    path: str | Path, fps: float = 5.0, max_side: int | None = VIDEO_MAX_SIDE
) -> Iterator[Frame]:
    """Frames sampled every ``1/fps`` seconds of presentation time, as RGB uint8.

    A video that breaks partway yields what decoded and logs a warning naming the file and
    the time; one with no video stream, or that decodes to nothing, raises InvalidInputError.
    """
    try:
        import av
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MissingExtraError("Decoding video", "video") from exc
    if fps <= 0:
        raise InvalidInputError(f"fps must be positive, got {fps}")
    path = Path(path)
    container = open_media(path, "video")
    produced = 0
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        step = 1.0 / fps
        next_t = 0.0
        last_t = -1.0
        try:
            for frame in container.decode(stream):
                t = frame.time
                if t is None:  # no timestamp: fall back to the frame index and rate
                    rate = float(stream.average_rate or 25)
                    t = frame.index / rate if frame.index is not None else last_t + 1 / rate
                t = float(t)
                if t < next_t - 1e-6 or t <= last_t:
                    continue
                last_t = t
                next_t = (np.floor(t / step + 1e-9) + 1) * step
                yield Frame(t, _fit(upright_rgb(frame, stream), max_side))
                produced += 1
        except (av.error.FFmpegError, ValueError) as exc:
            if produced == 0:
                raise InvalidInputError(f"{path}: the video cannot be decoded ({exc})") from exc
            log.warning("%s: decoding stopped at %.1f s (%s); analysing what was read",
                        path, last_t, exc)
    if produced == 0:
        raise InvalidInputError(f"{path}: the video stream holds no frames")


def video_frames_at(
    path: str | Path, times: Sequence[float], max_side: int | None = VIDEO_MAX_SIDE
) -> Iterator[Frame]:
    """The frame on screen at each of ``times`` (seconds), found by seeking, scaled as
    ``iter_video_frames`` scales it (so boxes found in the analysis fit); ``Frame.t`` is
    the frame's own time. InvalidInputError names the file and time when one won't decode."""
    import av

    path = Path(path)
    with open_media(path, "video") as container:
        stream = container.streams.video[0]
        for t in times:
            try:
                found = _frame_at(container, stream, float(t))
            except (av.error.FFmpegError, ValueError) as exc:
                raise InvalidInputError(
                    f"{path}: the frame at {t:.2f} s cannot be decoded ({exc})") from exc
            if found is None:
                raise InvalidInputError(f"{path}: no frame at {t:.2f} s")
            yield Frame(float(found.time), _fit(upright_rgb(found, stream), max_side))


def _frame_at(container: Any, stream: Any, t: float, slack: float = 1e-3) -> Any:
    """The last frame starting at or before ``t`` (the first after it if none does):
    seek to the key frame before ``t``, then decode forward."""
    if stream.time_base:
        container.seek(max(0, int(t / stream.time_base)), stream=stream, backward=True)
    else:  # no stream time base: seek in the container's microseconds
        container.seek(max(0, int(t * 1_000_000)), backward=True)
    best = None
    for frame in container.decode(stream):
        if frame.time is None:
            continue
        if best is not None and frame.time > t + slack:
            break
        best = frame
        if frame.time >= t - slack:
            break
    return best


def video_duration(path: str | Path) -> float | None:
    """Duration of the first video stream (or the container), from the headers."""
    import av

    with av.open(str(path), metadata_errors="ignore") as container:
        if container.streams.video:
            stream = container.streams.video[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
        return None if container.duration is None else container.duration / 1_000_000


def media_duration(path: str | Path) -> float | None:
    """The longest of the file's video and audio streams, from the headers (the container's
    duration where no stream declares one); None when nothing says."""
    import av

    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError:
        return None
    with container:
        found = [float(s.duration * s.time_base) for s in (*container.streams.video,
                                                             *container.streams.audio)
                 if s.duration is not None and s.time_base is not None]
        if not found and container.duration is not None:
            found = [container.duration / 1_000_000]
        return max(found) if found else None
