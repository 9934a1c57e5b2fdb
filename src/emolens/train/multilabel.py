"""Scores for items with several gold labels (e.g. GoEmotions): thresholded probabilities,
per-class thresholds fitted on validation data, and top-1-in-gold accuracy."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from emolens.errors import InvalidInputError
from emolens.train.bootstrap import estimates, nanmean, prf, resample_counts

Gold = str | Collection[str]


def label_matrix(gold: Sequence[Gold], labels: Sequence[str]) -> np.ndarray:
    """(n, len(labels)) boolean matrix: True where a label is among an item's gold labels."""
    index = label_index(labels)
    matrix = np.zeros((len(gold), len(labels)), dtype=bool)
    for i, item in enumerate(gold):
        matrix[i, label_positions(as_labels(item), index, "gold")] = True
    return matrix


def fit_thresholds(
    probs: np.ndarray, gold: np.ndarray, grid: np.ndarray | None = None, default: float = 0.5
) -> np.ndarray:
    """Per-class probability thresholds maximising each class's F1 on validation data.

    ``gold`` is an (n, classes) 0/1 matrix (``label_matrix``). A class with no positive
    validation item keeps ``default``; ties go to the highest threshold (fewest positives).
    """
    probs, gold = np.asarray(probs, dtype=np.float64), np.asarray(gold, dtype=bool)
    if probs.shape != gold.shape:
        raise InvalidInputError(f"probs {probs.shape} and gold {gold.shape} differ in shape")
    grid = np.linspace(0.01, 0.99, 99) if grid is None else np.asarray(grid, dtype=np.float64)
    thresholds = np.full(probs.shape[1], default)
    for j in range(probs.shape[1]):
        if not gold[:, j].any():
            continue
        hits = probs[:, j, None] >= grid[None, :]  # (n, grid)
        tp = (hits & gold[:, j, None]).sum(axis=0)
        f1 = 2 * tp / (hits.sum(axis=0) + gold[:, j].sum())
        thresholds[j] = grid[len(grid) - 1 - int(np.argmax(f1[::-1]))]
    return thresholds


def multilabel_metrics(
    gold: np.ndarray, probs: np.ndarray, labels: Sequence[str],
    thresholds: float | np.ndarray = 0.5, n_bootstrap: int = 1000, seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Micro/macro F1 and per-class scores of ``probs >= thresholds``, with bootstrap CIs.

    Macro-F1 averages over the classes with gold items.
    """
    gold = np.asarray(gold, dtype=bool)
    pred = np.asarray(probs) >= np.asarray(thresholds, dtype=np.float64)
    patterns, counts = np.unique(np.concatenate([gold, pred], axis=1), axis=0,
                                 return_counts=True)
    k = gold.shape[1]
    average = gold.any(axis=0)

    def scores(weights: np.ndarray) -> dict[str, np.ndarray]:
        g, p = patterns[:, :k].astype(np.float64), patterns[:, k:].astype(np.float64)
        tp, fp, fn = weights @ (g * p), weights @ ((1 - g) * p), weights @ (g * (1 - p))
        out = prf(tp, fp, fn)
        out["micro_f1"] = prf(tp.sum(1, keepdims=True), fp.sum(1, keepdims=True),
                               fn.sum(1, keepdims=True))["f1"][:, 0]
        out["macro_f1"] = nanmean(out["f1"][:, average])
        return out

    point, boot = scores(counts[None].astype(np.float64)), scores(
        resample_counts(counts, n_bootstrap, seed).astype(np.float64))
    est = {name: estimates(point[name][0], boot[name], level) for name in point}
    return {
        "micro_f1": est["micro_f1"], "macro_f1": est["macro_f1"],
        "thresholds": {label: float(t) for label, t in
                       zip(labels, np.broadcast_to(thresholds, (k,)), strict=True)},
        "per_class": {
            labels[j]: {"precision": est["precision"][j], "recall": est["recall"][j],
                        "f1": est["f1"][j], "support": int(gold[:, j].sum())}
            for j in range(k) if average[j] or pred[:, j].any()
        },
    }


def top1_in_gold(probs: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Whether each item's most probable label is among its gold labels."""
    return np.asarray(gold, dtype=bool)[np.arange(len(gold)), np.argmax(probs, axis=1)]


def label_index(labels: Sequence[str]) -> dict[str, int]:
    """Position of each label; labels must be distinct."""
    if len(set(labels)) != len(labels):
        raise InvalidInputError(f"labels must be distinct, got {list(labels)}")
    return {label: i for i, label in enumerate(labels)}


def label_positions(values: Collection[str], index: dict[str, int], what: str) -> np.ndarray:
    """Positions of ``values`` in ``index``; an unknown value is an error."""
    unknown = sorted({v for v in values if v not in index})
    if unknown:
        raise InvalidInputError(f"{what} labels {unknown} are not among {list(index)}")
    return np.fromiter((index[v] for v in values), dtype=np.intp, count=len(values))


def as_labels(item: Gold) -> list[str]:
    """An item's gold labels as a list (one label, or a set of them)."""
    return [item] if isinstance(item, str) else list(dict.fromkeys(item))
