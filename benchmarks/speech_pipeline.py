"""Real-time factor and peak memory of the whole speech pipeline, beside plain Whisper.

    python benchmarks/speech_pipeline.py [--minutes 30] [--asr-model base] [--out FILE]

Builds a long English recording, with pauses of 0.3 to 2.5 s between utterances: RAVDESS
utterances from all 24 actors (human, acted, but only two different sentences) alternating
with 120 different dair_emotion test sentences spoken by espeak-ng (varied voices and
speeds; needs Debian's espeak-ng and ffmpeg). Only RAVDESS would be unrealistically
repetitive: packed into one Whisper window, the same sentence ten times trips Whisper's
compression-ratio check and its temperature fallback re-decodes every window (7x slower).
Then it runs, each in its own process so peak memory is its own:
- emolens: decode + VAD + Whisper ASR + voice emotion + text emotion + fusion, per segment;
- baseline: faster-whisper's own ``transcribe(vad_filter=True)`` on the same file (ASR only,
  no emotion), the cheapest thing a user could run instead.
Prints real-time factor (processing seconds per audio second) and peak RSS for both, and
their ratio. Targets (issue 3): RTF <= 0.3 and peak memory <= 1.5 GB on a 30-minute file.
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
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "speech.json"
RATE = 16_000


def spoken_sentences(data: Path, cache: Path, n: int = 120) -> list[Path]:
    """``n`` different dair_emotion test sentences spoken by espeak-ng (cached WAVs)."""
    import random

    from asr_wer import pick_english, synth_set

    folder = cache / "espeak"
    done = sorted(folder.glob("en/*.wav"))
    if len(done) >= n:
        return done[:n]
    texts = pick_english(data, n, random.Random(7))
    return [cache / "espeak" / c.path for c in synth_set("en", texts, "en", folder,
                                                          random.Random(7))]


def build_recording(minutes: float, path: Path, ravdess: Path, sentences: list[Path],
                    seed: int = 0) -> Path:
    """A FLAC of ``minutes`` of English speech with pauses, written block by block."""
    import soundfile as sf

    from emolens.audio.decode import load_audio

    if path.is_file():
        return path
    actors = sorted(ravdess.glob("Actor_*/*.flac"))
    if not actors or not sentences:
        raise SystemExit(f"no speech found under {ravdess} or from espeak-ng")
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.flac")
    total, target = 0, int(minutes * 60 * RATE)
    with sf.SoundFile(tmp, "w", RATE, 1, format="FLAC") as out:
        while total < target:
            pool = actors if rng.random() < 0.5 else sentences
            clip = load_audio(pool[int(rng.integers(len(pool)))])
            pause = np.zeros(int(rng.uniform(0.3, 2.5) * RATE), np.float32)
            block = np.concatenate([clip, pause])[: target - total]
            out.write(block)
            total += block.size
    tmp.replace(path)
    return path


def run_child(kind: str, path: Path, asr_model: str) -> dict:
    """Run one measurement in a fresh interpreter and return what it printed."""
    cmd = [sys.executable, __file__, "--child", kind, "--file", str(path), "--asr-model", asr_model]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def child(kind: str, path: Path, asr_model: str) -> None:
    start = time.perf_counter()
    if kind == "emolens":
        from emolens.audio.pipeline import SpeechAnalyzer

        analyzer = SpeechAnalyzer(asr_model=asr_model)
        loaded = time.perf_counter()
        timeline = analyzer.analyze_file(path)
        segments, duration = len(timeline.segments), timeline.duration
        words = sum(len((s.text or "").split()) for s in timeline.segments)
    else:
        from faster_whisper import WhisperModel

        from emolens.audio.whisper_models import whisper_model_dir

        model = WhisperModel(str(whisper_model_dir(asr_model)), device="cpu",
                             compute_type="int8", cpu_threads=os.cpu_count() or 1)
        loaded = time.perf_counter()
        found, info = model.transcribe(str(path), language="en", beam_size=1,
                                       condition_on_previous_text=False, vad_filter=True)
        found = list(found)
        segments, duration = len(found), info.duration
        words = sum(len(s.text.split()) for s in found)
    end = time.perf_counter()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(json.dumps({
        "load_s": round(loaded - start, 2), "process_s": round(end - loaded, 2),
        "audio_s": round(duration, 1), "rtf": round((end - loaded) / duration, 4),
        "segments": segments, "words": words, "peak_rss_mb": round(peak_mb, 1),
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0,
                        help="length of the generated recording (default 30)")
    parser.add_argument("--asr-model", default="base", help="base (default) or tiny.en")
    parser.add_argument("--ravdess", type=Path,
                        default=ROOT.parent / "shared/data/ravdess_speech")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data",
                        help="shared datasets (dair_emotion test sentences are spoken)")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "speech_bench",
                        help="where the generated recording is kept")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", choices=["emolens", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.file, args.asr_model)
        return

    sentences = spoken_sentences(args.data, args.work)
    path = build_recording(args.minutes, args.work / f"mixed-{args.minutes:g}min.flac",
                           args.ravdess, sentences)
    print(f"recording: {path} ({args.minutes:g} min), {os.cpu_count()} cores")
    rows = {"emolens": run_child("emolens", path, args.asr_model)}
    if not args.skip_baseline:
        rows["faster-whisper transcribe (ASR only)"] = run_child("baseline", path, args.asr_model)
    print(f"\n{'pipeline':40s} {'RTF':>7s} {'peak MB':>8s} {'load s':>7s} {'segments':>9s}")
    for name, row in rows.items():
        print(f"{name:40s} {row['rtf']:7.3f} {row['peak_rss_mb']:8.0f} {row['load_s']:7.1f} "
              f"{row['segments']:9d}")
    ours = rows["emolens"]
    print(f"\ntargets: RTF {ours['rtf']:.3f} <= 0.3: {'yes' if ours['rtf'] <= 0.3 else 'NO'}; "
          f"peak {ours['peak_rss_mb']:.0f} MB <= 1536: "
          f"{'yes' if ours['peak_rss_mb'] <= 1536 else 'NO'}")
    if len(rows) > 1:
        base = rows["faster-whisper transcribe (ASR only)"]
        print(f"emolens / ASR-only: time x{ours['rtf'] / base['rtf']:.2f}, "
              f"memory x{ours['peak_rss_mb'] / base['peak_rss_mb']:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "minutes": args.minutes, "asr_model": args.asr_model, "cores": os.cpu_count(),
        "machine": platform.machine(), "python": platform.python_version(), "results": rows,
    }, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
