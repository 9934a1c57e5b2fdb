"""HFRecognizer on tiny random-weight BERT models built here (no network, no downloads)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from emolens.errors import MissingExtraError, ModelFileError
from emolens.labels import CANONICAL
from emolens.models import load_model_dir
from emolens.pipeline import Analyzer
from emolens.registry import recognizers

SHUFFLED = ("neutral", "joy", "sadness", "anger", "fear", "surprise", "disgust")
WORDS = "i am so happy sad angry today not at all this is 今 天 开 心 ! . 😂".split()


def tiny_model(
    directory: Path, labels: tuple[str, ...], winner: int = 0, multi_label: bool = False
) -> Path:
    """Save a 2-layer, 32-wide random BERT classifier whose label ``winner`` always wins."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *WORDS])}
    backend = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        model_max_length=64,
    )
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        problem_type="multi_label_classification" if multi_label else None,
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.bias.zero_()
        model.classifier.bias[winner] = 6.0
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def canonical_dir(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    # Not in canonical order, so a label mix-up on the way to canonical scores would show.
    return tiny_model(tmp_path_factory.mktemp("hf") / "canonical", SHUFFLED, winner=1)


@pytest.fixture(scope="module")
def custom_dir(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    labels = ("billing", "delivery", "praise")
    return tiny_model(tmp_path_factory.mktemp("hf") / "custom", labels, winner=2)


def test_missing_extra_fails_at_construction(monkeypatch):
    from emolens.text import hf

    real = importlib.util.find_spec
    monkeypatch.setattr(hf, "find_spec", lambda name: None if name == "torch" else real(name))
    with pytest.raises(MissingExtraError, match=r"pip install 'emolens\[hf\]'") as info:
        hf.HFRecognizer("some/model")
    assert isinstance(info.value, ImportError)


def test_hf_without_a_model_says_what_to_pass():
    import emolens
    from emolens.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="needs a model.*directory itself"):
        emolens.load("hf")


def test_no_io_at_construction():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from emolens.text.hf import HFRecognizer

    recognizer = HFRecognizer("/no/such/model")  # nothing is read yet
    with pytest.raises(ModelFileError, match="/no/such/model"):
        _ = recognizer.labels


def test_canonical_model_from_directory(canonical_dir):
    from emolens.text.hf import HFRecognizer

    recognizer = HFRecognizer(str(canonical_dir), batch_size=2)
    assert recognizer.labels == SHUFFLED
    assert recognizer.scheme is None
    texts = ["I am so happy today!", "", "今天开心 😂", "sad " * 500, "not at all"]
    probs = recognizer.predict_proba(texts)
    assert probs.shape == (5, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert (probs.argmax(axis=1) == 1).all()
    assert probs.min() > 0
    # Batches are sorted by length; results come back in the caller's order.
    np.testing.assert_allclose(recognizer.predict_proba(texts[::-1]), probs[::-1], atol=1e-5)
    assert recognizer.predict_proba([]).shape == (0, 7)

    results = Analyzer(recognizer).analyze_batch(["I am so happy today!"])
    assert results[0].label == "joy"
    assert results[0].scores["joy"] == pytest.approx(probs[0, 1])
    assert set(results[0].scores) == set(CANONICAL)
    assert results[0].model == f"hf@{canonical_dir}"


def test_custom_labels_are_reported_as_they_are(custom_dir):
    recognizer = recognizers.create("hf", model=str(custom_dir))
    assert recognizer.labels == ("billing", "delivery", "praise")
    assert recognizer.scheme == "custom"
    analyzer = Analyzer(recognizer)
    assert analyzer.output_labels == ("billing", "delivery", "praise")
    result = analyzer.analyze_batch(["where is my parcel"])[0]
    assert result.label == "praise"
    assert result.valence is None


def test_multi_label_uses_sigmoid_then_normalises(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from emolens.text.base import softmax
    from emolens.text.hf import HFRecognizer

    directory = tiny_model(tmp_path / "multi", CANONICAL, multi_label=True)
    recognizer = HFRecognizer(str(directory))
    assert recognizer.multi_label
    logits = recognizer.logits(["I am so happy"])
    probs = recognizer.predict_proba(["I am so happy"])
    sigmoid = 1 / (1 + np.exp(-logits))
    np.testing.assert_allclose(probs, sigmoid / sigmoid.sum(axis=1, keepdims=True), atol=1e-9)
    assert not np.allclose(probs, softmax(logits))


def test_model_directory_loads_through_load_model_dir(canonical_dir):
    from emolens.text.hf import HFRecognizer

    recognizer = load_model_dir(canonical_dir)
    assert isinstance(recognizer, HFRecognizer)
    assert recognizer.labels == SHUFFLED


def test_missing_model_says_how_to_fix():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from emolens.text.hf import HFRecognizer

    recognizer = HFRecognizer("nobody/no-such-model-here")
    with pytest.raises(ModelFileError, match="local_files_only=False"):
        recognizer.predict_proba(["hello"])


def test_common_model_label_names_are_mappable():
    from emolens import labels as L

    assert L.is_mappable(["愤怒", "厌恶", "恐惧", "高兴", "悲伤", "惊讶", "中性"])
    assert L.is_mappable(["joyful", "Disgusted", "worry", "hate", "shame"])
    assert not L.is_mappable(["LABEL_0", "LABEL_1"])
