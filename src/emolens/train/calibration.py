"""Calibration and abstention of a classifier's top-1 confidence.

``reliability`` bins the top-1 confidence (15 equal-width bins by default) and gives the
expected calibration error; ``fit_temperature`` finds the temperature that minimises the
negative log-likelihood of validation labels, so users can calibrate their own model;
``guarded_temperature`` is the fit that training uses (it never sharpens on too little
evidence); ``risk_coverage`` and ``abstention`` say what accuracy is left when uncertain
items are set aside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from emolens.errors import InvalidInputError


@dataclass(frozen=True)
class Reliability:
    """Top-1 confidence against accuracy in equal-width bins (the reliability diagram's data)."""

    edges: np.ndarray  # (n_bins + 1,) from 0 to 1
    counts: np.ndarray  # items per bin
    confidence: np.ndarray  # mean top-1 confidence per bin (NaN where empty)
    accuracy: np.ndarray  # share of correct top-1 per bin (NaN where empty)

    @property
    def ece(self) -> float:
        """Expected calibration error: bin-size-weighted mean of |accuracy - confidence|."""
        gaps = np.nan_to_num(np.abs(self.accuracy - self.confidence))
        return float((self.counts * gaps).sum() / max(int(self.counts.sum()), 1))

    @property
    def mce(self) -> float:
        """Maximum calibration error over the non-empty bins."""
        gaps = np.abs(self.accuracy - self.confidence)[self.counts > 0]
        return float(gaps.max()) if gaps.size else 0.0

    def bins(self) -> list[dict[str, float | int | None]]:
        """One JSON-safe row per bin: lo, hi, count, confidence, accuracy."""
        return [
            {"lo": float(lo), "hi": float(hi), "count": int(n),
             "confidence": None if n == 0 else float(c), "accuracy": None if n == 0 else float(a)}
            for lo, hi, n, c, a in zip(self.edges[:-1], self.edges[1:], self.counts,
                                       self.confidence, self.accuracy, strict=True)
        ]


def reliability(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> Reliability:
    """Reliability data of top-1 ``confidence`` (in [0, 1]) and whether each top-1 was right."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if confidence.shape != correct.shape or confidence.ndim != 1:
        raise InvalidInputError(
            f"confidence and correct must be 1-D and the same length; got shapes "
            f"{confidence.shape} and {correct.shape}"
        )
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Bins are (lo, hi]; a confidence of exactly 0 goes to the first bin.
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, confidence, minlength=n_bins) / counts
        accuracy = np.bincount(which, correct, minlength=n_bins) / counts
    return Reliability(edges, counts, mean_conf, accuracy)


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15
) -> float:
    """ECE of top-1 ``confidence`` over ``n_bins`` equal-width bins."""
    return reliability(confidence, correct, n_bins).ece


def log_probabilities(probs: np.ndarray) -> np.ndarray:
    """Natural log of probabilities; a probability of exactly 0 stays impossible (-inf).

    A model that maps its own labels onto more labels gives some of them 0 by construction;
    temperature scaling must not lift those, so they are kept at -inf rather than floored.
    """
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(probs, dtype=np.float64))


def negative_log_likelihood(
    logits_or_log_probs: np.ndarray, gold: np.ndarray, temperature: float = 1.0
) -> float:
    """Mean NLL of integer ``gold`` under softmax(``logits_or_log_probs`` / temperature)."""
    z = np.asarray(logits_or_log_probs, dtype=np.float64)
    gold = np.asarray(gold, dtype=np.intp)
    log_p = log_softmax(z / temperature, axis=1)
    return float(-log_p[np.arange(len(gold)), gold].mean())


def apply_temperature(logits_or_log_probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities softmax(z / temperature); rows sum to 1."""
    z = np.asarray(logits_or_log_probs, dtype=np.float64)
    return np.exp(log_softmax(z / temperature, axis=1))


def fit_temperature(
    logits_or_log_probs: np.ndarray, gold: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)
) -> float:
    """Temperature T minimising the NLL of integer ``gold`` under softmax(z / T).

    Pass validation logits, or log-probabilities (``log_probabilities(probs)``) when a model
    only gives probabilities; T > 1 softens an over-confident model, T < 1 sharpens.
    """
    z = np.asarray(logits_or_log_probs, dtype=np.float64)
    gold = np.asarray(gold, dtype=np.intp)
    if z.ndim != 2 or len(z) != len(gold) or len(gold) == 0:
        raise InvalidInputError(
            f"fit_temperature needs an (n, classes) array and n gold indices, n > 0; got "
            f"shapes {z.shape} and {gold.shape}"
        )
    if gold.min() < 0 or gold.max() >= z.shape[1]:
        raise InvalidInputError(f"gold indices must be in [0, {z.shape[1]}), got {gold.max()}")
    impossible = int(np.isneginf(z[np.arange(len(gold)), gold]).sum())
    if impossible:
        raise InvalidInputError(
            f"{impossible} items give their gold label probability 0, which no temperature can "
            "change; leave them out of the fit"
        )
    best = minimize_scalar(
        lambda log_t: negative_log_likelihood(z, gold, float(np.exp(log_t))),
        bounds=(float(np.log(bounds[0])), float(np.log(bounds[1]))), method="bounded",
    )
    return float(np.exp(best.x))


# Calibration on fewer validation items than this is rough, and may not sharpen a model.
MIN_CALIBRATION_ITEMS = 30
# A temperature outside this range says more about the validation set than about the model.
TEMPERATURE_RANGE = (0.1, 10.0)


def guarded_temperature(
    logits: np.ndarray, gold: np.ndarray, min_items: int = MIN_CALIBRATION_ITEMS
) -> tuple[float, str | None]:
    """The temperature training stores, and a note on what it rests on (None: nothing to say).

    Fitted in ``TEMPERATURE_RANGE``; but a fit that would sharpen (T < 1) on fewer than
    ``min_items`` items, or on items the model got all right, is refused (T = 1): a perfectly
    separated or tiny validation set always asks for more confidence than test data bears.
    """
    gold = np.asarray(gold, dtype=np.intp)
    n = len(gold)
    if n == 0:
        return 1.0, "no validation items: temperature 1 (not calibrated)"
    fitted = fit_temperature(logits, gold, TEMPERATURE_RANGE)
    mistakes = int((np.asarray(logits).argmax(axis=1) != gold).sum())
    if fitted < 1.0 and (n < min_items or mistakes == 0):
        why = (f"no mistakes among its {n} validation items" if mistakes == 0 else
               f"only {n} validation items (fewer than {min_items})")
        return 1.0, (f"temperature kept at 1: the fit asked for {fitted:.2f} (more confident) "
                     f"from {why}, too little evidence to sharpen the model")
    if n < min_items:
        return fitted, (f"calibration rests on only {n} validation items (fewer than "
                        f"{min_items}): the temperature and the ECE are rough")
    return fitted, None


def risk_coverage(
    confidence: np.ndarray, correct: np.ndarray, points: int = 10
) -> tuple[list[dict[str, float]], float]:
    """Accuracy of the most confident k items at coverages 1/points .. 1, and the AURC.

    AURC is the mean error over every coverage k/n (lower is better).
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    n = len(confidence)
    if n == 0:
        return [], float("nan")
    order = np.argsort(-confidence, kind="stable")
    accuracy = np.cumsum(correct[order]) / np.arange(1, n + 1)
    curve = []
    for coverage in np.linspace(1 / points, 1.0, points):
        k = max(int(np.ceil(coverage * n - 1e-9)), 1)
        curve.append({
            "coverage": k / n, "items": k, "threshold": float(confidence[order][k - 1]),
            "accuracy": float(accuracy[k - 1]), "risk": float(1 - accuracy[k - 1]),
        })
    return curve, float(np.mean(1 - accuracy))


def abstention(confidence: np.ndarray, correct: np.ndarray, below: float) -> dict[str, float]:
    """Coverage and accuracy when items with confidence below ``below`` are set aside."""
    if not 0.0 <= below <= 1.0:
        raise InvalidInputError(f"the abstention threshold must be in [0, 1], got {below}")
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    covered = confidence >= below
    kept, set_aside = int(covered.sum()), int((~covered).sum())
    return {
        "threshold": float(below),
        "covered": kept,
        "coverage": kept / max(len(confidence), 1),
        "accuracy_covered": float(correct[covered].mean()) if kept else float("nan"),
        "accuracy_abstained": float(correct[~covered].mean()) if set_aside else float("nan"),
        "accuracy_all": float(correct.mean()) if len(correct) else float("nan"),
    }
