"""Voice emotion on RAVDESS speech, 5 folds by actor: the shipped features beside an MFCC baseline.

    python benchmarks/voice_ravdess.py [--data ../shared/data/ravdess_speech]
                                       [--cache runs/voice] [--speed-clips 100]
                                       [--json benchmarks/results/voice.json]

Prints, in one run: unweighted accuracy (mean per-class recall, 8 classes), weighted accuracy
and macro-F1 with the same fold assignment (fold k holds out actors a with (a - 1) % 5 == k)
for (1) the classical baseline, MFCC-40 means and standard deviations with an RBF SVM, and
(2) emolens' voice features (Whisper-base embedding + acoustic statistics) with logistic
regression, C chosen inside each training split, trained on each clip as recorded and trimmed
to its speech (as the shipped model), scored on full clips and on trimmed clips; then speed for
features + prediction, one clip at a time, of the baseline and of the shipped model. Features
are cached in --cache.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from emolens.audio.voice import load_voice_model

ROOT = Path(__file__).resolve().parent.parent


def load_recipe():
    spec = importlib.util.spec_from_file_location(
        "voice_recipe", ROOT / "recipes/voice_ravdess/train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mfcc_stats(clip: np.ndarray) -> np.ndarray:
    """Baseline features: 40 MFCCs (librosa defaults), mean and standard deviation over time."""
    import librosa

    mfcc = librosa.feature.mfcc(y=clip, sr=16000, n_mfcc=40)
    return np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)])


def baseline_model():
    return make_pipeline(StandardScaler(), SVC(C=10, gamma="scale"))


def baseline_features(files: list[Path], cache: Path) -> np.ndarray:
    path = cache / "baseline-mfcc40.npz"
    names = np.array([str(f) for f in files])
    if path.is_file():
        cached = np.load(path)
        if np.array_equal(cached["files"], names):
            return cached["x"]
    x = np.array([mfcc_stats(sf.read(f, dtype="float32")[0]) for f in files])
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, files=names, x=x)
    return x


def cv_fixed(recipe, x: np.ndarray, y: np.ndarray, actor: np.ndarray) -> dict:
    pred = np.empty_like(y)
    for k in range(recipe.FOLDS):
        test = (actor - 1) % recipe.FOLDS == k
        pred[test] = baseline_model().fit(x[~test], y[~test]).predict(x[test])
    return recipe.scores(y, pred)


def speed(predict, clips: list[np.ndarray]) -> dict:
    """Clips per second and real-time factor, one clip per call, after one warm-up call."""
    predict(clips[0])
    started = time.perf_counter()
    for clip in clips:
        predict(clip)
    elapsed = time.perf_counter() - started
    audio = sum(len(c) for c in clips) / 16000
    return {"clips_per_s": len(clips) / elapsed, "audio_s_per_s": audio / elapsed,
            "mean_clip_s": audio / len(clips)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/ravdess_speech")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs/voice")
    parser.add_argument("--speed-clips", type=int, default=100)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/voice.json")
    args = parser.parse_args()
    recipe = load_recipe()
    files, y, actor, _ = recipe.corpus(args.data)

    report: dict = {"folds": "5 by actor, fold k = actors a with (a-1) % 5 == k", "cv": {}}
    t0 = time.perf_counter()
    report["cv"]["mfcc40-stats + rbf-svm (baseline)"] = cv_fixed(
        recipe, baseline_features(files, args.cache), y, actor)
    x = recipe.views(files, args.data, "base", args.cache)["whisper+acoustic"]
    result = recipe.by_view(recipe.cross_validate(x, np.tile(y, 2), np.tile(actor, 2)), y)
    ours = "emolens voice (whisper-base + acoustic, logreg)"
    report["cv"][ours] = result["full_clips"]
    report["cv"][ours + ", clips trimmed to speech"] = result["trimmed_clips"]
    print(f"== RAVDESS speech, 8 classes, 1,440 clips, 5 folds by actor "
          f"({time.perf_counter() - t0:.0f} s)")
    for name, r in report["cv"].items():
        print(f"{name:>70} | UA {r['unweighted_accuracy']:.3f} | WA {r['weighted_accuracy']:.3f}"
              f" | macro-F1 {r['macro_f1']:.3f}")

    step = max(1, len(files) // args.speed_clips)
    clips = [sf.read(f, dtype="float32")[0] for f in files[::step][: args.speed_clips]]
    threads = int(os.environ.get("EMOLENS_BENCH_THREADS", "1"))
    model = load_voice_model(cpu_threads=threads)
    svm = baseline_model().fit(baseline_features(files, args.cache), y)
    report["speed"] = {
        "clips": len(clips), "cpu_threads": threads,
        "mfcc40-stats + rbf-svm (baseline)": speed(
            lambda c: svm.predict(mfcc_stats(c)[None]), clips),
        "emolens voice (shipped model)": speed(lambda c: model.predict_proba([c]), clips),
    }
    print(f"== speed: features + prediction, one clip per call, {len(clips)} clips "
          f"(mean {report['speed']['emolens voice (shipped model)']['mean_clip_s']:.1f} s), "
          f"{threads} thread(s)")
    for name, s in report["speed"].items():
        if isinstance(s, dict):
            print(f"{name:>70} | {s['clips_per_s']:6.1f} clips/s | "
                  f"{s['audio_s_per_s']:6.1f} s of audio per s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, default=float) + "\n")
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
