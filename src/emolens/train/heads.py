"""Light heads on frozen features: standardisation + logistic regression + a temperature.

``LinearHead`` follows scikit-learn's contract (hyperparameters as given, learned state ending
in ``_``) but keeps its state as plain arrays, so a trained head is saved as ``.npz`` and read
back without pickle. ``train_head`` fits one with validation by hold-out, a dev set or k-fold
cross-validation (group-aware when groups are given; k-fold with a dev set, as `train text`
does: the folds give mean ± sd, the dev set the temperature and the other numbers), chooses C
by inner cross-validation on the training part when none is given, and fits the temperature on
validation predictions only (``calibration.guarded_temperature``: never sharper from too
little evidence).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from emolens.blas import one_blas_thread
from emolens.errors import InvalidInputError, NotFittedError
from emolens.train import splits
from emolens.train.calibration import (
    abstention,
    apply_temperature,
    expected_calibration_error,
    guarded_temperature,
)

C_GRID = (0.01, 0.1, 1.0)
INNER_FOLDS = 3
ABSENT_LOGIT = -50.0  # a class missing from a training fold: probability ~0, still finite


class LinearHead:
    """Standardised features -> multinomial logistic regression -> softmax(logits / T)."""

    def __init__(self, c: float = 1.0, class_weight: str | None = None, seed: int = 0,
                 max_iter: int = 2000) -> None:
        self.c = c
        self.class_weight = class_weight
        self.seed = seed
        self.max_iter = max_iter
        self.temperature_ = 1.0

    def fit(self, x: np.ndarray, y: np.ndarray, n_classes: int) -> LinearHead:
        """Fit on features ``x`` (n, d) and class indices ``y`` in [0, n_classes)."""
        x = np.asarray(x, dtype=np.float64)
        self.mean_ = x.mean(axis=0)
        scale = x.std(axis=0)
        self.scale_ = np.where(scale > 1e-8, scale, 1.0)
        present = np.unique(y)
        if len(present) < 2:
            raise InvalidInputError("a classifier needs at least two labels in its training data")
        model = LogisticRegression(C=self.c, class_weight=self.class_weight,
                                   max_iter=self.max_iter, random_state=self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit((x - self.mean_) / self.scale_, y)
        coef, intercept = model.coef_, model.intercept_
        if len(present) == 2:  # binary: one decision value; make it two symmetric logits
            coef, intercept = np.vstack([-coef[0] / 2, coef[0] / 2]), intercept[0] * np.array(
                [-0.5, 0.5])
        self.coef_ = np.zeros((n_classes, x.shape[1]))
        self.intercept_ = np.full(n_classes, ABSENT_LOGIT)
        self.coef_[present], self.intercept_[present] = coef, intercept
        return self

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Decision values (n, classes) before the temperature."""
        if not hasattr(self, "coef_"):
            raise NotFittedError("this head is not trained: call fit() or from_arrays()")
        z = (np.asarray(x, dtype=np.float64) - self.mean_) / self.scale_
        return z @ self.coef_.T + self.intercept_

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Temperature-scaled probabilities (n, classes); rows sum to 1."""
        return apply_temperature(self.logits(x), self.temperature_)

    def arrays(self) -> dict[str, np.ndarray]:
        """The learned state as arrays (for ``np.savez``)."""
        return {"mean": self.mean_, "scale": self.scale_, "coef": self.coef_,
                "intercept": self.intercept_, "temperature": np.array([self.temperature_])}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], **params: Any) -> LinearHead:
        """A head with the state saved by ``arrays()``."""
        head = cls(**params)
        head.mean_ = np.asarray(arrays["mean"], dtype=np.float64)
        head.scale_ = np.asarray(arrays["scale"], dtype=np.float64)
        head.coef_ = np.asarray(arrays["coef"], dtype=np.float64)
        head.intercept_ = np.asarray(arrays["intercept"], dtype=np.float64)
        head.temperature_ = float(np.asarray(arrays.get("temperature", [1.0]))[0])
        return head


@dataclass
class HeadOptions:
    """How a head is trained and validated (saved with the model as its config)."""

    c: float | None = None  # None: chosen from C_GRID by inner cross-validation
    class_weight: str | None = None  # "balanced" weights classes inversely to frequency
    seed: int = 0
    folds: int | None = None  # k-fold cross-validation, then a fit on all data
    val_split: float = 0.2  # hold-out share when no folds and no dev data (0: none)
    abstain_below: float | None = None  # results below this confidence become "uncertain"
    max_iter: int = 2000

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return asdict(self)


@dataclass
class Validation:
    """What validation said about a head: per fold and overall, before and after scaling."""

    method: str  # "k-fold", "hold-out", "dev", "none"
    n: int = 0
    accuracy: float | None = None
    macro_f1: float | None = None
    balanced_accuracy: float | None = None
    ece: float | None = None  # before temperature scaling
    ece_scaled: float | None = None  # after; the temperature fitted on other validation items
    temperature: float = 1.0
    c: float | None = None
    folds: list[dict[str, Any]] = field(default_factory=list)
    per_class_f1: dict[str, float] = field(default_factory=dict)
    abstention: dict[str, float] | None = None
    calibration_note: str | None = None  # e.g. why the temperature was kept at 1

    def fold_summary(self, key: str) -> tuple[float, float] | None:
        """Mean and standard deviation of ``key`` over folds (None without folds)."""
        values = [f[key] for f in self.folds]
        return (float(np.mean(values)), float(np.std(values))) if values else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary, with fold means and standard deviations."""
        out = asdict(self)
        for key in ("accuracy", "macro_f1"):
            summary = self.fold_summary(key)
            if summary:
                out[f"{key}_folds_mean"], out[f"{key}_folds_sd"] = summary
        return out


