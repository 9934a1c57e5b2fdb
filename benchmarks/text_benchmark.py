"""Accuracy and speed of the text recognizers on the shared test splits, beside baselines.

    python benchmarks/text_benchmark.py [--data ../shared/data] [--eval ../shared/eval]
                                        [--quick] [--json benchmarks/results/text.json]

Prints, in one run: the shipped default (canonical labels) on dair_emotion, GoEmotions
(Ekman), SMP2020-EWECT and MELD; dataset-native heads trained here on each train split; a
TF-IDF + logistic-regression baseline and the lexicons; throughput and single-text latency.
Train/dev splits only are used for training and thresholds; test splits only for reporting.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import FeatureUnion, make_pipeline

sys.path.insert(0, str(Path(__file__).parent))
import datasets as ds  # noqa: E402

import emolens  # noqa: E402
from emolens.labels import CANONICAL  # noqa: E402
from emolens.registry import recognizers  # noqa: E402
from emolens.text.ngram import NgramRecognizer  # noqa: E402

ProbaFn = Callable[[Sequence[str]], np.ndarray]
ROOT = Path(__file__).resolve().parent.parent


# -- metrics --------------------------------------------------------------------------------
def single_label(probs: np.ndarray, labels: Sequence[str], split: ds.Split) -> dict[str, float]:
    """Top-1 prediction vs the gold label (multi-label gold: correct if in the gold set)."""
    predicted = [labels[i] for i in probs.argmax(1)]
    gold = [p if p in s else g for p, g, s in zip(predicted, split.gold, split.gold_sets,
                                                  strict=True)]
    present = sorted(set(gold))
    return {
        "accuracy": accuracy_score(gold, predicted),
        "macro_f1": f1_score(gold, predicted, labels=present, average="macro", zero_division=0),
        "weighted_f1": f1_score(gold, predicted, labels=present, average="weighted",
                                zero_division=0),
    }


def indicator(sets: Sequence[set[str]], labels: Sequence[str]) -> np.ndarray:
    return np.array([[label in s for label in labels] for s in sets], dtype=bool)


def predicted_sets(probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Labels at or above their threshold, and always the top label."""
    chosen = probs >= thresholds
    chosen[np.arange(len(probs)), probs.argmax(1)] = True
    return chosen


def tune_thresholds(probs: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-label threshold maximising that label's F1 on dev data."""
    grid = np.linspace(0.05, 0.95, 19)
    best = np.full(probs.shape[1], 0.5)
    for j in range(probs.shape[1]):
        scores = [f1_score(truth[:, j], probs[:, j] >= t, zero_division=0) for t in grid]
        best[j] = grid[int(np.argmax(scores))]
    return best


def multi_label(probs: np.ndarray, labels: Sequence[str], split: ds.Split,
                thresholds: np.ndarray) -> dict[str, float]:
    truth = indicator(split.gold_sets, labels)
    keep = truth.any(axis=0)
    pred = predicted_sets(probs, thresholds)
    return {"macro_f1_multilabel": f1_score(truth[:, keep], pred[:, keep], average="macro",
                                            zero_division=0)}


# -- models ---------------------------------------------------------------------------------
def analyzer_fn(name: str) -> ProbaFn:
    analyzer = emolens.load(name)
    return lambda texts: np.array([[r.scores[label] for label in CANONICAL]
                                   for r in analyzer.analyze_batch(list(texts))])


def native_head(train: ds.Split, dev: ds.Split, multi: bool = False) -> NgramRecognizer:
    """An n-gram head on a dataset's own labels (multi-label rows repeated once per label)."""
    texts, labels = [], []
    for text, gold in zip(train.texts, train.gold_sets if multi else [{g} for g in train.gold],
                          strict=True):
        for label in sorted(gold):
            texts.append(text)
            labels.append(label)
    model = NgramRecognizer(scheme="custom", min_df=2, c=0.5)
    return model.fit(texts, labels, [train.language] * len(texts),
                     calibration=(dev.texts, dev.gold))


def tfidf_baseline(train_texts: list[str], train_labels: list[str]):
    """Classical baseline: TF-IDF word 1-2 + char 1-3 grams, logistic regression."""
    features = FeatureUnion([
        ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2,
                                 max_features=200_000)),
        ("char", TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True,
                                 min_df=2, max_features=200_000)),
    ])
    model = make_pipeline(features, LogisticRegression(C=10, max_iter=300))
    with warnings.catch_warnings():  # 300 lbfgs steps: near-converged, and bounded in time
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(train_texts, train_labels)


# -- speed ----------------------------------------------------------------------------------
def speed(fn: ProbaFn, texts: Sequence[str], single: int = 200) -> dict[str, float]:
    fn(texts[:50])  # warm-up: lazy loading, caches
    started = time.perf_counter()
    fn(texts)
    batch_rate = len(texts) / (time.perf_counter() - started)
    latencies = []
    for text in texts[:single]:
        t0 = time.perf_counter()
        fn([text])
        latencies.append((time.perf_counter() - t0) * 1000)
    return {"texts_per_s": batch_rate, "p50_ms": statistics.median(latencies),
            "p95_ms": float(np.percentile(latencies, 95))}


