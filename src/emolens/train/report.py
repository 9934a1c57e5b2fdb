"""An evaluation report from gold labels and predicted probabilities: scores with bootstrap
confidence intervals, the confusion matrix, calibration, multi-label scores, the most
confident mistakes and abstention (see ``build_report``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emolens.errors import InvalidInputError
from emolens.train import calibration as C
from emolens.train.bootstrap import (
    Estimate,
    estimates,
    nanmean,
    num,
    prf,
    proportion,
    resample_counts,
)
from emolens.train.multilabel import (
    Gold,
    as_labels,
    label_index,
    label_matrix,
    label_positions,
    multilabel_metrics,
    top1_in_gold,
)


def classification_metrics(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str],
    average_over: Sequence[str] | None = None, n_bootstrap: int = 1000, seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Accuracy, macro/weighted F1 and per-class precision/recall/F1, each with a bootstrap CI.

    Averages run over ``average_over`` (default: the labels that occur in ``gold``); a class
    with neither gold nor predicted items in a resample has no F1 and is left out of that
    resample's average. Per-class scores that are undefined (0/0) are NaN.
    """
    index = label_index(labels)
    g, p = label_positions(gold, index, "gold"), label_positions(predicted, index, "predicted")
    k = len(labels)
    counts = np.bincount(g * k + p, minlength=k * k).reshape(k, k)
    average = _average_mask(labels, average_over, counts.sum(axis=1) > 0)
    point = _confusion_scores(counts[None], average)
    boot = _confusion_scores(
        resample_counts(counts.ravel(), n_bootstrap, seed).reshape(-1, k, k), average
    )
    est = {name: estimates(point[name][0], boot[name], level) for name in point}
    present = counts.sum(axis=0) + counts.sum(axis=1) > 0
    rows = [i for i in range(k) if present[i] or average[i]]
    shown = [i for i in range(k) if present[i]]
    sub = counts[np.ix_(shown, shown)]
    with np.errstate(invalid="ignore", divide="ignore"):
        normalized = np.nan_to_num(sub / sub.sum(axis=1, keepdims=True))
    return {
        "n": int(len(g)),
        "accuracy": est["accuracy"], "macro_f1": est["macro_f1"],
        "weighted_f1": est["weighted_f1"],
        "averaged_over": [labels[i] for i in range(k) if average[i]],
        "per_class": {
            labels[i]: {"precision": est["precision"][i], "recall": est["recall"][i],
                        "f1": est["f1"][i], "support": int(counts[i].sum())}
            for i in rows
        },
        "confusion": {"labels": [labels[i] for i in shown], "counts": sub.tolist(),
                      "normalized": normalized.tolist()},
    }


def _confusion_scores(cm: np.ndarray, average: np.ndarray) -> dict[str, np.ndarray]:
    """Scores of a stack of confusion matrices (B, K, K), rows gold, columns predicted."""
    tp = np.diagonal(cm, axis1=1, axis2=2).astype(np.float64)
    support, predicted = cm.sum(axis=2), cm.sum(axis=1)
    scores = prf(tp, predicted - tp, support - tp)
    f1 = scores["f1"][:, average]
    weights = support[:, average]
    with np.errstate(invalid="ignore", divide="ignore"):
        scores["accuracy"] = tp.sum(axis=1) / cm.sum(axis=(1, 2))
        scores["macro_f1"] = nanmean(f1)
        scores["weighted_f1"] = (np.nan_to_num(f1) * weights).sum(axis=1) / weights.sum(axis=1)
    return scores


# -- mistakes and the whole report ----------------------------------------------------------


