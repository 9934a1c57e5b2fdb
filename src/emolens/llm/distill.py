"""Distillation: the LLM labels a corpus, and the fast n-gram model learns its labels.

``distill`` asks the LLM (``LLMRecognizer.annotate``: answer cache, redaction, concurrency,
token counts) about every distinct text that has no line in ``llm-labels.jsonl`` yet,
appending the answers chunk by chunk (``labelfile.py``), trains the n-gram model of
``emolens train text`` on the labels, and measures the model's agreement with the LLM on a
held-out share of the LLM's labels: accuracy, macro-F1, Cohen's kappa and per-class scores.
Texts the LLM could not label are named and left out, never guessed.

With ``route_below`` the fast model reads the unlabelled texts first and keeps its own label
where its top probability reaches the threshold; only the others go to the LLM. Fast labels
are recomputed on every run (they cost nothing); only the LLM's are stored. The hold-out is
drawn from the LLM's labels alone, so the agreement is always agreement with the LLM.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import cohen_kappa_score

from emolens.errors import InvalidInputError
from emolens.io.model_files import MODEL_FILE
from emolens.llm.errors import LLMRequestError
from emolens.llm.labelfile import LabelFile, record
from emolens.llm.outcome import Annotation, RunStats
from emolens.llm.prompts import PROMPT_VERSION
from emolens.llm.recognizer import LLMRecognizer
from emolens.llm.routing import check_same_labels
from emolens.text.base import TextRecognizer
from emolens.text.language import resolve_languages
from emolens.train import splits
from emolens.train.data import LabelledData, read_table
from emolens.train.text import Metrics, compute_metrics, train_text

MODEL_DIR = "model"  # the trained model, inside the output directory
SUMMARY_FILE = "distill.json"
CARD_FILE = "MODEL_CARD.md"
CHUNK = 64  # texts per annotate() call: what an interruption can lose at most


@dataclass
class Corpus:
    """Distinct texts to label, each with the data row (from 1) where it first occurs."""

    texts: list[str]
    rows: list[int]
    languages: list[str] | None
    path: Path


def read_corpus(
    path: str | Path, text_col: str = "text", language_col: str | None = None,
    limit: int | None = None,
) -> Corpus:
    """The distinct non-empty texts of a table, from the first ``limit`` rows with a text."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file")
    frame = read_table(path)
    for column in (text_col, language_col):
        if column is not None and column not in frame.columns:
            raise InvalidInputError(
                f"{path}: no column {column!r}; columns are {list(frame.columns)}")
    texts = frame[text_col].fillna("").astype(str).tolist()
    langs = frame[language_col].astype(str).tolist() if language_col else None
    seen: dict[str, int] = {}
    with_text = 0
    for row, text in enumerate(texts):
        if not text.strip():
            continue
        with_text += 1
        if limit is not None and with_text > limit:
            break
        seen.setdefault(text, row)
    if not seen:
        raise InvalidInputError(f"{path}: no rows with a text in column {text_col!r}")
    rows = list(seen.values())
    return Corpus(list(seen), [r + 1 for r in rows],
                  [langs[r] for r in rows] if langs else None, path)


@dataclass
class DistillResult:
    """What a distillation did: labels kept and new, failures, tokens, agreement, model."""

    texts: int  # distinct texts in the corpus (after --limit)
    from_file: int  # LLM labels already in llm-labels.jsonl
    asked: int  # texts given to the LLM in this run (answer-cache hits included)
    labelled: int  # texts with an LLM label now
    fast_kept: int  # routing: texts labelled by the fast model
    failures: list[str]
    stats: RunStats
    train_items: int
    holdout_rows: list[int]
    agreement: Metrics | None
    cohen_kappa: float | None
    label_counts: dict[str, int]
    tokens_all_labels: int  # what every stored LLM label cost, earlier runs included
    model_dir: Path
    origin: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out.update(stats=self.stats.to_dict(), model_dir=str(self.model_dir),
                   agreement=self.agreement.to_dict() if self.agreement else None)
        return out


