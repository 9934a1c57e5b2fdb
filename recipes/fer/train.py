"""Train the shipped facial-expression CNN on FER2013 (48x48 grayscale, 7 classes), on CPU or GPU.

    nohup nice -n 5 python recipes/fer/train.py [--epochs 16] [--depths 1 1 2 2] [--run runs/fer]
        > runs/fer/train.log 2>&1 &
    nohup nice -n 5 python recipes/fer/train.py --resume >> runs/fer/train.log 2>&1 &
    python recipes/fer/train.py --report [--out src/emolens/models/face]
    python recipes/fer/train.py --time-only --subset 2048      # seconds per epoch, no training
    python recipes/fer/train.py --device cuda --epochs 100 --widths 64 128 256 512 --run runs/x

Data (--data, default ../shared/data/fer2013): train.zip is read member by member (never
unpacked) and cached with the test folder as uint8 arrays in <run>/fer2013.npz. PublicTest is the
validation set: the checkpoint kept as best.pt is the epoch with the highest PublicTest accuracy
(flip test-time augmentation). PrivateTest is read only by --report, for the reported number.

Every epoch writes <run>/last.pt (model, optimizer, scheduler, epoch, history, RNG states);
--resume continues from it exactly, with the options stored in it: each epoch reseeds every
RNG from (seed, epoch), so an interrupted and resumed run draws the same batches and
augmentations as an uninterrupted one. The random draws always come from a CPU generator, so a
GPU run sees the same batches and augmentation parameters as a CPU run; its weights still differ
slightly (cuDNN's kernels sum in another order).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import random
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[2]
# FER2013's own class order (0 Angry ... 6 Neutral); the shipped model's output order.
LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
MEAN, STD = 0.5, 0.25  # input = (pixel / 255 - MEAN) / STD
SIZE = 48


# ---------------------------------------------------------------- data
def _decode(data: bytes) -> np.ndarray:
    from PIL import Image

    image = Image.open(io.BytesIO(data)).convert("L")
    if image.size != (SIZE, SIZE):
        image = image.resize((SIZE, SIZE), Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def _read_train(zip_path: Path) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    with zipfile.ZipFile(zip_path) as archive:
        for name in sorted(archive.namelist()):
            parts = name.split("/")
            if len(parts) != 3 or not parts[2].endswith(".jpg"):
                continue
            xs.append(_decode(archive.read(name)))
            ys.append(LABELS.index(parts[1]))
    return np.stack(xs), np.array(ys, dtype=np.int64)


def _read_test(test_dir: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    files = sorted(test_dir.glob(f"*/{prefix}_*.jpg"))
    x = np.stack([_decode(f.read_bytes()) for f in files])
    return x, np.array([LABELS.index(f.parent.name) for f in files], dtype=np.int64)


def load_data(data: Path, run: Path) -> dict[str, np.ndarray]:
    """uint8 images and labels of train / public / private, cached in <run>/fer2013.npz."""
    cache = run / "fer2013.npz"
    if cache.is_file():
        return dict(np.load(cache))
    arrays = {}
    arrays["x_train"], arrays["y_train"] = _read_train(data / "train.zip")
    for split, prefix in (("public", "PublicTest"), ("private", "PrivateTest")):
        arrays[f"x_{split}"], arrays[f"y_{split}"] = _read_test(data / "test", prefix)
    sizes = {k: len(v) for k, v in arrays.items() if k.startswith("x_")}
    if sizes != {"x_train": 28709, "x_public": 3589, "x_private": 3589}:
        sys.exit(f"unexpected FER2013 split sizes under {data}: {sizes}")
    run.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **arrays)
    return arrays


def normalise(x_uint8: torch.Tensor) -> torch.Tensor:
    """(N,48,48) uint8 -> (N,1,48,48) float32, as the exported model expects."""
    return (x_uint8.float().unsqueeze(1) / 255.0 - MEAN) / STD


def augment(x: torch.Tensor, gen: torch.Generator, args: argparse.Namespace) -> torch.Tensor:
    """Batched random flip, rotation, scale, shift, contrast/brightness, then random erasing.

    x: (N,1,48,48) float in [0,1] on any device; geometry by one affine grid_sample (zeros
    outside = black). The parameters are drawn on the CPU generator, then moved to x's device.
    """
    n, device = x.shape[0], x.device
    u = lambda lo, hi: (lo + (hi - lo) * torch.rand(n, generator=gen)).to(device)  # noqa: E731
    angle = u(-args.rotate, args.rotate) * math.pi / 180
    scale = u(1 - args.scale, 1 + args.scale)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0).to(device)
    shift = 2 * args.shift / SIZE
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([
        torch.stack([cos * flip, -sin, u(-shift, shift)], 1),
        torch.stack([sin * flip, cos, u(-shift, shift)], 1),
    ], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    x = x * u(0.8, 1.2).view(n, 1, 1, 1) + u(-0.1, 0.1).view(n, 1, 1, 1)
    x = _low_resolution(x.clamp(0, 1), gen, args)
    return _erase(x, gen, args.erase)


def degrade(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N,1,48,48) images as a face ``size`` pixels wide reaches the model: shrunk to
    size x size (antialiased) and enlarged back to 48 (bilinear), as ``to_gray48`` does."""
    small = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                          align_corners=False)
    return F.interpolate(small, size=(SIZE, SIZE), mode="bilinear", align_corners=False)


