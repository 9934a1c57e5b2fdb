"""`emolens models [list|info|remove]` through the real CLI."""

import json

from typer.testing import CliRunner

from emolens.cli import app
from emolens.models.catalog import SHIPPED_DIR
from emolens.text.ngram import NgramRecognizer

runner = CliRunner()


def _user_model(path):
    texts = ["so happy today", "glad and happy", "I hate this", "so angry now"] * 2
    labels = ["joy", "joy", "anger", "anger"] * 2
    NgramRecognizer(name="mine", min_df=1).fit(texts, labels).save(path)
    (path / "MODEL_CARD.md").write_text("# mine\n\nTrained on **eight** texts.\n")
    return path


def test_models_alone_and_list_show_the_same_tables():
    alone = runner.invoke(app, ["models"], terminal_width=200)
    listed = runner.invoke(app, ["models", "list"], terminal_width=200)
    assert alone.exit_code == listed.exit_code == 0, alone.output
    assert alone.output == listed.output
    for expected in ("tiny.en", "RAVDESS", "EMOLENS_FACE_MODEL", "face_model", "lexicon"):
        assert expected in alone.output


def test_info_prints_metadata_and_the_model_card(tmp_path):
    result = runner.invoke(app, ["models", "info", "voice"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "voice-ravdess" in result.output and "Model card" in result.output
    mine = _user_model(tmp_path / "mine")
    result = runner.invoke(app, ["models", "info", str(mine)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Trained on eight texts." in result.output  # Markdown rendered, not raw
    data = json.loads(runner.invoke(app, ["models", "info", str(mine), "--json"]).output)
    assert data["name"] == "mine" and data["labels"] == ["anger", "joy"]
    assert data["shipped"] is False
    assert runner.invoke(app, ["models", "info", "lexicon"]).exit_code == 0
    missing = runner.invoke(app, ["models", "info", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "Unknown model" in missing.output


def test_remove_asks_first_and_refuses_shipped_models(tmp_path):
    mine = _user_model(tmp_path / "mine")
    kept = runner.invoke(app, ["models", "remove", str(mine)], input="n\n")
    assert kept.exit_code == 1 and mine.is_dir()  # aborted at the confirmation
    gone = runner.invoke(app, ["models", "remove", str(mine)], input="y\n")
    assert gone.exit_code == 0, gone.output
    assert not mine.exists()
    for shipped in (str(SHIPPED_DIR / "default"), "default"):
        refused = runner.invoke(app, ["models", "remove", shipped, "--yes"])
        assert refused.exit_code == 1 and "shipped with emolens" in refused.output
    assert (SHIPPED_DIR / "default" / "emolens-model.json").is_file()
    plain = tmp_path / "photos"
    plain.mkdir()
    refused = runner.invoke(app, ["models", "remove", str(plain), "--yes"])
    assert refused.exit_code == 1 and "not a model" in refused.output and plain.is_dir()


def test_remove_refuses_a_model_folder_that_holds_other_files(tmp_path):
    mine = _user_model(tmp_path / "proj")
    (mine / "notes.txt").write_text("my notes")
    (mine / "posts.csv").write_text("text\nhello\n")
    refused = runner.invoke(app, ["models", "remove", str(mine), "--yes"], terminal_width=200)
    assert refused.exit_code == 1
    assert "not part of a model: notes.txt, posts.csv" in refused.output
    assert (mine / "notes.txt").is_file() and (mine / "weights.npz").is_file()
    (mine / "notes.txt").unlink()
    (mine / "posts.csv").unlink()
    (mine / ".finetune").mkdir()  # checkpoints an unfinished fine-tuning run left
    (mine / ".finetune" / "last.pt").write_bytes(b"x")
    gone = runner.invoke(app, ["models", "remove", str(mine), "--yes"])
    assert gone.exit_code == 0, gone.output
    assert not mine.exists() and tmp_path.is_dir()


def test_remove_refuses_the_current_folder(tmp_path, monkeypatch):
    mine = _user_model(tmp_path / "here")
    monkeypatch.chdir(mine)
    refused = runner.invoke(app, ["models", "remove", ".", "--yes"])
    assert refused.exit_code == 1 and "current folder" in refused.output
    assert (mine / "emolens-model.json").is_file()


def test_info_default_describes_the_cascade_it_runs():
    """`default` is the emoji-aware cascade, not the n-gram folder it starts from: its info
    names every part with the version that runs, the thresholds and where the cards are."""
    from emolens.models import CASCADE_FILE
    from emolens.registry import recognizers

    data = json.loads(runner.invoke(app, ["models", "info", "default", "--json"]).output)
    running = recognizers.create("default")
    assert (data["name"], data["version"], data["type"]) == (running.name, running.version,
                                                             "cascade")
    tuned = json.loads(CASCADE_FILE.read_text(encoding="utf-8"))
    assert data["thresholds"] == tuned["thresholds"]
    folders = {"ngram": "default", "minilm-en": "minilm_en", "e5-zh": "e5_zh"}
    parts = {p["name"]: p for p in data["parts"]}
    assert list(parts) == ["ngram", "minilm-en", "e5-zh"]
    for name, part in parts.items():
        meta = json.loads((SHIPPED_DIR / folders[name] / "emolens-model.json").read_text())
        assert part["version"] == meta["version"]
        assert part["card"] == str(SHIPPED_DIR / folders[name] / "MODEL_CARD.md")
    assert [(p["language"], p["threshold"], p["weight"]) for p in data["parts"][1:]] == [
        (lang, tuned["thresholds"][lang], tuned["weights"][lang]) for lang in ("en", "zh")]
    # the composite version is its parts' versions, so stored results tell which ran
    assert data["version"].startswith("+".join(p["version"] for p in data["parts"]))
    assert data["cards"] == [p["card"] for p in data["parts"]]

    shown = runner.invoke(app, ["models", "info", "default"], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    en = parts["minilm-en"]
    for expected in ("cascade", "fast path", "en escalation", "zh escalation", "emoji",
                     f"minilm-en {en['version']} x {en['weight']:g}", f"< {en['threshold']:g}",
                     "minilm_en/MODEL_CARD.md", "e5_zh/MODEL_CARD.md"):
        assert expected in shown.output, expected
    ngram = json.loads(runner.invoke(app, ["models", "info", "ngram", "--json"]).output)
    assert ngram["type"] == "ngram" and ngram["path"] == str(SHIPPED_DIR / "default")
