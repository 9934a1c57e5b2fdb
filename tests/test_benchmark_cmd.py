"""`emolens benchmark --quick` on the shared test splits, beside the published figures."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emolens.cli import app

ROOT = Path(__file__).resolve().parents[2] / "shared"


@pytest.mark.skipif(not (ROOT / "data/dair_emotion").is_dir(), reason="shared data not found")
def test_quick_text_benchmark_reproduces_the_card_within_sampling_error(tmp_path):
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(app, [
        "benchmark", "--quick", "--only", "text", "--text-models", "ngram",
        "--data-dir", str(ROOT / "data"), "--eval-dir", str(ROOT / "eval"),
        "--json", str(out)], terminal_width=200)
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())["rows"]
    assert {r["dataset"] for r in rows} >= {"dair_emotion", "goemotions_ekman", "smp2020_usual",
                                            "smp2020_virus"}
    for row in rows:
        assert row["n"] == 500 and row["reference"] is not None
        # 500 items: a standard error of about 0.02, so 0.08 is 4 of them.
        assert abs(row["ours"] - row["reference"]) < 0.08, row
    assert "card" in result.output and "0.867" in result.output  # the dair reference


def test_unknown_suite_is_a_usage_error():
    result = CliRunner().invoke(app, ["benchmark", "--only", "smell"])
    assert result.exit_code == 2 and "unknown suites" in result.output
