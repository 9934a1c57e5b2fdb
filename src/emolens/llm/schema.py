"""The answer an LLM must give, its JSON schema, and reading (and repairing) what it gave.

An answer is one JSON object: ``emotions`` (labels from the allowed set, each with an
intensity in [0, 1]), ``valence`` and ``arousal`` in [-1, 1], ``evidence`` (phrases quoted
from the text) and a one-sentence ``rationale``. ``parse_answer`` accepts the object alone,
in a code fence or inside prose; it repairs what can be repaired without guessing (trailing
commas, intensities given in percent, ``{"label": intensity}`` maps, label synonyms from
``emolens.labels``) and raises ``InvalidAnswer`` saying what is wrong otherwise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from emolens.labels import to_canonical

MAX_RATIONALE_CHARS = 1000
MAX_EVIDENCE = 10


class InvalidAnswer(ValueError):
    """What the model answered cannot be used; the message says why (and is sent back to it)."""


class EmotionIntensity(BaseModel):
    """One emotion the text expresses and how strongly (0 absent, 1 as strong as it gets)."""

    model_config = ConfigDict(extra="ignore")

    label: str = Field(min_length=1)
    intensity: float = Field(ge=0.0, le=1.0)


class LLMAnswer(BaseModel):
    """A validated answer; ``emotions`` hold only allowed labels, each once."""

    model_config = ConfigDict(extra="ignore")

    emotions: list[EmotionIntensity] = Field(min_length=1)
    valence: float = Field(ge=-1.0, le=1.0)
    arousal: float = Field(ge=-1.0, le=1.0)
    evidence: list[str] = Field(default_factory=list, max_length=MAX_EVIDENCE)
    rationale: str = Field(min_length=1, max_length=MAX_RATIONALE_CHARS)

    def intensities(self) -> dict[str, float]:
        """Label -> intensity."""
        return {e.label: e.intensity for e in self.emotions}


def json_schema(labels: Sequence[str]) -> dict[str, Any]:
    """JSON schema of an answer over ``labels``, in the strict form endpoints accept.

    Strict mode wants every property required and no others; ranges are left to the
    validation here because not every endpoint's grammar supports them.
    """
    emotion = {
        "type": "object",
        "properties": {
            "label": {"type": "string", "enum": list(labels)},
            "intensity": {"type": "number"},
        },
        "required": ["label", "intensity"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "emotions": {"type": "array", "items": emotion},
            "valence": {"type": "number"},
            "arousal": {"type": "number"},
            "evidence": {"type": "array", "items": {"type": "string"}},
            "rationale": {"type": "string"},
        },
        "required": ["emotions", "valence", "arousal", "evidence", "rationale"],
        "additionalProperties": False,
    }


def response_format(labels: Sequence[str]) -> dict[str, Any]:
    """The ``response_format`` field of a chat-completions request asking for the schema."""
    return {
        "type": "json_schema",
        "json_schema": {"name": "emotion_analysis", "strict": True, "schema": json_schema(labels)},
    }


def parse_answer(content: str, labels: Sequence[str]) -> tuple[LLMAnswer, list[str]]:
    """The answer in ``content`` over ``labels``, and the repairs it needed (may be empty)."""
    repairs: list[str] = []
    data = _load_object(content, repairs)
    data = _normalise_shapes(data, repairs)
    try:
        answer = LLMAnswer.model_validate(data)
    except ValidationError as exc:
        raise InvalidAnswer(_describe(exc)) from None
    answer.emotions = _map_labels(answer.emotions, labels, repairs)
    return answer, repairs


# -- finding the JSON object -------------------------------------------------------------------
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


def _load_object(content: str, repairs: list[str]) -> dict[str, Any]:
    text = content.strip()
    if not text:
        raise InvalidAnswer("the answer was empty; reply with the JSON object")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = _extract(text, repairs)
    if not isinstance(data, dict):
        raise InvalidAnswer(f"expected one JSON object, got a JSON {type(data).__name__}")
    return data


def _extract(text: str, repairs: list[str]) -> Any:
    """The first parsable JSON object in a code fence or in prose, trailing commas removed."""
    fenced = _FENCE.search(text)
    candidates = [fenced.group(1).strip()] if fenced else []
    candidates += _balanced_objects(text)
    for candidate in candidates:
        for attempt, note in ((candidate, None), (_TRAILING_COMMA.sub(r"\1", candidate),
                                                  "removed trailing commas")):
            try:
                data = json.loads(attempt)
            except json.JSONDecodeError:
                continue
            if isinstance(data, dict):
                repairs.append("took the JSON object out of surrounding text")
                if note and attempt != candidate:
                    repairs.append(note)
                return data
    raise InvalidAnswer("no valid JSON object was found in the answer")


def _balanced_objects(text: str) -> list[str]:
    """Substrings that open with '{' and close with its matching '}', strings respected."""
    found: list[str] = []
    start = text.find("{")
    while start != -1 and len(found) < 5:
        depth, in_string, escaped = 0, False, False
        for i in range(start, len(text)):
            ch = text[i]
            if in_string:
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == '"':
                    in_string = False
            elif ch == '"':
                in_string = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    found.append(text[start : i + 1])
                    break
        start = text.find("{", start + 1)
    return found


# -- shapes and labels --------------------------------------------------------------------------
def _normalise_shapes(data: dict[str, Any], repairs: list[str]) -> dict[str, Any]:
    emotions = data.get("emotions")
    if isinstance(emotions, dict):  # {"anger": 0.8, "joy": 0.1}
        data = {**data, "emotions": [{"label": k, "intensity": v} for k, v in emotions.items()]}
        repairs.append("read emotions given as a label -> intensity map")
    if isinstance(data.get("evidence"), str):
        data = {**data, "evidence": [data["evidence"]]}
    emotions = data.get("emotions")
    if isinstance(emotions, list):
        values = [e.get("intensity") for e in emotions if isinstance(e, dict)]
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if numbers and len(numbers) == len(values) and 1 < max(numbers) <= 100:
            data = {**data, "emotions": [
                {**e, "intensity": e["intensity"] / 100} for e in emotions
            ]}
            repairs.append("read intensities given in percent")
    return data


def _map_labels(
    emotions: list[EmotionIntensity], labels: Sequence[str], repairs: list[str]
) -> list[EmotionIntensity]:
    """Each label as one of ``labels`` (exact, any case, or a synonym); duplicates keep the max."""
    by_lower = {label.lower(): label for label in labels}
    merged: dict[str, float] = {}
    unknown: list[str] = []
    for emotion in emotions:
        name = emotion.label.strip()
        target = name if name in labels else by_lower.get(name.lower())
        if target is None:
            canonical = to_canonical(name)
            target = canonical if canonical in labels else None
            if target is not None:
                repairs.append(f"read label {name!r} as {target!r}")
        if target is None:
            unknown.append(name)
            continue
        merged[target] = max(merged.get(target, 0.0), emotion.intensity)
    if unknown:
        raise InvalidAnswer(
            f"unknown label(s) {unknown}; use only these labels: {list(labels)}"
        )
    return [EmotionIntensity(label=k, intensity=v) for k, v in merged.items()]


def _describe(exc: ValidationError) -> str:
    """A short account of what failed validation, fit to send back to the model."""
    problems = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error["loc"]) or "answer"
        problems.append(f"{where}: {error['msg']}")
    return "the JSON object does not match the required form (" + "; ".join(problems) + ")"
