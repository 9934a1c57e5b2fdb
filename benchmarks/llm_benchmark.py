"""LLM benchmark: macro-F1 of the fast model, the LLM alone and routing, with their token cost.

Given any endpoint (EMOLENS_LLM_BASE_URL, EMOLENS_LLM_MODEL, ... or --base-url/--model), it
scores a seeded random sample of each shared test set (dair-ai emotion, GoEmotions as Ekman
groups, SMP2020-EWECT usual and virus, MELD test) on the canonical labels:

    python benchmarks/llm_benchmark.py --n 200 --json benchmarks/results/llm.json

Routing uses the fast model's top probability (--route-below, default the setting
llm_route_below): routed texts take the LLM's label, the others keep the fast one, so the
routed figures need no extra requests. Tokens are what the answers cost (cached answers keep
their cost), so repeated runs report the same price. An item the LLM could not read counts
as wrong for the LLM alone and keeps its fast label when routed; their number is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
import datasets as ds  # noqa: E402

from emolens.llm.factory import build_llm_recognizer  # noqa: E402
from emolens.llm.outcome import Annotation  # noqa: E402
from emolens.llm.prompts import PROMPT_VERSION  # noqa: E402
from emolens.llm.settings import load_llm_settings  # noqa: E402
from emolens.models import resolve_recognizer  # noqa: E402
from emolens.pipeline import Analyzer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FAILED = "(no answer)"


def test_sets(data: Path, evaluation: Path) -> dict[str, ds.Split]:
    """The shared test splits on canonical labels (as in text_benchmark.py)."""
    return {
        "dair_emotion test": ds.to_canonical_split(ds.dair(data, "test"), "dair_emotion"),
        "goemotions test (ekman)": ds.ekman(ds.goemotions(data, "test")),
        "smp2020 usual test": ds.to_canonical_split(
            ds.smp(data, "usual_test_labeled.json"), "smp2020_ewect"),
        "smp2020 virus test": ds.to_canonical_split(
            ds.smp(data, "virus_test_labeled.json"), "smp2020_ewect"),
        "meld test": ds.meld(evaluation),
    }


def sample(split: ds.Split, n: int, seed: int) -> ds.Split:
    """``n`` items drawn without replacement (all when there are fewer), in file order."""
    rng = np.random.default_rng(seed)
    index = np.sort(rng.choice(len(split.texts), size=min(n, len(split.texts)), replace=False))
    return ds.Split(split.name, [split.texts[i] for i in index], [split.gold[i] for i in index],
                    [split.gold_sets[i] for i in index], split.language)


def macro_f1(predicted: list[str], split: ds.Split) -> float:
    """Macro-F1 over the gold labels present; multi-label gold counts a prediction in its set."""
    gold = [p if p in s else g for p, g, s in zip(predicted, split.gold, split.gold_sets,
                                                  strict=True)]
    present = sorted(set(gold))
    return float(f1_score(gold, predicted, labels=present, average="macro", zero_division=0))


def score_set(split: ds.Split, fast: Analyzer, llm, threshold: float) -> dict:
    """The three configurations on one sample."""
    langs = [split.language] * len(split.texts)
    fast_results = fast.analyze_batch(split.texts, languages=langs)
    fast_pred = [r.label for r in fast_results]
    confidence = np.array([r.confidence for r in fast_results])
    outcomes = llm.annotate(split.texts, langs)
    llm_pred = [o.label if isinstance(o, Annotation) else FAILED for o in outcomes]
    tokens = np.array([o.tokens if isinstance(o, Annotation) else 0 for o in outcomes])
    routed = confidence < threshold
    routed_pred = [lp if r and lp != FAILED else fp
                   for fp, lp, r in zip(fast_pred, llm_pred, routed, strict=True)]
    n = len(split.texts)
    return {
        "n": n,
        "fast_macro_f1": macro_f1(fast_pred, split),
        "llm_macro_f1": macro_f1(llm_pred, split),
        "routed_macro_f1": macro_f1(routed_pred, split),
        "share_routed": float(routed.mean()) if n else 0.0,
        "llm_tokens": int(tokens.sum()),
        "routed_tokens": int(tokens[routed].sum()),
        "llm_failures": llm_pred.count(FAILED),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data")
    parser.add_argument("--eval", type=Path, default=ROOT.parent / "shared/eval")
    parser.add_argument("--n", type=int, default=100, help="items sampled per test set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--route-below", type=float, default=None)
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--model", default=None)
    parser.add_argument("--sets", default=None, help="comma-separated subset of the set names")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    settings = load_llm_settings(llm_base_url=args.base_url, llm_model=args.model,
                                 llm_route_below=args.route_below)
    llm = build_llm_recognizer(settings)
    fast = Analyzer(resolve_recognizer(settings.llm_fast_model))
    threshold = settings.llm_route_below
    sets = test_sets(args.data, args.eval)
    if args.sets:
        wanted = [s.strip() for s in args.sets.split(",")]
        sets = {k: v for k, v in sets.items() if any(w in k for w in wanted)}
    endpoint = settings.llm_base_url or settings.llm_gguf
    print(f"fast: {fast.model_id}; LLM: {llm.version} at {endpoint}; routed below "
          f"{threshold:g}; {args.n} items per set, seed {args.seed}")
    print(f"{'test set':26} {'fast':>6} {'LLM':>6} {'routed':>6} {'routed%':>8} "
          f"{'LLM tok':>9} {'routed tok':>10} {'failed':>6}")
    report = {}
    for name, split in sets.items():
        row = score_set(sample(split, args.n, args.seed), fast, llm, threshold)
        report[name] = row
        print(f"{name:26} {row['fast_macro_f1']:6.3f} {row['llm_macro_f1']:6.3f} "
              f"{row['routed_macro_f1']:6.3f} {row['share_routed']:8.0%} "
              f"{row['llm_tokens']:9,} {row['routed_tokens']:10,} {row['llm_failures']:6}")
    print(llm.stats_.summary())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "fast_model": fast.model_id, "llm": llm.version, "prompt_version": PROMPT_VERSION,
            "endpoint": endpoint, "route_below": threshold,
            "n": args.n, "seed": args.seed, "sets": report, "run": llm.stats_.to_dict(),
        }, indent=2), encoding="utf-8")
    llm.close()


if __name__ == "__main__":
    main()