def _low_resolution(x: torch.Tensor, gen: torch.Generator, args: argparse.Namespace
                    ) -> torch.Tensor:
    """With probability ``args.lowres``, an image becomes a face ``lowres_min``-``lowres_max``
    pixels wide (see ``degrade``): FER2013's crops are all 48 px, the faces in a video
    often far smaller."""
    if args.lowres <= 0:
        return x
    n = x.shape[0]
    chosen = torch.rand(n, generator=gen) < args.lowres
    sizes = torch.randint(args.lowres_min, args.lowres_max + 1, (n,), generator=gen)
    x = x.clone()
    for size in sizes[chosen].unique().tolist():
        rows = torch.nonzero(chosen & (sizes == size)).flatten().to(x.device)
        x[rows] = degrade(x[rows], size).clamp(0, 1)
    return x


def _erase(x: torch.Tensor, gen: torch.Generator, p: float) -> torch.Tensor:
    """Random erasing: with probability p, one rectangle (2-20 % of the area) set to grey."""
    n, device = x.shape[0], x.device
    area = (0.02 + 0.18 * torch.rand(n, generator=gen)) * SIZE * SIZE
    ratio = torch.exp(torch.empty(n).uniform_(math.log(0.3), math.log(3.3), generator=gen))
    h = (area * ratio).sqrt().clamp(1, SIZE).long()
    w = (area / ratio).sqrt().clamp(1, SIZE).long()
    top = (torch.rand(n, generator=gen) * (SIZE - h + 1)).long()
    left = (torch.rand(n, generator=gen) * (SIZE - w + 1)).long()
    chosen = torch.rand(n, generator=gen) < p
    top, left, h, w, chosen = (t.to(device) for t in (top, left, h, w, chosen))
    rows = torch.arange(SIZE, device=device).view(1, SIZE, 1)
    cols = torch.arange(SIZE, device=device).view(1, 1, SIZE)
    box = ((rows >= top.view(n, 1, 1)) & (rows < (top + h).view(n, 1, 1))
           & (cols >= left.view(n, 1, 1)) & (cols < (left + w).view(n, 1, 1)))
    box &= chosen.view(n, 1, 1)
    return torch.where(box.unsqueeze(1), torch.full_like(x, MEAN), x)


# ---------------------------------------------------------------- model
class ExpressionCNN(nn.Module):
    """VGG-style: stages of (3x3 conv, BN, ReLU) x n + 2x2 max-pool, global average, linear."""

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128, 256),
                 depths: tuple[int, ...] = (2, 2, 2, 2), dropout: float = 0.3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 1
        for width, depth in zip(widths, depths, strict=True):
            for _ in range(depth):
                layers += [nn.Conv2d(cin, width, 3, padding=1, bias=False),
                           nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
                cin = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, len(LABELS)))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The globally pooled last-stage features, (N, widths[-1])."""
        return torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))

    def logits_and_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.embed(x)
        return self.head(features), features


class FlipAveraged(nn.Module):
    """The exported graph: mean of the logits, and of the pooled features, of the image and of
    its mirror image. The features let `emolens train image` fit light heads on the frozen net."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, features = self.net.logits_and_features(x)
        flipped, flipped_features = self.net.logits_and_features(torch.flip(x, dims=[3]))
        return (logits + flipped) / 2, (features + flipped_features) / 2


