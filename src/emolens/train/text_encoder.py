"""`emolens train text --encoder minilm-en|e5-zh`: a light head on a frozen shipped encoder.

Texts are embedded by the encoder (mean-pooled last hidden states, ``embed``), optionally
cached on disk by the hash of (encoder, version, text) so that training again with other
options skips the encoder; then ``heads.train_head`` fits and validates a ``LinearHead``
(standardisation, C by inner cross-validation unless given, class weights, k-fold or
group-aware splits, temperature, abstention). The model directory names its encoder and loads
as a text recognizer (``emolens.text.encoder_head``) through ``--model PATH`` /
``emolens.load(PATH)``.
"""

from __future__ import annotations

import hashlib
import os
import platform
import time
import uuid
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from emolens import labels as L
from emolens.errors import InvalidInputError
from emolens.text.encoder_head import (
    MODEL_TYPE,
    EncoderHeadRecognizer,
    encoder_identity,
    load_encoder,
)
from emolens.train.data import LabelledData
from emolens.train.heads import HeadOptions, Validation, train_head

# (description, total) -> callback advanced by the number of texts embedded.
ProgressFactory = Callable[[str, int], Callable[[int], None]]

# Honesty notes written into the model card and the model file.
ENCODER_NOTES = {
    "minilm-en": "minilm-en was itself fine-tuned (LoRA) on the dair_emotion and GoEmotions "
                 "train splits, so its features already separate those datasets' emotions: "
                 "heads trained and scored on dair_emotion or GoEmotions look better than they "
                 "would on unseen data of another kind.",
    "e5-zh": "e5-zh was itself fine-tuned (LoRA) on Chinese emotion data (see its MODEL_CARD); "
             "scores on those datasets flatter heads trained on its features.",
}


def default_cache_dir() -> Path:
    """``<cache root>/embeddings``."""
    from emolens.config import cache_root

    return cache_root() / "embeddings"


def text_key(encoder: str, version: str, text: str) -> str:
    """Cache key of one text's embedding by one encoder version."""
    data = f"{encoder}@{version}\0{text}".encode("utf-8", errors="surrogatepass")
    return hashlib.sha256(data).hexdigest()


class EmbeddingCache:
    """Embeddings of one encoder version in one ``.npz`` (keys, vectors), rewritten atomically."""

    def __init__(self, directory: Path, encoder: str, version: str) -> None:
        safe = f"{encoder}-{version}".replace("/", "_")
        self.path = Path(directory) / f"{safe}.npz"
        self.encoder, self.version = encoder, version
        self.rows: dict[str, np.ndarray] = {}
        try:
            with np.load(self.path, allow_pickle=False) as data:
                keys, vectors = data["keys"], data["vectors"]
            self.rows = {str(k): vectors[i] for i, k in enumerate(keys)}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            self.rows = {}  # no cache yet, or an unreadable one: start again

    def save(self) -> None:
        """Write all rows (a unique temporary file renamed into place)."""
        if not self.rows:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp.npz")
        try:
            np.savez(tmp, keys=np.array(list(self.rows)),
                     vectors=np.stack(list(self.rows.values())).astype(np.float32))
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)


def embed_texts(encoder: Any, name: str, texts: Sequence[str], cache_dir: Path | None = None,
                progress: ProgressFactory | None = None, what: str = "texts"
                ) -> tuple[np.ndarray, int]:
    """Embeddings (n, dim) of ``texts`` and how many came from the cache (``cache_dir``:
    None for no cache). Each distinct text is embedded once."""
    version = str(encoder.version)
    keys = [text_key(name, version, t) for t in texts]
    cache = EmbeddingCache(cache_dir, name, version) if cache_dir is not None else None
    known = cache.rows if cache is not None else {}
    todo: dict[str, str] = {}
    for key, text in zip(keys, texts, strict=True):
        if key not in known and key not in todo:
            todo[key] = text
    hits = sum(1 for key in keys if key in known)
    fresh: dict[str, np.ndarray] = {}
    if todo:
        advance = progress(f"embedding {what} with {name}", len(todo)) if progress else None
        vectors = encoder.embed(list(todo.values()), advance)
        fresh = dict(zip(todo, vectors, strict=True))
        if cache is not None:
            cache.rows.update(fresh)
            cache.save()
    rows = [known[k] if k in known else fresh[k] for k in keys]
    out = np.stack(rows).astype(np.float32) if rows else np.zeros((0, 0), np.float32)
    return out, hits


