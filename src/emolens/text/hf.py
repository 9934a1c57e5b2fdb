"""Hugging Face recognizer: any sequence-classification model, from a folder or the hub.

Needs the ``hf`` extra (torch, transformers). Offline by default: the model must be a local
directory or already in the Hugging Face cache, unless ``local_files_only=False`` is passed.
Labels come from the model's ``config.id2label``; when every one has a canonical counterpart
(``emolens.labels.to_canonical``) the pipeline reports canonical scores, otherwise the
model's own labels (``scheme = "custom"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.util import find_spec
from typing import Any

import numpy as np

from emolens import labels as L
from emolens.errors import MissingExtraError, ModelFileError
from emolens.text.base import normalise_rows, softmax

# Texts are cut to max_length x this many characters before tokenizing: a fast tokenizer
# would read all of a long text only to truncate it, and no real token is this long.
CHARS_PER_TOKEN = 64


class HFRecognizer:
    """A transformers ``AutoModelForSequenceClassification`` behind the recognizer contract."""

    name = "hf"

    def __init__(
        self,
        model: str,
        device: str = "cpu",
        max_length: int = 256,
        batch_size: int = 32,
        local_files_only: bool | None = None,
    ) -> None:
        if find_spec("torch") is None or find_spec("transformers") is None:
            raise MissingExtraError("The hf recognizer", "hf")
        self.model = str(model)
        self.device = device
        self.max_length = max_length
        self.batch_size = batch_size
        self.local_files_only = local_files_only
        self.config_: Any = None
        self.model_: Any = None
        self.tokenizer_: Any = None

    @property
    def version(self) -> str:
        """The model's directory or hub id, which identifies it in stored results."""
        return self.model

    @property
    def _offline(self) -> bool:
        return True if self.local_files_only is None else self.local_files_only

    def _config(self) -> Any:
        if self.config_ is None:
            from transformers import AutoConfig

            self.config_ = self._from_pretrained(AutoConfig)
        return self.config_

    def _from_pretrained(self, auto_class: Any) -> Any:
        try:
            return auto_class.from_pretrained(self.model, local_files_only=self._offline)
        except (OSError, ValueError) as exc:
            hint = (
                " It is not on this machine: pass a model directory, or local_files_only=False "
                "to download it."
                if self._offline
                else ""
            )
            raise ModelFileError(
                f"Cannot load Hugging Face model {self.model!r} ({auto_class.__name__}): "
                f"{exc}.{hint}"
            ) from exc

    @property
    def labels(self) -> tuple[str, ...]:
        """The model's labels in output order, from ``config.id2label``."""
        id2label = self._config().id2label
        return tuple(str(id2label[i]) for i in range(len(id2label)))

    @property
    def scheme(self) -> str | None:
        """None when every label maps to a canonical one (the pipeline maps them), else custom."""
        return None if L.is_mappable(self.labels) else "custom"

    @property
    def multi_label(self) -> bool:
        """True for models trained with one sigmoid per label rather than a softmax."""
        return self._config().problem_type == "multi_label_classification"

    def _load(self) -> tuple[Any, Any]:
        if self.model_ is None:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            self.tokenizer_ = self._from_pretrained(AutoTokenizer)
            model = self._from_pretrained(AutoModelForSequenceClassification)
            self.model_ = model.to(self.device).eval()
        return self.model_, self.tokenizer_

    def _max_length(self, tokenizer: Any) -> int:
        """``max_length``, capped at what the model can read (its positions, its tokenizer's)."""
        limit = tokenizer.model_max_length
        if not limit or limit > 1_000_000:  # tokenizers without a limit say 1e30
            limit = getattr(self._config(), "max_position_embeddings", None) or self.max_length
        return min(self.max_length, int(limit))

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw model outputs (n, len(labels)), computed in length-sorted batches."""
        import torch

        model, tokenizer = self._load()
        max_length = self._max_length(tokenizer)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), len(self.labels)))
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                encoded = tokenizer(
                    [texts[i][: max_length * CHARS_PER_TOKEN] for i in rows],
                    padding=True,
                    truncation=True,
                    max_length=max_length,
                    return_tensors="pt",
                ).to(self.device)
                out[rows] = model(**encoded).logits.float().cpu().numpy()
        return out

    def predict_proba(
        self, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> np.ndarray:
        """Probabilities (n, len(labels)): softmax, or sigmoid then normalised for multi-label."""
        if not texts:
            return np.zeros((0, len(self.labels)))
        logits = self.logits(texts)
        if self.multi_label:
            return normalise_rows(1.0 / (1.0 + np.exp(-logits)))
        return softmax(logits)