def distill(
    llm: LLMRecognizer, corpus: Corpus, out_dir: str | Path, *, endpoint: str,
    holdout: float = 0.2, fast: TextRecognizer | None = None, route_below: float | None = None,
    name: str = "distilled", version: str = "1", seed: int = 0, c: float = 0.5,
    min_df: int = 2, chunk: int = CHUNK, on_progress: Callable[[int, int], None] | None = None,
) -> DistillResult:
    """Label ``corpus`` with ``llm`` (resumably), train on the labels, measure agreement.

    ``endpoint`` names where the LLM runs (stored with the labels and in the model card).
    Raises ``LLMRequestError`` when the endpoint refuses outright; labels got until then
    are kept, so running again goes on where it stopped.
    """
    out_dir = Path(out_dir)
    origin = {"llm": llm.version, "model": llm.client.model, "prompt_version": PROMPT_VERSION,
              "labels": list(llm.labels), "endpoint": endpoint, "data": str(corpus.path),
              "created": datetime.now(UTC).isoformat(timespec="seconds")}
    store = LabelFile(out_dir, origin)
    kept = store.load()
    from_file = sum(text in kept for text in corpus.texts)
    langs = resolve_languages(corpus.texts, corpus.languages)
    todo = [i for i, text in enumerate(corpus.texts) if text not in kept]
    fast_labels: dict[int, str] = {}
    if route_below is not None and fast is not None and todo:
        fast_labels, todo = _route(fast, corpus.texts, langs, todo, route_below, llm.labels)
    llm.reset_stats()
    failures = _label(llm, corpus, langs, todo, store, kept, chunk, on_progress)
    stats = llm.reset_stats()
    if route_below is not None:
        stats.add(routed=len(todo), fast_only=len(fast_labels))
    train, dev, holdout_rows = _datasets(corpus, langs, kept, fast_labels, holdout, seed,
                                         store.path)
    model_dir = out_dir / MODEL_DIR
    model, _ = train_text(train, model_dir, labels=llm.labels, dev=dev, name=name,
                          version=version, c=c, seed=seed, min_df=min_df)
    agreement, kappa = _agreement(model, dev) if dev is not None else (None, None)
    result = DistillResult(
        texts=len(corpus.texts), from_file=from_file, asked=len(todo),
        labelled=sum(text in kept for text in corpus.texts), fast_kept=len(fast_labels),
        failures=failures, stats=stats, train_items=len(train.texts),
        holdout_rows=holdout_rows, agreement=agreement, cohen_kappa=kappa,
        label_counts=_counts(kept[t]["label"] for t in corpus.texts if t in kept),
        tokens_all_labels=sum(int(kept[t].get("tokens", 0)) for t in corpus.texts if t in kept),
        model_dir=model_dir, origin={
            **origin, "route_below": route_below,
            "fast_model": _model_id(fast) if route_below is not None else None},
    )
    _finish(result, holdout)
    return result


def _route(
    fast: TextRecognizer, texts: list[str], langs: list[str], todo: list[int],
    threshold: float, labels: Sequence[str],
) -> tuple[dict[int, str], list[int]]:
    """Fast labels for the texts the fast model is sure of; the rest are left for the LLM."""
    check_same_labels(fast, labels)
    probs = np.asarray(fast.predict_proba([texts[i] for i in todo], [langs[i] for i in todo]))
    sure = probs.max(axis=1) >= threshold if len(todo) else np.zeros(0, dtype=bool)
    kept = {i: fast.labels[int(probs[k].argmax())] for k, i in enumerate(todo) if sure[k]}
    return kept, [i for k, i in enumerate(todo) if not sure[k]]


