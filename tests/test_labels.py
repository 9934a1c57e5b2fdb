"""The label vocabulary and the mapping table."""

import numpy as np
import pytest

from emolens import labels as L
from emolens.errors import InvalidInputError


def test_every_scheme_maps_onto_canonical_labels_only():
    for scheme, mapping in L.SCHEMES.items():
        assert set(mapping.values()) <= set(L.CANONICAL), scheme


def test_goemotions_ekman_grouping_covers_all_28_labels():
    assert len(L.GOEMOTIONS_28) == 28
    assert L.to_canonical("annoyance", "goemotions") == "anger"
    assert L.to_canonical("nervousness", "goemotions") == "fear"
    assert L.to_canonical("realization", "goemotions") == "surprise"
    assert L.to_canonical("remorse", "goemotions") == "sadness"


@pytest.mark.parametrize(
    ("label", "scheme", "expected"),
    [("love", "dair_emotion", "joy"), ("happy", "smp2020_ewect", "joy"),
     ("angry", "smp2020_ewect", "anger"), ("sad", "fer2013", "sadness"),
     ("calm", "ravdess", "neutral"), ("surprised", "ravdess", "surprise"),
     ("disgust", "meld", "disgust")],
)
def test_dataset_labels_map_as_documented(label, scheme, expected):
    assert L.to_canonical(label, scheme) == expected


def test_unknown_scheme_is_a_clear_error():
    with pytest.raises(InvalidInputError, match="Unknown label scheme 'nope'"):
        L.to_canonical("joy", "nope")


def test_mapping_matrix_sums_native_probabilities_per_canonical_label():
    native = ["sadness", "joy", "love", "anger", "fear", "surprise"]
    matrix = L.mapping_matrix(native, "dair_emotion")
    probs = np.array([[0.1, 0.2, 0.3, 0.1, 0.2, 0.1]])
    canonical = dict(zip(L.CANONICAL, (probs @ matrix)[0], strict=True))
    assert canonical["joy"] == pytest.approx(0.5)
    assert canonical["neutral"] == 0
    assert (probs @ matrix).sum() == pytest.approx(1)


def test_unmappable_label_is_refused():
    with pytest.raises(InvalidInputError, match="engagement"):
        L.mapping_matrix(["joy", "engagement"])


def test_valence_and_arousal_follow_the_anchors():
    joy = np.array([[0, 0, 0, 1, 0, 0, 0]])
    sad = np.array([[0, 0, 0, 0, 1, 0, 0]])
    assert L.valence_arousal(joy)[0, 0] > 0.5
    assert L.valence_arousal(sad)[0, 0] < -0.5
    assert L.valence_arousal(sad)[0, 1] < 0
    neutral = np.array([[0, 0, 0, 0, 0, 0, 1]])
    assert np.allclose(L.valence_arousal(neutral), 0)
