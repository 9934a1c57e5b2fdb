"""Face detection and tracking on real faces: CenterFace (emolens) beside OpenCV Haar cascades.

    python benchmarks/face_detection.py [--data ../shared/data/fer2013] [--frames 150]
        [--crops 700] [--threads 2] [--json benchmarks/results/faces.json]

Real faces, composed scenes: FER2013 test crops (48x48 gray, tightly framed faces) upscaled to
72-160 px, some rotated up to 20 degrees, 1-6 per 640x360 frame on a textured, noisy colour
background, so every face's box is known (the crop's square). Reported for each detector:
- multi-face frames: recall and precision at IoU 0.5 (and recall at IoU 0.3, since a
  detector's box need not frame a face as tightly as FER2013's crop does), false positives
  per face-free frame of the same backgrounds, and frames per second at 640x360;
- single crops: recall on FER2013 crops resized to 96 px and padded to 160x160, per class.
Then tracking: tiled faces moving across a 90-frame sequence (one fast, one hidden for 3
frames, one entering late), detected by CenterFace and tracked by FaceTracker with and
without its appearance cue; ID switches and fragmented trajectories against the truth.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from emolens.vision.faces import Face, FaceDetector, iou_matrix
from emolens.vision.tracking import FaceTracker

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
WIDTH, HEIGHT = 640, 360
Detector = Callable[[np.ndarray], list[Face]]


def load_crops(data: Path, n: int, rng: np.random.Generator) -> tuple[list[np.ndarray], list[str]]:
    """``n`` FER2013 test crops drawn evenly over the classes (all of a class if it is short)."""
    crops, labels = [], []
    for label in CLASSES:
        files = sorted((data / "test" / label).glob("*.jpg"))
        for f in rng.permutation(files)[: n // len(CLASSES)]:
            crops.append(cv2.imread(str(f), cv2.IMREAD_GRAYSCALE))
            labels.append(label)
    return crops, labels


def background(rng: np.random.Generator) -> np.ndarray:
    """Blurred colour noise, a few coloured rectangles and fine noise: texture, not faces."""
    coarse = rng.integers(0, 256, (HEIGHT // 20, WIDTH // 20, 3), dtype=np.uint8)
    img = cv2.resize(coarse, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    for _ in range(6):
        x, y = int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT))
        w, h = (int(v) for v in rng.integers(20, 200, 2))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.rectangle(img, (x, y), (x + w, y + h), color, -1)
    noise = rng.normal(0, 8, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def face_tile(crop: np.ndarray, side: int, angle: float) -> np.ndarray:
    """The crop upscaled to ``side`` px and rotated in place (edges reflected), as RGB."""
    tile = cv2.resize(crop, (side, side), interpolation=cv2.INTER_CUBIC)
    if angle:
        matrix = cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0)
        tile = cv2.warpAffine(tile, matrix, (side, side), borderMode=cv2.BORDER_REFLECT)
    return np.repeat(tile[:, :, None], 3, axis=2)


def scene(crops: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A frame with 1-6 non-overlapping faces and their (x0, y0, x1, y1) boxes."""
    frame = background(rng)
    boxes: list[tuple[int, int, int, int]] = []
    for _ in range(int(rng.integers(1, 7))):
        for _try in range(30):
            side = int(rng.integers(72, 161))
            x, y = int(rng.integers(0, WIDTH - side)), int(rng.integers(0, HEIGHT - side))
            box = (x, y, x + side, y + side)
            if not boxes or iou_matrix(np.array([box]), np.array(boxes)).max() == 0:
                break
        else:
            continue
        angle = float(rng.uniform(-20, 20)) if rng.random() < 0.4 else 0.0
        crop = crops[int(rng.integers(len(crops)))]
        frame[y:y + side, x:x + side] = face_tile(crop, side, angle)
        boxes.append(box)
    return frame, np.array(boxes, np.float64).reshape(-1, 4)


def match(pred: np.ndarray, truth: np.ndarray, threshold: float) -> int:
    """True positives: one-to-one IoU matches at or above ``threshold``."""
    if len(pred) == 0 or len(truth) == 0:
        return 0
    iou = iou_matrix(pred, truth)
    rows, cols = linear_sum_assignment(-iou)
    return int((iou[rows, cols] >= threshold).sum())