def confident_mistakes(
    probs: np.ndarray, gold: np.ndarray, labels: Sequence[str],
    texts: Sequence[str] | None = None, top: int = 20,
) -> list[dict[str, Any]]:
    """The ``top`` wrong top-1 predictions with the highest confidence."""
    pred = np.argmax(probs, axis=1)
    confidence = probs[np.arange(len(pred)), pred]
    wrong = np.flatnonzero(~gold[np.arange(len(pred)), pred])
    worst = wrong[np.argsort(-confidence[wrong], kind="stable")][:top]
    return [
        {"index": int(i), "text": None if texts is None else texts[i],
         "gold": [labels[j] for j in np.flatnonzero(gold[i])], "predicted": labels[pred[i]],
         "confidence": float(confidence[i]), "gold_probability": float(probs[i, gold[i]].max())}
        for i in worst
    ]


@dataclass
class EvaluationReport:
    """Everything ``build_report`` found; ``to_dict`` is JSON-safe."""

    meta: dict[str, Any]
    labels: list[str]
    classification: dict[str, Any]
    calibration: dict[str, Any]
    abstention: dict[str, Any]
    mistakes: list[dict[str, Any]]
    multi_label: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (NaN becomes None, estimates become value + ci95)."""
        return _jsonable({
            "meta": self.meta, "labels": self.labels, "classification": self.classification,
            "calibration": self.calibration, "multi_label": self.multi_label,
            "abstention": self.abstention, "mistakes": self.mistakes, **self.extra,
        })

    def to_markdown(self) -> str:
        """Summary, per-class table with CIs, confusion matrix, abstention and top mistakes."""
        return to_markdown(self.to_dict())


def build_report(
    gold: Sequence[Gold], probs: np.ndarray, labels: Sequence[str], *,
    texts: Sequence[str] | None = None, average_over: Sequence[str] | None = None,
    n_bootstrap: int = 1000, seed: int = 0, abstain_below: float | None = None,
    temperature: float | None = None, thresholds: np.ndarray | None = None,
    n_bins: int = 15, top_mistakes: int = 20, meta: dict[str, Any] | None = None,
) -> EvaluationReport:
    """The full report for gold labels (one label, or a set per item) and ``probs``.

    Gold labels that are not in ``labels`` get a column of zero probability (they count as
    errors). ``temperature`` and ``thresholds``, fitted on validation data, add calibrated and
    thresholded scores beside the raw ones.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape != (len(gold), len(labels)):
        raise InvalidInputError(
            f"probs must have shape (items, labels) = ({len(gold)}, {len(labels)}), got "
            f"{probs.shape}"
        )
    if len(gold) == 0:
        raise InvalidInputError("There are no items to evaluate.")
    extra = sorted({x for item in gold for x in as_labels(item)} - set(labels))
    labels = [*labels, *extra]
    probs = np.pad(probs, ((0, 0), (0, len(extra))))
    y = label_matrix(gold, labels)
    single = y.sum(axis=1) == 1
    pred = np.argmax(probs, axis=1)
    classification = classification_metrics(
        [labels[j] for j in np.argmax(y[single], axis=1)], [labels[j] for j in pred[single]],
        labels, average_over, n_bootstrap, seed,
    )
    confidence, correct = probs.max(axis=1), top1_in_gold(probs, y)
    rc_curve, aurc = C.risk_coverage(confidence, correct)
    report = EvaluationReport(
        meta={**(meta or {}), "n": len(gold), "n_single_label": int(single.sum()),
              "bootstrap": {"resamples": n_bootstrap, "seed": seed, "level": 0.95}},
        labels=labels, classification=classification,
        calibration=_calibration(probs, y, single, temperature, n_bins),
        abstention={"curve": rc_curve, "aurc": aurc, **(
            C.abstention(confidence, correct, abstain_below) if abstain_below is not None
            else {})},
        mistakes=confident_mistakes(probs, y, labels, texts, top_mistakes),
    )
    if not single.all():
        report.multi_label = _multi_label(probs, y, labels, thresholds, n_bootstrap, seed)
    return report