def _label(
    llm: LLMRecognizer, corpus: Corpus, langs: list[str], todo: list[int], store: LabelFile,
    kept: dict[str, dict[str, Any]], chunk: int,
    on_progress: Callable[[int, int], None] | None,
) -> list[str]:
    """Ask the LLM about ``todo`` chunk by chunk, storing each chunk's labels at once."""
    failures: list[str] = []
    for start in range(0, len(todo), chunk):
        part = todo[start : start + chunk]
        try:
            outcomes = llm.annotate([corpus.texts[i] for i in part], [langs[i] for i in part])
        except LLMRequestError as exc:
            raise LLMRequestError(
                f"{exc}. The {len(kept)} labels got so far are kept in {store.path}; run "
                "again to go on from there.", exc.retryable, exc.status) from exc
        new = []
        for i, outcome in zip(part, outcomes, strict=True):
            if isinstance(outcome, Annotation):
                new.append(record(corpus.rows[i], corpus.texts[i], outcome))
                kept[corpus.texts[i]] = new[-1]
            else:
                failures.append(f"row {corpus.rows[i]} ({outcome.excerpt!r}): {outcome.reason}")
        store.append(new)
        if on_progress is not None:
            on_progress(min(start + chunk, len(todo)), len(todo))
    return failures


def _datasets(
    corpus: Corpus, langs: list[str], kept: dict[str, dict[str, Any]],
    fast_labels: dict[int, str], holdout: float, seed: int, path: Path,
) -> tuple[LabelledData, LabelledData | None, list[int]]:
    """Training data (fast labels and most LLM labels) and the held-out LLM labels."""
    by_llm = [i for i, text in enumerate(corpus.texts) if text in kept]
    if not by_llm and not fast_labels:
        raise InvalidInputError(
            f"The LLM labelled none of the {len(corpus.texts)} texts: nothing to learn from "
            "(see the failures above).")
    labels = [kept[corpus.texts[i]]["label"] for i in by_llm]
    held: list[int] = []
    if holdout > 0 and by_llm:  # with no LLM label, the fast model's alone: nothing to hold out
        if len(by_llm) < 4:
            raise InvalidInputError(
                f"Only {len(by_llm)} texts have an LLM label: too few to hold any out; label "
                "more (a larger --limit) or use --holdout 0.")
        _, val = splits.holdout(labels, None, holdout, seed)
        held = [by_llm[k] for k in val]
    train_index = sorted(set(by_llm) - set(held)) + sorted(fast_labels)

    def data(index: Sequence[int]) -> LabelledData:
        return LabelledData(
            [corpus.texts[i] for i in index],
            [fast_labels[i] if i in fast_labels else kept[corpus.texts[i]]["label"]
             for i in index],
            [langs[i] for i in index], path)

    return data(train_index), data(held) if held else None, [corpus.rows[i] for i in held]


def _agreement(model: Any, dev: LabelledData) -> tuple[Metrics, float | None]:
    """The model's agreement with the LLM on the held-out texts."""
    probs = model.predict_proba(dev.texts, dev.languages)
    predicted = [model.labels[j] for j in probs.argmax(axis=1)]
    metrics = compute_metrics(dev.labels, predicted, list(model.labels))
    if len(set(dev.labels) | set(predicted)) < 2:
        return metrics, None  # kappa is undefined with a single label on both sides
    kappa = float(cohen_kappa_score(dev.labels, predicted))
    metrics.extra["cohen_kappa"] = kappa
    return metrics, kappa


def _finish(result: DistillResult, holdout: float) -> None:
    """Record the origin of the labels in the model's metadata and card, and the summary."""
    from emolens.llm.distill_card import distilled_card

    meta_path = result.model_dir / MODEL_FILE
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["distilled"] = {
        **result.origin, "holdout": holdout, "texts": result.texts,
        "labelled_by_llm": result.labelled, "failed": len(result.failures),
        "fast_kept": result.fast_kept, "label_counts": result.label_counts,
        "tokens": result.tokens_all_labels, "cohen_kappa": result.cohen_kappa,
        "agreement": result.agreement.to_dict() if result.agreement else None,
    }
    meta_path.write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
    (result.model_dir / CARD_FILE).write_text(distilled_card(meta), encoding="utf-8")
    summary = result.model_dir.parent / SUMMARY_FILE
    summary.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False),
                       encoding="utf-8")


def _counts(labels: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for label in labels:
        out[label] = out.get(label, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _model_id(model: TextRecognizer | None) -> str | None:
    return None if model is None else f"{model.name}@{model.version}"