def boxes_of(faces: list[Face]) -> np.ndarray:
    return np.array([f.box for f in faces], np.float64).reshape(-1, 4)


def haar(name: str, min_size: int) -> Detector:
    """OpenCV's Haar cascade with the usual settings (scale 1.1, 5 neighbours)."""
    cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / name))
    if cascade.empty():
        raise FileNotFoundError(f"OpenCV has no {name} (opencv-python-headless>=5 dropped them)")

    def detect(frame: np.ndarray) -> list[Face]:
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        found = cascade.detectMultiScale(gray, 1.1, 5, minSize=(min_size, min_size))
        return [Face((float(x), float(y), float(x + w), float(y + h)), 1.0) for x, y, w, h in found]

    return detect


def upscaled(detector: FaceDetector, factor: float) -> Detector:
    """The detector run on the frame enlarged ``factor`` times (boxes scaled back)."""
    def detect(frame: np.ndarray) -> list[Face]:
        big = cv2.resize(frame, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)
        return [Face(tuple(v / factor for v in f.box), f.score) for f in detector.detect(big)]

    return detect


def multi_face(detect: Detector, frames: list, empties: list) -> dict:
    found = truth = tp50 = tp30 = 0
    detect(frames[0][0])  # warm-up: the first call allocates
    start = time.perf_counter()
    predictions = [boxes_of(detect(frame)) for frame, _ in frames]
    seconds = time.perf_counter() - start
    for pred, (_, boxes) in zip(predictions, frames, strict=True):
        found, truth = found + len(pred), truth + len(boxes)
        tp50 += match(pred, boxes, 0.5)
        tp30 += match(pred, boxes, 0.3)
    false_alarms = sum(len(detect(frame)) for frame in empties)
    return {"faces": truth, "detections": found, "recall_iou50": tp50 / truth,
            "precision_iou50": tp50 / max(found, 1), "recall_iou30": tp30 / truth,
            "precision_iou30": tp30 / max(found, 1),
            "fp_per_empty_frame": false_alarms / len(empties), "fps_640x360": len(frames) / seconds}


def single_crops(detect: Detector, crops: list[np.ndarray], labels: list[str]) -> dict:
    """Recall on each crop at 96 px, centred on a 160x160 mid-grey canvas."""
    hits: dict[str, list[bool]] = {label: [] for label in CLASSES}
    truth = np.array([[32, 32, 128, 128]], np.float64)
    for crop, label in zip(crops, labels, strict=True):
        canvas = np.full((160, 160, 3), 128, np.uint8)
        canvas[32:128, 32:128] = face_tile(crop, 96, 0.0)
        hits[label].append(match(boxes_of(detect(canvas)), truth, 0.5) == 1)
    every = [h for values in hits.values() for h in values]
    return {"crops": len(every), "recall_iou50": float(np.mean(every)),
            "per_class": {k: round(float(np.mean(v)), 3) for k, v in hits.items() if v}}


def bounce(start: float, step: float, i: int, span: int) -> int:
    """Position after ``i`` steps moving back and forth between 0 and ``span``."""
    pos = (start + step * i) % (2 * span)
    return int(pos if pos <= span else 2 * span - pos)


