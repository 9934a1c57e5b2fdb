"""N-gram recognizer: a linear model over hashed word and character n-grams, one head per language.

Fast (thousands of texts per second on one core), small once pruned, trainable on any label
set in seconds, and calibrated: a temperature on the decision values turns them into
probabilities that mean what they say. It is the trainable core of `emolens train text`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from sklearn.model_selection import train_test_split
from sklearn.svm import LinearSVC

from emolens.errors import InvalidInputError, ModelFileError, NotFittedError
from emolens.text.base import softmax
from emolens.text.features import DEFAULT_SEGMENTER, NgramFeaturizer
from emolens.text.language import LANGUAGES, resolve_languages

MODEL_FILE = "emolens-model.json"
WEIGHTS_FILE = "weights.npz"


@dataclass
class _Head:
    """What one language's model learned. Only columns seen in training are kept."""

    columns: np.ndarray  # int32, feature columns kept
    idf: np.ndarray  # float32, per kept column
    coef: np.ndarray  # float32 (n_classes_in_head, n_columns)
    intercept: np.ndarray  # float32 (n_classes_in_head,)
    classes: np.ndarray  # int, indices into the recognizer's labels
    temperature: float = 1.0

    def weigh(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        """Sublinear TF x IDF on the kept columns, rows L2-normalised."""
        x = counts[:, self.columns].tocsr().astype(np.float64)
        np.log1p(x.data, out=x.data)
        x = x @ sp.diags(self.idf.astype(np.float64))
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sp.diags(1.0 / norms) @ x

    def logits(self, counts: sp.csr_matrix) -> np.ndarray:
        """Decision values, one column per class of this head."""
        return np.asarray(self.weigh(counts) @ self.coef.T.astype(np.float64)) + self.intercept


class NgramRecognizer:
    """Linear n-gram emotion model for English and Chinese, with calibrated probabilities."""

    def __init__(
        self,
        labels: Sequence[str] | None = None,
        scheme: str | None = None,
        name: str = "ngram",
        version: str = "0",
        n_features: int = 2**18,
        c: float = 0.5,
        min_df: int = 2,
        class_weight: str | None = None,
        seed: int = 0,
        abstain_below: float | None = None,
        segmenter: str = DEFAULT_SEGMENTER,
    ) -> None:
        self.labels = tuple(labels) if labels is not None else ()
        self.scheme = scheme
        self.name = name
        self.version = version
        self.n_features = n_features
        self.c = c
        self.min_df = min_df
        self.class_weight = class_weight
        self.seed = seed
        # How Chinese text is cut into words; a saved model without one was cut by jieba.
        self.segmenter = segmenter
        # Results below this top probability are labelled "uncertain" by the Analyzer.
        self.abstain_below = abstain_below
        # Multi-label models (trained on items with several labels): each label's threshold,
        # fitted on validation data; the Analyzer lists the labels at or above theirs.
        self.label_thresholds: dict[str, float] | None = None
        self.heads_: dict[str, _Head] = {}
        # Languages whose training texts all had one label (language -> that label): they get
        # no head of their own, and their texts are scored by another language's head.
        self.skipped_languages_: dict[str, str] = {}
        self._featurizers: dict[str, NgramFeaturizer] = {}

    # -- features ---------------------------------------------------------------------------
    def _featurizer(self, language: str) -> NgramFeaturizer:
        if language not in self._featurizers:
            self._featurizers[language] = NgramFeaturizer(language, self.n_features,
                                                             self.segmenter)
        return self._featurizers[language]

    # -- training ---------------------------------------------------------------------------
    def fit(
        self,
        texts: Sequence[str],
        y: Sequence[str],
        languages: Sequence[str] | None = None,
        calibration: tuple[Sequence[str], Sequence[str]] | None = None,
    ) -> NgramRecognizer:
        """Train one head per language found in ``texts``; labels are those of ``y`` unless set.

        The temperature is fitted on ``calibration`` (texts, labels) when given, else on a 10 %
        stratified hold-out, after which the head is refitted on everything. A language whose
        texts all have one label gets no head (see ``skipped_languages_``).
        """
        if len(texts) != len(y):
            raise InvalidInputError(f"Got {len(texts)} texts but {len(y)} labels.")
        if not self.labels:
            self.labels = tuple(sorted(set(y)))
        repeated = sorted({label for label in self.labels if self.labels.count(label) > 1})
        if repeated:
            # Two columns of one label would split its probability and break the label index.
            raise InvalidInputError(f"The label set lists {repeated} more than once: "
                                    f"{list(self.labels)}; give each label once.")
        unknown = sorted(set(y) - set(self.labels))
        if unknown:
            raise InvalidInputError(f"Labels {unknown} are not in the label set {self.labels}.")
        langs = np.array(resolve_languages(texts, languages))
        y_idx = np.array([self.labels.index(label) for label in y])
        cal_langs = cal_idx = None
        cal_texts: list[str] = []
        if calibration is not None:
            cal_texts = list(calibration[0])
            cal_langs = np.array(resolve_languages(cal_texts, None))
            cal_idx = np.array([self.labels.index(label) for label in calibration[1]])
        self.heads_, self.skipped_languages_ = {}, {}
        for language in LANGUAGES:
            mask = langs == language
            if mask.sum() == 0:
                continue
            classes = np.unique(y_idx[mask])
            if len(classes) < 2:
                self.skipped_languages_[language] = self.labels[classes[0]]
                continue
            counts = self._featurizer(language).transform(
                [t for t, m in zip(texts, mask, strict=True) if m]
            )
            cal = None
            if cal_langs is not None and cal_idx is not None and (cal_langs == language).any():
                cal_mask = cal_langs == language
                cal_counts = self._featurizer(language).transform(
                    [t for t, m in zip(cal_texts, cal_mask, strict=True) if m]
                )
                cal = (cal_counts, cal_idx[cal_mask])
            self.heads_[language] = self._fit_head(counts, y_idx[mask], cal, language)
        if not self.heads_ and not self.skipped_languages_:
            raise InvalidInputError(
                f"No training text is in a language with n-gram features {list(LANGUAGES)}; "
                f"got languages {sorted(set(langs.tolist()))[:10]}.")
        if not self.heads_:
            found = "; ".join(f"{language}: {label}"
                              for language, label in self.skipped_languages_.items())
            raise InvalidInputError(
                f"Training data has a single label in every language ({found}); a classifier "
                "needs at least two labels in one language.")
        return self

    def _fit_head(
        self,
        counts: sp.csr_matrix,
        y: np.ndarray,
        calibration: tuple[sp.csr_matrix, np.ndarray] | None,
        language: str,
    ) -> _Head:
        classes = np.unique(y)
        df = np.asarray((counts > 0).sum(axis=0)).ravel()
        columns = np.flatnonzero(df >= self.min_df).astype(np.int32)
        if len(columns) == 0:
            raise InvalidInputError(
                f"No n-gram of the {len(y)} {language} training texts occurs in at least "
                f"min_df={self.min_df} of them, so there is nothing to learn from; use a "
                "lower --min-df (1 keeps every n-gram) or more data.")
        idf = (np.log((1 + counts.shape[0]) / (1 + df[columns])) + 1).astype(np.float32)
        head = _Head(columns, idf, np.zeros((0, 0)), np.zeros(0), classes)
        x = head.weigh(counts)
        n_cal = max(len(y) // 10, len(classes))
        if calibration is None and (
            min(np.bincount(y)[classes]) < 2 or len(y) - n_cal < 2 * len(classes)
        ):
            # Too little data to hold any out: no temperature (1.0), fit on everything.
            self._train_linear(head, x, y)
        elif calibration is None:
            fit_rows, cal_rows = train_test_split(
                np.arange(len(y)), test_size=n_cal, random_state=self.seed, stratify=y
            )
            self._train_linear(head, x[fit_rows], y[fit_rows])
            head.temperature = _fit_temperature(head, x[cal_rows], y[cal_rows])
            self._train_linear(head, x, y)
        else:
            self._train_linear(head, x, y)
            head.temperature = _fit_temperature(head, head.weigh(calibration[0]), calibration[1])
        return head

    def _train_linear(self, head: _Head, x: sp.csr_matrix, y: np.ndarray) -> None:
        svm = LinearSVC(C=self.c, class_weight=self.class_weight, random_state=self.seed)
        svm.fit(x, y)
        coef, intercept = svm.coef_, svm.intercept_
        if len(svm.classes_) == 2:  # binary SVMs give one score; make it two symmetric ones.
            coef = np.vstack([-coef[0] / 2, coef[0] / 2])
            intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
        head.coef = coef.astype(np.float32)
        head.intercept = intercept.astype(np.float32)
        head.classes = svm.classes_.astype(np.int64)

    @property
    def trained_languages(self) -> tuple[str, ...]:
        """The languages its training data held (the Analyzer notes texts in others)."""
        return tuple(sorted({*self.heads_, *self.skipped_languages_}))

    # -- inference --------------------------------------------------------------------------
    def predict_proba(
        self, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> np.ndarray:
        """Probabilities (n, len(labels)); a language without its own head uses another's."""
        if not self.heads_:
            raise NotFittedError("This NgramRecognizer is not trained: call fit() or load().")
        langs = np.array(resolve_languages(texts, languages), dtype=object)
        out = np.zeros((len(texts), len(self.labels)))
        for language in np.unique(langs) if len(texts) else []:
            head_language = language if language in self.heads_ else next(iter(self.heads_))
            head = self.heads_[head_language]
            rows = np.flatnonzero(langs == language)
            counts = self._featurizer(head_language).transform([texts[i] for i in rows])
            out[np.ix_(rows, head.classes)] = softmax(head.logits(counts), head.temperature)
        return out

    # -- persistence ------------------------------------------------------------------------
    def save(self, directory: str | Path, extra: dict | None = None) -> Path:
        """Write the model as a directory loadable by ``emolens.load``."""
        from emolens.models.catalog import check_output_dir

        directory = check_output_dir(directory)  # never into a folder of the user's own files
        directory.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(directory / WEIGHTS_FILE, **self._arrays())
        meta = {
            "type": "ngram",
            "name": self.name,
            "version": self.version,
            "labels": list(self.labels),
            "scheme": self.scheme,
            "languages": sorted(self.heads_),
            "skipped_languages": self.skipped_languages_ or None,
            "abstain_below": self.abstain_below,
            "label_thresholds": self.label_thresholds,
            "params": {
                "n_features": self.n_features,
                "c": self.c,
                "min_df": self.min_df,
                "class_weight": self.class_weight,
                "seed": self.seed,
                "segmenter": self.segmenter,
            },
            **(extra or {}),
        }
        (directory / MODEL_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False))
        return directory

    def _arrays(self) -> dict[str, np.ndarray]:
        """The learned state as saved (IDF and weights in float16)."""
        arrays: dict[str, np.ndarray] = {}
        for language, head in self.heads_.items():
            arrays[f"{language}.columns"] = head.columns
            arrays[f"{language}.idf"] = head.idf.astype(np.float16)
            arrays[f"{language}.coef"] = head.coef.astype(np.float16)
            arrays[f"{language}.intercept"] = head.intercept
            arrays[f"{language}.classes"] = head.classes
            arrays[f"{language}.temperature"] = np.array([head.temperature])
        return arrays

    def content_version(self) -> str:
        """A short hash of the saved weights and of what else changes results (labels,
        abstention and multi-label thresholds): a version that differs between trainings."""
        from emolens.models.catalog import content_version

        if not self.heads_:
            raise NotFittedError("This NgramRecognizer is not trained: call fit() or load().")
        return content_version(self._arrays(), list(self.labels), self.abstain_below,
                               self.label_thresholds, self.segmenter)

    @classmethod
    def load(cls, directory: str | Path) -> NgramRecognizer:
        """Read a directory written by ``save``."""
        directory = Path(directory)
        try:
            meta = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
            weights = np.load(directory / WEIGHTS_FILE)
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"Cannot read an n-gram model from {directory}: {exc}") from exc
        params = meta.get("params", {})
        model = cls(
            labels=meta["labels"],
            scheme=meta.get("scheme"),
            name=meta.get("name", "ngram"),
            version=str(meta.get("version", "0")),
            n_features=params.get("n_features", 2**18),
            c=params.get("c", 0.5),
            min_df=params.get("min_df", 2),
            class_weight=params.get("class_weight"),
            seed=params.get("seed", 0),
            abstain_below=meta.get("abstain_below"),
            segmenter=params.get("segmenter", "jieba"),
        )
        model.label_thresholds = meta.get("label_thresholds")
        model.skipped_languages_ = meta.get("skipped_languages") or {}
        for language in meta["languages"]:
            model.heads_[language] = _Head(
                columns=weights[f"{language}.columns"],
                idf=weights[f"{language}.idf"].astype(np.float32),
                coef=weights[f"{language}.coef"].astype(np.float32),
                intercept=weights[f"{language}.intercept"],
                classes=weights[f"{language}.classes"],
                temperature=float(weights[f"{language}.temperature"][0]),
            )
        return model


def _fit_temperature(head: _Head, x: sp.csr_matrix, y: np.ndarray) -> float:
    """Temperature minimising the negative log-likelihood of held-out labels."""
    logits = np.asarray(x @ head.coef.T.astype(np.float64)) + head.intercept
    position = {cls: i for i, cls in enumerate(head.classes)}
    keep = np.array([label in position for label in y])
    if not keep.any():
        return 1.0
    target = np.array([position[label] for label in y[keep]])
    logits = logits[keep]

    def nll(log_t: float) -> float:
        p = softmax(logits, float(np.exp(log_t)))
        return float(-np.mean(np.log(p[np.arange(len(target)), target] + 1e-12)))

    best = minimize_scalar(nll, bounds=(-5.0, 3.0), method="bounded")
    return float(np.exp(best.x))
