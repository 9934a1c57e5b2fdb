"""Key-frame sheets and annotated images, from a generated video and image and a timeline
written by hand (faces with their boxes and tracks, a caption), fused by the real fusion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from emolens.errors import InvalidInputError
from emolens.fusion import fuse_timeline
from emolens.labels import CANONICAL
from emolens.types import EmotionResult
from emolens.vision.keyframes import TILE_WIDTH, annotate_image, keyframe_sheet, pick_moments
from emolens.vision.pipeline import VideoTimeline
from emolens.viz.charts import EMOTION_COLORS

av = pytest.importorskip("av")
from clips import write_clip  # noqa: E402

SIZE, FPS, SECONDS = (640, 360), 10, 6
SKIN, BACKGROUND = (230, 180, 150), (70, 90, 110)
CAPTION_BOX = (20, 290, 620, 345)


def face_box(person: int, t: float) -> tuple[int, int, int, int]:
    """Where person 1 or 2 is at ``t``: 120-px squares drifting right, 10 px a second."""
    x = 60 + 260 * (person - 1) + round(10 * t)
    return (x, 60, x + 120, 180)


def scene(t: float) -> np.ndarray:
    frame = Image.new("RGB", SIZE, BACKGROUND)
    draw = ImageDraw.Draw(frame)
    for person in (1, 2):
        draw.rectangle(face_box(person, t), fill=SKIN)
    if 1.0 <= t < 4.0:
        draw.rectangle(CAPTION_BOX, fill=(20, 20, 20))
    return np.asarray(frame)


def scores(top: str, p: float) -> dict[str, float]:
    return {x: (p if x == top else (1 - p) / 6) for x in CANONICAL}


def face(person: int, t: float, top: str, p: float) -> EmotionResult:
    return EmotionResult(label=top, scores=scores(top, p), modality="face", t_start=t,
                         t_end=round(t + 0.2, 3), group=f"person {person}",
                         details={"track": person, "box": list(face_box(person, t))})


def timeline_of(path: Path) -> VideoTimeline:
    """As the video pipeline would find it at 5 fps: person 1 joyful, more so in odd
    seconds; person 2 angry; the caption read from 1 to 4 s."""
    timeline = VideoTimeline(str(path), float(SECONDS))
    for k in range(SECONDS * 5):
        t = round(k * 0.2, 3)
        timeline.faces += [face(1, t, "joy", 0.5 + 0.3 * (int(t) % 2)), face(2, t, "anger", 0.5)]
    timeline.captions = [EmotionResult(
        label="surprise", scores=scores("surprise", 0.6), modality="screen_text",
        text="What a surprise", t_start=1.0, t_end=4.0, details={"box": list(CAPTION_BOX)})]
    timeline.fused = fuse_timeline([*timeline.faces, *timeline.captions], window=1.0)
    return timeline


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keyframes") / "two people.mp4"
    return write_clip(path, (scene(k / FPS) for k in range(SECONDS * FPS)), FPS)


def rgb(color: str) -> tuple[int, int, int]:
    return tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))


def test_moments_prefer_faces_and_the_most_confident_window(video: Path) -> None:
    timeline = timeline_of(video)
    # Three 2-s stretches; in each, the odd second's window is the more confident one.
    assert pick_moments(timeline, n=3) == [1.0, 3.0, 5.0]
    assert pick_moments(timeline, n=6) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert len(pick_moments(timeline)) == 12  # one per half second, each with faces
    empty = VideoTimeline(str(video), float(SECONDS))
    assert pick_moments(empty, n=3) == [1.0, 3.0, 5.0]  # nothing found: evenly spaced
    with pytest.raises(InvalidInputError, match="n=0"):
        pick_moments(timeline, n=0)


def test_sheet_boxes_each_face_where_it_was_in_that_frame(video: Path, tmp_path: Path) -> None:
    out = keyframe_sheet(video, timeline_of(video), tmp_path / "sheets" / "clip.png", n=3)
    sheet = np.asarray(Image.open(out).convert("RGB"))
    scale = TILE_WIDTH / SIZE[0]
    tile_h = round(SIZE[1] * scale)
    assert sheet.shape[1] == 3 * (TILE_WIDTH + 8) + 8  # three tiles in one row
    top, header = 16 + 2 * 8, 14 + 2 * 8
    for k, t in enumerate([1.0, 3.0, 5.0]):
        left, y0 = 8 + k * (TILE_WIDTH + 8), top + header
        tile = sheet[y0:y0 + tile_h, left:left + TILE_WIDTH]
        for person, color in ((1, "joy"), (2, "anger")):
            x0, b0, x1, b1 = (round(v * scale) for v in face_box(person, t))
            mid = (b0 + b1) // 2
            assert tuple(tile[mid, x0 + 1]) == rgb(EMOTION_COLORS[color])  # the box's edge
            inside = tile[mid, x0 + 8 : x0 + 20].mean(axis=0)  # the face of that very frame
            assert np.abs(inside - SKIN).max() < 20
        edge = tuple(tile[round(CAPTION_BOX[1] * scale) + 20, round(CAPTION_BOX[0] * scale)])
        assert (edge == (255, 255, 255)) == (t < 4.0)  # the caption is boxed while shown


def test_annotated_image(tmp_path: Path) -> None:
    path = tmp_path / "poster.jpg"
    Image.fromarray(scene(2.0)).save(path, quality=95)
    timeline = VideoTimeline(str(path), 0.0)
    for n, person in enumerate((1, 2), start=1):
        result = face(person, 2.0, "joy" if n == 1 else "sadness", 0.7)
        result.t_start = result.t_end = None
        result.group, result.details = f"face {n}", {"face": n, "box": list(face_box(person, 2.0))}
        timeline.faces.append(result)
    out = annotate_image(path, timeline, tmp_path / "poster.annotated.png")
    image = np.asarray(Image.open(out).convert("RGB"))
    header = image.shape[0] - SIZE[1]
    assert image.shape[1] == SIZE[0] and header > 0
    for person, color in ((1, "joy"), (2, "sadness")):
        x0, y0, _, y1 = face_box(person, 2.0)
        assert tuple(image[header + (y0 + y1) // 2, x0]) == rgb(EMOTION_COLORS[color])


def test_sheet_of_a_file_that_is_not_a_video(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("not a video\n" * 20)
    timeline = VideoTimeline(str(path), 2.0)
    with pytest.raises(InvalidInputError, match="notes.mp4"):
        keyframe_sheet(path, timeline, tmp_path / "notes.png")
