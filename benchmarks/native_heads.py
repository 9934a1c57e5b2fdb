"""Dataset-native heads on the shipped encoders' features, beside the n-gram native heads.

    python benchmarks/native_heads.py [--sets goemotions28,dair6,smp6] [--json FILE]

For the issue-2 comparison with published numbers on each dataset's own labels: the shipped
encoder of the dataset's language (minilm-en for English, e5-zh for Chinese) embeds the
train/dev/test splits (mean-pooled, frozen; cached under runs/embeddings so a rerun skips
it); a logistic-regression head (standardised features, C chosen on dev macro-F1) is fitted on
the train split, one row per gold label for multi-label data; the n-gram native head of
text_benchmark.py is trained beside it, and their average (weight chosen on dev) is scored
too. Multi-label macro-F1 uses per-label thresholds tuned on dev. Test splits are used only
for reporting. The encoders were themselves fine-tuned on these datasets' train splits (with
canonical labels), never on dev or test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).parent))
import datasets as ds  # noqa: E402
from text_benchmark import (  # noqa: E402
    indicator,
    multi_label,
    native_head,
    single_label,
    tune_thresholds,
)

from emolens.text.encoder_head import load_encoder  # noqa: E402
from emolens.train.text_encoder import embed_texts  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def sets(data: Path) -> dict[str, tuple[ds.Split, ds.Split, ds.Split, bool, str]]:
    return {
        "goemotions28": (ds.goemotions(data, "train"), ds.goemotions(data, "dev"),
                         ds.goemotions(data, "test"), True, "minilm-en"),
        "dair6": (ds.dair(data, "train"), ds.dair(data, "val"), ds.dair(data, "test"), False,
                  "minilm-en"),
        "smp6": (ds.smp(data, "usual_train.csv"), ds.smp(data, "usual_eval_labeled.json"),
                 ds.smp(data, "usual_test_labeled.json"), False, "e5-zh"),
    }


def rows(split: ds.Split, multi: bool) -> tuple[np.ndarray, list[str]]:
    """Row indices and labels: one row per gold label for multi-label data."""
    index, labels = [], []
    for i, (gold, gold_set) in enumerate(zip(split.gold, split.gold_sets, strict=True)):
        for label in (sorted(gold_set) if multi else [gold]):
            index.append(i)
            labels.append(label)
    return np.array(index), labels


def fit_head(x: np.ndarray, y: list[str], x_dev: np.ndarray, dev: ds.Split,
             labels: list[str]) -> tuple[StandardScaler, LogisticRegression, float]:
    """Standardise, then logistic regression with C chosen by dev macro-F1 (top-1 in gold)."""
    scaler = StandardScaler().fit(x)
    z, z_dev = scaler.transform(x), scaler.transform(x_dev)
    best = (-1.0, None, 0.0)
    for c in (0.01, 0.03, 0.1, 0.3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = LogisticRegression(C=c, max_iter=500).fit(z, y)
        probs = aligned(model.predict_proba(z_dev), model.classes_, labels)
        score = single_label(probs, labels, dev)["macro_f1"]
        print(f"   C={c}: dev macro-F1 {score:.4f}", flush=True)
        if score > best[0]:
            best = (score, model, c)
    return scaler, best[1], best[2]


def aligned(probs: np.ndarray, classes: np.ndarray, labels: list[str]) -> np.ndarray:
    out = np.zeros((len(probs), len(labels)))
    out[:, [labels.index(c) for c in classes]] = probs
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data")
    parser.add_argument("--sets", default="goemotions28,dair6,smp6")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs/embeddings")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/native_heads.json")
    args = parser.parse_args()
    report: dict[str, dict] = {}
    encoders: dict[str, object] = {}
    for name, (train, dev, test, multi, encoder_name) in sets(args.data).items():
        if name not in args.sets.split(","):
            continue
        print(f"== {name} ({encoder_name})", flush=True)
        encoder = encoders.setdefault(encoder_name, load_encoder(encoder_name))
        t0 = time.perf_counter()
        x = {part: embed_texts(encoder, encoder_name, split.texts, args.cache, None, part)[0]
             for part, split in (("train", train), ("dev", dev), ("test", test))}
        embed_s = time.perf_counter() - t0
        print(f"   embedded in {embed_s:.0f} s", flush=True)
        index, y = rows(train, multi)
        labels = sorted(set(y))
        scaler, head, c = fit_head(x["train"][index], y, x["dev"], dev, labels)

        def encoder_probs(part: str, head=head, scaler=scaler, labels=labels, x=x) -> np.ndarray:
            return aligned(head.predict_proba(scaler.transform(x[part])), head.classes_, labels)

        ngram = native_head(train, dev, multi)
        ngram_probs = {part: aligned(ngram.predict_proba(split.texts), np.array(ngram.labels),
                                     labels)
                       for part, split in (("dev", dev), ("test", test))}
        weights = np.linspace(0.0, 1.0, 11)
        dev_scores = [single_label(w * encoder_probs("dev") + (1 - w) * ngram_probs["dev"],
                                   labels, dev)["macro_f1"] for w in weights]
        w = float(weights[int(np.argmax(dev_scores))])
        report[name] = {"encoder": encoder_name, "C": c, "ensemble_weight_encoder": w,
                        "embed_seconds": round(embed_s, 1)}
        candidates = {
            "encoder head": (encoder_probs("dev"), encoder_probs("test")),
            "n-gram head": (ngram_probs["dev"], ngram_probs["test"]),
            f"ensemble {w:.1f}/{1 - w:.1f}": (
                w * encoder_probs("dev") + (1 - w) * ngram_probs["dev"],
                w * encoder_probs("test") + (1 - w) * ngram_probs["test"]),
        }
        for label, (p_dev, p_test) in candidates.items():
            scores = single_label(p_test, labels, test)
            if multi:
                thresholds = tune_thresholds(p_dev, indicator(dev.gold_sets, labels))
                scores.update(multi_label(p_test, labels, test, thresholds))
            report[name][label] = scores
            print(f"   {label:<18} " + "  ".join(f"{k} {v:.4f}" for k, v in scores.items()),
                  flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
