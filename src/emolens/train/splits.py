"""Train/validation splits for every modality: hold-out, k-fold, and group-aware versions.

A split never puts one group (a speaker, a person, an actor) on both sides when groups are
given, and keeps class proportions where it can (stratified). Splits are index arrays into
the items, so the same plan serves texts, clips and images.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.model_selection import (
    GroupShuffleSplit,
    StratifiedGroupKFold,
    StratifiedKFold,
    StratifiedShuffleSplit,
)

from emolens.errors import InvalidInputError

Split = tuple[np.ndarray, np.ndarray]  # (train indices, validation indices)


def holdout(
    y: Sequence[str], groups: Sequence[str] | None = None, val_split: float = 0.2, seed: int = 0
) -> Split:
    """One train/validation split with ``val_split`` of the items (or groups) held out."""
    if not 0.0 < val_split < 1.0:
        raise InvalidInputError(f"--val-split must be between 0 and 1, got {val_split}")
    y = np.asarray(y)
    index = np.arange(len(y))
    if groups is not None:
        groups = np.asarray(groups)
        if len(set(groups.tolist())) < 2:
            raise InvalidInputError("a group-aware split needs at least two groups; got one")
        splitter = GroupShuffleSplit(n_splits=1, test_size=val_split, random_state=seed)
        train, val = next(splitter.split(index, y, groups))
    else:
        counts = np.unique(y, return_counts=True)[1]
        n_val = int(np.ceil(val_split * len(y)))
        if counts.min() < 2 or n_val < len(counts) or len(y) - n_val < len(counts):
            # Too few items of some class to stratify: a plain shuffled split.
            order = np.random.default_rng(seed).permutation(len(y))
            val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
        else:
            splitter = StratifiedShuffleSplit(n_splits=1, test_size=n_val, random_state=seed)
            train, val = next(splitter.split(index, y))
    if len(train) == 0 or len(val) == 0:
        raise InvalidInputError(f"--val-split {val_split} leaves nothing on one side of "
                                f"{len(y)} items; use more data or another split")
    return np.sort(train), np.sort(val)


def kfold(
    y: Sequence[str], k: int, groups: Sequence[str] | None = None, seed: int = 0
) -> list[Split]:
    """``k`` folds: each item (each group, with ``groups``) is validated on exactly once."""
    y = np.asarray(y)
    if k < 2:
        raise InvalidInputError(f"--folds must be at least 2, got {k}")
    if k > len(y):
        raise InvalidInputError(f"--folds {k} is more than the {len(y)} items")
    index = np.arange(len(y))
    if groups is not None:
        groups = np.asarray(groups)
        n_groups = len(set(groups.tolist()))
        if n_groups < k:
            raise InvalidInputError(
                f"--folds {k} needs at least {k} groups; the data has {n_groups}")
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        splits = splitter.split(index, y, groups)
    else:
        smallest = np.unique(y, return_counts=True)[1].min()
        if smallest >= k:
            splits = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(index, y)
        else:  # a class rarer than k cannot be in every fold: plain shuffled folds
            order = np.random.default_rng(seed).permutation(len(y))
            splits = ((np.setdiff1d(index, part), part) for part in np.array_split(order, k))
    folds = [(np.sort(train), np.sort(val)) for train, val in splits]
    if any(len(val) == 0 for _, val in folds):
        raise InvalidInputError(f"--folds {k} leaves a fold empty; use fewer folds")
    return folds


def groups_from_names(paths: Sequence[str | Path], pattern: str) -> list[str]:
    """Each file's group from its name by ``pattern`` (its first capture group, else the match).

    For RAVDESS, ``-(\\d+)\\.\\w+$`` takes the actor from ``03-01-05-02-01-01-12.flac``.
    """
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise InvalidInputError(f"--group-regex {pattern!r} is not a valid regex: {exc}") from exc
    groups, missing = [], []
    for path in paths:
        found = regex.search(Path(path).name)
        if found is None:
            missing.append(Path(path).name)
            continue
        groups.append(found.group(1) if regex.groups else found.group(0))
    if missing:
        raise InvalidInputError(
            f"--group-regex {pattern!r} does not match {len(missing)} file name(s), e.g. "
            f"{missing[:3]}")
    return groups


def check_disjoint(groups: Sequence[str] | None, split: Split) -> None:
    """Raise if a group is on both sides of ``split`` (a guard for callers' own splits)."""
    if groups is None:
        return
    groups = np.asarray(groups)
    both = set(groups[split[0]].tolist()) & set(groups[split[1]].tolist())
    if both:
        raise InvalidInputError(f"groups {sorted(both)[:5]} are in both train and validation")
