"""Train the cross-lingual disgust probe that lets the default read disgust in Chinese.

SMP2020-EWECT, our only Chinese training data, has no disgust class (its annotators filed
disgust under angry), so no Chinese model of ours can say "disgust". multilingual-e5 maps
English and Chinese sentences of like meaning to nearby vectors, so a disgust direction
learnt on English GoEmotions comments, in the pooled features of the shipped ``e5-zh``
encoder, carries over to Chinese posts. This script fits that direction: a logistic
regression "disgust vs everything else" on English features only.

- Positives: every GoEmotions train comment whose Ekman groups include disgust.
- Negatives: a random sample of the other train comments; the intercept is then corrected
  by log(sample rate) so the probe's probabilities match GoEmotions' own disgust rate.
- C is chosen on GoEmotions dev by log loss (never on test, never on Chinese data: we have
  no Chinese disgust labels).
- The wrapper asks the probe only about texts that hold a disgust cue, where disgust is far
  more likely than in general (31 % of cued English train comments against 1.8 % of all).
  So the intercept is last refitted, by likelihood with the weights fixed, on the English
  train comments holding an English cue: the lexicon's disgust words plus the English for
  the broader Chinese cues (垃圾 rubbish, 鄙视 despise, 呕 vomit...).

Writes ``src/emolens/models/e5_zh/disgust_probe.npz`` (384 weights + intercept, float32) and
prints the dev figures for the model card.

    python recipes/e5_zh/disgust_probe.py [--negatives 8000] [--out ...]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, log_loss, roc_auc_score

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import datasets as ds  # noqa: E402

from emolens.registry import recognizers  # noqa: E402
from emolens.text.lexicon_tables import EN_WORDS  # noqa: E402

# English counterparts of the Chinese cues in emolens.text.disgust: the lexicon's English
# disgust words and the English for the broader Chinese ones.
BROAD_CUES = "trash garbage rubbish despise vomit puke filthy dirty".split()


def has_disgust(split: ds.Split) -> np.ndarray:
    return np.array(["disgust" in s for s in split.gold_sets])


def cued(texts: list[str]) -> np.ndarray:
    words = [w for w, e in EN_WORDS.items() if e == "disgust"] + BROAD_CUES
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, words)) + r")\b", re.IGNORECASE)
    return np.array([bool(pattern.search(t)) for t in texts])


def offset_fit(scores: np.ndarray, target: np.ndarray) -> float:
    """The shift of the logit that maximises the likelihood of ``target`` (1-D logistic)."""
    result = minimize_scalar(lambda d: log_loss(target, expit(scores + d), labels=[0, 1]),
                             bounds=(-10, 10), method="bounded")
    return float(result.x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data")
    parser.add_argument("--negatives", type=int, default=8000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path,
                        default=ROOT / "src/emolens/models/e5_zh/disgust_probe.npz")
    args = parser.parse_args()
    train = ds.ekman(ds.goemotions(args.data, "train"))
    dev = ds.ekman(ds.goemotions(args.data, "dev"))
    train_target, train_cued = has_disgust(train), cued(train.texts)
    positive = [t for t, d in zip(train.texts, train_target, strict=True) if d]
    rest = [t for t, d in zip(train.texts, train_target, strict=True) if not d]
    negatives = random.Random(args.seed).sample(rest, min(args.negatives, len(rest)))
    rate = len(negatives) / len(rest)
    encoder = recognizers.create("e5-zh")
    print(f"embedding {len(positive)} disgust and {len(negatives)} other train comments, "
          f"{len(dev.texts)} dev", flush=True)
    features = encoder.embed(positive + negatives)
    target = np.r_[np.ones(len(positive)), np.zeros(len(negatives))]
    dev_features, dev_target = encoder.embed(dev.texts), has_disgust(dev)

    def corrected(model: LogisticRegression) -> tuple[np.ndarray, float]:
        # Negatives were kept at ``rate``: their odds were inflated by 1 / rate.
        return model.coef_[0], float(model.intercept_[0] + np.log(rate))

    trials = []
    for c in (0.03, 0.1, 0.3, 1.0, 3.0, 10.0):
        model = LogisticRegression(C=c, max_iter=5000).fit(features, target)
        weights, bias = corrected(model)
        p = expit(dev_features @ weights + bias)
        trials.append({"C": c, "dev_log_loss": round(log_loss(dev_target, p), 5),
                       "dev_auc": round(roc_auc_score(dev_target, p), 4),
                       "dev_f1_at_0.5": round(f1_score(dev_target, p > 0.5), 4),
                       "weights": weights, "bias": bias})
        print({k: v for k, v in trials[-1].items() if k not in ("weights", "bias")}, flush=True)
    best = min(trials, key=lambda t: t["dev_log_loss"])
    # Calibrate for cued texts, as the wrapper uses the probe (see the module docstring).
    cued_train = [t for t, c in zip(train.texts, train_cued, strict=True) if c]
    cued_target = train_target[train_cued]
    cued_scores = encoder.embed(cued_train) @ best["weights"] + best["bias"]
    shift = offset_fit(cued_scores, cued_target)
    dev_mask = cued(dev.texts)
    dev_scores = dev_features[dev_mask] @ best["weights"] + best["bias"]
    for label, d in (("before", 0.0), ("after", shift)):
        p = expit(dev_scores + d)
        print(f"cued dev comments ({dev_mask.sum()}, disgust rate "
              f"{dev_target[dev_mask].mean():.3f}), {label} the shift: log loss "
              f"{log_loss(dev_target[dev_mask], p, labels=[0, 1]):.4f}, F1 at 0.5 "
              f"{f1_score(dev_target[dev_mask], p > 0.5):.4f}", flush=True)
    best["bias"] += shift
    np.savez(args.out, weights=best["weights"].astype(np.float32),
             bias=np.float32(best["bias"]))
    summary = {k: v for k, v in best.items() if k not in ("weights", "bias")}
    summary.update(positives=len(positive), negatives=len(negatives), cued_train=len(cued_train),
                   cued_train_disgust_rate=round(float(cued_target.mean()), 4),
                   cued_shift=round(shift, 4),
                   dev_disgust_rate=round(float(dev_target.mean()), 4),
                   encoder=f"e5-zh@{encoder.version}")
    print(json.dumps(summary))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
