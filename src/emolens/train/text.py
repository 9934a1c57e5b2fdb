"""Train a text model on a labelled table, and evaluate any text model on one."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from emolens import labels as L
from emolens.errors import InvalidInputError
from emolens.pipeline import Analyzer
from emolens.text.ngram import MODEL_FILE, NgramRecognizer
from emolens.train import splits
from emolens.train.calibration import (
    expected_calibration_error,
    fit_temperature,
    log_probabilities,
)
from emolens.train.data import LabelledData
from emolens.train.multilabel import fit_thresholds
from emolens.train.report import EvaluationReport, build_report


@dataclass
class Metrics:
    """Classification metrics of one model on one labelled set."""

    n: int
    accuracy: float
    macro_f1: float
    weighted_f1: float
    labels: list[str]
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]
    texts_per_second: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-safe dictionary."""
        return asdict(self)

    def to_markdown(self) -> str:
        """Summary line plus a per-class table."""
        lines = [
            f"n={self.n}  accuracy={self.accuracy:.4f}  macro-F1={self.macro_f1:.4f}  "
            f"weighted-F1={self.weighted_f1:.4f}",
            "",
            "| label | precision | recall | F1 | support |",
            "|---|---|---|---|---|",
        ]
        for label, row in self.per_class.items():
            lines.append(
                f"| {label} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} "
                f"| {int(row['support'])} |"
            )
        return "\n".join(lines)


def compute_metrics(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]
) -> Metrics:
    """Accuracy, macro/weighted F1 and per-class scores over the ``labels`` that occur."""
    present = [label for label in labels if label in set(gold) | set(predicted)]
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=present, zero_division=0
    )
    gold_labels = [label for label in present if label in set(gold)]
    return Metrics(
        n=len(gold),
        accuracy=float(accuracy_score(gold, predicted)),
        macro_f1=float(
            f1_score(gold, predicted, labels=gold_labels, average="macro", zero_division=0)
        ),
        weighted_f1=float(
            f1_score(gold, predicted, labels=gold_labels, average="weighted", zero_division=0)
        ),
        labels=present,
        per_class={
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": float(s)}
            for label, p, r, f, s in zip(present, precision, recall, f1, support, strict=True)
        },
        confusion=confusion_matrix(gold, predicted, labels=present).tolist(),
    )


def train_text(
    train: LabelledData,
    out_dir: str | Path,
    labels: Sequence[str] | None = None,
    dev: LabelledData | None = None,
    name: str = "custom",
    version: str | None = None,
    c: float = 0.5,
    class_weight: str | None = None,
    seed: int = 0,
    min_df: int = 2,
    abstain_below: float | None = None,
    extra: dict | None = None,
) -> tuple[NgramRecognizer, Metrics | None]:
    """Fit an n-gram model on ``train``, calibrate on ``dev`` (or a hold-out), save to ``out_dir``.

    Labels that all have canonical counterparts make a model that reports canonical scores;
    any other label set is kept as the user's own ("custom" scheme). ``abstain_below`` is
    stored in the model: its results below that confidence get the label "uncertain".
    Without ``version``, the version is a hash of the trained model (``content_version``),
    so each training has its own model id, under which results are stored.
    """
    from emolens.models.catalog import check_output_dir

    check_output_dir(out_dir)  # before training, not after it
    # Items with several labels (GoEmotions-style "joy,surprise") train one row per label;
    # per-label thresholds fitted on the validation data then decide which labels a text has.
    multi = train.is_multilabel(labels or ())
    if multi:
        train = train.explode(labels or ())
    model = _new_model(train, labels, name=name, version=version or "", c=c, min_df=min_df,
                       class_weight=class_weight, seed=seed, abstain_below=abstain_below)
    label_set = model.labels
    started = time.perf_counter()
    calibration = None
    if dev is not None:
        known = [i for i, label in enumerate(dev.labels) if label in label_set]
        calibration = ([dev.texts[i] for i in known], [dev.labels[i] for i in known])
    model.fit(train.texts, train.labels, train.languages, calibration=calibration)
    seconds = time.perf_counter() - started
    dev_metrics = validate(model, dev) if dev is not None else None
    if multi and dev is not None:
        model.label_thresholds = fit_label_thresholds(
            model.predict_proba(dev.texts, dev.languages), model.labels, dev)
    model.version = version or model.content_version()
    model.save(
        out_dir,
        extra={
            "trained": {
                "data": str(train.path),
                "rows": len(train.texts),
                "dev": str(dev.path) if dev else None,
                "seconds": round(seconds, 1),
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "python": platform.python_version(),
                "label_counts": {
                    k: int(v)
                    for k, v in zip(*np.unique(train.labels, return_counts=True), strict=True)
                },
            },
            "dev_metrics": dev_metrics.to_dict() if dev_metrics else None,
            **(extra or {}),
        },
    )
    write_ngram_card(Path(out_dir))
    return model, dev_metrics


