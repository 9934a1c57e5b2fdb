"""LLM benchmark: the fast model, the LLM alone and routing, side by side, with their cost.

Point it at any endpoint with the usual settings (EMOLENS_LLM_BASE_URL, EMOLENS_LLM_MODEL,
EMOLENS_LLM_API_KEY, or EMOLENS_LLM_GGUF for a local file; --base-url, --model and --gguf
override them). On a seeded random sample of each shared test set (dair-ai emotion,
GoEmotions as Ekman groups, SMP2020-EWECT usual and virus, MELD test) it prints, on the
canonical labels, accuracy and macro-F1 of the fast model alone, the LLM alone and routing,
with the share routed, the tokens each costs and the items per second:

    python benchmarks/llm_benchmark.py --n 200 --sets dair,usual --json benchmarks/results/llm.json

Routing: the fast model reads every text; texts whose top probability is below --route-below
(default: the setting llm_route_below) take the LLM's label, the others keep the fast one.
The LLM is asked about the routed texts first and then about the rest, each batch timed, so
one pass gives every figure: LLM alone = both batches, routed = the fast model plus the
first batch. Tokens are what the answers cost (cached answers keep their cost); items/s count
cached answers as instant, so measure speed with --no-cache. An item the LLM could not read
counts as wrong for the LLM alone and keeps its fast label when routed; their number is
printed. Without a configured endpoint it says so and exits 0 (nothing to measure).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
import datasets as ds  # noqa: E402

from emolens.llm.factory import build_llm_recognizer, describe_endpoint  # noqa: E402
from emolens.llm.outcome import Annotation  # noqa: E402
from emolens.llm.prompts import PROMPT_VERSION  # noqa: E402
from emolens.llm.settings import load_llm_settings  # noqa: E402
from emolens.models import resolve_recognizer  # noqa: E402
from emolens.pipeline import Analyzer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FAILED = "(no answer)"
CONFIGS = ("fast", "llm", "routed")


def test_sets(data: Path, evaluation: Path) -> dict[str, Callable[[], ds.Split]]:
    """The shared test splits on canonical labels (as in text_benchmark.py), read when used."""
    return {
        "dair_emotion test": lambda: ds.to_canonical_split(ds.dair(data, "test"),
                                                           "dair_emotion"),
        "goemotions test (ekman)": lambda: ds.ekman(ds.goemotions(data, "test")),
        "smp2020 usual test": lambda: ds.to_canonical_split(
            ds.smp(data, "usual_test_labeled.json"), "smp2020_ewect"),
        "smp2020 virus test": lambda: ds.to_canonical_split(
            ds.smp(data, "virus_test_labeled.json"), "smp2020_ewect"),
        "meld test": lambda: ds.meld(evaluation),
    }


def sample(split: ds.Split, n: int, seed: int) -> ds.Split:
    """``n`` items drawn without replacement (all when there are fewer), in file order."""
    rng = np.random.default_rng(seed)
    index = np.sort(rng.choice(len(split.texts), size=min(n, len(split.texts)), replace=False))
    return ds.Split(split.name, [split.texts[i] for i in index], [split.gold[i] for i in index],
                    [split.gold_sets[i] for i in index], split.language)


def scores(predicted: list[str], split: ds.Split) -> tuple[float, float]:
    """Accuracy and macro-F1 over the gold labels present; a prediction in a multi-label gold
    set counts as right."""
    gold = [p if p in s else g for p, g, s in zip(predicted, split.gold, split.gold_sets,
                                                  strict=True)]
    accuracy = float(np.mean([p == g for p, g in zip(predicted, gold, strict=True)]))
    present = sorted(set(gold))
    return accuracy, float(f1_score(gold, predicted, labels=present, average="macro",
                                    zero_division=0))


def _timed_annotate(llm, texts: list[str], langs: list[str]) -> tuple[list, float]:
    started = time.perf_counter()
    outcomes = llm.annotate(texts, langs) if texts else []
    return outcomes, time.perf_counter() - started


def score_set(split: ds.Split, fast: Analyzer, llm, threshold: float) -> dict:
    """The three configurations on one sample: accuracy, macro-F1, tokens, items/s."""
    n = len(split.texts)
    langs = [split.language] * n
    started = time.perf_counter()
    fast_results = fast.analyze_batch(split.texts, languages=langs)
    fast_seconds = time.perf_counter() - started
    fast_pred = [r.label for r in fast_results]
    routed = np.array([r.confidence for r in fast_results]) < threshold
    order = [np.flatnonzero(routed), np.flatnonzero(~routed)]
    outcomes: list = [None] * n
    seconds = []
    for index in order:  # the routed texts first: that batch is what routing costs
        got, spent = _timed_annotate(llm, [split.texts[i] for i in index],
                                     [langs[i] for i in index])
        for i, outcome in zip(index, got, strict=True):
            outcomes[i] = outcome
        seconds.append(spent)
    llm_pred = [o.label if isinstance(o, Annotation) else FAILED for o in outcomes]
    tokens = np.array([o.tokens if isinstance(o, Annotation) else 0 for o in outcomes])
    routed_pred = [lp if r and lp != FAILED else fp
                   for fp, lp, r in zip(fast_pred, llm_pred, routed, strict=True)]
    row: dict = {"n": n, "share_routed": float(routed.mean()) if n else 0.0,
                 "llm_failures": llm_pred.count(FAILED)}
    spent = {"fast": fast_seconds, "llm": sum(seconds), "routed": fast_seconds + seconds[0]}
    cost = {"fast": 0, "llm": int(tokens.sum()), "routed": int(tokens[routed].sum())}
    for name, predicted in zip(CONFIGS, (fast_pred, llm_pred, routed_pred), strict=True):
        row[f"{name}_accuracy"], row[f"{name}_macro_f1"] = scores(predicted, split)
        row[f"{name}_tokens"] = cost[name]
        row[f"{name}_items_per_s"] = n / spent[name] if spent[name] > 0 else None
    return row


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def print_row(name: str, row: dict) -> None:
    """One line per configuration of one test set."""
    for config in CONFIGS:
        share = f"{row['share_routed']:.0%}" if config == "routed" else ""
        failed = str(row["llm_failures"]) if config == "llm" else ""
        print(f"{name if config == 'fast' else '':26} {config:7} "
              f"{row[f'{config}_accuracy']:6.3f} {row[f'{config}_macro_f1']:6.3f} "
              f"{share:>7} {row[f'{config}_tokens']:>10,} "
              f"{_rate(row[f'{config}_items_per_s']):>10} {failed:>6}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data")
    parser.add_argument("--eval", type=Path, default=ROOT.parent / "shared/eval")
    parser.add_argument("--n", type=int, default=100, help="items sampled per test set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--route-below", type=float, default=None)
    parser.add_argument("--fast-model", default=None, help="default: llm_fast_model")
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--model", default=None)
    parser.add_argument("--gguf", default=None, help="a .gguf file or package:NAME")
    parser.add_argument("--no-cache", action="store_true", help="ask for every answer")
    parser.add_argument("--sets", default=None, help="comma-separated parts of set names, "
                        "e.g. dair,usual (default: all)")
    parser.add_argument("--json", type=Path, default=None)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    settings = load_llm_settings(
        llm_base_url=args.base_url, llm_model=args.model, llm_gguf=args.gguf,
        llm_route_below=args.route_below, llm_fast_model=args.fast_model,
        llm_cache=False if args.no_cache else None)
    if not settings.configured():
        print("No LLM endpoint is configured (EMOLENS_LLM_BASE_URL and EMOLENS_LLM_MODEL, or "
              "EMOLENS_LLM_GGUF; or --base-url and --model, or --gguf): nothing to measure.")
        return
    llm = build_llm_recognizer(settings)
    fast = Analyzer(resolve_recognizer(settings.llm_fast_model))
    fast.analyze_batch(["warm-up: load the encoders before timing"], languages=["en"])
    threshold = settings.llm_route_below
    sets = test_sets(args.data, args.eval)
    if args.sets:
        wanted = [s.strip() for s in args.sets.split(",")]
        sets = {k: v for k, v in sets.items() if any(w in k for w in wanted)}
    endpoint = describe_endpoint(settings)
    print(f"fast: {fast.model_id}; LLM: {llm.version} at {endpoint}; routed below "
          f"{threshold:g}; {args.n} items per set, seed {args.seed}; answer cache "
          f"{'on' if settings.llm_cache else 'off'}")
    print(f"{'test set':26} {'config':7} {'acc':>6} {'mF1':>6} {'routed':>7} {'tokens':>10} "
          f"{'items/s':>10} {'failed':>6}")
    report = {}
    try:
        for name, read in sets.items():
            report[name] = row = score_set(sample(read(), args.n, args.seed), fast, llm,
                                           threshold)
            print_row(name, row)
        print(llm.stats_.summary())
        if llm.stats_.cache_hits:
            print(f"note: {llm.stats_.cache_hits} answers came from the cache; items/s count "
                  "them as instant (--no-cache to time every request)")
    finally:
        llm.close()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "fast_model": fast.model_id, "llm": llm.version, "prompt_version": PROMPT_VERSION,
            "endpoint": endpoint, "route_below": threshold, "cache": settings.llm_cache,
            "n": args.n, "seed": args.seed, "sets": report, "run": llm.stats_.to_dict(),
        }, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
