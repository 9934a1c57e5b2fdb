"""`emolens benchmark`: re-measure the shipped models' published numbers on the shared data.

Text: the test splits of dair-ai emotion (love -> joy), GoEmotions (Ekman groups; a top-1 label
in the gold set counts as right), SMP2020-EWECT usual and virus, and MELD test (evaluation
only), scored as ``benchmarks/text_benchmark.py`` scores them. Faces: FER2013 PrivateTest
crops through the face CNN, as ``recipes/fer`` reports. Voice: RAVDESS, 5 folds by actor
(fold k holds out actors a with (a - 1) % 5 == k), each clip trained as recorded and trimmed,
C chosen inside each training split, unweighted accuracy on the full clips, as
``recipes/voice_ravdess`` measures. ``quick`` subsamples every set.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from emolens import labels as L
from emolens.errors import InvalidInputError

SUITES = ("text", "faces", "voice")
QUICK_ITEMS = 500
# Published figures (README "Benchmarks"; benchmarks/results/text.json, 2026-11-24; for
# default, accurate and ngram, `emolens benchmark` of 2026-12-07 with n-gram model 0.2.0,
# for e5-zh 0.2.0 that of 2026-12-06): per model, test set -> (metric, value). Face and voice
# figures come from the shipped models' own emolens-model.json (written by their recipes).
TEXT_REFERENCE: dict[str, dict[str, tuple[str, float]]] = {
    "default": {"dair_emotion": ("accuracy", 0.940), "goemotions_ekman": ("macro_f1", 0.655),
                "smp2020_usual": ("macro_f1", 0.735), "smp2020_virus": ("macro_f1", 0.640),
                "meld": ("weighted_f1", 0.407)},
    "ngram": {"dair_emotion": ("accuracy", 0.867), "goemotions_ekman": ("macro_f1", 0.596),
              "smp2020_usual": ("macro_f1", 0.705), "smp2020_virus": ("macro_f1", 0.615),
              "meld": ("weighted_f1", 0.398)},
    "accurate": {"dair_emotion": ("accuracy", 0.953), "goemotions_ekman": ("macro_f1", 0.658),
                 "smp2020_usual": ("macro_f1", 0.744), "smp2020_virus": ("macro_f1", 0.652),
                 "meld": ("weighted_f1", 0.410)},
    "minilm-en": {"dair_emotion": ("accuracy", 0.955), "goemotions_ekman": ("macro_f1", 0.656),
                  "meld": ("weighted_f1", 0.405)},
    "e5-zh": {"smp2020_usual": ("macro_f1", 0.742), "smp2020_virus": ("macro_f1", 0.644)},
}
VOICE_C_GRID = (0.003, 0.01, 0.03, 0.1)  # the recipe's grid


@dataclass
class Row:
    """One measured figure beside its published reference."""

    suite: str
    model: str
    dataset: str
    metric: str
    ours: float
    reference: float | None
    n: int
    seconds: float
    ece: float | None = None  # expected calibration error of the top-1 (15 bins)

    def to_dict(self) -> dict:
        """JSON-safe dictionary."""
        return asdict(self)


@dataclass
class _Set:
    texts: list[str]
    gold: list[str]  # canonical, first label
    gold_sets: list[set[str]]


def _cap(items: _Set, quick: bool) -> _Set:
    if not quick:
        return items
    return _Set(items.texts[:QUICK_ITEMS], items.gold[:QUICK_ITEMS], items.gold_sets[:QUICK_ITEMS])


def text_sets(data: Path, eval_dir: Path | None) -> dict[str, Callable[[], _Set]]:
    """Loaders of the canonical-label text test sets (read when called)."""
    def dair() -> _Set:
        pairs = [line.rsplit(";", 1) for line in
                 (data / "dair_emotion/test.txt").read_text(encoding="utf-8").splitlines()]
        gold = [L.to_canonical(g, "dair_emotion") or g for _, g in pairs]
        return _Set([t for t, _ in pairs], gold, [{g} for g in gold])

    def goemotions() -> _Set:
        names = (data / "goemotions/labels.txt").read_text().split()
        texts, sets, first = [], [], []
        for line in (data / "goemotions/test.tsv").read_text(encoding="utf-8").splitlines():
            text, ids, _ = line.split("\t")
            mapped = [L.to_canonical(names[int(i)], "goemotions") or "neutral"
                      for i in ids.split(",")]
            texts.append(text)
            first.append(mapped[0])
            sets.append(set(mapped))
        return _Set(texts, first, sets)

    def smp(file: str) -> Callable[[], _Set]:
        def load() -> _Set:
            records = json.loads((data / "smp2020_ewect" / file).read_text(encoding="utf-8"))
            records = [r for r in records if r["content"].strip()]
            gold = [L.to_canonical(r["label"], "smp2020_ewect") or r["label"] for r in records]
            return _Set([r["content"] for r in records], gold, [{g} for g in gold])
        return load

    def meld() -> _Set:
        with (eval_dir / "meld/test_sent_emo.csv").open(encoding="utf-8") as handle:  # type: ignore[operator]
            rows = list(csv.DictReader(handle))
        gold = [r["Emotion"] for r in rows]
        return _Set([r["Utterance"] for r in rows], gold, [{g} for g in gold])

    sets = {"dair_emotion": dair, "goemotions_ekman": goemotions,
            "smp2020_usual": smp("usual_test_labeled.json"),
            "smp2020_virus": smp("virus_test_labeled.json")}
    if eval_dir is not None and (eval_dir / "meld/test_sent_emo.csv").is_file():
        sets["meld"] = meld
    return sets


def _ece(probs: np.ndarray, correct: np.ndarray) -> float:
    from emolens.train.calibration import expected_calibration_error

    return expected_calibration_error(probs.max(axis=1), correct)


def _text_scores(probs: np.ndarray, items: _Set) -> dict[str, float]:
    """Top-1 against the gold label; for multi-label gold a top-1 in the gold set is right."""
    predicted = [L.CANONICAL[i] for i in probs.argmax(axis=1)]
    gold = [p if p in s else g for p, g, s in zip(predicted, items.gold, items.gold_sets,
                                                  strict=True)]
    present = sorted(set(gold))
    return {"ece": _ece(probs, np.array(gold) == np.array(predicted)),
            "accuracy": accuracy_score(gold, predicted),
            "macro_f1": f1_score(gold, predicted, labels=present, average="macro",
                                 zero_division=0),
            "weighted_f1": f1_score(gold, predicted, labels=present, average="weighted",
                                    zero_division=0)}


def text_rows(data: Path, eval_dir: Path | None, models: list[str], quick: bool
              ) -> Iterator[Row]:
    """Each text model on each test set, the metric its card publishes."""
    from emolens.pipeline import build_analyzer

    sets = {name: _cap(load(), quick) for name, load in text_sets(data, eval_dir).items()}
    for model in models:
        analyzer = build_analyzer(model)
        for name, items in sets.items():
            metric, reference = TEXT_REFERENCE.get(model, {}).get(name, ("macro_f1", None))
            started = time.perf_counter()
            results = analyzer.analyze_batch(items.texts)
            probs = np.array([[r.scores[k] for k in L.CANONICAL] for r in results])
            scores = _text_scores(probs, items)
            yield Row("text", model, name, metric, float(scores[metric]), reference,
                      len(items.texts), time.perf_counter() - started, scores["ece"])


def face_rows(data: Path, quick: bool) -> Iterator[Row]:
    """The shipped face CNN on FER2013 PrivateTest crops: accuracy and macro-F1."""
    from PIL import Image

    from emolens.vision.expression import FACE_DIR, load_expression_model

    model = load_expression_model("default")
    files = sorted((data / "fer2013/test").glob("*/PrivateTest_*.jpg"))
    if quick:
        files = files[:: max(1, len(files) // QUICK_ITEMS)]
    if not files:
        raise InvalidInputError(f"no FER2013 PrivateTest images under {data / 'fer2013/test'}")
    started = time.perf_counter()
    crops = [np.asarray(Image.open(f).convert("L")) for f in files]
    probs = model.predict_proba(crops)
    predicted = [model.labels[i] for i in probs.argmax(axis=1)]
    gold = [f.parent.name for f in files]
    ece = _ece(probs, np.array(predicted) == np.array(gold))
    seconds = time.perf_counter() - started
    trained = json.loads((FACE_DIR / "emolens-model.json").read_text()).get("trained", {})
    name = f"{model.name}@{model.version}"
    yield Row("faces", name, "fer2013 PrivateTest", "accuracy",
              float(accuracy_score(gold, predicted)), trained.get("private_test_accuracy"),
              len(files), seconds, ece)
    yield Row("faces", name, "fer2013 PrivateTest", "macro_f1",
              float(f1_score(gold, predicted, average="macro")),
              trained.get("private_test_macro_f1"), len(files), seconds)


RAVDESS_EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust",
                    "surprised")


def voice_rows(data: Path, quick: bool, cache_dir: Path | None,
               on_file: Callable[[Path, bool], None] | None = None) -> Iterator[Row]:
    """The voice recipe's cross-validation, re-run: 5 folds by actor, nested C, UA."""
    from emolens.audio.voice import VOICE_DIR
    from emolens.blas import one_blas_thread
    from emolens.train.audio import Encoder
    from emolens.train.heads import LinearHead
    from emolens.train.media import extract

    files = sorted((data / "ravdess_speech").glob("Actor_*/*.flac"))
    if quick:  # statement 1, first repetition: a quarter of the clips, every actor and class
        files = [f for f in files if f.stem.split("-")[4:6] == ["01", "01"]]
    if not files:
        raise InvalidInputError(f"no RAVDESS clips under {data / 'ravdess_speech'}")
    started = time.perf_counter()
    found = extract(Encoder(), files, cache_dir, on_file)
    codes = [[int(c) for c in files[i].stem.split("-")] for i in found.kept]
    y, actor = np.array([c[2] - 1 for c in codes]), np.array([c[6] for c in codes])
    full, trimmed = (np.stack([r[v] for r in found.rows]) for v in (0, 1))

    def fit(items: np.ndarray, c: float) -> LinearHead:
        x, labels = np.vstack([full[items], trimmed[items]]), np.tile(y[items], 2)
        return LinearHead(c).fit(x, labels, len(RAVDESS_EMOTIONS))

    def cv(items: np.ndarray, c: float | None) -> np.ndarray:
        logits = np.empty((len(items), len(RAVDESS_EMOTIONS)))
        for k in sorted(set(((actor[items] - 1) % 5).tolist())):
            test = (actor[items] - 1) % 5 == k
            chosen = c if c is not None else max(
                VOICE_C_GRID, key=lambda g: balanced_accuracy_score(
                    y[items[~test]], cv(items[~test], g).argmax(axis=1)))
            logits[test] = fit(items[~test], chosen).logits(full[items[test]])
        return logits

    with one_blas_thread():
        logits = cv(np.arange(len(y)), None)
    pred = logits.argmax(axis=1)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    meta = json.loads((VOICE_DIR / "emolens-model.json").read_text())
    reference = (meta.get("trained") or {}).get("cv_unweighted_accuracy", {}).get("full_clips")
    yield Row("voice", f"{meta['name']}@{meta['version']}", "ravdess 5 folds by actor",
              "unweighted_accuracy", float(balanced_accuracy_score(y, pred)), reference, len(y),
              time.perf_counter() - started, _ece(probs, pred == y))
