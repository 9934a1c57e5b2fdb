"""Plain result types shared by the Python API, the CLI, the store and (later) the service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class EmotionResult(BaseModel):
    """Emotion expressed by one item (a text, a segment, a face in a frame).

    ``scores`` holds probabilities over the canonical labels (or over the model's own labels
    for a model trained on a custom label set) and sums to 1. Valence and arousal are in
    [-1, 1], or None when the labels have no canonical counterpart.
    """

    label: str
    scores: dict[str, float]
    valence: float | None = None
    arousal: float | None = None
    language: str | None = None
    modality: str = "text"
    model: str = ""
    text: str | None = None
    source_id: str | None = None  # where the item came from: a file path, "api", a feed URL
    item_key: str | None = None  # stable identity of the item within the store (dedup, resume)
    group: str | None = None  # user's grouping column: channel, speaker, brand, ...
    timestamp: datetime | None = None  # when the item was written (not when it was analysed)
    t_start: float | None = None
    t_end: float | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def confidence(self) -> float:
        """Probability of the top label (of the top score when the label is "uncertain")."""
        return self.scores.get(self.label, max(self.scores.values(), default=0.0))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of every field."""
        return self.model_dump(mode="json")

    def __str__(self) -> str:
        return f"{self.label} ({self.confidence:.2f})"
