"""Final report of a FER2013 run: best-PublicTest checkpoint on PublicTest and PrivateTest, ONNX.

Called by ``python recipes/fer/train.py --report [--out DIR] [--members RUN ...]``. Writes
{report.json,history.json,train.log} to --results (default recipes/fer/results) and
<run>/model.onnx; with --out, also
DIR/model.onnx and DIR/emolens-model.json (the shipped model directory). With --members, the
exported graph is the ensemble of <run> and the other runs' best checkpoints: the mean of
their flip-averaged logits (each member is also scored alone in the report).
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

# Faces this many pixels wide, as small faces in a video frame reach the model (train.degrade).
SMALL_FACE_WIDTHS = (16, 24, 32)


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


class Ensemble(torch.nn.Module):
    """Mean of the members' logits (several independently trained runs)."""

    def __init__(self, members: list[torch.nn.Module]) -> None:
        super().__init__()
        self.members = torch.nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members]).mean(0)

    def logits_and_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean logits, and every member's features side by side."""
        found = [m.logits_and_features(x) for m in self.members]
        return (torch.stack([lg for lg, _ in found]).mean(0),
                torch.cat([f for _, f in found], dim=1))


def load_best(run: Path) -> tuple[torch.nn.Module, dict]:
    """The best-PublicTest network of a run, in eval mode, and its checkpoint."""
    state = torch.load(run / "best.pt", weights_only=False, map_location="cpu")
    net = recipe.build_model(argparse.Namespace(**state["config"]))
    net.load_state_dict(state["model"])
    return net.to(memory_format=torch.channels_last).eval(), state


def export_onnx(net: torch.nn.Module, path: Path) -> None:
    """Opset-17 graph of the flip-averaged network; input (N,1,48,48) normalised float32;
    outputs the logits and the pooled features."""
    wrapped = recipe.FlipAveraged(net).eval()
    torch.onnx.export(wrapped, torch.zeros(1, 1, recipe.SIZE, recipe.SIZE), str(path),
                      opset_version=17, input_names=["input"],
                      output_names=["logits", "features"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"},
                                    "features": {0: "batch"}}, dynamo=False)
    net.eval()  # the exporter restores the wrapper's (train) mode recursively
    store_weights_as_float16(path)


def store_weights_as_float16(path: Path) -> None:
    """Keep the weights in the file as float16, each behind a Cast back to float32.

    Halves the file (an ensemble of two members fits in the size of one float32 member).
    onnxruntime folds the Casts when it loads the graph, so inference still runs in float32 on
    weights rounded to float16; the report's ``onnx_private_accuracy`` is measured on this file.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    initializers, casts = [], []
    for tensor in graph.initializer:
        if tensor.data_type == TensorProto.FLOAT and int(np.prod(tensor.dims)) >= 64:
            half = numpy_helper.from_array(
                numpy_helper.to_array(tensor).astype(np.float16), f"{tensor.name}.float16")
            initializers.append(half)
            casts.append(helper.make_node("Cast", [half.name], [tensor.name],
                                          to=TensorProto.FLOAT))
        else:
            initializers.append(tensor)
    nodes = casts + list(graph.node)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


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
        "output": "logits (mean over the image and its mirror image; softmax for probabilities) "
                  "and features (the pooled last-stage activations, same mean)",
        "trained": {
            "data": "FER2013 Training (28,709 images); epoch chosen on PublicTest",
            "architecture": f"VGG-style CNN, widths {cfg['widths']}, depths {cfg['depths']}"
                            + (f"; ensemble of {len(result['members'])} runs (mean logits)"
                               if "members" in result else ""),
            "epochs_run": result["epochs_run"], "best_epoch": result["best_epoch"],
            "training_precision": "bfloat16 autocast" if cfg.get("amp") else "float32",
            "public_test_accuracy": result["public"]["accuracy"],
            "private_test_accuracy": result["private"]["accuracy"],
            "private_test_macro_f1": result["private"]["macro_f1"],
            **({"private_test_accuracy_at_width": result["private"]["accuracy_at_width"]}
               if "accuracy_at_width" in result["private"] else {}),
            **({"fine_tuned_from": "the previous shipped model.onnx (--init-onnx)"}
               if cfg.get("init_onnx") else {}),
            **({"small_faces": f"p {cfg['lowres']}: shrunk to {cfg['lowres_min']}-"
                               f"{cfg['lowres_max']} px and enlarged back"}
               if cfg.get("lowres") else {}),
            "recipe": "recipes/fer/train.py",
        },
    }


def report(args: argparse.Namespace) -> None:
    run = Path(args.run)
    net, state = load_best(run)
    last_path = run / "last.pt"
    last = (torch.load(last_path, weights_only=False, map_location="cpu")
            if last_path.is_file() else state)
    cfg = argparse.Namespace(**state["config"])
    data = recipe.load_data(Path(args.data), run)
    result = {"best_epoch": state["epoch"], "epochs_run": last["epoch"] + 1,
              "epochs_planned": cfg.epochs, "config": state["config"]}
    if args.members:
        members = [(run, net, state)] + [(Path(m), *load_best(Path(m))) for m in args.members]
        result["members"] = []
        for path, member, member_state in members:
            logits = recipe.predict_logits(member, data["x_private"], flip=True)
            public = recipe.predict_logits(member, data["x_public"], flip=True)
            result["members"].append({
                "run": path.name, "best_epoch": member_state["epoch"],
                "config": member_state["config"],
                "public_accuracy": round(float((public.argmax(1) == data["y_public"]).mean()), 4),
                "private_accuracy": round(float((logits.argmax(1) == data["y_private"]).mean()),
                                          4)})
        net = Ensemble([m for _, m, _ in members]).eval()
    result["params"] = sum(p.numel() for p in net.parameters())
    for split in ("public", "private"):
        y = data[f"y_{split}"]
        result[split] = scores(y, recipe.predict_logits(net, data[f"x_{split}"], flip=True))
        noflip = recipe.predict_logits(net, data[f"x_{split}"], flip=False).argmax(1)
        result[split]["accuracy_no_flip"] = round(float((noflip == y).mean()), 4)
        result[split]["accuracy_at_width"] = {
            str(width): round(float((recipe.predict_logits(
                net, recipe.degraded_uint8(data[f"x_{split}"], width)).argmax(1) == y).mean()), 4)
            for width in SMALL_FACE_WIDTHS}
    onnx_path = run / "model.onnx"
    export_onnx(net, onnx_path)
    ort_pred = onnx_logits(onnx_path, data["x_private"]).argmax(1)
    result["onnx_private_accuracy"] = round(float((ort_pred == data["y_private"]).mean()), 4)
    result["onnx_bytes"] = onnx_path.stat().st_size
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    (results / "report.json").write_text(json.dumps(result, indent=1) + "\n")
    (results / "history.json").write_text(json.dumps(last["history"], indent=1) + "\n")
    if (run / "train.log").is_file():
        shutil.copyfile(run / "train.log", results / "train.log")
    print(json.dumps({k: result[k] for k in ("best_epoch", "epochs_run", "onnx_private_accuracy",
                                             "onnx_bytes")}))
    for split in ("public", "private"):
        print(split, result[split]["accuracy"], "macro-F1", result[split]["macro_f1"],
              "at width", result[split]["accuracy_at_width"])
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(onnx_path, out / "model.onnx")
        meta = model_meta(args, state, result, out / "model.onnx")
        (out / "emolens-model.json").write_text(json.dumps(meta, indent=1) + "\n")
        print(f"wrote {out}/model.onnx and emolens-model.json")
