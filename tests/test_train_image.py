"""`emolens train image` on real FER2013 crops: with a tiny random-weight CNN (always) and with
the shipped face model (once it is there): train, no-face count, unreadable files, abstention,
reload in a new process with the same predictions, evaluate, analyze image --model."""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import emolens
from emolens.cli import app

FER = Path(__file__).resolve().parents[2] / "shared/data/fer2013/test"
FACE_MODEL = Path(emolens.__file__).parent / "models/face/emolens-model.json"
runner = CliRunner()


def predict_in_new_process(model: Path, files: list[Path]) -> list[list]:
    code = ("import json, sys, emolens;"
            f"rs = emolens.load({str(model)!r}).analyze_files({[str(f) for f in files]!r});"
            "print(json.dumps([[r.label, r.scores] for r in rs]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=300).stdout
    return json.loads(out.strip().splitlines()[-1])


def tiny_face_model(directory: Path) -> Path:
    """A random-weight face-expression ONNX model with 'logits' and 'features' outputs, in the
    shipped model's format: image training tested without the real CNN (transformers-style)."""
    import hashlib

    pytest.importorskip("onnx", reason="building the tiny model needs onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(a.astype(np.float32), name) for name, a in (
        ("conv_w", rng.normal(size=(8, 1, 5, 5)) / 5), ("conv_b", np.zeros(8)),
        ("fc_w", rng.normal(size=(8, 7))), ("fc_b", np.zeros(7)))]
    nodes = [helper.make_node("Conv", ["input", "conv_w", "conv_b"], ["c"], strides=[4, 4]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["p"]),
             helper.make_node("Flatten", ["p"], ["features"]),
             helper.make_node("Gemm", ["features", "fc_w", "fc_b"], ["logits"])]
    graph = helper.make_graph(
        nodes, "tiny-face",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 48, 48])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 7]),
         helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 8])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    directory.mkdir(parents=True)
    data = model.SerializeToString()
    (directory / "model.onnx").write_bytes(data)
    (directory / "emolens-model.json").write_text(json.dumps({
        "type": "face-expression-onnx", "name": "tiny-face", "version": "0",
        "labels": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
        "scheme": "fer2013", "file": "model.onnx", "sha256": hashlib.sha256(data).hexdigest(),
        "input": {"mean": 0.5, "std": 0.25}}))
    return directory


def scene_with_face(path: Path, face: Path) -> Path:
    """A 640x360 picture with one FER2013 face enlarged to 120 px (the detector finds it)."""
    from PIL import Image

    frame = Image.new("RGB", (640, 360), (70, 90, 110))
    frame.paste(Image.open(face).convert("RGB").resize((120, 120)), (260, 100))
    frame.save(path)
    return path


@pytest.fixture(scope="module")
def tiny_image_model(tmp_path_factory):
    """Image training on 36 FER2013 crops (3 labels) with the tiny random-weight CNN."""
    if not FER.is_dir():
        pytest.skip(f"FER2013 test crops not found at {FER}")
    pytest.importorskip("onnxruntime", reason="image training needs the 'video' extra")
    root = tmp_path_factory.mktemp("tiny-image")
    face = tiny_face_model(root / "face")
    for label in ("angry", "happy", "surprise"):
        (root / "data" / label).mkdir(parents=True)
        for path in sorted((FER / label).glob("*.jpg"))[:12]:
            shutil.copy(path, root / "data" / label / path.name)
    (root / "data/happy/empty.jpg").write_bytes(b"")
    result = runner.invoke(app, [
        "train", "image", "--data", str(root / "data"), "--out", str(root / "model"),
        "--face-model", str(face), "--val-split", "0.3", "--abstain-below", "0.9",
        "--name", "tiny-head", "--cache-dir", str(root / "cache")])
    return root, result


def test_image_training_with_a_tiny_cnn(tiny_image_model):
    root, result = tiny_image_model
    assert result.exit_code == 3, result.output  # the empty file
    assert "empty.jpg" in result.output and "empty" in result.output
    meta = json.loads((root / "model/emolens-model.json").read_text())
    assert meta["trained"]["items"] == 36 and meta["scheme"] == "fer2013"
    assert meta["encoder"]["face_model"] == str(root / "face")
    assert meta["validation"]["method"] == "hold-out" and meta["validation"]["n"] > 0
    no_face = meta["trained"]["notes"].get("no_face", 0)
    assert no_face > 0 and f"{no_face} no face" in result.output  # 48x48 crops: used whole
    files = sorted((root / "data/happy").glob("*Test*.jpg"))[:3]
    here = emolens.load(root / "model").analyze_files(files)
    there = predict_in_new_process(root / "model", files)
    for mine, (label, scores) in zip(here, there, strict=True):
        assert mine.label == label and mine.scores == pytest.approx(scores, abs=1e-6)
        assert mine.label == "uncertain"  # a random CNN is never 90 % sure of 3 labels
        assert sum(mine.scores.values()) == pytest.approx(1.0)