def write_ngram_card(directory: Path) -> Path:
    """MODEL_CARD.md of the n-gram model saved in ``directory``, from its metadata; a card
    written by hand there (the shipped default's) is kept."""
    from emolens.train.card import GENERATED, ngram_card

    card = directory / "MODEL_CARD.md"
    if card.is_file() and GENERATED not in card.read_text(encoding="utf-8", errors="replace"):
        return card
    meta = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
    card.write_text(ngram_card(meta), encoding="utf-8")
    return card


def fit_label_thresholds(probs: np.ndarray, labels: Sequence[str], dev: LabelledData
                         ) -> dict[str, float]:
    """Each label's probability threshold maximising its F1 on ``dev``, given a model's
    ``probs`` there (items with several gold labels count for each; labels the model does
    not know are ignored)."""
    index = {label: j for j, label in enumerate(labels)}
    gold = np.zeros(probs.shape, dtype=bool)
    for i, item in enumerate(dev.label_sets(labels)):
        gold[i, [index[x] for x in item if x in index]] = True
    return {label: round(float(t), 2)
            for label, t in zip(labels, fit_thresholds(probs, gold), strict=True)}


def _new_model(train: LabelledData, labels: Sequence[str] | None, **params) -> NgramRecognizer:
    """An untrained n-gram model for ``train``'s (or the given) label set."""
    label_set = tuple(labels) if labels else tuple(sorted(set(train.labels)))
    unknown = sorted(set(train.labels) - set(label_set))
    if unknown:
        raise InvalidInputError(f"{train.path}: labels {unknown} are not in --labels {label_set}")
    scheme = (
        "canonical"
        if set(label_set) <= set(L.CANONICAL)
        else (None if L.is_mappable(label_set) else "custom")
    )
    return NgramRecognizer(labels=label_set, scheme=scheme, **params)


def label_notes(label_set: Sequence[str], train: LabelledData,
                held_out: LabelledData | None = None) -> list[str]:
    """Warnings about labels the model will hardly or never learn: labels of ``label_set``
    with no training example (all of them in the ``held_out`` validation part, or none at
    all) and labels with a single one."""
    counts: dict[str, int] = {}
    for item in train.label_sets(label_set):
        for label in item:
            counts[label] = counts.get(label, 0) + 1
    held = {x for item in held_out.label_sets(label_set) for x in item} if held_out else set()
    missing = [label for label in label_set if label not in counts]
    held_only = [label for label in missing if label in held]
    notes = []
    if held_only:
        notes.append("labels whose every example landed in the validation hold-out, so the "
                     f"model never learns them: {', '.join(held_only)}; add examples, or pass "
                     "--dev or a smaller --val-split")
    if len(missing) > len(held_only):
        notes.append("labels in --labels with no training example, so the model never gives "
                     f"them: {', '.join(x for x in missing if x not in held)}")
    single = [label for label in label_set if counts.get(label) == 1]
    if single:
        notes.append("labels with a single training example, too few to learn from reliably: "
                     f"{', '.join(single)}")
    return notes


def dev_label_note(dev: LabelledData | None, label_set: Sequence[str]) -> str | None:
    """A warning when rows of the --dev file have no label the model is trained on: they are
    left out of its calibration and scores."""
    if dev is None:
        return None
    known = set(label_set)
    sets = dev.label_sets(label_set)
    lost = [item for item in sets if not set(item) & known]
    if not lost:
        return None
    others = sorted({x for item in lost for x in item})
    shown = ", ".join(others[:10]) + (f" and {len(others) - 10} more" if len(others) > 10
                                      else "")
    return (f"{dev.path}: {len(lost):,} of {len(sets):,} dev rows have only labels the model "
            f"is not trained on ({shown}); they are left out of calibration and the dev score")


def gold_overlap_note(data: LabelledData, output_labels: Sequence[str],
                      scheme: str | None = None) -> str | None:
    """A warning when gold labels of ``data`` are ones the model never gives (their items
    count as mistakes), with the likely fix: when none is the model's, and when some are."""
    sets = gold_label_sets(data, scheme, output_labels)
    known = set(output_labels)
    gold = {x for item in sets for x in item}
    unknown = sorted(gold - known)
    if not unknown:
        return None
    fix = ("map them to canonical labels with --scheme NAME (one of "
           f"{', '.join(sorted(L.SCHEMES))})" if scheme is None else
           f"check that --scheme {scheme} is the scheme of {data.path}")
    if not gold & known:
        return (f"none of the gold labels of {data.path} ({', '.join(unknown[:10])}) is a "
                f"label of the model ({', '.join(output_labels)}), so every item counts as a "
                f"mistake; {fix}, or evaluate a model trained on these labels")
    lost = sum(1 for item in sets if not set(item) & known)
    shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10
                                       else "")
    return (f"{lost:,} of the {len(sets):,} items of {data.path} have only gold labels the model "
            f"never gives ({shown}), so they count as mistakes; fix those labels, {fix}, or "
            "evaluate a model trained on them")