Progress = Callable[[str], None]


def train_head(
    x: np.ndarray,
    y: np.ndarray,
    labels: Sequence[str],
    options: HeadOptions,
    groups: Sequence[str] | None = None,
    extra_views: Sequence[np.ndarray] = (),
    dev: tuple[np.ndarray, np.ndarray] | None = None,
    say: Progress | None = None,
) -> tuple[LinearHead, Validation]:
    """Fit and validate a head on item features ``x`` (n, d) and class indices ``y``.

    ``extra_views``: more feature rows per item (same order as ``x``), used for training only;
    an item's views always sit on the same side of a split. Validation is on ``x``.
    """
    # One BLAS thread: these matrices are small, and threads fighting over busy cores made
    # each fit 10-50x slower on the shared 2-core machine (0.06 s vs 2.8 s for 1000 x 634).
    with one_blas_thread():
        return _train_head(x, y, labels, options, groups, extra_views, dev, say)


def _train_head(
    x: np.ndarray, y: np.ndarray, labels: Sequence[str], options: HeadOptions,
    groups: Sequence[str] | None, extra_views: Sequence[np.ndarray],
    dev: tuple[np.ndarray, np.ndarray] | None, say: Progress | None,
) -> tuple[LinearHead, Validation]:
    say = say or (lambda _: None)
    n_classes = len(labels)
    data = _Data(np.asarray(x, np.float64), np.asarray(y), [np.asarray(v) for v in extra_views],
                 None if groups is None else np.asarray(groups), n_classes, options)
    if options.folds:
        return _cross_validated(data, labels, say, dev)
    if dev is not None:
        split = None
    elif options.val_split > 0:
        split = splits.holdout(data.y, data.groups, options.val_split, options.seed)
    else:
        head = data.fit(np.arange(len(data.y)), say)
        return head, Validation("none", c=head.c)
    train = split[0] if split is not None else np.arange(len(data.y))
    head = data.fit(train, say)
    if split is not None:
        x_val, y_val, method = data.x[split[1]], data.y[split[1]], "hold-out"
    else:
        x_val, y_val, method = np.asarray(dev[0], np.float64), np.asarray(dev[1]), "dev"
    validation = _validate(head, x_val, y_val, labels, method, options)
    return head, validation


def _validate(head: LinearHead, x_val: np.ndarray, y_val: np.ndarray, labels: Sequence[str],
              method: str, options: HeadOptions) -> Validation:
    """Set ``head``'s temperature from validation items and score it on them."""
    logits = head.logits(x_val)
    head.temperature_, note = guarded_temperature(logits, y_val)
    validation = _scores(logits, y_val, labels, method, head.temperature_, options)
    validation.ece_scaled = _crossfit_ece(logits, y_val, options.seed)
    validation.c, validation.calibration_note = head.c, note
    return validation


