"""Images and sampled video frames: orientation, sizes, timestamps, bad files."""

from __future__ import annotations

import shutil
import subprocess
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


# -- phone videos: stored sideways, shown turned -------------------------------------------

FFMPEG = shutil.which("ffmpeg")


def marked_video(path: Path) -> Path:
    """1 s of 96 x 64 dark frames with a white 16 x 16 marker in the stored top-left corner."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.options = {"qscale": "2"}  # near lossless: pixels compare closely
        image = np.full((64, 96, 3), 40, np.uint8)
        image[:16, :16] = 255
        for k in range(10):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = k, Fraction(1, 10)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def tagged_copy(path: Path, rotate: int) -> Path:
    """A copy of ``path`` whose stream carries a display rotation, as a phone's portrait
    video does (ffmpeg's ``rotate`` tag, clockwise degrees; written as a display matrix)."""
    if FFMPEG is None:
        pytest.skip("ffmpeg is not installed: it writes the rotated test video")
    out = path.with_name(f"{path.stem}-rotate{rotate}.mp4")
    subprocess.run([FFMPEG, "-v", "error", "-y", "-i", str(path), "-c", "copy",
                    "-metadata:s:v:0", f"rotate={rotate}", str(out)], check=True)
    return out


def shown_by_ffmpeg(path: Path, tmp_path: Path) -> np.ndarray:
    """The first frame as ffmpeg shows it (it applies the display rotation by default)."""
    png = tmp_path / f"{path.stem}.png"
    subprocess.run([FFMPEG or "ffmpeg", "-v", "error", "-y", "-i", str(path), "-frames:v", "1",
                    str(png)], check=True)
    return np.asarray(Image.open(png).convert("RGB"))


def test_rotated_phone_video_frames_come_out_upright(tmp_path: Path) -> None:
    # rotate=270 is what ffprobe reports as "displaymatrix: rotation of -90.00 degrees":
    # the stored frame is turned a quarter clockwise for display.
    path = tagged_copy(marked_video(tmp_path / "phone.mp4"), 270)
    shown = shown_by_ffmpeg(path, tmp_path)
    if shown.shape[:2] != (96, 64):
        pytest.skip("this ffmpeg wrote no display rotation from the rotate tag")
    frame = next(iter_video_frames(path, fps=1.0)).image
    assert frame.shape == (96, 64, 3)  # portrait, as shown: sides swapped
    assert frame[:16, -16:].mean() > 200  # the marker turned with the picture: top right
    assert frame[:16, :16].mean() < 80 and frame[-16:, -16:].mean() < 80
    assert np.abs(frame.astype(int) - shown).mean() < 3  # what a player shows


@pytest.mark.parametrize("rotate", [90, 180])
def test_every_quarter_turn_matches_what_ffmpeg_shows(tmp_path: Path, rotate: int) -> None:
    path = tagged_copy(marked_video(tmp_path / "phone.mp4"), rotate)
    shown = shown_by_ffmpeg(path, tmp_path)
    if shown[:16, :16].mean() > 200:  # the marker where it was stored: shown unturned
        pytest.skip("this ffmpeg wrote no display rotation from the rotate tag")
    frame = next(iter_video_frames(path, fps=1.0)).image
    assert frame.shape == shown.shape
    assert np.abs(frame.astype(int) - shown).mean() < 3
    assert frame[:16, :16].mean() < 80  # the marker left the stored corner


def test_frames_at_given_times_are_upright_too(tmp_path: Path) -> None:
    path = tagged_copy(marked_video(tmp_path / "phone.mp4"), 270)
    sampled = next(iter_video_frames(path, fps=1.0, max_side=48))
    found = next(video_frames_at(path, [sampled.t], max_side=48))
    assert found.image.shape == sampled.image.shape == (48, 32, 3)
    assert np.array_equal(found.image, sampled.image)  # boxes found in analysis still fit


def test_unrotated_video_is_left_as_stored(tmp_path: Path) -> None:
    frame = next(iter_video_frames(marked_video(tmp_path / "plain.mp4"), fps=1.0)).image
    assert frame.shape == (64, 96, 3) and frame[:16, :16].mean() > 200
