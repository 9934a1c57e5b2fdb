"""Narrow-band (8 kHz) speech against its 16 kHz original, on RAVDESS: VAD, transcript, voice.

    python benchmarks/narrow_band.py [--data ../shared/data/ravdess_speech] [--clips 96]
        [--cache runs/narrow_band] [--json benchmarks/results/narrow_band.json]

Every clip is also downsampled to 8 kHz (scipy's polyphase filter) and written as a 16-bit
8 kHz WAV, as a telephone line or an 8 kHz recorder leaves it; emolens reads it back at 16 kHz.
Prints, in one run, each beside what emolens did before it handled narrow-band audio:
1. VAD on all 1,440 clips: how much later the first segment starts at 8 kHz than at 16 kHz,
   and how many clips get no segment, with the narrow-band thresholds and with the wide-band
   ones (silero scores band-limited speech lower);
2. voice emotion, 5 folds by actor on all 1,440 clips (logistic regression on the shipped
   features, C = 0.01, fitted on the other actors' 16 kHz clips): unweighted accuracy at 16 kHz
   and through 8 kHz, and how often the 8 kHz label is the 16 kHz one, with the band-dependent
   acoustic statistics at their training mean (as shipped) and as computed (before);
3. the whole speech pipeline (`SpeechAnalyzer.analyze_file`) on ``--clips`` clips, 4 per actor
   drawn with a fixed seed, at 16 kHz and through 8 kHz: first word kept, and the voice label
   (speech-time-weighted over segments) and fused label agreeing with the 16 kHz ones.
Features and VAD probabilities are cached in --cache.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.preprocessing import StandardScaler

from emolens.audio import voice_features as vf
from emolens.audio.decode import load_audio
from emolens.audio.vad import Segmenter, SegmentOptions, SpeechProbability

ROOT = Path(__file__).resolve().parent.parent
RATE = 16_000
FIRST_WORDS = {"01": "kids", "02": "dogs"}  # statement code -> its first word


def eight_khz(clip: Path, cache: Path) -> Path:
    """``clip`` as an 8 kHz 16-bit WAV (written once)."""
    target = cache / "8k" / f"{clip.stem}.wav"
    if not target.is_file():
        audio, rate = sf.read(str(clip), dtype="float32")
        assert rate == RATE, clip
        target.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(target), resample_poly(audio, 1, 2).astype(np.float32), RATE // 2,
                 subtype="PCM_16")
    return target


def vad_onsets(files: list[Path], cache: Path) -> dict:
    """First segment start, 8 kHz minus 16 kHz, with narrow-band and with wide-band thresholds."""
    probability = SpeechProbability()

    def probs(audio: np.ndarray) -> np.ndarray:
        probability.reset()
        return np.concatenate([probability(audio), probability.flush()])

    def first_start(p: np.ndarray, narrow: bool) -> float | None:
        segmenter = Segmenter(SegmentOptions())
        segmenter.narrow_band = narrow
        spans = segmenter.push(p) + segmenter.flush()
        return spans[0][0] / RATE if spans else None

    report = {}
    wide = [first_start(probs(load_audio(f)), False) for f in files]
    narrow_probs = [probs(load_audio(eight_khz(f, cache))) for f in files]
    for name, flag in (("narrow-band thresholds (now)", True), ("wide-band thresholds", False)):
        starts = [first_start(p, flag) for p in narrow_probs]
        late = np.array([n - w for n, w in zip(starts, wide, strict=True)
                         if n is not None and w is not None])
        report[name] = {
            "no_segment_16k": sum(w is None for w in wide),
            "no_segment_8k": sum(n is None for n in starts),
            "mean_delay_s": float(late.mean()),
            **{f"later_than_{t}s": int((late > t).sum()) for t in (0.1, 0.2, 0.3)},
        }
    return report


def voice_features(files: list[Path], cache: Path) -> dict[str, np.ndarray]:
    """[Whisper embedding, acoustic statistics] of every clip at 16 kHz and through 8 kHz."""
    path = cache / f"voice-features-a{vf.ACOUSTIC_DIM}.npz"
    names = np.array([f.stem for f in files])
    if path.is_file():
        cached = dict(np.load(path))
        if np.array_equal(cached["files"], names):
            return cached
    from emolens.audio.voice import load_whisper

    whisper = load_whisper("base", cpu_threads=1)
    rows: dict[str, list[np.ndarray]] = {"16k": [], "8k": []}
    for i, f in enumerate(files):
        for key, audio in (("16k", load_audio(f)), ("8k", load_audio(eight_khz(f, cache)))):
            rows[key].append(np.concatenate([vf.whisper_embedding(whisper, audio),
                                             vf.acoustic_features(audio)]))
        if i % 200 == 0:
            print(f"  voice features {i}/{len(files)}", flush=True)
    result = {"files": names, **{k: np.array(v) for k, v in rows.items()}}
    np.savez(path, **result)
    return result


def voice_cv(files: list[Path], cache: Path) -> dict:
    """Fold models fitted at 16 kHz, scored at 16 kHz and through 8 kHz, both ways."""
    features = voice_features(files, cache)
    codes = np.array([[int(c) for c in f.stem.split("-")] for f in files])
    y, actor = codes[:, 2] - 1, codes[:, 6]
    wide, narrow = features["16k"], features["8k"]
    band = wide.shape[1] - vf.ACOUSTIC_DIM + vf.BAND_DEPENDENT
    pred = {k: np.empty_like(y) for k in ("16k", "8k now", "8k before")}
    for k in range(5):
        test = (actor - 1) % 5 == k
        scaler = StandardScaler().fit(wide[~test])
        model = LogisticRegression(C=0.01, max_iter=3000).fit(scaler.transform(wide[~test]),
                                                                y[~test])
        pred["16k"][test] = model.predict(scaler.transform(wide[test]))
        standard = scaler.transform(narrow[test])
        pred["8k before"][test] = model.predict(standard)
        standard[:, band] = 0.0  # what WhisperVoiceRecognizer does for a narrow-band clip
        pred["8k now"][test] = model.predict(standard)
    return {k: {"unweighted_accuracy": balanced_accuracy_score(y, p),
                "same_label_as_16k": float(np.mean(p == pred["16k"]))} for k, p in pred.items()}


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]", " ", text.lower()).split()


def pipeline(files: list[Path], cache: Path) -> dict:
    """First word kept and labels agreeing, 8 kHz against 16 kHz, through SpeechAnalyzer."""
    from emolens.audio.pipeline import SpeechAnalyzer

    analyzer = SpeechAnalyzer()
    rows = []
    for f in files:
        row = {"clip": f.stem, "first_word": FIRST_WORDS[f.stem.split("-")[4]]}
        for key, path in (("16k", f), ("8k", eight_khz(f, cache))):
            timeline = analyzer.analyze_file(path, language="en")
            segments = timeline.segments
            voice = None
            if segments:
                spans = np.array([s.t_end - s.t_start for s in segments])
                labels = list(segments[0].details["voice"])
                scores = np.array([[s.details["voice"][k] for k in labels] for s in segments])
                voice = labels[int((spans[:, None] * scores).sum(0).argmax())]
            row[key] = {"text": " ".join(s.text or "" for s in segments), "voice": voice,
                        "label": timeline.summary()["label"]}
        rows.append(row)
        print(f"  {f.stem}: {row['16k']['text']!r} / {row['8k']['text']!r}", flush=True)

    def first(row: dict, key: str) -> list[str]:
        return _words(row[key]["text"])[:1]

    return {
        "clips": len(rows),
        "first_word_right_16k": sum(first(r, "16k") == [r["first_word"]] for r in rows),
        "first_word_right_8k": sum(first(r, "8k") == [r["first_word"]] for r in rows),
        "first_word_8k_as_16k": sum(first(r, "8k") == first(r, "16k") for r in rows),
        "voice_label_8k_as_16k": sum(r["8k"]["voice"] == r["16k"]["voice"] for r in rows),
        "fused_label_8k_as_16k": sum(r["8k"]["label"] == r["16k"]["label"] for r in rows),
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/ravdess_speech")
    parser.add_argument("--clips", type=int, default=96, help="clips through the pipeline")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs/narrow_band")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/narrow_band.json")
    args = parser.parse_args()
    files = sorted(args.data.glob("Actor_*/*.flac"))
    if len(files) != 1440:
        raise SystemExit(f"expected 1,440 RAVDESS speech files under {args.data}")
    args.cache.mkdir(parents=True, exist_ok=True)
    rng = random.Random(2024)
    sample = [f for a in range(1, 25)
              for f in rng.sample([f for f in files if f.stem.endswith(f"-{a:02d}")],
                                  args.clips // 24)]
    report = {"vad": vad_onsets(files, args.cache)}
    print(json.dumps(report["vad"], indent=1), flush=True)
    report["voice_cv"] = voice_cv(files, args.cache)
    print(json.dumps(report["voice_cv"], indent=1), flush=True)
    report["pipeline"] = pipeline(sample, args.cache)
    print(json.dumps({k: v for k, v in report["pipeline"].items() if k != "rows"}, indent=1))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
