"""Facial expression on small faces: FER2013 PrivateTest crops shrunk to video-like widths.

    python benchmarks/face_small.py [--model default|DIR] [--baseline-rev GIT_REV | --baseline DIR]
        [--widths 48 40 32 24 16 12] [--json benchmarks/results/face_small.json]

FER2013's crops are all 48x48, but a face in a 640x360 frame is often 15-40 pixels wide. Each
PrivateTest crop is shrunk to ``width`` x ``width`` (PIL, antialiased bilinear), and that
small crop goes to ``FaceExpressionRecognizer.predict_proba`` as a face found in a frame would:
the recognizer enlarges it to 48x48 itself. Prints accuracy and macro-F1 per width for our
model and, in the same run, for a baseline: the shipped model as committed at a git revision
(``--baseline-rev``) or any model directory (``--baseline``).

Then the same faces in frames (``--frame-faces`` per width, 8 to a 640x360 frame): the shipped
detector finds them (dropping faces under each of ``--min-sizes`` px in turn), the pipeline's
``crop`` cuts them out with its margin, and each model reads the crops: the share found and
each model's accuracy on them.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from emolens.vision.faces import MIN_FACE_SIZE

ROOT = Path(__file__).resolve().parents[1]
LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FACE_DIR = "src/emolens/models/face"


def read_private(data: Path) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    files = sorted((data / "test").glob("*/PrivateTest_*.jpg"))
    x = np.stack([np.asarray(Image.open(f).convert("L"), dtype=np.uint8) for f in files])
    return x, np.array([LABELS.index(f.parent.name) for f in files])


def shrink(x: np.ndarray, width: int) -> list[np.ndarray]:
    """Each (48,48) crop as a ``width`` x ``width`` uint8 crop."""
    from PIL import Image

    if width == x.shape[1]:
        return list(x)
    return [np.asarray(Image.fromarray(img).resize((width, width), Image.Resampling.BILINEAR))
            for img in x]


def model_at_rev(rev: str, into: Path) -> Path:
    """The face model directory as committed at ``rev``, written under ``into``."""
    names = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "--name-only", rev, FACE_DIR + "/"],
                           check=True, capture_output=True, text=True).stdout.split()
    if not names:
        raise SystemExit(f"no {FACE_DIR} at {rev}")
    for name in names:
        blob = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{name}"], check=True,
                              capture_output=True).stdout
        (into / Path(name).name).write_bytes(blob)
    return into


def load(model_dir: str):  # noqa: ANN201 - a FaceExpressionRecognizer
    from emolens.vision.expression import load_expression_model

    model = load_expression_model(model_dir, cpu_threads=2)
    assert tuple(model.labels) == LABELS, model.labels
    return model


def scores(model, x: np.ndarray, y: np.ndarray, widths: list[int]) -> dict:  # noqa: ANN001
    found = {"model": f"{model.name} {model.version}", "widths": {}}
    for width in widths:
        pred = model.predict_proba(shrink(x, width)).argmax(1)
        found["widths"][str(width)] = {
            "accuracy": round(float((pred == y).mean()), 4),
            "macro_f1": round(float(f1_score(y, pred, average="macro")), 4)}
    return found


def frame_faces(x: np.ndarray, y: np.ndarray, width: int, n: int, min_size: int,
                seed: int = 0) -> tuple[list[np.ndarray], np.ndarray, int]:
    """``n`` PrivateTest faces, ``width`` px wide, 8 to a 640x360 frame over a gradient; the
    shipped detector (CenterFace, dropping faces under ``min_size`` px) finds them and the
    pipeline's own ``crop`` cuts them out. Returns the crops of the faces found (IoU >= 0.4
    with the pasted face), their labels, and how many faces were shown."""
    from emolens.vision.faces import FaceDetector, crop

    detector = FaceDetector(min_size=min_size)
    rng = np.random.default_rng(seed)
    pick = np.linspace(0, len(x) - 1, n).round().astype(int)
    crops, labels = [], []
    for start in range(0, n, 8):
        a, b = rng.uniform(40, 220, 3), rng.uniform(40, 220, 3)
        ramp = np.linspace(0, 1, 640)[None, :, None]
        frame = np.broadcast_to(a * (1 - ramp) + b * ramp, (360, 640, 3)).astype(np.uint8).copy()
        truth = []
        for k, i in enumerate(pick[start:start + 8]):
            x0 = (k % 4) * 160 + int(rng.integers(8, 160 - width - 7))
            y0 = (k // 4) * 180 + int(rng.integers(8, 180 - width - 7))
            face = shrink(x[i: i + 1], width)[0]
            frame[y0:y0 + width, x0:x0 + width] = face[..., None]
            truth.append(((x0, y0, x0 + width, y0 + width), y[i]))
        found = detector.detect(frame)
        for box, label in truth:
            overlaps = [(_iou(box, f.box), f) for f in found]
            best = max(overlaps, key=lambda o: o[0], default=(0.0, None))
            if best[0] >= 0.4:
                crops.append(crop(frame, best[1], margin=0.1))
                labels.append(label)
    return crops, np.array(labels), n


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/fer2013")
    parser.add_argument("--model", default="default", help="our model: name or directory")
    parser.add_argument("--baseline", default=None, help="a model directory to compare with")
    parser.add_argument("--baseline-rev", default=None,
                        help="compare with the shipped face model as committed at this git rev")
    parser.add_argument("--widths", type=int, nargs="+", default=[48, 40, 32, 24, 16, 12])
    parser.add_argument("--frame-faces", type=int, default=1000,
                        help="faces per width placed in frames for the detector (0: skip)")
    parser.add_argument("--frame-widths", type=int, nargs="+", default=[48, 32, 24])
    parser.add_argument("--min-sizes", type=int, nargs="+", default=[MIN_FACE_SIZE, 20],
                        help="detector minimum face sizes to compare in frames (default: "
                             "today's and the 20 px used before face model 0.4.0)")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/face_small.json")
    args = parser.parse_args()
    x, y = read_private(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        baseline = args.baseline
        if args.baseline_rev:
            baseline = str(model_at_rev(args.baseline_rev, Path(tmp)))
        models = [load(args.model)] + ([load(baseline)] if baseline else [])
        rows = [scores(model, x, y, args.widths) for model in models]
        framed: dict[str, dict] = {}
        for min_size in args.min_sizes if args.frame_faces else []:
            for width in args.frame_widths:
                crops, labels, shown = frame_faces(x, y, width, args.frame_faces, min_size)
                framed[f"{width} px, min {min_size}"] = {
                    "shown": shown, "found": len(labels), "accuracy": [
                        round(float((m.predict_proba(crops).argmax(1) == labels).mean()), 4)
                        if crops else None for m in models]}
    print(f"FER2013 PrivateTest ({len(y):,} crops) shrunk to each width, accuracy / macro-F1")
    print(f"{'model':24s}" + "".join(f"{f'{w} px':>12s} " for w in args.widths))
    for row in rows:
        print(f"{row['model']:24s}" + "".join(
            f"{v['accuracy']:.4f}/{v['macro_f1']:.3f} " for v in row["widths"].values()))
    if len(rows) == 2:
        ours, base = (row["widths"] for row in rows)
        print(f"{'difference (accuracy)':24s}" + "".join(
            f"{ours[str(w)]['accuracy'] - base[str(w)]['accuracy']:+12.4f} " for w in args.widths))
    if framed:
        print(f"\nIn 640x360 frames ({args.frame_faces:,} faces per width, 8 per frame): "
              "CenterFace finds them, the pipeline crops them; accuracy of the faces found")
        print(f"{'face width, detector minimum':30s}{'found':>8s}"
              + "".join(f"{r['model']:>24s}" for r in rows))
        for case, row in framed.items():
            print(f"{case:30s}{row['found'] / row['shown']:8.3f}" + "".join(
                f"{a:24.4f}" if a is not None else f"{'-':>24s}" for a in row["accuracy"]))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"python": platform.python_version(), "models": rows,
                                     "in_frames": framed, "baseline_rev": args.baseline_rev},
                                    indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
