"""Fixtures shared by several test files."""

import os

import pytest
from postgres import postgres_server, postgres_url, store_url  # noqa: F401  (fixtures)

from emolens.text.ngram import NgramRecognizer

TINY_TRAIN = {
    "joy": ["I love this so much", "what a happy wonderful day", "great fun, so glad",
            "今天很开心", "太好了真开心", "非常高兴"],
    "anger": ["I hate this stupid thing", "so angry and furious", "outrageous, I hate it",
              "气死我了", "太生气了真讨厌", "非常愤怒"],
    "sadness": ["I feel so sad and alone", "crying all night", "heartbroken and lonely",
                "好难过想哭", "伤心难过的一天", "非常伤心"],
}


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> str:
    """A tiny real n-gram model (3 canonical labels, en+zh), fitted in a second and saved."""
    texts = [t for examples in TINY_TRAIN.values() for t in examples]
    labels = [label for label, examples in TINY_TRAIN.items() for _ in examples]
    model = NgramRecognizer(name="tiny", version="1", min_df=1)
    model.fit(texts, labels, calibration=(texts, labels))
    return str(model.save(tmp_path_factory.mktemp("model") / "tiny"))


@pytest.fixture
def isolated_settings(tmp_path, monkeypatch):
    """No user config file or EMOLENS_* variables leak into the test (use it with usefixtures)."""
    for name in list(os.environ):
        if name.startswith("EMOLENS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("EMOLENS_CONFIG", "")  # empty: no config file
