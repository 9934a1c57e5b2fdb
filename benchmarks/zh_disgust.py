"""What the Chinese disgust probe costs on SMP2020-EWECT, with and without it in one run.

    python benchmarks/zh_disgust.py [--data ../shared/data] [--models default,accurate]

SMP2020 has no disgust class (its annotators filed disgust under angry), so every post the
probe moves to disgust counts as an error here; the figure to watch is how little macro-F1
moves. Also printed: macro-F1 with disgust folded back into anger, as SMP's own scheme does,
and the share of posts read as disgust. There are no Chinese disgust labels to measure the
gain on; see the e5-zh model card for the English dev figures of the probe.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

sys.path.insert(0, str(Path(__file__).parent))
import datasets as ds  # noqa: E402

from emolens.labels import CANONICAL  # noqa: E402
from emolens.registry import recognizers  # noqa: E402
from emolens.text.chinese import SimplifiedChineseRecognizer  # noqa: E402
from emolens.text.disgust import ChineseDisgustRecognizer  # noqa: E402
from emolens.text.emoji import EmojiAwareRecognizer  # noqa: E402
from emolens.text.long import LongTextRecognizer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FILES = ("usual_eval_labeled.json", "virus_eval_labeled.json", "usual_test_labeled.json",
         "virus_test_labeled.json")


def without_probe(model: SimplifiedChineseRecognizer) -> SimplifiedChineseRecognizer:
    """The same model with the probe taken out (Traditional Chinese, long texts and emoji
    still read)."""
    parts = model.base
    assert isinstance(parts, LongTextRecognizer), "not default or accurate"
    emoji = parts.base
    assert isinstance(emoji, EmojiAwareRecognizer), "not default or accurate"
    probe = emoji.base
    assert isinstance(probe, ChineseDisgustRecognizer), "this model has no disgust probe"
    return SimplifiedChineseRecognizer(LongTextRecognizer(EmojiAwareRecognizer(probe.base)),
                                       name=model.name)


def scores(probs: np.ndarray, gold: list[str]) -> tuple[float, float, float]:
    pred = [CANONICAL[i] for i in probs.argmax(1)]
    folded = ["anger" if p == "disgust" else p for p in pred]
    labels = sorted(set(gold))
    return (f1_score(gold, pred, average="macro", labels=labels),
            f1_score(gold, folded, average="macro", labels=labels),
            float(np.mean([p == "disgust" for p in pred])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data")
    parser.add_argument("--models", default="default,accurate")
    args = parser.parse_args()
    print(f"{'model':9} {'set':28} {'without':>8} {'with':>8} {'folded':>8} {'disgust':>8}")
    for name in args.models.split(","):
        model = recognizers.create(name)
        baseline = without_probe(model)
        for file in FILES:
            split = ds.to_canonical_split(ds.smp(args.data, file), "smp2020_ewect")
            langs = ["zh"] * len(split.texts)
            before = scores(baseline.predict_proba(split.texts, langs), split.gold)
            after = scores(model.predict_proba(split.texts, langs), split.gold)
            print(f"{name:9} {file:28} {before[0]:8.4f} {after[0]:8.4f} {after[1]:8.4f} "
                  f"{after[2]:8.2%}", flush=True)


if __name__ == "__main__":
    main()
