"""`emolens explain` and `emolens llm ...` through typer's CliRunner, the LLM on loopback."""

from __future__ import annotations

import json

import pytest
from llm_fake import Reply, answer, configured
from typer.testing import CliRunner

from emolens.cli import EXIT_OK, EXIT_PARTIAL, app

pytestmark = pytest.mark.usefixtures("isolated_settings")

TEXT = "I can't believe they cancelled my flight again, I hate this"
RATIONALE = "The repeated 'again' and 'hate' signal frustration at the airline."


@pytest.fixture
def fake(monkeypatch, tmp_path):
    with configured(monkeypatch, tmp_path) as server:
        server.script_for(TEXT, Reply(answer(
            {"anger": 0.8, "sadness": 0.2}, ["flight again", "I hate this", "awful airline"],
            -0.7, 0.6, RATIONALE)))
        yield server


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def flat(output: str) -> str:
    return " ".join(output.split())  # rich wraps lines at the terminal's width


def test_explain_shows_all_three_readings(fake):
    result = run("explain", TEXT, "--fast-model", "ngram")
    assert result.exit_code == EXIT_OK, result.output
    out = flat(result.output)
    assert RATIONALE in out
    assert "✓ “flight again”" in out and "✓ “I hate this”" in out
    assert "✗ “awful airline” is not in the text: dropped" in out
    assert "LLM p" in out and "fast p" in out and "lexicon words" in out
    assert "hate" in out  # the lexicon's anger word
    assert "tokens: 50 prompt + 20 completion" in out
    assert len(fake.requests) == 1


def test_explain_json(fake):
    result = run("explain", TEXT, "--json")  # the shipped default fast model
    assert result.exit_code == EXIT_OK, result.output
    report = json.loads(result.stdout)
    assert report["language"] == "en" and report["llm_status"] == "ok"
    assert report["fast"]["model"].startswith("default@")
    assert sum(report["fast"]["scores"].values()) == pytest.approx(1.0)
    assert "hate" in report["lexicon"]["words"]["anger"]
    llm = report["llm"]
    assert llm["label"] == "anger" and llm["rationale"] == RATIONALE
    assert llm["scores"]["anger"] == pytest.approx(0.8) and llm["model"] == "fake-model/p1"
    assert [e["quote"] for e in llm["evidence"]] == ["flight again", "I hate this"]
    for e in llm["evidence"]:
        assert TEXT[e["start"] : e["end"]] == e["quote"]
    assert llm["evidence_rejected"] == ["awful airline"]
    assert report["usage"]["total_tokens"] == 70


def test_explain_without_an_llm_still_explains(monkeypatch):
    result = run("explain", "气死我了，快递又丢了", "--fast-model", "ngram")
    assert result.exit_code == EXIT_OK, result.output
    out = flat(result.output)
    assert "No LLM configured" in out and "EMOLENS_LLM_BASE_URL" in out
    assert "(zh)" in out and "fast model:" in out and "LLM p" not in out
    report = json.loads(run("explain", "气死我了", "--json", "--fast-model", "ngram").stdout)
    assert report["llm"] is None and report["llm_status"] == "not configured"
    assert "EMOLENS_LLM_BASE_URL" in report["llm_error"]
    assert report["lexicon"]["words"]  # 气死 fires


def test_explain_reports_a_failed_llm_and_exits_3(fake):
    fake.script_for("so so", *[Reply("I cannot answer that.")] * 3)
    result = run("explain", "so so", "--fast-model", "ngram")
    assert result.exit_code == EXIT_PARTIAL
    out = flat(result.output)
    assert "LLM failed: item 0" in out and "no valid answer after 3 attempts" in out
    assert "fast model:" in out


def test_llm_analyze_names_failed_items_and_counts_tokens(fake):
    fake.script_for("what even", *[Reply(answer({"bewildered": 1.0}))] * 3)
    result = run("llm", "analyze", "I am so happy", "what even", "--json")
    assert result.exit_code == EXIT_PARTIAL
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in lines[:-1]] == ["I am so happy"]
    summary = lines[-1]
    assert summary["summary"]["requests"] == 4 and summary["summary"]["total_tokens"] == 280
    [failure] = summary["failures"]
    assert failure.startswith("item 1 ('what even'): no valid answer") and "bewildered" in failure
    assert "error: item 1 ('what even')" in flat(result.stderr)


def test_llm_analyze_routed_reports_the_share(fake):
    result = run("llm", "analyze", "--route-below", "1.0", "I am so happy", "ok")
    assert result.exit_code == EXIT_OK, result.output
    assert "routed to the LLM: 2 of 2 (100%)" in flat(result.output)
    result = run("llm", "analyze", "--route-below", "0", "I am so happy", "--json")
    assert json.loads(result.stdout.splitlines()[-1])["summary"]["share_routed"] == 0.0


def test_llm_analyze_needs_a_configured_llm():
    result = run("llm", "analyze", "hello")
    assert result.exit_code == 1
    assert "EMOLENS_LLM_BASE_URL" in flat(result.output)


def test_llm_settings_and_redact(monkeypatch):
    monkeypatch.setenv("EMOLENS_LLM_BASE_URL", "https://api.example.com/v1")
    monkeypatch.setenv("EMOLENS_LLM_API_KEY", "sk-secret-value")
    out = flat(run("llm", "settings").output)
    assert "sk-secret-value" not in out and "llm_api_key │ set" in out
    assert "redaction │ on" in out
    monkeypatch.setenv("EMOLENS_LLM_BASE_URL", "http://127.0.0.1:11434/v1")
    assert "redaction │ off" in flat(run("llm", "settings").output)
    result = run("llm", "redact", "mail me: a@b.com, 13812345678", "--json")
    assert json.loads(result.stdout) == {"text": "mail me: [EMAIL], [PHONE]",
                                         "replaced": {"email": 1, "phone": 1}}