def validate(model: NgramRecognizer, dev: LabelledData) -> Metrics:
    """Metrics of ``model`` on ``dev`` from its probabilities on its own labels (an abstained
    result counts by its top label), with the calibration error as ``extra["ece"]``."""
    known = [i for i, label in enumerate(dev.labels) if label in model.labels]
    if not known:
        raise InvalidInputError(f"{dev.path}: no rows with a label of the model {model.labels}")
    dev = dev.subset(known)
    started = time.perf_counter()
    probs = model.predict_proba(dev.texts, dev.languages)
    seconds = time.perf_counter() - started
    predicted = [model.labels[j] for j in probs.argmax(axis=1)]
    metrics = compute_metrics(dev.labels, predicted, list(model.labels))
    metrics.texts_per_second = len(dev.texts) / seconds if seconds > 0 else 0.0
    correct = np.array(predicted) == np.array(dev.labels)
    metrics.extra["ece"] = expected_calibration_error(probs.max(axis=1), correct)
    if model.abstain_below is not None:
        covered = probs.max(axis=1) >= model.abstain_below
        metrics.extra["coverage"] = float(covered.mean())
        metrics.extra["accuracy_covered"] = float(correct[covered].mean()) if covered.any() \
            else float("nan")
    return metrics


def split_holdout(data: LabelledData, val_split: float, seed: int = 0
                  ) -> tuple[LabelledData, LabelledData]:
    """Train and validation parts (no group on both sides when ``data.groups`` is set)."""
    train, val = splits.holdout(data.labels, data.groups, val_split, seed)
    return data.subset(train), data.subset(val)


def cross_validate_text(
    data: LabelledData, folds: int, labels: Sequence[str] | None = None, *, c: float = 0.5,
    class_weight: str | None = None, seed: int = 0, min_df: int = 2,
) -> dict:
    """K-fold cross-validation of the n-gram model (group-aware with ``data.groups``):
    accuracy and macro-F1 per fold, their mean and sd, and the out-of-fold ECE. Each fold's
    model calibrates itself on a hold-out of its training part, as the final model does."""
    rows = []
    for k, (train, val) in enumerate(splits.kfold(data.labels, folds, data.groups, seed)):
        part = data.subset(train)
        model = _new_model(part, labels or sorted(set(data.labels)), c=c, min_df=min_df,
                           class_weight=class_weight, seed=seed)
        model.fit(part.texts, part.labels, part.languages)
        metrics = validate(model, data.subset(val))
        rows.append({"fold": k + 1, "n": metrics.n, "accuracy": metrics.accuracy,
                     "macro_f1": metrics.macro_f1, "ece": metrics.extra["ece"]})
    out: dict = {"folds": rows, "grouped": data.groups is not None}
    for key in ("accuracy", "macro_f1", "ece"):
        values = [r[key] for r in rows]
        out[f"{key}_mean"], out[f"{key}_sd"] = float(np.mean(values)), float(np.std(values))
    return out


def evaluate(analyzer: Analyzer, data: LabelledData, scheme: str | None = None) -> Metrics:
    """Metrics of ``analyzer`` on ``data``. With ``scheme``, gold labels are mapped to canonical."""
    gold = list(data.labels)
    if scheme is not None:
        mapped = [L.to_canonical(label, scheme) for label in gold]
        missing = sorted({g for g, m in zip(gold, mapped, strict=True) if m is None})
        if missing:
            raise InvalidInputError(f"{data.path}: labels {missing} are not in scheme {scheme!r}")
        gold = [m for m in mapped if m is not None]
    started = time.perf_counter()
    results = analyzer.analyze_batch(data.texts, languages=data.languages)
    seconds = time.perf_counter() - started
    predicted = [r.label for r in results]
    metrics = compute_metrics(gold, predicted, list(analyzer.output_labels))
    metrics.texts_per_second = len(gold) / seconds if seconds > 0 else 0.0
    return metrics


