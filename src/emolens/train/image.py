"""`emolens train image`: a head on the face-expression CNN's pooled features.

Per image, the largest face CenterFace finds is cropped as the vision pipeline crops it
(``vision.faces.crop``, margin 0.1); an image with no face found is used whole, since datasets
such as FER2013 are face crops already (48x48, too small for the detector), and the number of
such images is reported. Features are ``FaceExpressionRecognizer.embed`` (the network's pooled
last stage, flip-averaged; 256-d, 512-d for an ensemble).

A saved model replaces the face-expression scores: ``emolens analyze image|video --model DIR``,
``VisualAnalyzer(expression_model=DIR)``, or ``emolens.load(DIR).analyze_files([...])``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import InvalidInputError, ModelFileError
from emolens.train.heads import LinearHead
from emolens.train.media import read_head, read_meta

MODALITY = "image"
SCHEME = "fer2013"  # preferred when labels such as angry/happy/sad fit several schemes
ENCODER_NAME = "face-cnn-features"
MARGIN = 0.1


def _face_model_dir(name_or_dir: str) -> Path:
    from emolens.vision.expression import EXPRESSION_MODELS

    return EXPRESSION_MODELS.get(name_or_dir, Path(name_or_dir))


def face_model_sha256(name_or_dir: str) -> str:
    """The sha256 its metadata records for the ONNX file of a face-expression model."""
    from emolens.io.model_files import read_model_meta
    from emolens.vision.expression import MODEL_TYPE

    directory = _face_model_dir(name_or_dir)
    if not (directory / "emolens-model.json").is_file():
        from emolens.vision.expression import load_expression_model

        load_expression_model(name_or_dir)  # raises the message saying what is missing
    meta = read_model_meta(directory, "face-expression", MODEL_TYPE, ("file", "sha256"))
    return str(meta["sha256"])


def file_extensions() -> frozenset[str]:
    """The file extensions this modality reads."""
    from emolens.vision.frames import IMAGE_EXTENSIONS

    return IMAGE_EXTENSIONS


class Encoder:
    """Largest face (or the whole image) -> the expression CNN's pooled features."""

    modality = MODALITY

    def __init__(self, face_model: str = "default", detect: bool = True,
                 cpu_threads: int = 0) -> None:
        self.face_model = str(face_model)
        self.detect = detect
        self.cpu_threads = cpu_threads
        self.extensions = file_extensions()
        self._expression: Any = None
        self._detector: Any = None

    @property
    def expression(self) -> Any:
        """The face-expression model (loaded on first use; must have a features output)."""
        if self._expression is None:
            from emolens.vision.expression import load_expression_model

            model = load_expression_model(self.face_model, self.cpu_threads)
            if not model.has_features:
                raise ModelFileError(f"the face model {model.name} {model.version} has no "
                                     "features output; re-export it (recipes/fer/train.py "
                                     "--report) to train heads on it")
            self._expression = model
        return self._expression

    @property
    def detector(self) -> Any:
        """CenterFace (loaded on first use)."""
        if self._detector is None:
            from emolens.vision.faces import FaceDetector

            self._detector = FaceDetector(cpu_threads=self.cpu_threads)
        return self._detector

    def identity(self) -> dict[str, Any]:
        """What the features depend on: the CNN's weights and how faces are cropped."""
        return {"name": ENCODER_NAME, "face_model": self.face_model,
                "face_model_sha256": face_model_sha256(self.face_model),
                "crop": f"largest CenterFace face, margin {MARGIN}" if self.detect
                else "whole image", "no_face": "whole image"}

    def crop_features(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Pooled CNN features of face crops (n, dims)."""
        return self.expression.embed(list(crops)).astype(np.float32)

    def features(self, path: Path) -> tuple[np.ndarray, dict[str, Any]]:
        """One row: the largest face's features, or the whole image's when none is found."""
        from emolens.vision.faces import crop
        from emolens.vision.frames import load_image

        image = load_image(path)
        faces = self.detector.detect(image) if self.detect else []
        if faces:
            face = max(faces, key=lambda f: f.width * f.height)
            patch = crop(image, face, margin=MARGIN)
        else:
            patch = image
        # Counted only when a face was looked for: with --no-detect every image is used whole.
        return self.crop_features([patch]), {"no_face": self.detect and not faces}

    def check_arrays(self) -> dict[str, np.ndarray]:
        """Nothing beyond the ONNX file's sha256 (in the identity) is needed."""
        return {}


def load_encoder(identity: dict[str, Any], check: dict[str, np.ndarray],
                 cpu_threads: int = 0) -> Encoder:
    """The encoder a saved head needs, after checking the face model is the same file."""
    name = identity.get("face_model", "default")
    if face_model_sha256(name) != identity.get("face_model_sha256"):
        raise ModelFileError(
            f"this image model was trained on the face model {name!r} with ONNX sha256 "
            f"{str(identity.get('face_model_sha256'))[:12]}..., but that name resolves to "
            "another file here; install that face model or retrain the head")
    return Encoder(name, detect=identity.get("crop", "").startswith("largest"),
                   cpu_threads=cpu_threads)


class HeadExpressionRecognizer:
    """A trained image head in the face-expression model's place: scores face crops."""

    def __init__(self, encoder: Encoder, head: LinearHead, meta: dict[str, Any]) -> None:
        self.encoder = encoder
        self.head = head
        self.labels = tuple(meta["labels"])
        self.scheme = meta["scheme"]
        self.name = meta["name"]
        self.version = str(meta["version"])
        self.abstain_below = meta.get("abstain_below")

    def predict_proba(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Probabilities (n, labels), rows summing to 1."""
        if not len(crops):
            return np.zeros((0, len(self.labels)))
        return self.head.predict_proba(self.encoder.crop_features(crops))


def load_face_head(directory: str | Path, cpu_threads: int = 0) -> HeadExpressionRecognizer:
    """A trained image model as a face-expression recognizer (for the vision pipeline)."""
    meta = read_meta(directory)
    if meta["modality"] != MODALITY:
        raise InvalidInputError(f"{directory} is an {meta['modality']} model, not an image one")
    head, check = read_head(Path(directory), meta)
    return HeadExpressionRecognizer(load_encoder(meta["encoder"], check, cpu_threads), head, meta)
