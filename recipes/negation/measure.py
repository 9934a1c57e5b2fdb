"""Measure a rule for negated emotion words on dev splits (never test): not adopted.

"I am not angry at all" reads anger 0.83 and 我并不讨厌他 anger 0.94 in `default`. The rule
tried here finds *direct* negations with the lexicon's word lists: a negator ("not", "n't",
"never", 不, 没, 并不...) followed, with only filler words between (am, feel, really, at all;
很, 也, 一点...), by an emotion word of anger, disgust, fear, sadness or surprise, where the
same emotion has no word left un-negated. It then moves a share ``beta`` of that emotion's
probability to neutral. (Negated joy is left to the models, which already read "not happy" as
sadness.)

On the dev splits every ``beta`` lowers macro-F1 (2026-12-08: dair val 0.9111 → 0.9039,
GoEmotions dev 0.6677 → 0.6660, SMP2020 usual 0.7351 → 0.7336, virus 0.6299 → 0.6293, at
beta 0.5 to 1 alike): in real posts a negated emotion word most often still goes with that
emotion ("I've never been this sad", "Wouldn't surprise me", dair's "i dont feel alarmed",
labelled fear), so the models' reading is usually right there. It stays a documented limit.

    python recipes/negation/measure.py [--data ../shared/data] [--show 10]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "recipes" / "cascade"))
sys.path.insert(0, str(ROOT / "benchmarks"))
import choose  # noqa: E402

import emolens  # noqa: E402
from emolens.labels import CANONICAL  # noqa: E402
from emolens.text import lexicon as lex  # noqa: E402
from emolens.text.features import jieba_segmenter, normalise  # noqa: E402

# Words that may stand between a negator and the emotion word it negates.
EN_FILLERS = frozenset(
    "am is are was were be been being feel feels felt feeling get got getting gets really very "
    "so too that all at even particularly remotely overly super i im i'm you he she it we they "
    "me him her them a the bit any anymore".split())
ZH_FILLERS = frozenset("是 很 太 那么 这么 怎么 会 觉得 感到 感觉 再 也 都 一点 一点儿 有 "
                       "有点 特别 真的 真 好 并 觉 算 那 这 我 你 他 她 它 们 用 必".split())
NEUTRAL = CANONICAL.index("neutral")


def negated_only(text: str, language: str) -> set[str]:
    """Emotions (joy aside) whose words in ``text`` all stand right after a negator."""
    text = normalise(text).replace("\u2019", "'")
    if language == "zh":
        tokens, fillers = [t for t in jieba_segmenter().lcut(text) if t.strip()], ZH_FILLERS
    else:
        tokens, fillers = lex._EN_TOKEN.findall(text), EN_FILLERS
    negated, plain = Counter(), Counter()
    open_, left = False, 0
    for token in tokens:
        if token in lex._CLAUSE_END or token in lex.SCOPE_BREAKERS:
            open_ = False
        elif lex._is_en_negator(token) or (language == "zh" and token in lex.ZH_NEGATORS):
            open_, left = True, 4
        else:
            if language == "zh":
                hits, _, inner = lex._chinese_hits(token)
            else:
                hits, inner = lex._english_hits(token), None
            if hits:
                is_negated = open_ if inner is None else not open_
                for emotion, weight in hits:
                    (negated if is_negated else plain)[emotion] += weight
                open_ = False
            elif open_ and token in fillers and left > 0:
                left -= 1
            else:
                open_ = False
    return {e for e in negated if e != "joy" and not plain.get(e)}


def apply(probs: np.ndarray, found: list[set[str]], beta: float) -> np.ndarray:
    out = probs.copy()
    for i, emotions in enumerate(found):
        for emotion in emotions:
            j = CANONICAL.index(emotion)
            moved = beta * out[i, j]
            out[i, j] -= moved
            out[i, NEUTRAL] += moved
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data")
    parser.add_argument("--show", type=int, default=10, help="dev texts to show per split")
    args = parser.parse_args()
    model = emolens.load("default").recognizer
    for language, splits in choose.dev_sets(args.data).items():
        for split in splits:
            probs = np.asarray(model.predict_proba(split.texts, [language] * len(split.texts)))
            found = [negated_only(t, language) for t in split.texts]
            hit = [i for i, f in enumerate(found) if f]
            scores = {beta: choose.macro_f1(apply(probs, found, beta), [split])
                      for beta in (0.0, 0.5, 0.8, 1.0)}
            print(f"{split.name}: {len(hit):,} of {len(split.texts):,} texts with a directly "
                  "negated emotion word; macro-F1 by beta: "
                  + ", ".join(f"{b:g} {s:.4f}" for b, s in scores.items()))
            shown = [i for i in hit if CANONICAL[int(probs[i].argmax())] in found[i]]
            for i in shown[: args.show]:
                print(f"    gold {split.gold[i]:8s} read {CANONICAL[int(probs[i].argmax())]:8s} "
                      f"{split.texts[i][:90]}")


if __name__ == "__main__":
    main()