def predict_probabilities(analyzer: Analyzer, data: LabelledData) -> tuple[np.ndarray, float]:
    """(items, output labels) probabilities of ``analyzer`` on ``data``, and the seconds taken."""
    started = time.perf_counter()
    results = analyzer.analyze_batch(data.texts, languages=data.languages)
    seconds = time.perf_counter() - started
    labels = list(analyzer.output_labels)
    probs = np.array([[r.scores[label] for label in labels] for r in results], dtype=np.float64)
    return probs.reshape(len(results), len(labels)), seconds


def gold_label_sets(
    data: LabelledData, scheme: str | None = None, known: Sequence[str] = ()
) -> list[tuple[str, ...]]:
    """Each item's gold labels (split on ',' or '|'), mapped to canonical with ``scheme``."""
    if scheme is not None:
        L.to_canonical("", scheme)  # an unknown scheme is an error, even with no rows
    own = set(known) | set(L.SCHEMES.get(scheme or "", {}))
    sets = data.label_sets(own)
    if scheme is None:
        return sets
    missing = sorted({x for labels in sets for x in labels if L.to_canonical(x, scheme) is None})
    if missing:
        raise InvalidInputError(f"{data.path}: labels {missing} are not in scheme {scheme!r}")
    return [tuple(dict.fromkeys(L.to_canonical(x, scheme) or x for x in labels))
            for labels in sets]


def evaluate_report(
    analyzer: Analyzer,
    data: LabelledData,
    *,
    scheme: str | None = None,
    labels: Sequence[str] | None = None,
    dev: LabelledData | None = None,
    n_bootstrap: int = 1000,
    abstain_below: float | None = None,
    seed: int = 0,
) -> EvaluationReport:
    """Full evaluation report of ``analyzer`` on ``data`` (``emolens.train.report``).

    ``labels`` are the ones averaged over (default: those in the gold column). With ``dev``, a
    temperature and per-class multi-label thresholds are fitted on it and scored on ``data``.
    """
    output = list(analyzer.output_labels)
    probs, seconds = predict_probabilities(analyzer, data)
    temperature, thresholds = _fit_on_dev(analyzer, dev, scheme) if dev else (None, None)
    meta = {
        "model": analyzer.model_id, "data": str(data.path),
        "dev": str(dev.path) if dev else None, "scheme": scheme,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "texts_per_second": len(data.texts) / seconds if seconds > 0 else None,
    }
    return build_report(
        gold_label_sets(data, scheme, output), probs, output, texts=data.texts,
        average_over=labels, n_bootstrap=n_bootstrap, seed=seed, abstain_below=abstain_below,
        temperature=temperature, thresholds=thresholds, meta=meta,
    )


def _fit_on_dev(
    analyzer: Analyzer, dev: LabelledData, scheme: str | None
) -> tuple[float | None, np.ndarray]:
    """Temperature (on dev items with one gold label the model can give) and thresholds."""
    output = list(analyzer.output_labels)
    index = {label: i for i, label in enumerate(output)}
    probs, _ = predict_probabilities(analyzer, dev)
    gold_sets = gold_label_sets(dev, scheme, output)
    y = np.zeros(probs.shape, dtype=bool)
    for i, labels in enumerate(gold_sets):
        y[i, [index[x] for x in labels if x in index]] = True
    gold = y.argmax(axis=1)
    z = log_probabilities(probs)
    one = np.array([len(labels) == 1 for labels in gold_sets]) & (y.sum(axis=1) == 1)
    usable = one & np.isfinite(z[np.arange(len(gold)), gold])
    temperature = fit_temperature(z[usable], gold[usable]) if usable.any() else None
    return temperature, fit_thresholds(probs, y)


def metrics_from_report(report: EvaluationReport) -> Metrics:
    """The short ``Metrics`` of a report's single-label items (undefined scores become 0)."""
    cls = report.to_dict()["classification"]
    return Metrics(
        n=cls["n"],
        accuracy=cls["accuracy"]["value"] or 0.0,
        macro_f1=cls["macro_f1"]["value"] or 0.0,
        weighted_f1=cls["weighted_f1"]["value"] or 0.0,
        labels=cls["confusion"]["labels"],
        per_class={
            label: {key: float(row[key]["value"] or 0.0) for key in ("precision", "recall", "f1")}
            | {"support": float(row["support"])}
            for label, row in cls["per_class"].items()
        },
        confusion=cls["confusion"]["counts"],
        texts_per_second=report.meta.get("texts_per_second") or 0.0,
    )


def write_metrics(metrics: Metrics, path: str | Path) -> None:
    """Save metrics as JSON (and Markdown beside it)."""
    path = Path(path)
    path.write_text(json.dumps(metrics.to_dict(), indent=2))
    path.with_suffix(".md").write_text(metrics.to_markdown() + "\n")