def _calibration(probs: np.ndarray, y: np.ndarray, single: np.ndarray,
                 temperature: float | None, n_bins: int) -> dict[str, Any]:
    rel = C.reliability(probs.max(axis=1), top1_in_gold(probs, y), n_bins)
    out: dict[str, Any] = {"bins": n_bins, "ece": rel.ece, "mce": rel.mce,
                           "reliability": rel.bins(), **_proper_scores(probs[single], y[single])}
    if temperature is not None:
        scaled = C.apply_temperature(C.log_probabilities(probs), temperature)
        after = C.reliability(scaled.max(axis=1), top1_in_gold(scaled, y), n_bins)
        out["temperature"] = {"value": temperature, "ece": after.ece,
                              "reliability": after.bins(),
                              **_proper_scores(scaled[single], y[single])}
    return out


def _proper_scores(probs: np.ndarray, onehot: np.ndarray) -> dict[str, float]:
    """NLL (probabilities floored at 1e-12) and Brier score of single-label items."""
    if len(probs) == 0:
        return {"nll": float("nan"), "brier": float("nan")}
    p_gold = probs[onehot]
    return {"nll": float(-np.log(np.clip(p_gold, 1e-12, None)).mean()),
            "brier": float(((probs - onehot) ** 2).sum(axis=1).mean())}


def _multi_label(probs: np.ndarray, y: np.ndarray, labels: list[str],
                 thresholds: np.ndarray | None, n_bootstrap: int, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "items_with_several_labels": int((y.sum(axis=1) > 1).sum()),
        "labels_per_item": float(y.sum(axis=1).mean()),
        "top1_in_gold": proportion(top1_in_gold(probs, y), n_bootstrap, seed),
        "at_0.5": multilabel_metrics(y, probs, labels, 0.5, n_bootstrap, seed),
        "fitted": None,
    }
    if thresholds is not None:
        padded = np.pad(np.asarray(thresholds, dtype=np.float64),
                        (0, len(labels) - len(thresholds)), constant_values=0.5)
        out["fitted"] = multilabel_metrics(y, probs, labels, padded, n_bootstrap, seed)
    return out


# -- helpers --------------------------------------------------------------------------------


def _average_mask(labels: Sequence[str], average_over: Sequence[str] | None,
                  default: np.ndarray) -> np.ndarray:
    if average_over is None:
        return default
    unknown = sorted(set(average_over) - set(labels))
    if unknown:
        raise InvalidInputError(f"labels {unknown} to average over are not among {list(labels)}")
    return np.isin(np.asarray(labels, dtype=object), list(average_over))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Estimate):
        return value.to_dict()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return num(value)
    return value


# -- presentation ---------------------------------------------------------------------------