def build_model(args: argparse.Namespace) -> ExpressionCNN:
    return ExpressionCNN(tuple(args.widths), tuple(args.depths), args.dropout)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on BatchNorm and bias parameters."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0}]


# ---------------------------------------------------------------- training
def degraded_uint8(x_uint8: np.ndarray, size: int) -> np.ndarray:
    """uint8 (N,48,48) images through ``degrade``, rounded back to uint8 as at inference."""
    x = torch.from_numpy(x_uint8).float().unsqueeze(1)
    return degrade(x, size).squeeze(1).round().clamp(0, 255).to(torch.uint8).numpy()


@torch.no_grad()
def predict_logits(model: nn.Module, x_uint8: np.ndarray, flip: bool = True,
                   batch: int = 512) -> np.ndarray:
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(x_uint8), batch):
        x = normalise(torch.from_numpy(x_uint8[i:i + batch]).to(device)).contiguous(
            memory_format=torch.channels_last)
        logits = model(x)
        if flip:
            logits = (logits + model(torch.flip(x, dims=[3]))) / 2
        out.append(logits.float().cpu().numpy())
    return np.concatenate(out)


def seed_all(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def train_epoch(model, opt, sched, x_train, y_train, epoch, args) -> dict:
    gen = seed_all(args.seed * 1000 + epoch)
    model.train()
    device = torch.device(args.device)
    order = torch.randperm(len(x_train), generator=gen)
    steps = len(order) // args.batch_size  # drop the last partial batch (BatchNorm stability)
    # Summed on the device: a .item() per step would wait for the GPU at every step.
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    seen = 0
    for step in range(steps):
        idx = order[step * args.batch_size:(step + 1) * args.batch_size].numpy()
        x = torch.from_numpy(x_train[idx]).to(device).float().unsqueeze(1) / 255.0
        x = ((augment(x, gen, args) - MEAN) / STD).contiguous(memory_format=torch.channels_last)
        y = torch.from_numpy(y_train[idx]).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=args.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        total_loss += loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
        seen += len(y)
    return {"train_loss": total_loss.item() / seen, "train_acc": correct.item() / seen}


def public_scores(model: nn.Module, data: dict[str, np.ndarray], args: argparse.Namespace
                  ) -> dict[str, float]:
    """PublicTest accuracy with and without flip averaging and, with --eval-size, of the
    same faces at that width (``degrade``); ``public_acc_mixed`` is the mean of the two."""
    y = data["y_public"]

    def acc(x: np.ndarray, flip: bool = True) -> float:
        return float((predict_logits(model, x, flip=flip).argmax(1) == y).mean())

    found = {"public_acc": acc(data["x_public"]),
             "public_acc_noflip": acc(data["x_public"], flip=False)}
    if args.eval_size:
        found["public_acc_small"] = acc(degraded_uint8(data["x_public"], args.eval_size))
        found["public_acc_mixed"] = (found["public_acc"] + found["public_acc_small"]) / 2
    return found


def save_atomic(obj: dict, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def init_from_onnx(model: ExpressionCNN, path: Path, x_uint8: np.ndarray) -> None:
    """Start from a shipped model.onnx (exported by --report): its convolutions have their
    BatchNorm folded in. Each conv takes the folded weights, and its BatchNorm is set to pass
    the conv's output through plus the folded bias, given the activation statistics of
    ``x_uint8``: so the network computes what the ONNX graph does, in eval and (on batches
    like those images) train mode alike, and fine-tuning starts from the shipped model."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    cast_from = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Cast"}

    def value(name: str) -> torch.Tensor:
        return torch.from_numpy(arrays[cast_from.get(name, name)].astype(np.float32))

    # (weight, bias) of each conv. The graph runs the net twice (image, mirror image), each
    # pass with its own copy of the weights: the first pass's convs come first.
    folded = [(n.input[1], n.input[2]) for n in graph.node if n.op_type == "Conv"]
    modules = list(model.features)
    convs = [i for i, m in enumerate(modules) if isinstance(m, nn.Conv2d)]
    if len(folded) not in (len(convs), 2 * len(convs)):
        sys.exit(f"{path}: {len(folded)} convolutions, the network has {len(convs)} "
                 "(pass the --widths/--depths it was trained with)")
    with torch.no_grad():
        x = normalise(torch.from_numpy(x_uint8))
        for i, module in enumerate(modules):
            if i in convs:
                weight, bias = folded[convs.index(i)]
                module.weight.copy_(value(weight))
                y = module(x)
                bn = modules[i + 1]
                mean, var = y.mean((0, 2, 3)), y.var((0, 2, 3), unbiased=False)
                bn.running_mean.copy_(mean)
                bn.running_var.copy_(var)
                bn.weight.copy_((var + bn.eps).sqrt())
                bn.bias.copy_(mean + value(bias))
            elif not isinstance(module, nn.BatchNorm2d):
                y = module(x)
            else:
                y = module.eval()(x)
            x = y
        model.head[2].weight.copy_(value("net.head.2.weight"))
        model.head[2].bias.copy_(value("net.head.2.bias"))


def make_training(args: argparse.Namespace, steps_per_epoch: int,
                  x_init: np.ndarray | None = None):
    """Model, optimizer and schedule; with ``x_init`` (images for its activation statistics),
    the model starts from --init-onnx's weights (a fresh run, not a resumed one)."""
    seed_all(args.seed)  # the initial weights
    model = build_model(args)
    if args.init_onnx and x_init is not None:
        init_from_onnx(model, Path(args.init_onnx), x_init)
    model = model.to(args.device, memory_format=torch.channels_last)
    opt = torch.optim.SGD(param_groups(model, args.weight_decay), lr=args.lr, momentum=0.9,
                          nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=steps_per_epoch,
        pct_start=args.warmup, div_factor=20, final_div_factor=200)
    return model, opt, sched


def resume_config(args: argparse.Namespace) -> None:
    """With --resume, the training options of the run in <run>/last.pt replace the command's."""
    last = Path(args.run) / "last.pt"
    if not (args.resume and last.is_file()):
        return
    stored = torch.load(last, weights_only=False, map_location="cpu")["config"]
    stored = {**config_of(args), "amp": False, **stored}  # runs from before --amp had none
    changed = {k: (v, stored[k]) for k, v in config_of(args).items() if stored[k] != v}
    if changed:
        print(f"--resume: using the run's own options, not {changed}", flush=True)
    vars(args).update(stored)


def train(args: argparse.Namespace) -> None:
    resume_config(args)
    run = Path(args.run)
    data = load_data(Path(args.data), run)
    x_train, y_train = data["x_train"], data["y_train"]
    if args.subset:
        step = len(x_train) // args.subset
        x_train, y_train = x_train[::step], y_train[::step]
    last = run / "last.pt"
    resuming = args.resume and last.is_file()
    model, opt, sched = make_training(args, len(x_train) // args.batch_size,
                                      None if resuming else x_train[:4096])
    history, start, best = [], 0, -1.0
    if args.init_onnx and not resuming:
        print(json.dumps({"epoch": -1, "init": args.init_onnx,
                          **public_scores(model, data, args)}), flush=True)
    if resuming:
        state = torch.load(last, weights_only=False, map_location=args.device)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        history, start = state["history"], state["epoch"] + 1
        best = max((h[args.select] for h in history), default=-1.0)
        print(f"resumed from {last} after epoch {state['epoch']}", flush=True)
    print(f"params {sum(p.numel() for p in model.parameters()):,}; "
          f"train {len(x_train)}; threads {torch.get_num_threads()}; device {args.device}",
          flush=True)
    stop = args.epochs if not args.stop_after else min(args.epochs, start + args.stop_after)
    for epoch in range(start, stop):
        t0 = time.time()
        stats = train_epoch(model, opt, sched, x_train, y_train, epoch, args)
        t_train = time.time() - t0
        if args.time_only:
            print(f"epoch time {t_train:.1f} s for {len(x_train)} images", flush=True)
            return
        stats.update(epoch=epoch, lr=sched.get_last_lr()[0], train_s=round(t_train, 1),
                     **public_scores(model, data, args))
        history.append(stats)
        state = {"model": model.state_dict(), "optimizer": opt.state_dict(),
                 "scheduler": sched.state_dict(), "epoch": epoch, "history": history,
                 "config": config_of(args), "rng": {"torch": torch.get_rng_state(),
                                                    "numpy": np.random.get_state(),
                                                    "python": random.getstate()}}
        if stats[args.select] > best:
            best = stats[args.select]
            save_atomic(state, run / "best.pt")
        save_atomic(state, last)
        (run / "history.json").write_text(json.dumps(history, indent=1))
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                          for k, v in stats.items()}), flush=True)
    print("done" if stop == args.epochs else f"stopped after epoch {stop - 1}", flush=True)


