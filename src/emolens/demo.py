"""The main job on the embedded default: bundled posts -> analysis -> store -> charts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from emolens.batch import BatchReport, analyze_file
from emolens.pipeline import Analyzer
from emolens.store import ResultStore
from emolens.types import EmotionResult
from emolens.viz.report import ReportPaths, write_report

SAMPLE_POSTS = Path(__file__).parent / "samples" / "posts.csv"


@dataclass
class DemoRun:
    """What the demo did: results in file order, the batch report, and the report files."""

    results: list[EmotionResult]
    batch: BatchReport
    report: ReportPaths


def run_demo(analyzer: Analyzer, db: str, out_dir: str | Path) -> DemoRun:
    """Analyse the bundled sample posts, store them in ``db``, write charts to ``out_dir``."""
    results: list[EmotionResult] = []
    with ResultStore(db) as store:
        batch = analyze_file(
            SAMPLE_POSTS, analyzer, store, text_col="text", time_col="created_at",
            group_col="channel", id_col="id", sink=results.extend,
        )
        frame = store.to_frame(source=str(SAMPLE_POSTS.resolve()), model=analyzer.model_id)
    report = write_report(frame, out_dir, title="emolens demo: sample posts")
    return DemoRun(results, batch, report)
