"""Facial expression on small faces: FER2013 PrivateTest crops shrunk to video-like widths.

    python benchmarks/face_small.py [--model default|DIR] [--baseline-rev GIT_REV | --baseline DIR]
        [--widths 48 40 32 24 16 12] [--json benchmarks/results/face_small.json]

FER2013's crops are all 48x48, but a face in a 640x360 frame is often 15-40 pixels wide. Each
PrivateTest crop is shrunk to ``width`` x ``width`` (PIL, antialiased bilinear), and that
small crop goes to ``FaceExpressionRecognizer.predict_proba`` as a face found in a frame would:
the recognizer enlarges it to 48x48 itself. Prints accuracy and macro-F1 per width for our
model and, in the same run, for a baseline: the shipped model as committed at a git revision
(``--baseline-rev``) or any model directory (``--baseline``).
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


def scores(model_dir: str, x: np.ndarray, y: np.ndarray, widths: list[int]) -> dict:
    from emolens.vision.expression import load_expression_model

    model = load_expression_model(model_dir, cpu_threads=2)
    assert tuple(model.labels) == LABELS, model.labels
    found = {"model": f"{model.name} {model.version}", "widths": {}}
    for width in widths:
        pred = model.predict_proba(shrink(x, width)).argmax(1)
        found["widths"][str(width)] = {
            "accuracy": round(float((pred == y).mean()), 4),
            "macro_f1": round(float(f1_score(y, pred, average="macro")), 4)}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/fer2013")
    parser.add_argument("--model", default="default", help="our model: name or directory")
    parser.add_argument("--baseline", default=None, help="a model directory to compare with")
    parser.add_argument("--baseline-rev", default=None,
                        help="compare with the shipped face model as committed at this git rev")
    parser.add_argument("--widths", type=int, nargs="+", default=[48, 40, 32, 24, 16, 12])
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/face_small.json")
    args = parser.parse_args()
    x, y = read_private(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        baseline = args.baseline
        if args.baseline_rev:
            baseline = str(model_at_rev(args.baseline_rev, Path(tmp)))
        rows = [scores(args.model, x, y, args.widths)]
        if baseline:
            rows.append(scores(baseline, x, y, args.widths))
    print(f"FER2013 PrivateTest ({len(y):,} crops) shrunk to each width, accuracy / macro-F1")
    print(f"{'model':24s}" + "".join(f"{f'{w} px':>12s} " for w in args.widths))
    for row in rows:
        print(f"{row['model']:24s}" + "".join(
            f"{v['accuracy']:.4f}/{v['macro_f1']:.3f} " for v in row["widths"].values()))
    if len(rows) == 2:
        ours, base = (row["widths"] for row in rows)
        print(f"{'difference (accuracy)':24s}" + "".join(
            f"{ours[str(w)]['accuracy'] - base[str(w)]['accuracy']:+12.4f} " for w in args.widths))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"python": platform.python_version(), "models": rows,
                                     "baseline_rev": args.baseline_rev}, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
