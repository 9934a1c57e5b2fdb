"""Facial expression of a face crop, from the CNN emolens trained on FER2013 (ONNX, no torch).

The shipped model (``src/emolens/models/face``, recipe ``recipes/fer``) reads a 48x48
grayscale face and scores the 7 FER2013 expressions. It says which expression a face *shows*
in a posed or in-the-wild photo crop, not what the person feels; see its MODEL_CARD.md.
Crops may be any size, grayscale or RGB(A) uint8; they are converted to 48x48 gray here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emolens.blas import one_blas_thread
from emolens.errors import InvalidInputError, ModelFileError, UnknownComponentError
from emolens.io.model_files import peek_model, read_model_meta

FACE_DIR = Path(__file__).resolve().parent.parent / "models" / "face"
EXPRESSION_MODELS: dict[str, Path] = {"default": FACE_DIR}
MODEL_FILE = "emolens-model.json"
MODEL_TYPE = "face-expression-onnx"
SIZE = 48


class FaceExpressionRecognizer:
    """Scores face crops on the model's native labels (FER2013 order) with onnxruntime."""

    def __init__(self, session: Any, *, name: str, version: str, labels: Sequence[str],
                 scheme: str, mean: float, std: float, batch_size: int = 256) -> None:
        self.session = session
        self.name = name
        self.version = version
        self.labels = tuple(labels)
        self.scheme = scheme
        self.mean = mean
        self.std = std
        self.batch_size = batch_size

    @classmethod
    def load(cls, directory: str | Path, cpu_threads: int = 0) -> FaceExpressionRecognizer:
        """The model saved in ``directory`` (emolens-model.json + the ONNX file it names)."""
        directory = Path(directory)
        meta = _read_meta(directory)
        session = _session(directory / meta["file"], meta["sha256"], cpu_threads)
        return cls(session, name=meta["name"], version=meta["version"], labels=meta["labels"],
                   scheme=meta["scheme"], mean=float(meta["input"]["mean"]),
                   std=float(meta["input"]["std"]))

    def preprocess(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """(N,1,48,48) float32 network input from uint8 crops of any size."""
        with one_blas_thread():  # per-crop 48x48 resizes: tiny products, see emolens.blas
            gray = [to_gray48(crop) for crop in crops]
        x = np.stack(gray).astype(np.float32)[:, None] if gray else np.zeros((0, 1, SIZE, SIZE))
        return ((x / 255.0 - self.mean) / self.std).astype(np.float32)

    def predict_logits(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Raw logits, shape (len(crops), len(labels))."""
        return self._run(crops, "logits", len(self.labels))

    @property
    def has_features(self) -> bool:
        """Whether the graph also gives the pooled features (models exported since 0.2)."""
        return "features" in {o.name for o in self.session.get_outputs()}

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """The network's pooled features of each crop, for light heads trained on top."""
        if not self.has_features:
            raise ModelFileError(f"the face model {self.name} {self.version} has no features "
                                 "output; re-export it with recipes/fer/train.py --report")
        width = next(o.shape[1] for o in self.session.get_outputs() if o.name == "features")
        return self._run(crops, "features", width if isinstance(width, int) else 0)

    def _run(self, crops: Sequence[np.ndarray], output: str, width: int) -> np.ndarray:
        x = self.preprocess(crops)
        out = [self.session.run([output], {"input": x[i:i + self.batch_size]})[0]
               for i in range(0, len(x), self.batch_size)]
        return np.concatenate(out) if out else np.zeros((0, width), np.float32)

    def predict_proba(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Probabilities, shape (len(crops), len(labels)), rows summing to 1."""
        logits = self.predict_logits(crops).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        return probs / probs.sum(axis=1, keepdims=True)


def to_gray48(crop: Any) -> np.ndarray:
    """A uint8 face crop, (H,W), (H,W,1), (H,W,3) RGB or (H,W,4) RGBA, as 48x48 uint8 gray."""
    crop = np.asarray(crop)
    if crop.dtype != np.uint8:
        raise InvalidInputError(f"face crops must be uint8 images; got dtype {crop.dtype}")
    if crop.ndim == 3 and crop.shape[2] in (1, 3, 4):
        # ITU-R 601 luma, as PIL's convert("L") that produced the training images.
        crop = (crop[..., 0] if crop.shape[2] == 1
                else crop[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114]))
    if crop.ndim != 2 or min(crop.shape) < 1:
        raise InvalidInputError(
            f"a face crop must be (H,W) gray or (H,W,3) RGB; got shape {np.shape(crop)}")
    gray = crop.astype(np.float32)
    if gray.shape != (SIZE, SIZE):
        gray = _resize_matrix(gray.shape[0]) @ gray @ _resize_matrix(gray.shape[1]).T
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8)


def _resize_matrix(n_in: int, n_out: int = SIZE) -> np.ndarray:
    """(n_out, n_in) weights of a triangle filter widened when shrinking (antialiased bilinear)."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale - 0.5
    dist = np.abs(np.arange(n_in)[None, :] - centres[:, None]) / support
    weights = np.clip(1.0 - dist, 0.0, None)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def _read_meta(directory: Path) -> dict:
    return read_model_meta(directory, "face-expression", MODEL_TYPE,
                           ("name", "version", "file", "sha256", "input"))


def _session(path: Path, sha256: str, cpu_threads: int) -> Any:
    """An onnxruntime session on ``path``, after checking its sha256 against the metadata."""
    import onnxruntime as ort

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"Cannot read the face-expression model {path}: {exc}") from exc
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ModelFileError(
            f"{path} is not the file its {MODEL_FILE} names (sha256 differs): "
            "reinstall emolens or re-export the model with recipes/fer/train.py --report")
    options = ort.SessionOptions()
    if cpu_threads:
        options.intra_op_num_threads = cpu_threads
    try:
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors on bad graphs
        raise ModelFileError(f"onnxruntime cannot load {path}: {exc}") from exc


def load_expression_model(name_or_dir: str | Path = "default",
                          cpu_threads: int = 0) -> FaceExpressionRecognizer:
    """A shipped face-expression model by name, or one saved in a directory."""
    if str(name_or_dir) in EXPRESSION_MODELS:
        directory = EXPRESSION_MODELS[str(name_or_dir)]
        if not (directory / MODEL_FILE).is_file():
            raise ModelFileError(
                f"This emolens ships no face-expression model yet (its training, "
                f"recipes/fer/train.py, is under way); train one with that recipe and pass its "
                f"directory, or use a later release. Looked in {directory}."
            )
        return FaceExpressionRecognizer.load(directory, cpu_threads)
    if (peek_model(name_or_dir) or {}).get("type") == "media-head":  # `emolens train image`
        from emolens.train.image import load_face_head

        return load_face_head(name_or_dir, cpu_threads)  # type: ignore[return-value]
    if Path(name_or_dir).is_dir():
        return FaceExpressionRecognizer.load(name_or_dir, cpu_threads)
    raise UnknownComponentError(
        f"Unknown face-expression model {str(name_or_dir)!r}: use one of "
        f"{sorted(EXPRESSION_MODELS)} or a directory holding {MODEL_FILE} and model.onnx")
