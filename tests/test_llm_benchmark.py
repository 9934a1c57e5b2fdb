"""benchmarks/llm_benchmark.py against the fake LLM on loopback, and with no LLM at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from llm_fake import FakeLLM, Reply, answer, sent_text

from emolens.labels import to_canonical

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks/llm_benchmark.py"
DAIR_TEST = ROOT.parent / "shared/data/dair_emotion/test.txt"


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EMOLENS_")}
    clean.update(EMOLENS_CONFIG="",
                 EMOLENS_CACHE_DIR=str(tmp_path / "cache"), **env)
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env=clean, timeout=120)


def test_without_an_endpoint_it_says_so_and_exits_0(tmp_path):
    done = run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "No LLM endpoint is configured" in done.stdout and "nothing to measure" in done.stdout


@pytest.mark.skipif(not DAIR_TEST.is_file(), reason="shared dair_emotion data not found")
def test_one_run_prints_every_configuration(tmp_path):
    gold = {}
    for line in DAIR_TEST.read_text(encoding="utf-8").splitlines():
        text, label = line.rsplit(";", 1)
        gold[text] = to_canonical(label, "dair_emotion")

    def respond(body: dict) -> Reply:  # a teacher that knows the answers
        return Reply(answer({gold[sent_text(body)]: 0.9}))

    out = tmp_path / "llm.json"
    with FakeLLM(respond) as server:
        done = run(tmp_path, "--n", "40", "--sets", "dair", "--no-cache", "--route-below", "0.8",
                   "--fast-model", "ngram", "--json", str(out), EMOLENS_LLM_BASE_URL=server.url,
                   EMOLENS_LLM_MODEL="fake-model")
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    row = report["sets"]["dair_emotion test"]
    assert row["n"] == 40 and len(server.requests) == 40 and row["llm_failures"] == 0
    assert row["llm_accuracy"] == 1.0 and row["llm_macro_f1"] == 1.0
    assert row["routed_accuracy"] >= row["fast_accuracy"]
    routed = round(row["share_routed"] * 40)
    assert row["llm_tokens"] == 40 * 70 and row["routed_tokens"] == routed * 70
    assert row["fast_tokens"] == 0
    for config in ("fast", "llm", "routed"):
        assert row[f"{config}_items_per_s"] > 0
    assert report["cache"] is False and report["llm"] == "fake-model/p1"
    assert report["fast_model"].startswith("ngram@")  # the shipped n-gram model
    lines = done.stdout.splitlines()
    assert any(line.startswith("dair_emotion test") and " fast " in line for line in lines)
    assert any(" routed " in line and f"{row['share_routed']:.0%}" in line for line in lines)
    assert "tokens: 2000 prompt + 800 completion = 2800" in done.stdout
