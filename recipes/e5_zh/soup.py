"""Average e5-zh models trained with different seeds into one model ("soup"): same size class,
same speed, no second encoder pass at inference.

All runs start from the same frozen base, so each one's change is its merged LoRA delta
``scale * B @ A``. The soup's delta is their mean, written exactly as one adapter of rank
16 x n (the factors side by side, each scaled by 1/sqrt(n)), or cut back to ``--rank`` by an
SVD of each mean delta. LayerNorms and the head are averaged. The softmax temperature is fitted
again on the dev posts the runs were selected on (never test).

    python recipes/e5_zh/soup.py --models runs/e5_zh/export runs/e5_zh_s1/export \\
        --out src/emolens/models/e5_zh --version 0.3.0
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "recipes" / "encoder_lora"))


def soup_arrays(adapters: list[dict[str, np.ndarray]], rank: int | None) -> dict:
    """The mean of the models: LoRA deltas side by side (or SVD-cut to ``rank``), the rest
    averaged."""
    n = len(adapters)
    out: dict[str, np.ndarray] = {}
    for key in adapters[0]:
        if key.endswith(".lora_b"):
            continue
        if not key.endswith(".lora_a"):
            out[key] = np.mean([a[key].astype(np.float32) for a in adapters], 0)
            continue
        stem = key.removesuffix(".lora_a")
        a = np.concatenate([m[key].astype(np.float32) for m in adapters], 0) / np.sqrt(n)
        b = np.concatenate([m[stem + ".lora_b"].astype(np.float32) for m in adapters], 1) \
            / np.sqrt(n)
        if rank is not None and rank < a.shape[0]:
            u, s, vt = np.linalg.svd(b @ a, full_matrices=False)
            root = np.sqrt(s[:rank])
            b, a = u[:, :rank] * root, root[:, None] * vt[:rank]
        out[key], out[stem + ".lora_b"] = a, b
    return {k: v.astype(np.float16 if ".lora_" in k else np.float32) for k, v in out.items()}


def dev_log_probs(model_dir: Path, texts: list[str]) -> np.ndarray:
    from emolens.text.e5 import E5Recognizer

    probs = E5Recognizer.load(model_dir).predict_proba(texts, ["zh"] * len(texts))
    return np.log(np.clip(probs, 1e-12, None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=Path, nargs="+", required=True,
                        help="exported e5-zh model folders (train.py --export-only)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--rank", type=int, default=None,
                        help="cut the mean deltas to this rank (default: keep them exact)")
    parser.add_argument("--config", type=Path, default=ROOT / "recipes/e5_zh/config.json")
    args = parser.parse_args()
    from train import dev_metrics, fit_temperature, load_split  # recipes/encoder_lora

    metas = [json.loads((d / "emolens-model.json").read_text()) for d in args.models]
    adapters = [dict(np.load(d / "adapter.npz")) for d in args.models]
    arrays = soup_arrays(adapters, args.rank)
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out / "adapter.npz", **arrays)
    rank = next(v.shape[0] for k, v in arrays.items() if k.endswith(".lora_a"))
    meta = {**metas[0], "version": args.version, "lora_r": rank, "temperature": 1.0}
    (args.out / "emolens-model.json").write_text(json.dumps(meta, indent=2) + "\n")

    cfg = json.loads(args.config.read_text())
    texts, target, _ = load_split(cfg, "dev")
    log_probs = dev_log_probs(args.out, texts)  # at temperature 1: logits up to a constant
    temperature = fit_temperature(log_probs, target)
    meta["temperature"] = round(temperature, 4)
    meta["trained"] = {
        "soup_of": [{"version": m["version"], "step": m["trained"]["step"],
                     "adapter_sha256": hashlib.sha256((d / "adapter.npz").read_bytes())
                     .hexdigest()} for m, d in zip(metas, args.models, strict=True)],
        "rank": rank,
        "dev": dev_metrics(log_probs, target),
        "dev_calibrated": dev_metrics(log_probs, target, temperature),
    }
    (args.out / "emolens-model.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta["trained"], indent=1))


if __name__ == "__main__":
    main()
