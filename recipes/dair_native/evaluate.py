"""Test accuracy of the native 6-label dair-emotion model exported by encoder_lora.

    python recipes/dair_native/evaluate.py --model runs/dair_native_model
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import classification_report, f1_score

from emolens.models import load_model_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--model", type=Path, default=Path("runs/dair_native_model"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    model = load_model_dir(args.model)
    report = {}
    for split in ("val", "test"):
        pairs = [line.rsplit(";", 1) for line in
                 (args.data / f"dair_emotion/{split}.txt").read_text().splitlines()]
        gold = [label.strip() for _, label in pairs]
        probs = model.predict_proba([text for text, _ in pairs])
        pred = [model.labels[i] for i in probs.argmax(1)]
        report[split] = {
            "accuracy": round(float(np.mean([p == g for p, g in zip(pred, gold, strict=True)])), 4),
            "macro_f1": round(float(f1_score(gold, pred, average="macro")), 4),
        }
        print(split, report[split])
        if split == "test":
            print(classification_report(gold, pred, digits=3))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
