"""Final report of a FER2013 run: best-PublicTest checkpoint on PublicTest and PrivateTest, ONNX.

Called by ``python recipes/fer/train.py --report [--out DIR]``. Writes
recipes/fer/results/{report.json,history.json,train.log} and <run>/model.onnx; with --out, also
DIR/model.onnx and DIR/emolens-model.json (the shipped model directory).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import torch
import train as recipe
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

RESULTS = Path(__file__).resolve().parent / "results"


def scores(y: np.ndarray, logits: np.ndarray) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support, confusion (rows = truth)."""
    pred = logits.argmax(1)
    p, r, f, n = precision_recall_fscore_support(y, pred, labels=range(len(recipe.LABELS)),
                                                 zero_division=0)
    return {
        "accuracy": round(float((pred == y).mean()), 4),
        "macro_f1": round(float(f1_score(y, pred, average="macro")), 4),
        "per_class": {lab: {"precision": round(float(p[i]), 3), "recall": round(float(r[i]), 3),
                            "f1": round(float(f[i]), 3), "support": int(n[i])}
                      for i, lab in enumerate(recipe.LABELS)},
        "confusion": confusion_matrix(y, pred, labels=range(len(recipe.LABELS))).tolist(),
    }


def export_onnx(net: torch.nn.Module, path: Path) -> None:
    """Opset-17 graph of the flip-averaged network; input (N,1,48,48) normalised float32."""
    wrapped = recipe.FlipAveraged(net).eval()
    torch.onnx.export(wrapped, torch.zeros(1, 1, recipe.SIZE, recipe.SIZE), str(path),
                      opset_version=17, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
    net.eval()  # the exporter restores the wrapper's (train) mode recursively


def onnx_logits(path: Path, x_uint8: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = recipe.normalise(torch.from_numpy(x_uint8)).numpy()
    return np.concatenate([session.run(None, {"input": x[i:i + 512]})[0]
                           for i in range(0, len(x), 512)])


def model_meta(args: argparse.Namespace, state: dict, result: dict, onnx_path: Path) -> dict:
    cfg = state["config"]
    return {
        "type": "face-expression-onnx",
        "name": "fer2013-cnn",
        "version": args.version,
        "labels": list(recipe.LABELS),
        "scheme": "fer2013",
        "file": "model.onnx",
        "sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
        "input": {"shape": [None, 1, recipe.SIZE, recipe.SIZE], "dtype": "float32",
                  "color": "grayscale", "mean": recipe.MEAN, "std": recipe.STD,
                  "normalisation": "(pixel / 255 - mean) / std"},
        "output": "logits (mean over the image and its mirror image); softmax for probabilities",
        "trained": {
            "data": "FER2013 Training (28,709 images); epoch chosen on PublicTest",
            "architecture": f"VGG-style CNN, widths {cfg['widths']}, depths {cfg['depths']}",
            "epochs_run": state["epoch"] + 1, "best_epoch": result["best_epoch"],
            "public_test_accuracy": result["public"]["accuracy"],
            "private_test_accuracy": result["private"]["accuracy"],
            "private_test_macro_f1": result["private"]["macro_f1"],
            "recipe": "recipes/fer/train.py",
        },
    }


def report(args: argparse.Namespace) -> None:
    run = Path(args.run)
    state = torch.load(run / "best.pt", weights_only=False)
    last = torch.load(run / "last.pt", weights_only=False) if (run / "last.pt").is_file() else state
    cfg = argparse.Namespace(**state["config"])
    net = recipe.build_model(cfg)
    net.load_state_dict(state["model"])
    net = net.to(memory_format=torch.channels_last).eval()
    data = recipe.load_data(Path(args.data), run)
    result = {"best_epoch": state["epoch"], "epochs_run": last["epoch"] + 1,
              "epochs_planned": cfg.epochs, "config": state["config"],
              "params": sum(p.numel() for p in net.parameters())}
    for split in ("public", "private"):
        y = data[f"y_{split}"]
        result[split] = scores(y, recipe.predict_logits(net, data[f"x_{split}"], flip=True))
        noflip = recipe.predict_logits(net, data[f"x_{split}"], flip=False).argmax(1)
        result[split]["accuracy_no_flip"] = round(float((noflip == y).mean()), 4)
    onnx_path = run / "model.onnx"
    export_onnx(net, onnx_path)
    ort_pred = onnx_logits(onnx_path, data["x_private"]).argmax(1)
    result["onnx_private_accuracy"] = round(float((ort_pred == data["y_private"]).mean()), 4)
    result["onnx_bytes"] = onnx_path.stat().st_size
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "report.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / "history.json").write_text(json.dumps(last["history"], indent=1) + "\n")
    if (run / "train.log").is_file():
        shutil.copyfile(run / "train.log", RESULTS / "train.log")
    print(json.dumps({k: result[k] for k in ("best_epoch", "epochs_run", "onnx_private_accuracy",
                                             "onnx_bytes")}))
    for split in ("public", "private"):
        print(split, result[split]["accuracy"], "macro-F1", result[split]["macro_f1"])
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(onnx_path, out / "model.onnx")
        meta = model_meta(args, state, result, out / "model.onnx")
        (out / "emolens-model.json").write_text(json.dumps(meta, indent=1) + "\n")
        print(f"wrote {out}/model.onnx and emolens-model.json")