def load_prepare():
    spec = importlib.util.spec_from_file_location(
        "prepare", ROOT / "recipes/default_text/prepare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data")
    parser.add_argument("--eval", type=Path, default=ROOT.parent / "shared/eval")
    parser.add_argument("--quick", action="store_true", help="500 items per test set")
    parser.add_argument("--models", default="default,lexicon",
                        help="comma-separated registered recognizers to score")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    cap = 500 if args.quick else None

    def cut(split: ds.Split) -> ds.Split:
        if cap is None:
            return split
        return ds.Split(split.name, split.texts[:cap], split.gold[:cap], split.gold_sets[:cap],
                        split.language)

    d = args.data
    go_test, go_dev = ds.goemotions(d, "test"), ds.goemotions(d, "dev")
    canonical_sets = {
        "dair_emotion test (mapped)": ds.to_canonical_split(cut(ds.dair(d, "test")),
                                                            "dair_emotion"),
        "goemotions test (ekman)": ds.ekman(cut(go_test)),
        "smp2020 usual test (mapped)": ds.to_canonical_split(
            cut(ds.smp(d, "usual_test_labeled.json")), "smp2020_ewect"),
        "smp2020 virus test (mapped)": ds.to_canonical_split(
            cut(ds.smp(d, "virus_test_labeled.json")), "smp2020_ewect"),
        "meld test (never trained on)": cut(ds.meld(args.eval)),
    }
    ekman_dev = ds.ekman(go_dev)
    report: dict[str, dict] = {"canonical": {}, "native": {}, "speed": {}}

    print("== canonical labels, shipped recognizers and the TF-IDF+LR baseline")
    prepare = load_prepare()
    names = (d / "goemotions/labels.txt").read_text().split()
    rows = list(prepare.dair(d / "dair_emotion/train.txt"))
    rows += list(prepare.goemotions(d / "goemotions/train.tsv", names))
    rows += list(prepare.smp(d / "smp2020_ewect/usual_train.csv", "smp_usual"))
    rows += list(prepare.smp(d / "smp2020_ewect/virus_train.json", "smp_virus"))
    t0 = time.perf_counter()
    baselines = {
        lang: tfidf_baseline([r[0] for r in rows if r[2] == lang],
                             [r[1] for r in rows if r[2] == lang])
        for lang in ("en", "zh")
    }
    print(f"   (baseline trained in {time.perf_counter() - t0:.0f} s)")

    def baseline_fn(texts: Sequence[str]) -> np.ndarray:
        from emolens.text.language import detect_language
        out = np.zeros((len(texts), len(CANONICAL)))
        langs = np.array([detect_language(t) for t in texts])
        for lang, model in baselines.items():
            idx = np.flatnonzero(langs == lang)
            if len(idx):
                cols = [CANONICAL.index(c) for c in model.classes_]
                out[np.ix_(idx, cols)] = model.predict_proba([texts[i] for i in idx])
        return out

    contenders: dict[str, ProbaFn] = {"tfidf+lr baseline": baseline_fn}
    for name in args.models.split(","):
        if name in recognizers.names():
            contenders[name] = analyzer_fn(name)
    for model_name, fn in contenders.items():
        report["canonical"][model_name] = {}
        thresholds = tune_thresholds(fn(ekman_dev.texts), indicator(ekman_dev.gold_sets,
                                                                     CANONICAL))
        for set_name, split in canonical_sets.items():
            scores = single_label(fn(split.texts), CANONICAL, split)
            if "ekman" in set_name:
                scores.update(multi_label(fn(split.texts), CANONICAL, split, thresholds))
            report["canonical"][model_name][set_name] = scores
            print(f"{model_name:>20} | {set_name:<30} | "
                  + "  ".join(f"{k} {v:.3f}" for k, v in scores.items()), flush=True)

    print("== dataset-native heads (n-gram, trained here on each train split)")
    natives = {
        "dair_emotion (6)": (ds.dair(d, "train"), ds.dair(d, "val"), cut(ds.dair(d, "test")),
                             False),
        "goemotions (28)": (ds.goemotions(d, "train"), go_dev, cut(go_test), True),
        "goemotions (ekman 7)": (ds.ekman(ds.goemotions(d, "train")), ekman_dev,
                                 ds.ekman(cut(go_test)), True),
        "smp2020 usual (6)": (ds.smp(d, "usual_train.csv"),
                              ds.smp(d, "usual_eval_labeled.json"),
                              cut(ds.smp(d, "usual_test_labeled.json")), False),
    }
    for set_name, (train, dev, test, multi) in natives.items():
        t0 = time.perf_counter()
        head = native_head(train, dev, multi)
        seconds = time.perf_counter() - t0
        labels = head.labels
        scores = single_label(head.predict_proba(test.texts), labels, test)
        if multi:
            thresholds = tune_thresholds(head.predict_proba(dev.texts),
                                         indicator(dev.gold_sets, labels))
            scores.update(multi_label(head.predict_proba(test.texts), labels, test, thresholds))
        scores["train_seconds"] = seconds
        report["native"][set_name] = scores
        print(f"{set_name:<22} | " + "  ".join(f"{k} {v:.3f}" for k, v in scores.items()),
              flush=True)

    print("== speed (2,000 mixed en/zh texts in one batch; single-text latency)")
    mixed = [t for pair in zip(canonical_sets["goemotions test (ekman)"].texts,
                               canonical_sets["smp2020 usual test (mapped)"].texts, strict=False)
             for t in pair][:2000]
    for model_name, fn in contenders.items():
        report["speed"][model_name] = speed(fn, mixed)
        s = report["speed"][model_name]
        ratio = s["texts_per_s"] / report["speed"]["tfidf+lr baseline"]["texts_per_s"]
        print(f"{model_name:>20} | {s['texts_per_s']:8.0f} texts/s ({ratio:4.2f}x baseline) | "
              f"p50 {s['p50_ms']:.2f} ms | p95 {s['p95_ms']:.2f} ms", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
        print(f"written {args.json}")


if __name__ == "__main__":
    main()
