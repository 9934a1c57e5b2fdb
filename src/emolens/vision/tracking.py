"""Face tracks across sampled video frames: stable ids from box overlap and appearance.

Each update matches the frame's detections to the live tracks with the Hungarian algorithm
on a score that mixes box overlap (IoU with the track's box moved by its last velocity) and
appearance (cosine similarity of a small normalised grayscale patch of the face). A pair is
allowed when the boxes overlap enough, or, for a face that moved fast or was missed for some
frames, when it looks alike and is not too far away. A track that goes unmatched for more
than ``max_missed`` updates ends; a detection left unmatched starts a new track.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emolens.vision.faces import Face, crop, iou_matrix

PATCH = 16  # appearance patch side: enough to tell faces in one scene apart, cheap to compute


@dataclass(frozen=True)
class TrackSummary:
    """One track's span: id, first and last time seen, detections, and whether it ended."""

    track_id: int
    first_t: float
    last_t: float
    detections: int
    ended: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"track_id": self.track_id, "first_t": self.first_t, "last_t": self.last_t,
                "detections": self.detections, "ended": self.ended}


@dataclass
class _Track:
    track_id: int
    face: Face
    embedding: np.ndarray
    first_t: float
    last_t: float
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))  # box change per update
    detections: int = 1
    missed: int = 0

    def predicted_box(self) -> np.ndarray:
        return np.asarray(self.face.box) + self.velocity * (self.missed + 1)


def appearance(frame: np.ndarray, face: Face) -> np.ndarray:
    """Unit-norm, zero-mean PATCH x PATCH grayscale patch of the face (brightness-invariant)."""
    patch = crop(frame, face, margin=0.0, size=PATCH).astype(np.float32)
    if patch.ndim == 3:
        patch = patch[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    vector = patch.reshape(-1) - patch.mean()
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 1e-6 else vector


class FaceTracker:
    """Assigns stable ids to faces detected in successive frames of one video.

    ``iou_threshold``: the overlap that alone lets a detection continue a track.
    ``min_similarity``: the appearance similarity that lets a detection continue a track
    without overlap, if its centre is within ``max_distance`` box sizes of the track's last
    or predicted centre (the allowance grows with each missed frame).
    ``max_missed``: updates a track may go undetected before it ends.
    ``iou_weight``: share of overlap (the rest is appearance) in the matching score.
    """

    def __init__(self, *, iou_threshold: float = 0.3, min_similarity: float = 0.6,
                 max_distance: float = 2.0, max_missed: int = 5, iou_weight: float = 0.5,
                 momentum: float = 0.7) -> None:
        self.iou_threshold = iou_threshold
        self.min_similarity = min_similarity
        self.max_distance = max_distance
        self.max_missed = max_missed
        self.iou_weight = iou_weight
        self.momentum = momentum  # weight of the old appearance when a track is matched
        self._live: list[_Track] = []
        self._ended: list[_Track] = []
        self._next_id = 1

    def update(self, faces: Sequence[Face], frame: np.ndarray, t: float) -> list[tuple[int, Face]]:
        """Match this frame's faces to tracks; return (track_id, face) for every face."""
        embeddings = [appearance(frame, face) for face in faces]
        pairs = self._match(faces, embeddings)
        matched_tracks = {ti for ti, _ in pairs}
        ids: dict[int, int] = {}
        for ti, di in pairs:
            self._extend(self._live[ti], faces[di], embeddings[di], t)
            ids[di] = self._live[ti].track_id
        for ti, track in enumerate(self._live):
            if ti not in matched_tracks:
                track.missed += 1
        self._ended += [tr for tr in self._live if tr.missed > self.max_missed]
        self._live = [tr for tr in self._live if tr.missed <= self.max_missed]
        for di, face in enumerate(faces):
            if di not in ids:
                track = _Track(self._next_id, face, embeddings[di], t, t)
                self._next_id += 1
                self._live.append(track)
                ids[di] = track.track_id
        return [(ids[di], face) for di, face in enumerate(faces)]

    def tracks(self) -> list[TrackSummary]:
        """Every track so far, ended or live, by id."""
        every = [(tr, True) for tr in self._ended] + [(tr, False) for tr in self._live]
        return sorted(
            (TrackSummary(tr.track_id, tr.first_t, tr.last_t, tr.detections, ended)
             for tr, ended in every),
            key=lambda s: s.track_id,
        )

    def _match(self, faces: Sequence[Face],
               embeddings: list[np.ndarray]) -> list[tuple[int, int]]:
        """(track index, face index) pairs that maximise the total matching score."""
        if not faces or not self._live:
            return []
        from scipy.optimize import linear_sum_assignment

        predicted = np.stack([tr.predicted_box() for tr in self._live])
        boxes = np.array([face.box for face in faces], np.float64)
        overlap = iou_matrix(predicted, boxes)
        similarity = np.stack([tr.embedding for tr in self._live]) @ np.stack(embeddings).T
        allowed = (overlap >= self.iou_threshold) | (
            (similarity >= self.min_similarity) & self._near(predicted, boxes)
        )
        score = self.iou_weight * overlap + (1 - self.iou_weight) * similarity
        cost = np.where(allowed, 1.0 - score, 1e6)
        rows, cols = linear_sum_assignment(cost)
        return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if allowed[r, c]]

    def _near(self, predicted: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Whether each detection's centre is within reach of each track (last or predicted)."""
        def centres(b: np.ndarray) -> np.ndarray:
            return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], axis=1)

        last = np.array([tr.face.box for tr in self._live], np.float64)
        found = centres(boxes)[None]
        gap = np.minimum(np.linalg.norm(centres(predicted)[:, None] - found, axis=2),
                         np.linalg.norm(centres(last)[:, None] - found, axis=2))
        size = np.maximum(last[:, 2] - last[:, 0], last[:, 3] - last[:, 1])
        missed = np.array([tr.missed for tr in self._live], np.float64)
        return gap <= (self.max_distance * size * (1 + missed))[:, None]

    def _extend(self, track: _Track, face: Face, embedding: np.ndarray, t: float) -> None:
        step = (np.asarray(face.box) - np.asarray(track.face.box)) / (track.missed + 1)
        track.velocity = 0.5 * track.velocity + 0.5 * step if track.detections > 1 else step
        mixed = self.momentum * track.embedding + (1 - self.momentum) * embedding
        norm = float(np.linalg.norm(mixed))
        track.embedding = mixed / norm if norm > 1e-6 else embedding
        track.face, track.last_t, track.missed = face, t, 0
        track.detections += 1
