"""Fixes from a QA report on the LLM commands, through the real CLI, the LLM on loopback."""

from __future__ import annotations

import csv
import json

import pytest
from llm_fake import Reply, answer, configured
from rich.console import Console
from typer.testing import CliRunner

from emolens.cli import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, app
from emolens.llm.settings import load_llm_settings
from emolens.llm.views import settings_view

pytestmark = pytest.mark.usefixtures("isolated_settings")

PROSE = Reply("I think it's sad, honestly.")  # no JSON: an unusable answer


@pytest.fixture
def fake(monkeypatch, tmp_path):
    with configured(monkeypatch, tmp_path) as server:
        yield server


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(app, list(args), input=stdin)


def flat(output: str) -> str:
    return " ".join(output.split())  # rich wraps lines at the terminal's width


def posts(tmp_path) -> str:
    path = tmp_path / "posts.csv"
    path.write_text("id,text\n1,I love this so much\n2,hmm ok\n3,GARBAGE text here\n"
                    "4,My parcel is lost again\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("batch_size", [None, "2"])
def test_analyze_file_keeps_the_items_the_llm_answered(fake, monkeypatch, tmp_path, batch_size):
    if batch_size:  # the failure is named by its place in the second of two batches
        monkeypatch.setenv("EMOLENS_BATCH_SIZE", batch_size)
    fake.script_for("GARBAGE text here", *[PROSE] * 6)  # asked twice with two batches
    out, db = tmp_path / "llm.csv", str(tmp_path / "r.db")
    result = run("analyze", "file", posts(tmp_path), "--model", "llm", "--text-col", "text",
                 "--db", db, "--out", str(out))
    assert result.exit_code == EXIT_PARTIAL, result.output
    assert "posts.csv:3: no valid answer after 3 attempts" in flat(result.output)
    assert "item 2" not in result.output
    with out.open(encoding="utf-8-sig") as handle:
        assert [row["row"] for row in csv.DictReader(handle)] == ["1", "2", "4"]
    asked = len(fake.requests)
    assert asked == (9 if batch_size else 6)  # 3 answers, 3 attempts for the prose (twice when
    # the failure came from a later batch than the first); no answered text asked again
    fake.script_for("GARBAGE text here", PROSE, PROSE, PROSE)
    again = run("analyze", "file", posts(tmp_path), "--model", "llm", "--text-col", "text",
                "--db", db, "--json")
    assert again.exit_code == EXIT_PARTIAL, again.output  # only the failed row is asked again
    assert len(fake.requests) == asked + 3


def test_llm_analyze_dash_must_be_alone(fake):
    result = run("llm", "analyze", "-", "extra text", stdin="I love it\n")
    assert result.exit_code == EXIT_USAGE
    assert "'-' reads the texts from stdin; give it alone" in result.output
    assert fake.requests == []


@pytest.mark.parametrize("args", [
    ("llm", "analyze", "--language", "fr", "bonjour"),
    ("explain", "-l", "fr", "bonjour"),
])
def test_language_is_checked_before_any_request(fake, args):
    result = run(*args)
    assert result.exit_code == EXIT_ERROR
    assert "language must be one of ('en', 'zh'), got 'fr'" in result.output
    assert "Item 0" not in result.output and fake.requests == []


@pytest.mark.parametrize("labels", ["", "joy, Joy", "joy"])
def test_empty_or_repeating_label_sets_are_refused(fake, labels):
    result = run("llm", "analyze", "--labels", labels, "I love it")
    assert result.exit_code == EXIT_ERROR
    assert "needs at least two distinct (in any case), non-empty labels" in flat(result.output)
    assert fake.requests == []


def test_empty_label_set_setting_is_refused(fake, monkeypatch):
    monkeypatch.setenv("EMOLENS_LLM_LABELS", "[]")
    result = run("llm", "analyze", "I love it")
    assert result.exit_code == EXIT_ERROR
    assert "EMOLENS_LLM_LABELS" in result.output and fake.requests == []


def test_routing_with_a_custom_label_fast_model(fake, monkeypatch, tiny_model_dir):
    monkeypatch.setenv("EMOLENS_LLM_FAST_MODEL", tiny_model_dir)  # anger, joy, sadness
    monkeypatch.setenv("EMOLENS_LLM_LABELS", '["sadness", "joy", "anger"]')  # another order
    fake.script(Reply(answer({"sadness": 0.9})))
    result = run("llm", "analyze", "--route-below", "1", "--json", "hmm ok")
    assert result.exit_code == EXIT_OK, result.output
    assert json.loads(result.stdout.splitlines()[0])["label"] == "sadness"
    monkeypatch.delenv("EMOLENS_LLM_LABELS")
    refused = flat(run("llm", "analyze", "--route", "hmm ok").output)
    assert "the fast model (tiny) scores ['anger', 'joy', 'sadness']" in refused
    assert "Ask the LLM for the fast model's labels (--labels or EMOLENS_LLM_LABELS)" in refused
    assert "Unset EMOLENS_LLM_LABELS" not in refused
    fake.script(Reply(answer({"joy": 0.9})))
    ok = run("llm", "analyze", "--route", "--labels", "anger,joy,sadness", "--json", "hmm ok")
    assert ok.exit_code == EXIT_OK, ok.output  # not "the fast model scores canonical labels"


def corpus(tmp_path) -> str:
    path = tmp_path / "corpus.csv"
    texts = ["I love this so much", "what a happy day", "so sad today", "I feel lost",
             "happy happy", "nothing much", "a great time", "rainy and grey"]
    path.write_text("text\n" + "\n".join(texts) + "\n", encoding="utf-8")
    return str(path)


def test_distill_resumes_with_the_labels_in_another_order(fake, tmp_path):
    out, data = str(tmp_path / "out"), corpus(tmp_path)
    common = ("distill", "--data", data, "--out", out, "--holdout", "0", "--min-df", "1")
    first = run(*common, "--labels", "joy,neutral,sadness")
    assert first.exit_code == EXIT_OK, first.output
    asked = len(fake.requests)
    again = run(*common, "--labels", "sadness,joy,neutral")
    assert again.exit_code == EXIT_OK, again.output
    assert len(fake.requests) == asked  # the labels kept are reused, nothing asked again


def test_distill_trains_on_the_fast_labels_when_it_keeps_every_text(
        fake, monkeypatch, tmp_path, tiny_model_dir):
    monkeypatch.setenv("EMOLENS_LLM_FAST_MODEL", tiny_model_dir)
    out = tmp_path / "out"
    result = run("distill", "--data", corpus(tmp_path), "--out", str(out), "--labels",
                 "joy,anger,sadness", "--route-below", "0", "--min-df", "1")
    assert result.exit_code == EXIT_OK, result.output
    text = flat(result.output)
    assert "trained on 8 texts" in text and "the fast model kept every text" in text
    assert fake.requests == [] and (out / "model").is_dir()
    summary = json.loads((out / "distill.json").read_text(encoding="utf-8"))
    assert summary["origin"]["fast_model"].startswith("tiny@")


def test_run_statistics_count_failed_requests_and_every_text(fake, monkeypatch):
    monkeypatch.setenv("EMOLENS_LLM_MAX_RETRIES", "1")
    fake.script_for("broken one", Reply(status=500, body="boom"), Reply(status=500, body="boom"))
    args = ("llm", "analyze", "I love it", "broken one", "I love it")
    result = run(*args, "--json")
    assert result.exit_code == EXIT_PARTIAL
    summary = json.loads(result.stdout.splitlines()[-1])["summary"]
    assert (summary["requests"], summary["retries"], summary["texts"]) == (3, 1, 3)
    assert "HTTP 500 (after 1 retries)" in result.output
    fake.script_for("broken one", Reply(status=500, body="boom"), Reply(status=500, body="boom"))
    text = flat(run(*args).output)
    assert "3 texts (2 distinct to the LLM); 2 requests (1 retries" in text  # 1 from the cache


def test_credentials_in_the_endpoint_are_masked(fake, monkeypatch):
    url = fake.url.replace("http://", "http://alice:s3cret@")
    monkeypatch.setenv("EMOLENS_LLM_BASE_URL", url)
    monkeypatch.setenv("EMOLENS_LLM_MAX_RETRIES", "0")
    fake.script(Reply(status=500, body="boom"))
    result = run("llm", "analyze", "hello there")
    assert result.exit_code == EXIT_PARTIAL
    assert "http://alice:***@127.0.0.1" in result.output and "s3cret" not in result.output
    from emolens.llm.client import masked_url

    console = Console(width=300, record=True)
    console.print(settings_view(load_llm_settings()))
    shown = console.export_text()
    assert "alice:***@" in shown and "s3cret" not in shown
    assert masked_url("https://u:p@h:1/v1?q=1") == "https://u:***@h:1/v1?q=1"
    assert masked_url("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080/v1"


@pytest.mark.parametrize(("gguf", "problem"), [
    ("/no/such/model.gguf", "The GGUF file /no/such/model.gguf (EMOLENS_LLM_GGUF) does not exist"),
    ("package:foo", "Unknown packaged GGUF model 'foo'"),
])
def test_a_bad_gguf_setting_still_shows_the_fast_model(monkeypatch, tmp_path, gguf, problem):
    monkeypatch.setenv("EMOLENS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("EMOLENS_LLM_GGUF", gguf)
    result = run("explain", "I love it", "--fast-model", "ngram")
    assert result.exit_code == EXIT_PARTIAL, result.output
    text = flat(result.output)
    assert "fast model: " in text and problem in text
    assert "llama-cpp-python" not in text and "set EMOLENS_LLM_BASE_URL" not in text
