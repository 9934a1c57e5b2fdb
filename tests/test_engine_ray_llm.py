"""`analyze file --engine ray --model llm`: an item the LLM gives no usable answer for is an
error of its row, and the rest of its Ray batch is kept, as with the local engine. The
worker's and the driver's halves are run in this process (a Ray worker would not see the fake
endpoint's settings)."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from llm_fake import Reply, configured

from emolens.batch import BatchReport, FileReport, StoredResults
from emolens.batch_ray import AnalyzeBatches, AnalyzerSpec, RayBatchReport, _Pending, _Window
from emolens.io.textfiles import Item
from emolens.pipeline import build_analyzer

pytestmark = pytest.mark.usefixtures("isolated_settings")

PROSE = Reply("I think it's sad, honestly.")  # no JSON: an unusable answer
TEXTS = ["I love this so much", "GARBAGE text here", "this is so sad"]


def test_a_worker_keeps_the_answers_and_names_the_item_without_one(monkeypatch, tmp_path):
    with configured(monkeypatch, tmp_path) as fake:
        fake.script_for("GARBAGE text here", *[PROSE] * 8)
        analyzer = build_analyzer("llm")
        worker = AnalyzeBatches(AnalyzerSpec.of(analyzer, "llm"), analyzer.model_id, None)
        table = worker(pa.table({"key": ["k0", "k1", "k2"], "text": TEXTS}))
    results, errors = table.column("result").to_pylist(), table.column("error").to_pylist()
    assert results[1] == "" and errors[1]
    assert errors[0] == errors[2] == ""
    assert {json.loads(results[0])["label"], json.loads(results[2])["label"]} <= set(
        analyzer.output_labels)

    # the driver: the two answers are stored-as-fresh, the third is its row's error
    items = [Item(row=r + 1, text=t) for r, t in enumerate(TEXTS)]
    file = FileReport("posts.csv")
    report = RayBatchReport()
    chunk = _Pending(items, 3, "/data/posts.csv", file, StoredResults(None, "", ""),
                     keys=["k0", "k1", "k2"])
    window = _Window.__new__(_Window)
    window.run_, window.report = _NoStore(), report
    places = {key: [(chunk, i)] for i, key in enumerate(chunk.keys)}
    window._keep(table.column("key").to_pylist(), results, errors, places)
    assert sorted(chunk.fresh) == ["k0", "k2"] and chunk.failed == {"k1"}
    assert file.errors == 1 and file.analysed == 2
    assert isinstance(report, BatchReport) and report.error_count == 1
    assert report.errors[0].row == 2 and report.errors[0].message == errors[1]


class _NoStore:
    store = None
    store_text = "full"
