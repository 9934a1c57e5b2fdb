"""Per-language ensembles."""

import numpy as np
import pytest

from emolens.errors import InvalidInputError
from emolens.text.ensemble import LanguageEnsemble
from emolens.text.ngram import NgramRecognizer


def _model(tiny_model_dir):
    return NgramRecognizer.load(tiny_model_dir)


def test_weights_mix_members_per_language(tiny_model_dir):
    a = _model(tiny_model_dir)
    alone = a.predict_proba(["so angry and furious", "今天很开心"])
    same = LanguageEnsemble({"en": [(a, 0.5), (a, 0.5)], "zh": [(a, 2.0)]})
    np.testing.assert_allclose(same.predict_proba(["so angry and furious", "今天很开心"]), alone)


def test_a_language_without_members_uses_the_first(tiny_model_dir):
    a = _model(tiny_model_dir)
    only_en = LanguageEnsemble({"en": [(a, 1.0)]})
    probs = only_en.predict_proba(["今天很开心"], ["zh"])
    np.testing.assert_allclose(probs.sum(axis=1), 1)


def test_members_with_other_labels_are_refused(tiny_model_dir):
    a = _model(tiny_model_dir)
    b = NgramRecognizer().fit(["good", "bad", "fine", "awful"], ["pos", "neg", "pos", "neg"])
    with pytest.raises(InvalidInputError, match="share one label set"):
        LanguageEnsemble({"en": [(a, 1.0), (b, 1.0)]})