def text_scheme(label_set: Sequence[str]) -> str | None:
    """As for the n-gram model: canonical, mappable (None), or the user's own ('custom')."""
    if set(label_set) <= set(L.CANONICAL):
        return "canonical"
    return None if L.is_mappable(label_set) else "custom"


@dataclass
class TrainedText:
    """What ``train_text_encoder`` made."""

    directory: Path
    recognizer: EncoderHeadRecognizer
    validation: Validation
    seconds: dict[str, float]
    cached: int


def train_text_encoder(
    train: LabelledData,
    out_dir: str | Path,
    encoder_name: str,
    options: HeadOptions,
    *,
    labels: Sequence[str] | None = None,
    dev: LabelledData | None = None,
    name: str = "custom",
    version: str | None = None,
    cache_dir: Path | None = None,
    progress: ProgressFactory | None = None,
    say: Callable[[str], None] | None = None,
    encoder: Any = None,
) -> TrainedText:
    """Embed (cached), fit and validate a head, save the model directory (without
    ``version``, a hash of the head is the version)."""
    from emolens.models.catalog import check_output_dir
    from emolens.text.language import resolve_languages
    from emolens.train.media import save_model

    check_output_dir(out_dir)  # before the embedding, not after it

    multi = train.is_multilabel(labels or ())
    if multi:  # one row per label; per-label thresholds are fitted on the dev items below
        train = train.explode(labels or ())
    dev_all = dev
    label_set = tuple(labels) if labels else tuple(sorted(set(train.labels)))
    unknown = sorted(set(train.labels) - set(label_set))
    if unknown:
        raise InvalidInputError(f"{train.path}: labels {unknown} are not in --labels "
                                f"{list(label_set)}")
    encoder = encoder if encoder is not None else load_encoder(encoder_name)
    started = time.perf_counter()
    x, hits = embed_texts(encoder, encoder_name, train.texts, cache_dir, progress, "train")
    dev_xy = x_dev_all = None
    if dev is not None:
        keep = [i for i, label in enumerate(dev.labels) if label in label_set]
        if not keep:
            raise InvalidInputError(f"{dev.path}: no rows with a label in {list(label_set)}")
        # Every dev row is embedded once: single-label rows validate the head, and with
        # multi-label data all rows fit the per-label thresholds.
        x_dev_all, dev_hits = embed_texts(encoder, encoder_name, dev.texts, cache_dir,
                                          progress, "dev")
        hits += dev_hits
        dev = dev.subset(keep)
        dev_xy = (x_dev_all[keep], np.array([label_set.index(label) for label in dev.labels]))
    embedded = time.perf_counter()
    index = {label: k for k, label in enumerate(label_set)}
    y = np.array([index[label] for label in train.labels])
    head, validation = train_head(x, y, label_set, options, train.groups, (), dev_xy, say)
    thresholds = None
    if multi and dev_all is not None:
        from emolens.train.text import fit_label_thresholds

        thresholds = fit_label_thresholds(head.predict_proba(x_dev_all), label_set, dev_all)
    seconds = {"embedding": round(embedded - started, 1),
               "head": round(time.perf_counter() - embedded, 1)}
    identity = {**encoder_identity(encoder, encoder_name), "dim": int(x.shape[1]),
                "features": "mean-pooled last hidden states, frozen"}
    if encoder_name in ENCODER_NOTES:
        identity["note"] = ENCODER_NOTES[encoder_name]
    meta = {
        "type": MODEL_TYPE, "modality": "text", "name": name, "version": version,
        "labels": list(label_set), "scheme": text_scheme(label_set), "encoder": identity,
        # The languages it learnt from: the Analyzer marks results in any other language.
        "languages": sorted(set(resolve_languages(train.texts, train.languages))),
        "head": {"kind": "logistic-regression (standardised features)", "C": head.c,
                 "class_weight": options.class_weight, "temperature": head.temperature_},
        "abstain_below": options.abstain_below,
        "label_thresholds": thresholds,
        "config": {**options.to_dict(), "data": str(train.path),
                   "dev": None if dev is None else str(dev.path)},
        "trained": {
            "at": datetime.now(UTC).isoformat(timespec="seconds"), "items": len(train.texts),
            "label_counts": {lab: int((y == k).sum()) for lab, k in index.items()},
            "groups": None if train.groups is None else len(set(train.groups)),
            "seconds": seconds, "embeddings_from_cache": hits,
            "python": platform.python_version(),
        },
        "validation": validation.to_dict(),
    }
    directory = save_model(out_dir, head, meta, {})
    return TrainedText(directory, EncoderHeadRecognizer(encoder, head, meta), validation,
                       seconds, hits)
