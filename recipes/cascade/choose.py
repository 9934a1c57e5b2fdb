"""Choose the ensemble weights and cascade thresholds per language on dev splits (never test).

For each language, the n-gram model (``ngram``) and the language's fine-tuned encoder
(``minilm-en``, ``e5-zh``) score the dev texts once. First the blend weight of the encoder
(``accurate`` = w * encoder + (1 - w) * n-gram) that maximises dev macro-F1; then every
threshold on the n-gram model's top probability gives an escalation share and a dev
macro-F1 for the cascade (``default``). We keep the smallest escalation share whose macro-F1
is within ``--tolerance`` of the blend's own, and write both with the trade-off curves.

    python recipes/cascade/choose.py --out src/emolens/models/cascade.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import datasets as ds  # noqa: E402

from emolens.labels import CANONICAL  # noqa: E402
from emolens.registry import recognizers  # noqa: E402


def dev_sets(data: Path) -> dict[str, list[ds.Split]]:
    """Canonical-label dev splits per language."""
    return {
        "en": [
            ds.to_canonical_split(ds.dair(data, "val"), "dair_emotion"),
            ds.ekman(ds.goemotions(data, "dev")),
        ],
        "zh": [
            ds.to_canonical_split(ds.smp(data, "usual_eval_labeled.json"), "smp2020_ewect"),
            ds.to_canonical_split(ds.smp(data, "virus_eval_labeled.json"), "smp2020_ewect"),
        ],
    }


def macro_f1(probs: np.ndarray, splits: list[ds.Split]) -> float:
    """Mean over the splits of top-1 macro-F1 (a prediction in a gold set counts as right)."""
    scores, start = [], 0
    for split in splits:
        part = probs[start : start + len(split.texts)]
        start += len(split.texts)
        pred = [CANONICAL[i] for i in part.argmax(1)]
        gold = [p if p in s else g for p, g, s in zip(pred, split.gold, split.gold_sets,
                                                      strict=True)]
        scores.append(f1_score(gold, pred, labels=sorted(set(gold)), average="macro"))
    return float(np.mean(scores))


def best_weight(neural: np.ndarray, ngram: np.ndarray, splits: list[ds.Split]) -> dict:
    """The encoder weight in the blend with the best dev macro-F1 (grid of 0.05)."""
    points = [{"weight": float(w), "macro_f1": round(macro_f1(blend(neural, ngram, w), splits), 4)}
              for w in np.round(np.arange(0.0, 1.0001, 0.05), 2)]
    return max(points, key=lambda p: (p["macro_f1"], p["weight"]))


def blend(neural: np.ndarray, ngram: np.ndarray, weight: float) -> np.ndarray:
    mixed = weight * neural + (1.0 - weight) * ngram
    return mixed / mixed.sum(1, keepdims=True)


def curve(fast: np.ndarray, accurate: np.ndarray, splits: list[ds.Split]) -> list[dict]:
    confidence = fast.max(1)
    points = []
    for threshold in np.round(np.arange(0.0, 1.0001, 0.025), 3):
        hard = confidence < threshold
        mixed = np.where(hard[:, None], accurate, fast)
        points.append({"threshold": float(threshold), "escalated": round(float(hard.mean()), 4),
                       "macro_f1": round(macro_f1(mixed, splits), 4)})
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data")
    parser.add_argument("--fast", default="ngram")
    parser.add_argument("--encoders", default="en=minilm-en,zh=e5-zh",
                        help="language=recognizer pairs: each language's fine-tuned encoder")
    parser.add_argument("--tolerance", type=float, default=0.01,
                        help="macro-F1 the cascade may lose against the accurate model")
    parser.add_argument("--out", type=Path, default=ROOT / "src/emolens/models/cascade.json")
    args = parser.parse_args()
    encoders = dict(pair.split("=") for pair in args.encoders.split(","))
    fast = recognizers.create(args.fast)
    result: dict = {"fast": args.fast, "encoders": encoders, "tolerance": args.tolerance,
                    "weights": {}, "thresholds": {}, "curves": {}}
    for language, splits in dev_sets(args.data).items():
        texts = [t for s in splits for t in s.texts]
        langs = [language] * len(texts)
        p_fast = fast.predict_proba(texts, langs)
        p_neural = recognizers.create(encoders[language]).predict_proba(texts, langs)
        chosen_weight = best_weight(p_neural, p_fast, splits)
        result["weights"][language] = chosen_weight["weight"]
        p_accurate = blend(p_neural, p_fast, chosen_weight["weight"])
        print(f"{language}: encoder alone {macro_f1(p_neural, splits):.4f}; blend weight "
              f"{chosen_weight['weight']} -> {chosen_weight['macro_f1']:.4f}", flush=True)
        points = curve(p_fast, p_accurate, splits)
        target = macro_f1(p_accurate, splits) - args.tolerance
        chosen = min((p for p in points if p["macro_f1"] >= target),
                     key=lambda p: p["escalated"], default=points[-1])
        result["thresholds"][language] = chosen["threshold"]
        result["curves"][language] = points
        print(f"{language}: fast {macro_f1(p_fast, splits):.4f}, accurate "
              f"{macro_f1(p_accurate, splits):.4f}; threshold {chosen['threshold']} escalates "
              f"{chosen['escalated']:.1%} for dev macro-F1 {chosen['macro_f1']:.4f}", flush=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
