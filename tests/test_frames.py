"""Images and sampled video frames: orientation, sizes, timestamps, bad files."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emolens.errors import InvalidInputError
from emolens.vision.frames import iter_video_frames, load_image, video_frames_at

av = pytest.importorskip("av")


def write_video(path: Path, seconds: float, fps: int = 25, size: tuple[int, int] = (96, 64),
                audio: bool = False, vfr_gap: tuple[float, float] | None = None) -> Path:
    """A video whose frame brightness encodes its time (frame k at t has value 10 * t)."""
    width, height = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, fps)
        for k in range(int(seconds * fps)):
            t = k / fps
            if vfr_gap and vfr_gap[0] <= t < vfr_gap[1]:
                continue  # frames missing from the stream: timestamps jump
            image = np.full((height, width, 3), min(255, int(10 * t)), np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = k
            frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def test_image_exif_orientation_is_applied(tmp_path: Path) -> None:
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = 255  # left half white
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "phone.jpg"
    image.save(path, exif=exif.tobytes(), quality=95)
    upright = load_image(path)
    assert upright.shape == (40, 20, 3)  # displayed portrait
    assert upright[:15].mean() > 200 and upright[25:].mean() < 50  # white half is now on top


def test_huge_images_are_downscaled(tmp_path: Path) -> None:
    path = tmp_path / "poster.png"
    Image.fromarray(np.full((3000, 4000, 3), 128, np.uint8)).save(path)
    assert load_image(path, max_side=1000).shape == (750, 1000, 3)
    assert load_image(path, max_side=None).shape == (3000, 4000, 3)


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty"),
    (b"Dear team, this is a text file with a .jpg name.\n" * 5, "not a readable image"),
])
def test_bad_images_name_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "holiday.jpg"
    path.write_bytes(content)
    with pytest.raises(InvalidInputError, match=message) as caught:
        load_image(path)
    assert str(path) in str(caught.value)


def test_video_is_sampled_by_presentation_time(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.mp4", seconds=4.0, fps=25)
    frames = list(iter_video_frames(path, fps=5.0))
    times = [f.t for f in frames]
    assert len(frames) == 20
    assert np.allclose(np.diff(times), 0.2, atol=1e-6)
    for f in frames:  # the content is the frame shown at that time
        assert abs(f.image.mean() - 10 * f.t) < 3
        assert f.image.shape == (64, 96, 3) and f.image.dtype == np.uint8


def test_missing_frames_keep_real_times(tmp_path: Path) -> None:
    path = write_video(tmp_path / "vfr.mp4", seconds=4.0, fps=25, vfr_gap=(1.0, 2.0))
    times = [f.t for f in iter_video_frames(path, fps=5.0)]
    assert not any(1.0 <= t < 2.0 for t in times)
    assert times[-1] == pytest.approx(3.8, abs=0.05)


def test_frames_are_downscaled_to_max_side(tmp_path: Path) -> None:
    path = write_video(tmp_path / "wide.mp4", seconds=1.0, size=(640, 360))
    frame = next(iter_video_frames(path, fps=1.0, max_side=320))
    assert frame.image.shape == (180, 320, 3)


def test_frames_at_given_times_match_the_sampled_ones(tmp_path: Path) -> None:
    path = write_video(tmp_path / "long.mp4", seconds=10.0, fps=25, size=(160, 96))
    sampled = {f.t: f.image for f in iter_video_frames(path, fps=2.0, max_side=80)}
    times = sorted(sampled)[::4]
    times = times[2:] + times[:2]  # out of order: each is a seek of its own
    for t, frame in zip(times, video_frames_at(path, times, max_side=80), strict=True):
        assert frame.t == pytest.approx(t)
        assert np.array_equal(frame.image, sampled[t])  # same pixels, same scale
    # Between frames, the one on screen then: 3.13 s shows the frame of 3.12 s.
    shown = next(video_frames_at(path, [3.13]))
    assert shown.t == pytest.approx(3.12) and abs(shown.image.mean() - 31.2) < 3


def test_truncated_video_yields_what_decoded(tmp_path: Path) -> None:
    path = write_video(tmp_path / "full.mp4", seconds=6.0, size=(160, 96))
    cut = tmp_path / "cut.mkv"  # an mkv keeps its index up front, so half of it still opens
    with av.open(str(path)) as src, av.open(str(cut), "w") as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is None:
                continue
            packet.stream = stream
            dst.mux(packet)
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    frames = list(iter_video_frames(cut, fps=2.0))
    assert 2 <= len(frames) < 12


def test_bad_videos_name_the_file(tmp_path: Path) -> None:
    text = tmp_path / "lesson.mp4"
    text.write_text("not a video\n" * 50)
    with pytest.raises(InvalidInputError, match="not a readable video") as caught:
        list(iter_video_frames(text))
    assert str(text) in str(caught.value)
    with pytest.raises(InvalidInputError, match="fps"):
        list(iter_video_frames(text, fps=0))
    audio_only = tmp_path / "voice.ogg"
    audio_only.write_bytes((Path(__file__).parent / "fixtures/audio/en_flight.ogg").read_bytes())
    with pytest.raises(InvalidInputError, match="no video stream"):
        list(iter_video_frames(audio_only))
