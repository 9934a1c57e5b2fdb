"""What the LLM recognizer reports per text, and per run (tokens, cache hits, routing)."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Evidence:
    """A phrase the model quoted, found in the text: ``text[start:end] == quote``."""

    quote: str
    start: int
    end: int


@dataclass
class Annotation:
    """The checked answer for one text.

    ``scores`` is a distribution over the recognizer's labels (intensities normalised to sum
    to 1); ``evidence`` holds the quotes found in the text (positions in the original text),
    ``evidence_rejected`` those that are not in it.
    """

    scores: dict[str, float]
    intensities: dict[str, float]
    valence: float
    arousal: float
    rationale: str
    language: str
    evidence: list[Evidence] = field(default_factory=list)
    evidence_rejected: list[str] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    attempts: int = 0  # requests made for it in this run (0: from the cache or not asked)
    cached: bool = False
    redacted: dict[str, int] = field(default_factory=dict)  # kind -> count, before sending
    tokens: int = 0  # what the answer cost when it was asked for (repairs included)

    @property
    def label(self) -> str:
        """The label with the highest score."""
        return max(self.scores, key=self.scores.__getitem__)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of every field."""
        return {**asdict(self), "label": self.label}


@dataclass(frozen=True)
class ItemFailure:
    """An item that got no usable answer, named by its position and opening words."""

    index: int
    excerpt: str
    reason: str
    attempts: int = 0

    def __str__(self) -> str:
        return f"item {self.index} ({self.excerpt!r}): {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary, with the one-line message."""
        return {**asdict(self), "message": str(self)}


Outcome = Annotation | ItemFailure


@dataclass
class RunStats:
    """Counts for one run: items, cache hits, requests, repairs, failures, tokens, routing."""

    texts: int = 0  # texts given to a run (set by the caller that knows; repeats included)
    items: int = 0  # texts answered or failed (not counting repeats within a run)
    cache_hits: int = 0
    requests: int = 0  # HTTP requests sent, failed ones, retries and repairs included
    retries: int = 0  # HTTP requests repeated after 429/5xx/timeouts
    repairs: int = 0  # answers sent back to the model as unusable
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    without_usage: int = 0  # completions that came without token counts
    fast_only: int = 0  # routing: texts the fast model kept
    routed: int = 0  # routing: texts sent on to the LLM
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        """Add to the named counters (thread-safe)."""
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def add_usage(self, usage: dict[str, int], retries: int = 0, requests: int = 1) -> None:
        """Count one completion (``requests`` HTTP requests) and its ``usage`` field."""
        self.add(requests=requests, retries=retries,
                 prompt_tokens=usage.get("prompt_tokens", 0),
                 completion_tokens=usage.get("completion_tokens", 0),
                 total_tokens=total_tokens(usage), without_usage=0 if usage else 1)

    @property
    def share_routed(self) -> float | None:
        """Share of texts sent to the LLM by routing (None when nothing was routed or kept)."""
        seen = self.fast_only + self.routed
        return self.routed / seen if seen else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe counters, with the routed share when routing ran."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)
                               if not f.name.startswith("_")}
        out["share_routed"] = self.share_routed
        return out

    def summary(self) -> str:
        """One line for people: tokens, requests, cache hits, failures, routed share."""
        texts = f"{self.items} items"
        if self.texts:
            texts = (f"{self.texts} texts" if self.texts == self.items
                     else f"{self.texts} texts ({self.items} distinct to the LLM)")
        parts = [
            texts,
            f"{self.requests} requests ({self.retries} retries, {self.repairs} repairs)",
            f"{self.cache_hits} cache hits",
            f"tokens: {self.prompt_tokens} prompt + {self.completion_tokens} completion = "
            f"{self.total_tokens}",
        ]
        if self.without_usage:
            parts.append(f"{self.without_usage} answers without token counts")
        if self.share_routed is not None:
            parts.append(f"routed to the LLM: {self.routed} of {self.routed + self.fast_only} "
                         f"({self.share_routed:.0%})")
        if self.failures:
            parts.append(f"{self.failures} failed")
        return "; ".join(parts)


def total_tokens(usage: dict[str, int]) -> int:
    """``total_tokens`` of a usage field, or prompt + completion when it is missing."""
    return usage.get("total_tokens",
                     usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0))
