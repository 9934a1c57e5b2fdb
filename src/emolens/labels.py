"""The canonical emotion vocabulary and the one mapping table from other schemes onto it.

Every recognizer either predicts the canonical labels directly or declares a scheme whose
labels are all listed in ``SCHEMES``; results are always reported on ``CANONICAL``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from emolens.errors import InvalidInputError

CANONICAL: tuple[str, ...] = ("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral")

# Valence and arousal anchors per canonical emotion, in [-1, 1]. They are rounded positions of
# each category on Russell's circumplex (as placed by the NRC VAD lexicon's category words),
# so a result's valence/arousal is the probability-weighted mean of these anchors.
VALENCE_AROUSAL: dict[str, tuple[float, float]] = {
    "anger": (-0.6, 0.7),
    "disgust": (-0.6, 0.35),
    "fear": (-0.65, 0.6),
    "joy": (0.8, 0.5),
    "sadness": (-0.7, -0.35),
    "surprise": (0.2, 0.75),
    "neutral": (0.0, 0.0),
}

# One table, one row per scheme: native label -> canonical label.
# GoEmotions follows the dataset's own Ekman grouping (ekman_mapping.json in the release).
GOEMOTIONS_28: dict[str, str] = {
    **dict.fromkeys(["anger", "annoyance", "disapproval"], "anger"),
    "disgust": "disgust",
    **dict.fromkeys(["fear", "nervousness"], "fear"),
    **dict.fromkeys(
        [
            "joy",
            "amusement",
            "approval",
            "excitement",
            "gratitude",
            "love",
            "optimism",
            "relief",
            "pride",
            "admiration",
            "desire",
            "caring",
        ],
        "joy",
    ),
    **dict.fromkeys(["sadness", "disappointment", "embarrassment", "grief", "remorse"], "sadness"),
    **dict.fromkeys(["surprise", "realization", "confusion", "curiosity"], "surprise"),
    "neutral": "neutral",
}

SCHEMES: dict[str, dict[str, str]] = {
    "canonical": {label: label for label in CANONICAL},
    "goemotions": GOEMOTIONS_28,
    "ekman": {label: label for label in CANONICAL},
    "dair_emotion": {
        "sadness": "sadness",
        "joy": "joy",
        "love": "joy",
        "anger": "anger",
        "fear": "fear",
        "surprise": "surprise",
    },
    "smp2020_ewect": {
        "neutral": "neutral",
        "happy": "joy",
        "angry": "anger",
        "sad": "sadness",
        "fear": "fear",
        "surprise": "surprise",
    },
    "meld": {label: label for label in CANONICAL},
    "fer2013": {
        "angry": "anger",
        "disgust": "disgust",
        "fear": "fear",
        "happy": "joy",
        "sad": "sadness",
        "surprise": "surprise",
        "neutral": "neutral",
    },
    "ravdess": {
        "neutral": "neutral",
        "calm": "neutral",
        "happy": "joy",
        "sad": "sadness",
        "angry": "anger",
        "fearful": "fear",
        "disgust": "disgust",
        "surprised": "surprise",
    },
}

# Common spellings from model configs (Hugging Face id2label and similar) that are not a
# dataset's scheme. Checked after the schemes, case-insensitively.
ALIASES: dict[str, str] = {
    **{k: v for scheme in SCHEMES.values() for k, v in scheme.items()},
    "happiness": "joy",
    "happy": "joy",
    "sad": "sadness",
    "angry": "anger",
    "fearful": "fear",
    "scared": "fear",
    "surprised": "surprise",
    "others": "neutral",
    "none": "neutral",
    "no emotion": "neutral",
    "calm": "neutral",
    "contempt": "disgust",
    "disgusted": "disgust",
    "joyful": "joy",
    "worry": "fear",
    "hate": "anger",
    "shame": "sadness",
    "guilt": "sadness",
    # Chinese label names used by Chinese emotion models.
    **dict.fromkeys(["愤怒", "生气"], "anger"),
    "厌恶": "disgust",
    **dict.fromkeys(["恐惧", "害怕"], "fear"),
    **dict.fromkeys(["高兴", "快乐", "喜悦", "开心"], "joy"),
    **dict.fromkeys(["悲伤", "难过"], "sadness"),
    **dict.fromkeys(["惊讶", "惊奇"], "surprise"),
    **dict.fromkeys(["中性", "平静", "无情绪"], "neutral"),
}


def ordered_labels(labels: Iterable[str]) -> list[str]:
    """``labels`` once each: canonical ones in the canonical order, then any others sorted."""
    found = set(labels)
    return [x for x in CANONICAL if x in found] + sorted(found - set(CANONICAL))


def to_canonical(label: str, scheme: str | None = None) -> str | None:
    """Canonical label for ``label`` (in ``scheme`` if given), or None when it has none."""
    if scheme is not None:
        if scheme not in SCHEMES:
            raise InvalidInputError(
                f"Unknown label scheme {scheme!r}; known schemes: {sorted(SCHEMES)}"
            )
        return SCHEMES[scheme].get(label)
    return ALIASES.get(label.strip().lower())


def is_mappable(labels: Sequence[str]) -> bool:
    """True when every label has a canonical counterpart."""
    return all(to_canonical(label) is not None for label in labels)


def mapping_matrix(labels: Sequence[str], scheme: str | None = None) -> np.ndarray:
    """Matrix M (len(labels) x 7): ``probs @ M`` sums native probabilities per canonical label."""
    matrix = np.zeros((len(labels), len(CANONICAL)), dtype=np.float64)
    for row, label in enumerate(labels):
        target = to_canonical(label, scheme)
        if target is None:
            raise InvalidInputError(
                f"Label {label!r} has no canonical counterpart; add it to emolens.labels "
                "or keep the model's own labels (map_to_canonical=False)."
            )
        matrix[row, CANONICAL.index(target)] = 1.0
    return matrix


def valence_arousal(probs: np.ndarray) -> np.ndarray:
    """Valence and arousal (n x 2) from canonical probabilities (n x 7)."""
    anchors = np.array([VALENCE_AROUSAL[label] for label in CANONICAL])
    return np.clip(np.asarray(probs) @ anchors, -1.0, 1.0)


def scheme_table() -> Mapping[str, Mapping[str, str]]:
    """The full mapping table, for documentation and the ``emolens labels`` command."""
    return SCHEMES
