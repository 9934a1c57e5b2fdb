"""What filing GoEmotions' curiosity under neutral instead of surprise would cost (dev only).

The Ekman grouping puts curiosity under surprise, so the English models read plain questions
as surprise. This probe refits minilm-en's linear head on the shipped encoder's pooled
features (dair train + GoEmotions train, a comment in several groups weighted 1/k per group)
twice, with curiosity under surprise (as published) and under neutral, and scores both on
the dev splits. The encoder itself is not retrained. Test splits are not read.

    python recipes/minilm_en/curiosity_probe.py --out runs/minilm_en/curiosity_probe.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.datasets import Split, dair, goemotions  # noqa: E402
from emolens.labels import CANONICAL, to_canonical  # noqa: E402
from emolens.text.minilm import MiniLMRecognizer  # noqa: E402

MODEL_DIR = Path(__file__).resolve().parents[2] / "src/emolens/models/minilm_en"
SURPRISE_OTHERS = {"surprise", "realization", "confusion"}


def official_groups(data: Path) -> dict[str, str]:
    """GoEmotions label -> Ekman group, from the dataset's own ekman_mapping.json."""
    table = json.loads((data / "goemotions/ekman_mapping.json").read_text())
    return {label: group for group, labels in table.items() for label in labels} | {
        "neutral": "neutral"}


def groups(labels: set[str], table: dict[str, str], curiosity: str) -> list[str]:
    return sorted({curiosity if label == "curiosity" else table[label] for label in labels})


def training_rows(d_train: Split, g_train: Split, features: dict[str, np.ndarray],
                  table: dict[str, str], curiosity: str
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, y, w = [], [], []
    for vec, label in zip(features["dair_train"], d_train.gold, strict=True):
        x.append(vec), y.append(to_canonical(label, "dair_emotion")), w.append(1.0)
    for vec, labels in zip(features["go_train"], g_train.gold_sets, strict=True):
        targets = groups(labels, table, curiosity)
        for target in targets:
            x.append(vec), y.append(target), w.append(1.0 / len(targets))
    return np.array(x), np.array(y), np.array(w)


def macro_f1(probs: np.ndarray, split: Split, table: dict[str, str], curiosity: str) -> float:
    """Top label counts as right when it is any of the comment's groups (the benchmark's rule)."""
    pred = [CANONICAL[i] for i in probs.argmax(1)]
    gold = []
    for p, labels, first in zip(pred, split.gold_sets, split.gold, strict=True):
        targets = groups(labels, table, curiosity)
        gold.append(p if p in targets else groups({first}, table, curiosity)[0])
    return float(f1_score(gold, pred, labels=list(CANONICAL), average="macro"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("runs/minilm_en/curiosity_probe.json"))
    args = parser.parse_args()
    table = official_groups(args.data)
    splits = {"dair_train": dair(args.data, "train"), "dair_val": dair(args.data, "val"),
              "go_train": goemotions(args.data, "train"), "go_dev": goemotions(args.data, "dev")}
    encoder = MiniLMRecognizer.load(MODEL_DIR)
    features = {name: encoder.embed(split.texts) for name, split in splits.items()}
    go_dev = splits["go_dev"]
    curiosity_only = np.array([s == {"curiosity"} for s in go_dev.gold_sets])
    surprise_only = np.array([bool(s) and s <= SURPRISE_OTHERS for s in go_dev.gold_sets])
    dair_gold = [to_canonical(label, "dair_emotion") for label in splits["dair_val"].gold]
    report: dict[str, dict[str, float]] = {}
    for curiosity in ("surprise", "neutral"):
        x, y, w = training_rows(splits["dair_train"], splits["go_train"], features, table,
                                curiosity)
        head = LogisticRegression(C=1.0, max_iter=2000).fit(x, y, sample_weight=w)
        order = [list(head.classes_).index(label) for label in CANONICAL]
        probs = head.predict_proba(features["go_dev"])[:, order]
        top = np.array([CANONICAL[i] for i in probs.argmax(1)])
        dair_top = [CANONICAL[i] for i in head.predict_proba(features["dair_val"])[:, order]
                    .argmax(1)]
        report[f"curiosity -> {curiosity}"] = {
            "goemotions_dev_ekman_macro_f1": round(macro_f1(probs, go_dev, table, "surprise"), 4),
            "goemotions_dev_as_trained_macro_f1": round(
                macro_f1(probs, go_dev, table, curiosity), 4),
            "dair_val_accuracy": round(float(accuracy_score(dair_gold, dair_top)), 4),
            "curiosity_only_read_as_neutral": round(float((top[curiosity_only] == "neutral")
                                                          .mean()), 3),
            "other_surprise_group_read_as_surprise": round(
                float((top[surprise_only] == "surprise").mean()), 3),
        }
        print(curiosity, report[f"curiosity -> {curiosity}"], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
