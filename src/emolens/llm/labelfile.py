"""The LLM's labels for a corpus, one JSON object per line, kept as they come (resumable).

``llm-labels.jsonl`` holds one line per distinct text the LLM labelled: the text, its label,
the scores, the language, the tokens the answer cost and the rationale. Lines are appended
and flushed chunk by chunk, so an interrupted run loses at most the chunk in flight, and the
next run sends only the texts without a line. ``llm-labels.meta.json`` beside it says which
model, prompt version and label set made the labels; a run asking another refuses to mix
them. The file is a labelled table as it is: ``emolens train text --data llm-labels.jsonl``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from emolens.errors import InvalidInputError

LABELS_FILE = "llm-labels.jsonl"
META_FILE = "llm-labels.meta.json"
# What must match for labels to be reused: the same model and prompt over the same labels.
SAME = ("llm", "prompt_version", "labels")


class LabelFile:
    """``directory/llm-labels.jsonl`` and its meta file; ``origin`` describes this run's LLM."""

    def __init__(self, directory: str | Path, origin: dict[str, Any]) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LABELS_FILE
        self.meta_path = self.directory / META_FILE
        self.origin = origin

    def load(self) -> dict[str, dict[str, Any]]:
        """Text -> record of the labels kept so far (none for a new directory).

        Raises ``InvalidInputError`` when they come from another model, prompt or label set.
        A last line cut short by an interrupted run is dropped (that text is asked again).
        """
        if not self.path.is_file():
            return {}
        self._check_origin()
        raw = self.path.read_bytes()
        if raw and not raw.endswith(b"\n"):  # a line cut short while written: ask it again
            raw = raw[: raw.rfind(b"\n") + 1]
            with self.path.open("r+b") as handle:
                handle.truncate(len(raw))
        records: dict[str, dict[str, Any]] = {}
        for number, line in enumerate(raw.split(b"\n"), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                records.setdefault(item["text"], item)
                str(item["label"])
            except (ValueError, KeyError, TypeError) as exc:
                raise InvalidInputError(
                    f"{self.path}, line {number}, is not a label record with a text and a "
                    f"label ({exc!r}); fix or delete the line"
                ) from exc
        return records

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Add records, flushed at once (the meta file is written with the first ones)."""
        lines = [json.dumps(r, ensure_ascii=False) + "\n" for r in records]
        if not lines:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.path.is_file() or not self.meta_path.is_file():  # the first labels
            self.meta_path.write_text(json.dumps(self.origin, indent=2, ensure_ascii=False),
                                      encoding="utf-8")
        with self.path.open("a", encoding="utf-8") as handle:
            handle.writelines(lines)
            handle.flush()

    def _check_origin(self) -> None:
        try:
            kept = json.loads(self.meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            kept = {}
        differ = [key for key in SAME if _comparable(key, kept.get(key))
                  != _comparable(key, self.origin.get(key))]
        if differ:
            theirs = ", ".join(f"{k}={kept.get(k)!r}" for k in differ)
            ours = ", ".join(f"{k}={self.origin.get(k)!r}" for k in differ)
            raise InvalidInputError(
                f"{self.path} holds labels made with {theirs}; this run asks for {ours}. "
                "Use another --out, or delete the file to label again."
            )


def _comparable(key: str, value: Any) -> Any:
    """The same labels in another order are the same label set."""
    return sorted(value) if key == "labels" and isinstance(value, list) else value


def record(row: int, text: str, annotation: Any) -> dict[str, Any]:
    """The line kept for one LLM answer (an ``Annotation``) about ``text`` at data ``row``."""
    return {
        "row": row, "text": text, "label": annotation.label,
        "scores": {k: round(v, 4) for k, v in annotation.scores.items()},
        "language": annotation.language, "tokens": annotation.tokens,
        "rationale": annotation.rationale,
    }