def tracking_sequence(crops: list[np.ndarray], rng: np.random.Generator) -> list:
    """90 frames: (frame, boxes, identities) with moving faces, a gap and a late entrant."""
    people = [  # crop, side, start (x, y), velocity per frame, first and last frame, hidden
        (crops[0], 110, (20, 30), (4, 1), 0, 89, ()),
        (crops[1 * len(crops) // 4], 100, (500, 220), (-3, -1), 0, 89, (30, 31, 32)),
        # fast and bouncing (a low sampling rate): boxes barely overlap frame to frame
        (crops[2 * len(crops) // 4], 100, (40, 200), (55, 23), 0, 40, ()),
        (crops[3 * len(crops) // 4], 90, (540, 20), (-2, 2), 45, 89, ()),  # enters late
    ]
    base = background(rng)
    sequence = []
    for i in range(90):
        frame = base.copy()
        boxes, ids = [], []
        for pid, (crop, side, (x, y), (vx, vy), first, last, hidden) in enumerate(people):
            if not first <= i <= last or i in hidden:
                continue
            px = bounce(x, vx, i - first, WIDTH - side)
            py = bounce(y, vy, i - first, HEIGHT - side)
            frame[py:py + side, px:px + side] = face_tile(crop, side, 0.0)
            boxes.append((px, py, px + side, py + side))
            ids.append(pid)
        sequence.append((frame, np.array(boxes, np.float64).reshape(-1, 4), ids))
    return sequence


def track_quality(detections: list[list[Face]], sequence: list, tracker: FaceTracker) -> dict:
    """ID switches (a person's track id changes) and fragmented people (more than one id)."""
    assigned: dict[int, list[int]] = {}
    for i, ((frame, boxes, ids), faces) in enumerate(zip(sequence, detections, strict=True)):
        tracked = tracker.update(faces, frame, t=i / 5)
        if not tracked or not ids:
            continue
        iou = iou_matrix(boxes_of([f for _, f in tracked]), boxes)
        for r, c in zip(*linear_sum_assignment(-iou), strict=True):
            if iou[r, c] >= 0.3:
                assigned.setdefault(ids[c], []).append(tracked[r][0])
    switches = sum(int(np.sum(np.diff(v) != 0)) for v in assigned.values())
    fragmented = sum(len(set(v)) > 1 for v in assigned.values())
    return {"people": len({p for _, _, ids in sequence for p in ids}), "id_switches": switches,
            "fragmented_people": fragmented, "tracks": len(tracker.tracks())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/fer2013")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--crops", type=int, default=700)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/faces.json")
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    rng = np.random.default_rng(args.seed)
    crops, labels = load_crops(args.data, args.crops, rng)
    frames = [scene(crops, rng) for _ in range(args.frames)]
    empties = [background(rng) for _ in range(max(10, args.frames // 5))]
    centerface = FaceDetector(cpu_threads=args.threads)
    detectors: dict[str, Detector] = {
        f"centerface (emolens, threshold {centerface.threshold})": centerface.detect,
        **{f"centerface, threshold {t}": FaceDetector(threshold=t, cpu_threads=args.threads).detect
           for t in (0.5, 0.3, 0.2) if t != centerface.threshold},
        "centerface, threshold 0.3, frame x2": upscaled(
            FaceDetector(threshold=0.3, max_side=None, cpu_threads=args.threads), 2.0),
        "haar frontalface_default": haar("haarcascade_frontalface_default.xml", 20),
        "haar frontalface_alt2": haar("haarcascade_frontalface_alt2.xml", 20),
    }
    results = {}
    for name, detect in detectors.items():
        results[name] = {"multi_face": multi_face(detect, frames, empties),
                         "single_crop": single_crops(detect, crops, labels)}
        print(name, json.dumps(results[name]), flush=True)
    sequence = tracking_sequence(crops, rng)
    detections = [centerface.detect(frame) for frame, _, _ in sequence]
    tracking = {
        "iou + appearance (emolens default)": track_quality(detections, sequence, FaceTracker()),
        "iou only": track_quality(detections, sequence, FaceTracker(min_similarity=2.0)),
    }
    print_table(results, tracking)
    report = {"machine": f"{platform.machine()}, {args.threads} threads", "seed": args.seed,
              "frames": args.frames, "frame_size": [WIDTH, HEIGHT], "detectors": results,
              "tracking": tracking}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")


def print_table(results: dict, tracking: dict) -> None:
    print(f"\n{'detector':38} {'R@.5':>6} {'P@.5':>6} {'R@.3':>6} {'P@.3':>6} {'FP/empty':>8} "
          f"{'fps':>6} {'crop R@.5':>9}")
    for name, r in results.items():
        m, s = r["multi_face"], r["single_crop"]
        print(f"{name:38} {m['recall_iou50']:6.3f} {m['precision_iou50']:6.3f} "
              f"{m['recall_iou30']:6.3f} {m['precision_iou30']:6.3f} "
              f"{m['fp_per_empty_frame']:8.2f} {m['fps_640x360']:6.1f} "
              f"{s['recall_iou50']:9.3f}")
    print(f"\n{'tracker':38} {'people':>6} {'tracks':>6} {'ID sw':>6} {'fragm':>6}")
    for name, t in tracking.items():
        print(f"{name:38} {t['people']:6d} {t['tracks']:6d} {t['id_switches']:6d} "
              f"{t['fragmented_people']:6d}")


if __name__ == "__main__":
    main()
