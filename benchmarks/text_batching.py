"""Throughput of the default text model with encoder batches of similar length, against the
fixed batches of 64 it had before, in the same run.

    python benchmarks/text_batching.py [--data ../shared/data] [--repeats 5] [--n 2000]

The texts are the text benchmark's speed set: GoEmotions and SMP2020-EWECT usual test texts,
alternating, 2,000 in all. Each configuration analyses them through ``emolens.load`` (the
public API, with language detection and result objects) at the given Analyzer batch sizes;
the configurations take turns ``--repeats`` times, so that a busy neighbour slows each of them
alike, and the median rate is printed with its ratio to the baseline. Last, how many top labels
differ between the two batchings (the int8 English graph quantizes activations per batch).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import datasets as ds  # noqa: E402

from emolens.labels import CANONICAL  # noqa: E402
from emolens.pipeline import build_analyzer  # noqa: E402
from emolens.text.minilm import LENGTH_SLACK, MiniLMRecognizer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def speed_set(data: Path, n: int) -> list[str]:
    english = ds.goemotions(data, "test").texts
    chinese = ds.smp(data, "usual_test_labeled.json").texts
    return [t for pair in zip(english, chinese, strict=False) for t in pair][:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--slack", type=float, default=LENGTH_SLACK,
                        help="the length slack to compare with fixed batches")
    parser.add_argument("--batch-sizes", default="256,2048",
                        help="Analyzer batch sizes (256 was the settings default, 2048 is)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    texts = speed_set(args.data, args.n)
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    analyzers = {size: build_analyzer("default", batch_size=size) for size in sizes}
    slacks = {"fixed batches of 64 (baseline)": None,
              f"similar lengths (slack {args.slack})": args.slack}
    rates: dict[tuple[str, int], list[float]] = {(k, s): [] for k in slacks for s in sizes}
    scores: dict[str, np.ndarray] = {}
    for analyzer in analyzers.values():
        analyzer.analyze_batch(texts[:50])  # loads the encoders and their graphs
    for _ in range(args.repeats):
        for name, slack in slacks.items():
            # Every MiniLM/E5 encoder inside the cascades reads the class attribute.
            MiniLMRecognizer.length_slack = slack
            for size, analyzer in analyzers.items():
                started = time.perf_counter()
                results = analyzer.analyze_batch(texts)
                rates[(name, size)].append(len(texts) / (time.perf_counter() - started))
                if size == sizes[0]:
                    scores[name] = np.array([[r.scores[c] for c in CANONICAL] for r in results])
    baseline = statistics.median(rates[(next(iter(slacks)), sizes[0])])
    print(f"{len(texts)} mixed en/zh texts, emolens.load('default').analyze_batch, "
          f"median of {args.repeats}")
    for (name, size), values in rates.items():
        median = statistics.median(values)
        print(f"  {name:<34} Analyzer batch {size:>5}: {median:6.0f} texts/s "
              f"({median / baseline:4.2f}x baseline; min {min(values):.0f}, max {max(values):.0f})")
    a, b = scores.values()
    differs, mean_diff = float(np.mean(a.argmax(1) != b.argmax(1))), float(np.abs(a - b).mean())
    print(f"top label differs on {differs:.1%} of texts; mean |p - p_baseline| {mean_diff:.4f}")
    if args.json:
        args.json.write_text(json.dumps({
            "texts": len(texts), "repeats": args.repeats, "machine": platform.machine(),
            "cores": os.cpu_count(),
            "texts_per_s_median": {f"{name} | Analyzer batch {size}": round(
                statistics.median(values), 1) for (name, size), values in rates.items()},
            "top_label_differs": round(differs, 4), "mean_abs_diff": round(mean_diff, 5),
        }, indent=1) + "\n")
        print(f"written {args.json}")


if __name__ == "__main__":
    main()
