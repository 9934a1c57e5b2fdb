"""Bootstrap confidence intervals for scores computed from outcome counts.

Resampling n items with replacement only changes how often each distinct item outcome (a
(gold, predicted) pair, or a multi-label pattern) occurs, so each resample's counts are drawn
directly from a multinomial over the observed outcomes: the same distribution as resampling
items, at a cost that does not grow with n.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a bootstrap confidence interval (NaN when undefined)."""

    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, Any]:
        """{"value": v, "ci95": [low, high]}, None where undefined."""
        return {"value": num(self.value), "ci95": [num(self.low), num(self.high)]}

    def text(self, digits: int = 3) -> str:
        """'0.812 [0.771, 0.850]', or '—' when undefined."""
        if np.isnan(self.value):
            return "—"
        if np.isnan(self.low):
            return f"{self.value:.{digits}f}"
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def num(value: float) -> float | None:
    """The float, or None when it is NaN (for JSON)."""
    return None if value is None or np.isnan(value) else float(value)


def prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall and F1 from counts; NaN where a ratio is 0/0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"precision": tp / (tp + fp), "recall": tp / (tp + fn),
                "f1": 2 * tp / (2 * tp + fp + fn)}


def resample_counts(counts: np.ndarray, n_bootstrap: int, seed: int) -> np.ndarray:
    """(n_bootstrap, len(counts)) outcome counts of bootstrap resamples of the items."""
    n = int(counts.sum())
    if n_bootstrap <= 0 or n == 0:
        return np.zeros((0, len(counts)), dtype=np.int64)
    return np.random.default_rng(seed).multinomial(n, counts / n, size=n_bootstrap)


def estimates(point: np.ndarray, boot: np.ndarray, level: float) -> Any:
    """Estimate (or a list of them, for a vector) from a point value and bootstrap values."""
    alpha = (1 - level) / 2 * 100
    if len(boot) == 0:
        low = high = np.full(np.shape(point), np.nan)
    else:
        with quiet():
            low, high = np.nanpercentile(boot, [alpha, 100 - alpha], axis=0)
    if np.ndim(point) == 0:
        return Estimate(float(point), float(low), float(high))
    return [Estimate(float(v), float(lo), float(hi)) for v, lo, hi in zip(point, low, high,
                                                                           strict=True)]


def nanmean(values: np.ndarray) -> np.ndarray:
    """Row means ignoring NaN (NaN for a row with nothing defined)."""
    with quiet():
        return np.nanmean(values, axis=1) if values.shape[1] else np.full(len(values), np.nan)


@contextmanager
def quiet() -> Iterator[None]:
    """No 'mean of empty slice' warnings: an all-NaN column is an undefined score, by design."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def proportion(hits: np.ndarray, n_bootstrap: int = 1000, seed: int = 0,
               level: float = 0.95) -> Estimate:
    """Share of True in ``hits`` with a bootstrap CI (a resample's count is binomial)."""
    hits = np.asarray(hits, dtype=bool)
    n = len(hits)
    if n == 0:
        return Estimate(np.nan, np.nan, np.nan)
    boot = np.random.default_rng(seed).binomial(n, hits.mean(), size=n_bootstrap) / n
    return estimates(np.asarray(hits.mean()), boot, level)
