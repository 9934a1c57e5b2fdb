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
from emolens.text.ngram import NgramRecognizer
from emolens.train.data import LabelledData


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
    version: str = "1",
    c: float = 0.5,
    class_weight: str | None = None,
    seed: int = 0,
    min_df: int = 2,
) -> tuple[NgramRecognizer, Metrics | None]:
    """Fit an n-gram model on ``train``, calibrate on ``dev`` (or a hold-out), save to ``out_dir``.

    Labels that all have canonical counterparts make a model that reports canonical scores;
    any other label set is kept as the user's own ("custom" scheme).
    """
    label_set = tuple(labels) if labels else tuple(sorted(set(train.labels)))
    unknown = sorted(set(train.labels) - set(label_set))
    if unknown:
        raise InvalidInputError(f"{train.path}: labels {unknown} are not in --labels {label_set}")
    scheme = (
        "canonical"
        if set(label_set) <= set(L.CANONICAL)
        else (None if L.is_mappable(label_set) else "custom")
    )
    model = NgramRecognizer(
        labels=label_set,
        scheme=scheme,
        name=name,
        version=version,
        c=c,
        class_weight=class_weight,
        seed=seed,
        min_df=min_df,
    )
    started = time.perf_counter()
    calibration = None
    if dev is not None:
        known = [i for i, label in enumerate(dev.labels) if label in label_set]
        calibration = ([dev.texts[i] for i in known], [dev.labels[i] for i in known])
    model.fit(train.texts, train.labels, train.languages, calibration=calibration)
    seconds = time.perf_counter() - started
    dev_metrics = (
        evaluate(Analyzer(model, map_to_canonical=False), dev) if dev is not None else None
    )
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
        },
    )
    return model, dev_metrics


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


def write_metrics(metrics: Metrics, path: str | Path) -> None:
    """Save metrics as JSON (and Markdown beside it)."""
    path = Path(path)
    path.write_text(json.dumps(metrics.to_dict(), indent=2))
    path.with_suffix(".md").write_text(metrics.to_markdown() + "\n")
