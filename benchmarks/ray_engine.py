"""`emolens analyze file` throughput: the local engine, then the Ray engine with 1 and 2 workers.

    python benchmarks/ray_engine.py                       # 2,000 GoEmotions + 2,000 SMP2020 texts
    python benchmarks/ray_engine.py --items 500 --json benchmarks/results/ray.json

The same CSV (English GoEmotions test texts and Chinese SMP2020-EWECT test posts, interleaved)
goes through each engine into a new SQLite store, with the default model and the same chunk
size. Items/s counts the whole run as a user sees it: reading, analysing, storing, and for Ray
the workers' start and model loading (the local Ray instance itself is started once, before
the first Ray run, and not counted). "first batch" is when the first results were stored.
Each Ray worker reports its own peak resident memory (getrusage in the actor). The runs are
checked to store the same labels as the local engine. The machine's load average before and
after is printed too: other work on it slows every row alike.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from datasets import goemotions, smp  # noqa: E402

from emolens.batch import analyze_paths  # noqa: E402
from emolens.batch_ray import RayOptions, analyze_paths_ray, peak_rss  # noqa: E402
from emolens.pipeline import build_analyzer  # noqa: E402
from emolens.store import ResultStore  # noqa: E402


def write_input(data: Path, items: int, path: Path) -> Path:
    """``items`` texts, half English and half Chinese, interleaved, as a CSV with a text column."""
    english = goemotions(data, "test").texts[: items - items // 2]
    chinese = smp(data, "usual_test_labeled.json").texts[: items // 2]
    texts = [t for pair in zip(english, chinese, strict=False) for t in pair]
    texts += english[len(chinese):] + chinese[len(english):]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows(enumerate(texts))
    return path


class FirstBatch:
    """Progress callback noting when the first analysed results came back."""

    def __init__(self, store: ResultStore) -> None:
        self.store, self.started, self.at = store, time.perf_counter(), None

    def __call__(self, rows: int) -> None:
        if self.at is None and len(self.store.to_frame()):
            self.at = time.perf_counter() - self.started


def run(engine: str, workers: int, csv_path: Path, folder: Path, analyzer, chunk: int) -> dict:
    """One run into a new store: its figures and its labels by item key."""
    db = folder / f"{engine}{workers}.db"
    with ResultStore(str(db)) as store:
        first = FirstBatch(store)
        if engine == "local":
            report = analyze_paths([csv_path], analyzer, store, chunk_size=chunk, progress=first)
        else:
            report = analyze_paths_ray([csv_path], analyzer, store, chunk_size=chunk,
                                       progress=first, options=RayOptions(workers=workers))
        frame = store.to_frame()
    labels = dict(zip(frame["item_key"], frame["label"], strict=True))
    row = {
        "engine": engine, "workers": workers, "items": report.analysed,
        "seconds": round(report.elapsed, 2),
        "items_per_s": round(report.analysed / report.elapsed, 1),
        "first_batch_s": None if first.at is None else round(first.at, 2),
    }
    if engine == "ray":
        row["worker_peak_rss_mib"] = sorted(
            round(w.peak_rss / 2**20, 1) for w in report.workers.values())
        row["worker_items"] = sorted(w.items for w in report.workers.values())
    return {"row": row, "labels": labels}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data")
    parser.add_argument("--items", type=int, default=4000)
    parser.add_argument("--chunk-size", type=int, default=250)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import ray
    import ray.data  # noqa: F401  (imported before the runs: not counted in any of them)

    load_before = os.getloadavg()
    analyzer = build_analyzer()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv_path = write_input(args.data, args.items, folder / "texts.csv")
        local = run("local", 0, csv_path, folder, analyzer, args.chunk_size)
        rows.append(local["row"])
        cores = os.cpu_count() or 1
        ray.init(address="local", num_cpus=max(cores, 2), include_dashboard=False,
                 log_to_driver=False, logging_level="WARNING")
        try:
            for workers in (1, 2):
                result = run("ray", workers, csv_path, folder, analyzer, args.chunk_size)
                same = sum(result["labels"][k] == v for k, v in local["labels"].items())
                result["row"]["same_labels"] = f"{same}/{len(local['labels'])}"
                rows.append(result["row"])
        finally:
            ray.shutdown()
    load_after = os.getloadavg()

    print(f"\n{args.items:,} texts (half GoEmotions test, half SMP2020 usual test), "
          f"chunks of {args.chunk_size}, model {analyzer.model_id}, {os.cpu_count()} cores")
    print(f"{'engine':<10}{'items/s':>9}{'seconds':>9}{'1st batch s':>13}{'same labels':>13}"
          "  worker peak RSS MiB")
    for row in rows:
        name = "local" if row["engine"] == "local" else f"ray x{row['workers']}"
        rss = ", ".join(map(str, row.get("worker_peak_rss_mib", []))) or "-"
        print(f"{name:<10}{row['items_per_s']:>9}{row['seconds']:>9}"
              f"{row['first_batch_s'] or '-':>13}{row.get('same_labels', '-'):>13}  {rss}")
    print(f"driver peak RSS {peak_rss() / 2**20:.0f} MiB; load average (1 min) "
          f"{load_before[0]:.2f} before, {load_after[0]:.2f} after")
    if args.json is not None:
        summary = {
            "items": args.items, "chunk_size": args.chunk_size, "model": analyzer.model_id,
            "cores": os.cpu_count(), "machine": platform.machine(),
            "python": platform.python_version(), "ray": ray.__version__,
            "load_average_1min": {"before": round(load_before[0], 2),
                                  "after": round(load_after[0], 2)},
            "driver_peak_rss_mib": round(peak_rss() / 2**20, 1),
            "results": rows,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        print(f"written to {args.json}")


if __name__ == "__main__":
    main()
