"""Choose the cascade's per-language confidence thresholds on dev splits (never test).

For each language, the fast model (the n-gram ``ngram`` recognizer) scores the dev texts
once and the accurate model (the ``accurate`` ensemble) once; every threshold on the fast
model's top probability then gives an escalation share and a dev macro-F1. We keep the
smallest escalation share whose macro-F1 is within ``--tolerance`` of the accurate model's
own, and write the thresholds with the whole trade-off curve.

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
    parser.add_argument("--accurate", default="accurate")
    parser.add_argument("--tolerance", type=float, default=0.005,
                        help="macro-F1 the cascade may lose against the accurate model")
    parser.add_argument("--out", type=Path, default=ROOT / "src/emolens/models/cascade.json")
    args = parser.parse_args()
    fast, accurate = recognizers.create(args.fast), recognizers.create(args.accurate)
    result: dict = {"fast": args.fast, "accurate": args.accurate,
                    "tolerance": args.tolerance, "thresholds": {}, "curves": {}}
    for language, splits in dev_sets(args.data).items():
        texts = [t for s in splits for t in s.texts]
        langs = [language] * len(texts)
        p_fast = fast.predict_proba(texts, langs)
        p_accurate = accurate.predict_proba(texts, langs)
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
