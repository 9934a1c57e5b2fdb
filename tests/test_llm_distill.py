"""`emolens distill`: a fake LLM on loopback labels 120 real dair-ai emotion texts by a rule
each test controls (their gold label, or noise); the n-gram model learns the labels; its
agreement with the LLM, reloading, resuming and failures."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from llm_fake import FakeLLM, Reply, answer, sent_text
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score
from typer.testing import CliRunner

from emolens.cli import EXIT_OK, EXIT_PARTIAL, app
from emolens.labels import to_canonical

DAIR = Path(__file__).resolve().parents[2] / "shared/data/dair_emotion/train.txt"
DAIR_LABELS = ("sadness", "joy", "love", "anger", "fear", "surprise")
# Feeling words that (almost) only occur in texts of one label: texts holding them make a
# rule an n-gram model can learn from 96 examples, so a faithful teacher is followed closely.
CUES = {"sadness": ("melancholy", "discouraged"), "joy": ("successful", "useful"),
        "love": ("sympathetic", "tender"), "anger": ("offended", "resentful"),
        "fear": ("shaken", "apprehensive"), "surprise": ("impressed",)}
PER_CLASS = 20

pytestmark = [
    pytest.mark.usefixtures("isolated_settings"),
    pytest.mark.skipif(not DAIR.is_file(), reason="shared dair_emotion data not found"),
]


def corpus() -> dict[str, str]:
    """Text -> gold label: 20 seeded texts per dair label with one of its cue words."""
    pairs = [line.rsplit(";", 1) for line in DAIR.read_text(encoding="utf-8").splitlines()]
    rng = np.random.default_rng(7)
    chosen: list[tuple[str, str]] = []
    for label in DAIR_LABELS:
        cue = re.compile(r"\b(" + "|".join(CUES[label]) + r")\b")
        texts = sorted({t for t, g in pairs if g == label and cue.search(t)})
        chosen += [(texts[i], label) for i in rng.choice(len(texts), PER_CLASS, replace=False)]
    return {chosen[i][0]: chosen[i][1] for i in rng.permutation(len(chosen))}


GOLD = corpus() if DAIR.is_file() else {}


def faithful(canonical: bool = True):
    """A teacher that answers each text's gold label (canonical, or the dair label itself)."""
    def respond(body: dict) -> Reply:
        gold = GOLD[sent_text(body)]
        return Reply(answer({to_canonical(gold, "dair_emotion") if canonical else gold: 0.9}))

    return respond


def noisy(body: dict) -> Reply:
    """Gold for about a third of the texts; a label picked by the text's hash for the rest."""
    text = sent_text(body)
    digest = hashlib.sha256(text.encode()).digest()
    label = GOLD[text] if digest[0] < 85 else DAIR_LABELS[digest[1] % len(DAIR_LABELS)]
    return Reply(answer({label: 0.9}))