def config_of(args: argparse.Namespace) -> dict:
    keys = ("epochs", "batch_size", "lr", "weight_decay", "warmup", "label_smoothing",
            "widths", "depths", "dropout", "rotate", "scale", "shift", "erase", "seed", "subset",
            "amp", "lowres", "lowres_min", "lowres_max", "init_onnx", "eval_size", "select")
    return {k: getattr(args, k) for k in keys}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared/data/fer2013"))
    p.add_argument("--run", default=str(ROOT / "runs/fer"))
    p.add_argument("--resume", action="store_true")
    p.add_argument("--report", action="store_true", help="evaluate best.pt, export ONNX")
    p.add_argument("--out", default=None, help="with --report: also write the model dir here")
    p.add_argument("--members", nargs="*", default=[],
                   help="with --report: other run folders to ensemble with --run")
    p.add_argument("--version", default="0.1.0")
    p.add_argument("--results", default=str(Path(__file__).resolve().parent / "results"),
                   help="with --report: where report.json, history.json and train.log go")
    p.add_argument("--time-only", action="store_true")
    p.add_argument("--stop-after", type=int, default=0, help="stop after this many epochs")
    p.add_argument("--subset", type=int, default=0, help="train on about this many images")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="torch device for training: cpu, cuda, cuda:1")
    p.add_argument("--amp", action="store_true",
                   help="bfloat16 autocast for the forward pass (fast on recent GPUs)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--warmup", type=float, default=0.15, help="fraction of steps rising")
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--widths", type=int, nargs="+", default=[32, 64, 128, 256])
    p.add_argument("--depths", type=int, nargs="+", default=[2, 2, 2, 2])
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--rotate", type=float, default=12.0, help="degrees, +-")
    p.add_argument("--scale", type=float, default=0.1, help="+- fraction")
    p.add_argument("--shift", type=float, default=4.0, help="pixels, +-")
    p.add_argument("--erase", type=float, default=0.5, help="random-erasing probability")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lowres", type=float, default=0.0,
                   help="probability that a training face is shrunk to a random width in\n"
                        "--lowres-min..--lowres-max pixels and enlarged back (small faces)")
    p.add_argument("--lowres-min", type=int, default=12)
    p.add_argument("--lowres-max", type=int, default=40)
    p.add_argument("--init-onnx", default=None,
                   help="start from this model.onnx's weights (e.g. the shipped one)")
    p.add_argument("--eval-size", type=int, default=0,
                   help="also score PublicTest with its faces shrunk to this width")
    p.add_argument("--select", default="public_acc",
                   choices=("public_acc", "public_acc_small", "public_acc_mixed"),
                   help="the PublicTest score that picks best.pt")
    args = p.parse_args(argv)
    if args.select != "public_acc" and not args.eval_size:
        p.error(f"--select {args.select} needs --eval-size")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True  # fixed 48x48 shapes: pick the fastest kernels once
    if args.report:
        from report import report  # recipes/fer/report.py

        report(args)
    else:
        print(json.dumps({"config": config_of(args), "python": platform.python_version(),
                          "torch": torch.__version__}), flush=True)
        train(args)


if __name__ == "__main__":
    main()