@dataclass
class _Data:
    x: np.ndarray
    y: np.ndarray
    views: list[np.ndarray]
    groups: np.ndarray | None
    n_classes: int
    options: HeadOptions

    def rows(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Training rows of ``items``: every view of each."""
        x = np.vstack([self.x[items], *(v[items] for v in self.views)])
        return x, np.tile(self.y[items], 1 + len(self.views))

    def head(self, c: float) -> LinearHead:
        o = self.options
        return LinearHead(c, o.class_weight, o.seed, o.max_iter)

    def fit(self, items: np.ndarray, say: Progress) -> LinearHead:
        """A head fitted on ``items``, C chosen on them if not given."""
        c = self.options.c if self.options.c is not None else self.choose_c(items, say)
        return self.head(c).fit(*self.rows(items), self.n_classes)

    def choose_c(self, items: np.ndarray, say: Progress) -> float:
        """C from C_GRID with the best macro-F1 over inner folds of ``items``."""
        groups = None if self.groups is None else self.groups[items]
        k = INNER_FOLDS
        if groups is not None and len(set(groups.tolist())) < k:
            groups = None
        if len(items) < 2 * k:
            return 1.0
        inner = splits.kfold(self.y[items], k, groups, self.options.seed)
        scores = {}
        for c in C_GRID:
            pred = np.empty(len(items), dtype=np.int64)
            for train, val in inner:
                head = self.head(c).fit(*self.rows(items[train]), self.n_classes)
                pred[val] = head.logits(self.x[items[val]]).argmax(axis=1)
            scores[c] = f1_score(self.y[items], pred, average="macro")
        best = max(scores, key=lambda c: (scores[c], -c))  # ties: the stronger regularisation
        say(f"C={best} (inner {k}-fold macro-F1 " +
            ", ".join(f"{c}: {s:.3f}" for c, s in scores.items()) + ")")
        return best


def _cross_validated(data: _Data, labels: Sequence[str], say: Progress,
                     dev: tuple[np.ndarray, np.ndarray] | None = None
                     ) -> tuple[LinearHead, Validation]:
    """K-fold validation, then a head fitted on everything with the out-of-fold temperature
    (with ``dev``: the folds' numbers, and the temperature and the rest from the dev set)."""
    options = data.options
    folds = splits.kfold(data.y, options.folds or 2, data.groups, options.seed)
    logits = np.zeros((len(data.y), data.n_classes))
    fold_of = np.zeros(len(data.y), dtype=np.int64)
    rows = []
    for k, (train, val) in enumerate(folds):
        splits.check_disjoint(None if data.groups is None else data.groups.tolist(), (train, val))
        head = data.fit(train, say)
        logits[val], fold_of[val] = head.logits(data.x[val]), k
        pred = logits[val].argmax(axis=1)
        rows.append({"fold": k + 1, "n": len(val), "C": head.c,
                     "accuracy": float(accuracy_score(data.y[val], pred)),
                     "macro_f1": float(f1_score(data.y[val], pred, average="macro")),
                     "groups": None if data.groups is None
                     else len(set(data.groups[val].tolist()))})
        say(f"fold {k + 1}/{len(folds)}: accuracy {rows[-1]['accuracy']:.3f}, "
            f"macro-F1 {rows[-1]['macro_f1']:.3f}")
    if dev is not None:
        final = data.fit(np.arange(len(data.y)), say)
        validation = _validate(final, np.asarray(dev[0], np.float64), np.asarray(dev[1]),
                               labels, "dev", options)
        validation.folds = rows
        return final, validation
    temperature, note = guarded_temperature(logits, data.y)
    validation = _scores(logits, data.y, labels, "k-fold", temperature, options)
    validation.folds, validation.calibration_note = rows, note
    # Honest scaled ECE: each fold's items scaled by a temperature fitted on the other folds.
    scaled = np.zeros_like(logits)
    for k in range(len(folds)):
        here = fold_of == k
        scaled[here] = apply_temperature(logits[here], _temperature(logits[~here],
                                                                    data.y[~here]))
    validation.ece_scaled = _ece(scaled, data.y)
    final = data.fit(np.arange(len(data.y)), say)
    final.temperature_ = temperature
    validation.c = final.c
    return final, validation


def _temperature(logits: np.ndarray, y: np.ndarray) -> float:
    return guarded_temperature(logits, y)[0]


def _ece(probs: np.ndarray, y: np.ndarray) -> float:
    return expected_calibration_error(probs.max(axis=1), probs.argmax(axis=1) == y)


def _crossfit_ece(logits: np.ndarray, y: np.ndarray, seed: int) -> float:
    """ECE after scaling, each half of the validation items scaled by the other half's T."""
    if len(y) < 4:
        return _ece(apply_temperature(logits, _temperature(logits, y)), y)
    half = np.zeros(len(y), dtype=bool)
    half[np.random.default_rng(seed).permutation(len(y))[: len(y) // 2]] = True
    scaled = np.zeros_like(logits)
    for side in (half, ~half):
        scaled[side] = apply_temperature(logits[side], _temperature(logits[~side], y[~side]))
    return _ece(scaled, y)


def _scores(logits: np.ndarray, y: np.ndarray, labels: Sequence[str], method: str,
            temperature: float, options: HeadOptions) -> Validation:
    probs = apply_temperature(logits, 1.0)
    pred = probs.argmax(axis=1)
    present = sorted(set(y.tolist()))
    f1 = f1_score(y, pred, labels=present, average=None, zero_division=0)
    scaled = apply_temperature(logits, temperature)
    return Validation(
        method, n=len(y), accuracy=float(accuracy_score(y, pred)),
        macro_f1=float(f1_score(y, pred, labels=present, average="macro", zero_division=0)),
        balanced_accuracy=float(balanced_accuracy_score(y, pred)), ece=_ece(probs, y),
        temperature=temperature,
        per_class_f1={labels[i]: float(v) for i, v in zip(present, f1, strict=True)},
        abstention=None if options.abstain_below is None else abstention(
            scaled.max(axis=1), scaled.argmax(axis=1) == y, options.abstain_below),
    )