def test_analyze_image_with_the_trained_face_head(tiny_image_model, tmp_path):
    root, _ = tiny_image_model
    picture = scene_with_face(tmp_path / "scene.png", next((FER / "happy").glob("*.jpg")))
    result = runner.invoke(app, ["analyze", "image", str(picture), "--model",
                                 str(root / "model"), "--no-ocr", "--no-store", "--json"])
    assert result.exit_code == 0, result.output
    faces = [json.loads(line) for line in result.output.splitlines()
             if line.startswith("{") and '"modality": "face"' in line]
    version = json.loads((root / "model/emolens-model.json").read_text())["version"]
    assert faces and f"face=tiny-head@{version}" in faces[0]["model"]
    assert faces[0]["label"] == "uncertain" and faces[0]["details"]["uncertain"]


def _fer_ready() -> str | None:
    """Why image training cannot be tested here, or None when it can."""
    if not FER.is_dir():
        return f"FER2013 test crops not found at {FER}"
    if not FACE_MODEL.is_file():
        return "the shipped face-expression model (src/emolens/models/face) has not landed yet"
    try:
        from emolens.vision.expression import load_expression_model

        if not load_expression_model("default").has_features:
            return "the shipped face model has no 'features' output (re-export it)"
        from emolens.vision.faces import centerface_model_path

        centerface_model_path()
    except Exception as exc:  # missing extra or model file: say which
        return f"face models cannot load: {exc}"
    return None


@pytest.fixture(scope="module")
def image_model(tmp_path_factory):
    reason = _fer_ready()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("image")
    rows = []
    for label in ("angry", "happy", "surprise"):
        for path in sorted((FER / label).glob("*.jpg"))[:16]:
            rows.append((str(path.relative_to(FER.parent)), label, path.stem[-2:]))
    table = root / "faces.csv"
    shutil.copytree(FER.parent / "test", root / "test", ignore=lambda d, names: [
        n for n in names if (Path(d) / n).is_file() and
        str((Path(d) / n).relative_to(FER.parent)) not in {r[0] for r in rows}])
    rows.append(("test/angry/missing.jpg", "angry", "xx"))
    with table.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "who"])
        writer.writerows(rows)
    result = runner.invoke(app, [
        "train", "image", "--data", str(table), "--out", str(root / "model"),
        "--val-split", "0.25", "--group-col", "who", "--cache-dir", str(root / "cache")])
    return root, result


def test_image_training_round_trip(image_model):
    root, result = image_model
    assert result.exit_code == 3, result.output  # the missing file
    assert "missing.jpg" in result.output and "no such file" in result.output
    meta = json.loads((root / "model/emolens-model.json").read_text())
    assert meta["scheme"] == "fer2013" and meta["trained"]["items"] == 48
    assert "no_face" in meta["trained"]["notes"] or "no face" not in result.output
    files = sorted((root / "test/happy").glob("*.jpg"))[:3]
    here = emolens.load(root / "model").analyze_files(files)
    there = predict_in_new_process(root / "model", files)
    for mine, (label, scores) in zip(here, there, strict=True):
        assert mine.label == label and mine.scores == pytest.approx(scores, abs=1e-6)
    result = runner.invoke(app, ["evaluate", "--model", str(root / "model"), "--data",
                                 str(root / "test"), "--report-dir", str(root / "report"),
                                 "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    assert json.loads((root / "report/report.json").read_text())["meta"]["n"] == 48


def test_face_model_on_own_labels_in_analyze_image(tiny_image_model, tmp_path):
    """An image model on the user's own labels (engaged / bored): faces and people carry them,
    no valence, and the faces stay out of the fusion (a note says so)."""
    root, _ = tiny_image_model
    for own, source in (("engaged", "happy"), ("bored", "angry")):
        (tmp_path / "data" / own).mkdir(parents=True)
        for path in sorted((root / "data" / source).glob("*Test*.jpg")):
            shutil.copy(path, tmp_path / "data" / own / path.name)
    trained = runner.invoke(app, [
        "train", "image", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "model"),
        "--face-model", str(root / "face"), "--val-split", "0.3",
        "--cache-dir", str(root / "cache")])
    assert trained.exit_code == 0, trained.output
    picture = scene_with_face(tmp_path / "scene.png", next((FER / "happy").glob("*.jpg")))
    from emolens.vision.pipeline import VisualAnalyzer

    analyzer = VisualAnalyzer(expression_model=str(tmp_path / "model"), ocr_interval=None)
    timeline = analyzer.analyze_image(picture)
    assert timeline.faces and timeline.people
    for face in timeline.faces:
        assert set(face.scores) == {"engaged", "bored"} and face.valence is None
        assert face.label in {"engaged", "bored"}
    assert set(timeline.people[0].scores) == {"engaged", "bored"}
    assert timeline.fused == []  # faces only, and they are not on canonical labels
    assert any("own labels" in note for note in timeline.summary()["notes"])
    # The CLI: each person's own label in the table, the note under it, own-label columns
    # in --out.
    table = tmp_path / "faces.csv"
    shown = runner.invoke(app, ["analyze", "image", str(picture), "--model",
                                str(tmp_path / "model"), "--no-ocr", "--no-store", "--out",
                                str(table)], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "person 1: " in shown.output and "own labels (bored, engaged)" in shown.output
    with table.open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and float(rows[0]["p_engaged"]) + float(rows[0]["p_bored"]) == pytest.approx(1)
