"""Test-set numbers for minilm-en vs the n-gram default and their ensemble, plus speed.

Ensemble weight and GoEmotions multi-label thresholds are chosen on dev splits only; test
splits are scored once. MELD is evaluation only.

    python recipes/minilm_en/evaluate.py --out runs/minilm_en/eval.json
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score
from threadpoolctl import threadpool_limits

from emolens.labels import CANONICAL, to_canonical
from emolens.registry import recognizers

Split = tuple[list[str], list[set[str]], list[str]]  # texts, gold sets, first gold label


def dair(root: Path, split: str) -> Split:
    pairs = [line.rsplit(";", 1) for line in (root / f"dair_emotion/{split}.txt").open()]
    gold = [to_canonical(label.strip(), "dair_emotion") for _, label in pairs]
    return [t for t, _ in pairs], [{g} for g in gold], gold


def goemotions(root: Path, split: str) -> Split:
    names = (root / "goemotions/labels.txt").read_text().split()
    texts, sets, first = [], [], []
    for line in (root / f"goemotions/{split}.tsv").read_text(encoding="utf-8").splitlines():
        text, ids, _ = line.split("\t")
        groups = [to_canonical(names[int(i)], "goemotions") or "neutral" for i in ids.split(",")]
        texts.append(text)
        sets.append(set(groups))
        first.append(groups[0])
    return texts, sets, first


def meld(root: Path, split: str) -> Split:
    with (root / f"meld/{split}_sent_emo.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    gold = [r["Emotion"] for r in rows]
    return [r["Utterance"] for r in rows], [{g} for g in gold], gold


def single(probs: np.ndarray, split: Split) -> dict[str, float]:
    """Top-1 vs gold; with a gold set, a prediction in the set counts as correct."""
    pred = [CANONICAL[i] for i in probs.argmax(1)]
    gold = [p if p in s else g for p, s, g in zip(pred, split[1], split[2], strict=True)]
    present = sorted(set(gold))
    return {
        "accuracy": round(float(np.mean([p == g for p, g in zip(pred, gold, strict=True)])), 4),
        "macro_f1": round(f1_score(gold, pred, labels=present, average="macro"), 4),
        "weighted_f1": round(f1_score(gold, pred, labels=present, average="weighted"), 4),
    }


def indicator(sets: list[set[str]]) -> np.ndarray:
    return np.array([[label in s for label in CANONICAL] for s in sets])


def thresholds_on(probs: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-label probability threshold maximising that label's F1 (dev data)."""
    grid = np.linspace(0.05, 0.95, 19)
    scores = [
        [f1_score(truth[:, j], probs[:, j] >= t, zero_division=0) for t in grid]
        for j in range(len(CANONICAL))
    ]
    return grid[np.argmax(scores, axis=1)]


def multilabel_f1(probs: np.ndarray, split: Split, thresholds: np.ndarray) -> float:
    """Standard multi-label macro-F1: labels over their threshold, always the top one."""
    pred = probs >= thresholds
    pred[np.arange(len(probs)), probs.argmax(1)] = True
    return round(float(f1_score(indicator(split[1]), pred, average="macro", zero_division=0)), 4)


def ensemble_weight(p_neural: np.ndarray, p_ngram: np.ndarray, split: Split) -> float:
    """Weight of the neural model maximising dev accuracy (prediction in the gold set)."""
    truth = indicator(split[1])
    grid = np.linspace(0, 1, 21)
    acc = [
        truth[np.arange(len(truth)), (w * p_neural + (1 - w) * p_ngram).argmax(1)].mean()
        for w in grid
    ]
    return float(grid[int(np.argmax(acc))])


def speed(model, texts: list[str]) -> dict[str, float]:
    """Texts/s on one batch and median single-text latency (ms)."""
    start = time.perf_counter()
    model.predict_proba(texts)
    rate = len(texts) / (time.perf_counter() - start)
    times = []
    for text in texts[:50]:
        start = time.perf_counter()
        model.predict_proba([text])
        times.append(time.perf_counter() - start)
    return {"texts_per_s": round(rate, 1), "single_ms_p50": round(1000 * np.median(times), 2)}


def torch_reference(run: Path, texts: list[str]) -> tuple[np.ndarray, dict[str, float]]:
    """Logits and speed of the trained torch model (LoRA unmerged, fp16-rounded as shipped)."""
    import sys

    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    import train as recipe

    cfg = json.loads((run / "config.json").read_text())
    torch.set_num_threads(cfg["threads"])
    model = recipe.build_model(cfg)
    model.load_state_dict(
        torch.load(run / "best.pt", weights_only=False)["trainable"], strict=False
    )
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.copy_(p.half().float())
    ids, _ = recipe.tokenize(texts, cfg["max_len"])
    start = time.perf_counter()
    logits = recipe.predict_logits(model, ids)
    rate = len(texts) / (time.perf_counter() - start)
    times = []
    for one in ids[:50]:
        start = time.perf_counter()
        recipe.predict_logits(model, [one])
        times.append(time.perf_counter() - start)
    return logits, {
        "texts_per_s": round(rate, 1),
        "single_ms_p50": round(1000 * np.median(times), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--eval", type=Path, default=Path("../shared/eval"))
    parser.add_argument("--run", type=Path, default=Path("runs/minilm_en"))
    parser.add_argument("--out", type=Path, default=Path("runs/minilm_en/eval.json"))
    parser.add_argument("--torch", action="store_true", help="also compare with torch")
    args = parser.parse_args()
    models = {
        "minilm-en": recognizers.create("minilm-en"),
        "default": recognizers.create("default"),
    }
    for model in models.values():
        assert tuple(model.labels) == CANONICAL
    splits = {
        "dair_val": dair(args.data, "val"),
        "goemotions_dev": goemotions(args.data, "dev"),
        "dair_test": dair(args.data, "test"),
        "goemotions_test": goemotions(args.data, "test"),
        "meld_test": meld(args.eval, "test"),
    }
    probs = {
        (m, s): model.predict_proba(split[0], ["en"] * len(split[0]))
        for m, model in models.items()
        for s, split in splits.items()
    }
    dev_split = tuple(
        a + b for a, b in zip(splits["dair_val"], splits["goemotions_dev"], strict=True)
    )
    stack = {m: np.vstack([probs[m, "dair_val"], probs[m, "goemotions_dev"]]) for m in models}
    w = ensemble_weight(stack["minilm-en"], stack["default"], dev_split)
    for s in splits:
        probs["ensemble", s] = w * probs["minilm-en", s] + (1 - w) * probs["default", s]
    report: dict = {"ensemble_weight_minilm": w}
    for m in ("default", "minilm-en", "ensemble"):
        thr = thresholds_on(probs[m, "goemotions_dev"], indicator(splits["goemotions_dev"][1]))
        report[m] = {s: single(probs[m, s], splits[s]) for s in splits}
        report[m]["goemotions_test"]["macro_f1_multilabel"] = multilabel_f1(
            probs[m, "goemotions_test"], splits["goemotions_test"], thr
        )
    sample = splits["goemotions_test"][0][:1000]
    report["speed"] = {m: speed(model, sample) for m, model in models.items()}
    with threadpool_limits(1):  # torch runs with 1 thread too (config "threads")
        report["speed"]["minilm-en, 1 BLAS thread"] = speed(models["minilm-en"], sample)
    if args.torch:
        logits, report["speed"]["torch"] = torch_reference(args.run, sample)
        diff = np.abs(models["minilm-en"].predict_logits(sample) - logits).max()
        report["numpy_vs_torch_max_abs_logit_diff"] = float(diff)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
