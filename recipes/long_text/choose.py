"""Choose how long texts are read (``emolens.text.long``), on dev splits only.

There is no labelled set of long texts, so this builds them from dev items: 3 to 6 neutral
items joined, with one emotional item put among them in two texts of three (gold: that
item's label; else neutral). That is how the datasets' annotators used "neutral": only where
no emotion is expressed. English texts come from single-label GoEmotions dev comments (4 to 8
neutral ones), Chinese from SMP2020 usual dev posts. The real long posts of SMP2020 usual and
virus dev (over 60 characters) are scored too, so that a choice that helps the built texts
does not hurt real ones.

Printed, for ``default``:
- English: the encoder reading only its first window (as before), the encoder's windows
  merged (``MiniLMRecognizer``), and English texts also cut into parts of N words;
- Chinese: whole texts, and texts over ``LONG_CHARS`` characters in parts of ``PART_CHARS``
  for each ``NEUTRAL_FLOOR``.

    python recipes/long_text/choose.py [--data ../shared/data] [--n 600] [--json out.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import datasets as ds  # noqa: E402

import emolens.models  # noqa: E402,F401  (registers the recognizers)
from emolens.labels import CANONICAL, to_canonical  # noqa: E402
from emolens.registry import recognizers  # noqa: E402
from emolens.text import long, minilm  # noqa: E402

NEUTRAL = CANONICAL.index("neutral")


def built(items: list[tuple[str, str]], k_range: tuple[int, int], n: int, joiner: str,
          seed: int) -> tuple[list[str], np.ndarray]:
    """``n`` long texts of neutral items, two in three with one emotional item among them."""
    rng = random.Random(seed)
    neutral = [t for t, g in items if g == "neutral"]
    emotional = [(t, g) for t, g in items if g != "neutral"]
    texts, gold = [], []
    for i in range(n):
        parts = rng.sample(neutral, rng.randint(*k_range))
        label = "neutral"
        if i % 3:
            text, label = rng.choice(emotional)
            parts.insert(rng.randint(0, len(parts)), text)
        texts.append(joiner.join(parts))
        gold.append(CANONICAL.index(label))
    return texts, np.array(gold)


def english_parts(text: str, words: int) -> list[str]:
    """English cut into parts of ``words`` words at sentence ends (what the Chinese parts do)."""
    parts, current = [], []
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        tokens = sentence.split()
        if current and len(current) + len(tokens) > words:
            parts.append(" ".join(current))
            current = []
        current += tokens
    return parts + [" ".join(current)] if current else parts


def scores(gold: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    pred = probs.argmax(1)
    labels = sorted(set(gold.tolist()))
    return {"macro_f1": round(float(f1_score(gold, pred, labels=labels, average="macro")), 4),
            "accuracy": round(float(accuracy_score(gold, pred)), 4),
            "neutral_recall": round(float((pred[gold == NEUTRAL] == NEUTRAL).mean()), 3),
            "correct": int((pred == gold).sum())}


def in_parts(model: object, texts: list[str], language: str, split: object) -> np.ndarray:
    """``model`` over ``texts`` cut by ``split``, merged by ``long.merge_parts``."""
    parts = [split(t) for t in texts]
    owner = np.repeat(np.arange(len(texts)), [len(p) for p in parts])
    flat = [p for ps in parts for p in ps]
    probs = model.predict_proba(flat, [language] * len(flat))  # type: ignore[attr-defined]
    sizes = np.array([max(len(p.split()) if language == "en" else len(p), 1) for p in flat])
    return long.merge_parts(np.asarray(probs), owner, sizes, len(texts), NEUTRAL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data")
    parser.add_argument("--n", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    go = ds.ekman(ds.goemotions(args.data, "dev"))
    en_items = [(t, next(iter(s))) for t, s in zip(go.texts, go.gold_sets, strict=True)
                if len(s) == 1]
    usual = ds.smp(args.data, "usual_eval_labeled.json")
    zh_items = [(t, to_canonical(g, "smp2020_ewect") or g)
                for t, g in zip(usual.texts, usual.gold, strict=True)]
    en_texts, en_gold = built(en_items, (4, 8), args.n, " ", args.seed)
    zh_texts, zh_gold = built(zh_items, (3, 6), args.n, "", args.seed)
    real_texts, real_gold = [], []
    for file in ("usual_eval_labeled.json", "virus_eval_labeled.json"):
        split = ds.smp(args.data, file)
        for text, label in zip(split.texts, split.gold, strict=True):
            if len(text) - text.count(" ") > 60:
                real_texts.append(text)
                real_gold.append(CANONICAL.index(to_canonical(label, "smp2020_ewect") or label))
    real = np.array(real_gold)
    # default below its long-text and Traditional-Chinese wrappers: cascade, emoji, disgust.
    shipped = recognizers.create("default")
    assert isinstance(shipped.base, long.LongTextRecognizer), "default reads no parts"
    model = shipped.base.base
    results: dict[str, dict[str, float]] = {}

    def report(key: str, gold: np.ndarray, probs: np.ndarray) -> None:
        results[key] = scores(gold, probs)
        print(f"{key:44s} {results[key]}", flush=True)

    print(f"{len(en_texts)} English and {len(zh_texts)} Chinese built texts; "
          f"{len(real_texts)} real long SMP2020 dev posts")
    windows = minilm.MAX_WINDOWS
    minilm.MAX_WINDOWS = 1
    report("en built, encoders' first window only", en_gold,
           model.predict_proba(en_texts, ["en"] * len(en_texts)))
    minilm.MAX_WINDOWS = windows
    report("en built, encoders' windows merged", en_gold,
           model.predict_proba(en_texts, ["en"] * len(en_texts)))
    for words in (25, 40, 60):
        report(f"en built, parts of {words} words", en_gold,
               in_parts(model, en_texts, "en", lambda t, w=words: english_parts(t, w)))
    report("zh built, whole", zh_gold, model.predict_proba(zh_texts, ["zh"] * len(zh_texts)))
    report("zh real, whole", real, model.predict_proba(real_texts, ["zh"] * len(real_texts)))
    chosen = (long.PART_CHARS, long.NEUTRAL_FLOOR, long.LONG_CHARS)
    grid = [(chars, floor, chars) for chars, floor in
            itertools.product((60, 120, 180), (0.02, 0.1, 0.3))]
    grid += [(120, 0.1, longer) for longer in (160, 200, 240)]
    for chars, floor, longer in grid:
        long.PART_CHARS, long.NEUTRAL_FLOOR, long.LONG_CHARS = chars, floor, longer
        for name, texts, gold in (("built", zh_texts, zh_gold), ("real", real_texts, real)):
            report(f"zh {name}, over {longer} in parts of {chars}, floor {floor}", gold,
                   in_parts(model, texts, "zh", lambda t: long.split_parts(t, "zh")))
    long.PART_CHARS, long.NEUTRAL_FLOOR, long.LONG_CHARS = chosen
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