def summary_rows(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(metric, value, 95 % CI) rows of a report's ``to_dict()``, for tables of any kind."""
    cls, cal, ab = report["classification"], report["calibration"], report["abstention"]
    meta = report["meta"]
    on = "" if meta["n_single_label"] == meta["n"] else " (single-label items)"
    rows = [("items", f"{meta['n']:,}" + (f" ({meta['n_single_label']:,} with one label)"
                                          if on else ""), "")]
    for key, name in (("accuracy", "accuracy"), ("macro_f1", "macro-F1"),
                      ("weighted_f1", "weighted-F1")):
        rows.append((name + on, *_value_ci(cls[key])))
    ml = report.get("multi_label")
    if ml:
        rows.append(("top-1 in gold", *_value_ci(ml["top1_in_gold"])))
        for key, scores in (("at 0.5", ml["at_0.5"]), ("at fitted thresholds", ml["fitted"])):
            if scores:
                rows.append((f"micro-F1 {key}", *_value_ci(scores["micro_f1"])))
                rows.append((f"macro-F1 {key}", *_value_ci(scores["macro_f1"])))
    rows.append((f"ECE ({cal['bins']} bins)", _f(cal["ece"]), ""))
    rows.append(("NLL / Brier" + on, f"{_f(cal['nll'])} / {_f(cal['brier'])}", ""))
    if cal.get("temperature"):
        t = cal["temperature"]
        rows.append((f"ECE after temperature {t['value']:.2f}", _f(t["ece"]), ""))
    if "threshold" in ab:
        rows.append((f"coverage at confidence >= {ab['threshold']:g}",
                     f"{ab['coverage']:.1%} ({ab['covered']:,} items)", ""))
        rows.append(("accuracy of covered items", _f(ab["accuracy_covered"]), ""))
    rows.append(("AURC (risk-coverage area)", _f(ab["aurc"]), ""))
    return rows


def to_markdown(report: dict[str, Any]) -> str:
    """The report (``to_dict()``) as Markdown: summary, per-class table, confusion, mistakes."""
    meta, cls = report["meta"], report["classification"]
    out = [f"# Evaluation: {meta.get('model', 'model')} on {meta.get('data', 'data')}", "",
           f"95 % confidence intervals from {meta['bootstrap']['resamples']:,} bootstrap "
           f"resamples (seed {meta['bootstrap']['seed']}). Averages over: "
           f"{', '.join(cls['averaged_over'])}.", "",
           "| metric | value | 95 % CI |", "|---|---|---|"]
    out += [f"| {m} | {v} | {ci} |" for m, v, ci in summary_rows(report)]
    out += ["", "## Per class", "", "| label | precision | recall | F1 | support |",
            "|---|---|---|---|---|"]
    out += [f"| {_md(label)} | {_est(r['precision'])} | {_est(r['recall'])} | {_est(r['f1'])} "
            f"| {r['support']:,} |" for label, r in cls["per_class"].items()]
    conf = cls["confusion"]
    out += ["", "## Confusion matrix (rows: gold, columns: predicted)", "",
            "| gold \\ predicted | " + " | ".join(map(_md, conf["labels"])) + " |",
            "|---" * (len(conf["labels"]) + 1) + "|"]
    out += [f"| {_md(label)} | " + " | ".join(str(c) for c in row) + " |"
            for label, row in zip(conf["labels"], conf["counts"], strict=True)]
    ml = report.get("multi_label")
    if ml:
        scores = ml["fitted"] or ml["at_0.5"]
        out += ["", f"## Multi-label ({ml['items_with_several_labels']:,} items with several "
                f"labels; thresholds {'fitted on validation data' if ml['fitted'] else '0.5'})",
                "", "| label | threshold | precision | recall | F1 | support |",
                "|---|---|---|---|---|---|"]
        out += [f"| {_md(label)} | {scores['thresholds'][label]:.2f} | {_est(r['precision'])} "
                f"| {_est(r['recall'])} | {_est(r['f1'])} | {r['support']:,} |"
                for label, r in scores["per_class"].items()]
    out += ["", "## Abstention (most confident share of items)", "",
            "| coverage | items | confidence >= | accuracy |", "|---|---|---|---|"]
    out += [f"| {p['coverage']:.0%} | {p['items']:,} | {p['threshold']:.3f} | "
            f"{p['accuracy']:.3f} |" for p in report["abstention"]["curve"]]
    out += ["", "## Most confident mistakes", "",
            "| # | confidence | gold | predicted | text |", "|---|---|---|---|---|"]
    out += [f"| {i} | {m['confidence']:.3f} | {_md(', '.join(m['gold']))} | "
            f"{_md(m['predicted'])} | {_md(_short(m['text']))} |"
            for i, m in enumerate(report["mistakes"], 1)]
    return "\n".join(out) + "\n"


def _value_ci(est: dict[str, Any]) -> tuple[str, str]:
    low, high = est["ci95"]
    ci = "" if low is None else f"[{low:.3f}, {high:.3f}]"
    return _f(est["value"]), ci


def _est(est: dict[str, Any]) -> str:
    value, ci = _value_ci(est)
    return f"{value} {ci}".strip()


def _f(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _short(text: str | None, limit: int = 160) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _md(text: str) -> str:
    return text.replace("|", "\\|")
