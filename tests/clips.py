"""Writing small test videos with PyAV: frames at a fixed rate, and optionally a mono track."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

SAMPLE_RATE = 16000


def write_clip(path: Path, frames: Iterable[np.ndarray], rate: int,
               sound: np.ndarray | None = None, options: dict[str, str] | None = None,
               codec: str = "mpeg4") -> Path:
    """An mp4 (mpeg4 video; AAC audio at 16 kHz when ``sound`` is given) of the RGB
    ``frames`` shown ``rate`` per second; ``options`` go to the muxer (e.g. faststart)."""
    frames = iter(frames)
    first = next(frames)
    with av.open(str(path), "w", options=options or {}) as out:
        video = out.add_stream(codec, rate=rate)
        video.height, video.width = first.shape[:2]
        video.pix_fmt = "yuv420p"
        video.time_base = Fraction(1, rate)
        audio = None if sound is None else out.add_stream("aac", rate=SAMPLE_RATE,
                                                           layout="mono")
        for k, image in enumerate([first, *frames]):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = k, Fraction(1, rate)
            _mux(out, video.encode(frame))
        if audio is not None and sound is not None:
            for start in range(0, sound.size, 1024):
                chunk = np.ascontiguousarray(sound[start : start + 1024][None], np.float32)
                samples = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
                samples.sample_rate, samples.pts = SAMPLE_RATE, start
                _mux(out, audio.encode(samples))
        for stream in (video, audio):
            if stream is not None:
                _mux(out, stream.encode(None))
    return path


def _mux(out: Any, packets: Iterable[Any]) -> None:
    for packet in packets:
        out.mux(packet)