@pytest.fixture
def data(tmp_path) -> Path:
    path = tmp_path / "unlabelled.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows([i, text] for i, text in enumerate(GOLD))
    return path


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("EMOLENS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("EMOLENS_LLM_MODEL", "fake-model")
    monkeypatch.setenv("EMOLENS_LLM_BACKOFF", "0.01")
    return monkeypatch


def serve(env, respond) -> FakeLLM:
    """The teacher, configured as the endpoint; start it with ``with``."""
    server = FakeLLM(respond)
    env.setenv("EMOLENS_LLM_BASE_URL", server.url)
    return server


def distill(data: Path, out: Path, *args: str):
    return CliRunner().invoke(app, ["distill", "--data", str(data), "--text-col", "text",
                                    "--out", str(out), *args])


def summary(out: Path) -> dict:
    return json.loads((out / "distill.json").read_text(encoding="utf-8"))


def label_lines(out: Path) -> list[dict]:
    lines = (out / "llm-labels.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def held_out(out: Path) -> tuple[list[str], list[str]]:
    """The held-out texts (by their data row) and the LLM's labels for them."""
    texts = list(GOLD)
    by_text = {r["text"]: r["label"] for r in label_lines(out)}
    held = [texts[row - 1] for row in summary(out)["holdout_rows"]]
    return held, [by_text[t] for t in held]


def test_the_model_learns_a_faithful_teacher_and_reloads_elsewhere(env, data, tmp_path):
    out = tmp_path / "run"
    with serve(env, faithful()) as server:
        result = distill(data, out)
    assert result.exit_code == EXIT_OK, result.output
    assert len(server.requests) == 120
    lines = label_lines(out)
    assert len(lines) == 120 and {r["text"] for r in lines} == set(GOLD)
    assert all(r["label"] == to_canonical(GOLD[r["text"]], "dair_emotion") for r in lines)
    report = summary(out)
    assert report["labelled"] == 120 and report["failures"] == []
    assert report["stats"]["total_tokens"] == 120 * 70 and report["tokens_all_labels"] == 8400
    assert len(report["holdout_rows"]) == 24 and report["train_items"] == 96

    texts, llm_labels = held_out(out)
    code = ("import json, sys, emolens; texts = json.load(sys.stdin);"
            f"print(json.dumps([r.label for r in emolens.load({str(out / 'model')!r})"
            ".analyze_batch(texts)]))")
    predicted = json.loads(subprocess.run([sys.executable, "-c", code], input=json.dumps(texts),
                                          capture_output=True, text=True, check=True).stdout)
    accuracy = accuracy_score(llm_labels, predicted)
    macro = f1_score(llm_labels, predicted, labels=sorted(set(llm_labels)), average="macro",
                     zero_division=0)
    kappa = cohen_kappa_score(llm_labels, predicted)
    agreement = report["agreement"]
    assert agreement["accuracy"] == pytest.approx(accuracy)
    assert agreement["macro_f1"] == pytest.approx(macro)
    assert report["cohen_kappa"] == pytest.approx(kappa)
    assert accuracy > 0.7 and kappa > 0.6  # 0.875 and 0.836 when written; 5 labels
    out_text = " ".join(result.output.split())
    assert (f"agreement with the LLM on 24 held-out texts: accuracy {accuracy:.3f}, macro-F1 "
            f"{macro:.3f}, Cohen's kappa {kappa:.3f}") in out_text
    assert "= 8400" in out_text and "earlier runs included): 8,400" in out_text

    card = (out / "model" / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "`fake-model`" in card and server.url in card and "prompt version | 1" in card
    assert f"| accuracy | {accuracy:.3f} |" in card
    meta = json.loads((out / "model" / "emolens-model.json").read_text(encoding="utf-8"))
    assert meta["distilled"]["llm"] == "fake-model/p1" and meta["scheme"] == "canonical"
    again = CliRunner().invoke(app, ["train", "text", "--data", str(out / "llm-labels.jsonl"),
                                     "--out", str(tmp_path / "again")])
    assert again.exit_code == EXIT_OK, again.output  # the label file is a labelled table


def test_a_noisy_teacher_gives_lower_agreement(env, data, tmp_path):
    labels = ",".join(DAIR_LABELS)
    with serve(env, faithful(canonical=False)):
        clean = distill(data, tmp_path / "clean", "--labels", labels, "--json")
    with serve(env, noisy):
        dirty = distill(data, tmp_path / "noisy", "--labels", labels, "--json")
    assert clean.exit_code == EXIT_OK and dirty.exit_code == EXIT_OK, dirty.output
    good, bad = json.loads(clean.stdout), json.loads(dirty.stdout)
    assert good["origin"]["labels"] == list(DAIR_LABELS)
    # 0.875 and 0.25 when written; kappa 0.85 and 0.03
    assert good["agreement"]["accuracy"] > bad["agreement"]["accuracy"] + 0.3
    assert good["cohen_kappa"] > 0.6 and bad["cohen_kappa"] < 0.3
    for run, out in ((good, tmp_path / "clean"), (bad, tmp_path / "noisy")):
        texts, llm_labels = held_out(out)
        from emolens.text.ngram import NgramRecognizer

        model = NgramRecognizer.load(out / "model")
        assert model.labels == DAIR_LABELS
        predicted = [model.labels[j] for j in model.predict_proba(texts).argmax(axis=1)]
        assert run["agreement"]["accuracy"] == pytest.approx(accuracy_score(llm_labels,
                                                                            predicted))


def test_a_second_run_sends_only_what_is_missing(env, data, tmp_path):
    env.setenv("EMOLENS_LLM_CACHE", "false")  # the label file alone must make it resumable
    out = tmp_path / "run"
    with serve(env, faithful()) as server:
        first = distill(data, out, "--limit", "60", "--json")
        assert first.exit_code == EXIT_OK, first.output
        assert len(server.requests) == 60 and len(label_lines(out)) == 60
        assert json.loads(first.stdout)["texts"] == 60

        second = distill(data, out, "--json")
        assert second.exit_code == EXIT_OK, second.output
        asked_now = server.texts()[60:]
        assert len(asked_now) == 60 and set(asked_now) == set(list(GOLD)[60:])
        report = json.loads(second.stdout)
        assert (report["from_file"], report["asked"], report["labelled"]) == (60, 60, 120)
        assert report["stats"]["requests"] == 60 and report["stats"]["cache_hits"] == 0

        path = out / "llm-labels.jsonl"  # an interrupted write leaves half a line
        path.write_bytes(path.read_bytes()[:-25])
        third = distill(data, out, "--json")
        assert third.exit_code == EXIT_OK, third.output
        assert len(server.requests) == 121  # the one cut short, asked again
    assert len(label_lines(out)) == 120


def test_failed_items_are_named_left_out_and_asked_again(env, data, tmp_path):
    texts = list(GOLD)
    out = tmp_path / "run"
    with serve(env, faithful()) as server:
        server.script_for(texts[4], *[Reply("I would rather not say.")] * 3)
        server.script_for(texts[9], *[Reply(answer({"bewildered": 1.0}))] * 3)
        result = distill(data, out)
        assert result.exit_code == EXIT_PARTIAL, result.output
        errors = " ".join(result.stderr.split())
        assert "row 5 (" in errors and " ".join(texts[4].split()[:3]) in errors
        assert "no valid answer after 3 attempts" in errors
        assert "row 10 (" in errors and "bewildered" in errors
        assert {r["text"] for r in label_lines(out)} == set(texts) - {texts[4], texts[9]}
        report = summary(out)
        assert report["labelled"] == 118 and len(report["failures"]) == 2
        assert report["train_items"] + len(report["holdout_rows"]) == 118

        before = len(server.requests)
        again = distill(data, out)  # the script is spent: both get an answer now
        assert again.exit_code == EXIT_OK, again.output
        assert sorted(server.texts()[before:]) == sorted([texts[4], texts[9]])
    assert len(label_lines(out)) == 120


def test_routing_sends_only_what_the_fast_model_is_unsure_of(env, data, tmp_path):
    out = tmp_path / "run"
    env.setenv("EMOLENS_LLM_FAST_MODEL", "ngram")
    with serve(env, faithful()) as server:
        result = distill(data, out, "--route-below", "0.9", "--json")
    assert result.exit_code == EXIT_OK, result.output
    report = json.loads(result.stdout)
    assert report["fast_kept"] > 0 and report["asked"] > 0
    assert report["fast_kept"] + report["asked"] == 120
    assert len(server.requests) == report["asked"] == report["stats"]["routed"]
    assert len(label_lines(out)) == report["labelled"] == report["asked"]
    assert report["origin"]["fast_model"] and report["origin"]["route_below"] == 0.9
    # The hold-out, hence the agreement, is drawn from the LLM's labels only.
    assert set(held_out(out)[0]) <= {r["text"] for r in label_lines(out)}


def test_labels_of_another_label_set_are_not_mixed(env, data, tmp_path):
    out = tmp_path / "run"
    with serve(env, faithful()):
        assert distill(data, out, "--limit", "20", "--holdout", "0").exit_code == EXIT_OK
        result = distill(data, out, "--limit", "20", "--labels", ",".join(DAIR_LABELS))
    assert result.exit_code == 1
    assert "holds labels made with labels=" in " ".join(result.output.split())


def test_distill_needs_a_configured_llm(data, tmp_path):
    result = distill(data, tmp_path / "run")
    assert result.exit_code == 1 and "EMOLENS_LLM_BASE_URL" in " ".join(result.output.split())
