"""Word/character error rate and speed of each offline ASR choice, English and Chinese.

    python benchmarks/asr_wer.py [--data ../shared/data] [--quick] [--threads 2]
        [--choices "base b1,tiny.en b5"] [--out benchmarks/results/asr.json]

Builds, once and deterministically (cached under runs/asr_wer/), small sets from the shared
test splits: ~40 English sentences from dair_emotion spoken by espeak-ng (en-us, en-us+f3/+m3,
en-gb; 140-170 wpm), ~40 Chinese sentences from SMP2020-EWECT spoken by espeak-ng's Mandarin
voice from tone-numbered pinyin (it cannot read Hanzi), 24 RAVDESS recordings (real actors, two
known sentences), and the same 24 through 8 kHz (written as 8 kHz WAVs: telephone bandwidth).
Every clip is read by emolens' decoder and transcribed by emolens' own ASR wrapper
(``emolens.audio.asr.Transcriber``, CPU, int8), so the figures are those of the shipped
decoding: temperature 0, a looping decode redone with repetition penalty 1.2, and for Chinese
the Simplified-Chinese prompt and penalty. Beside it, in the same run, plain faster-whisper
``transcribe`` with its own defaults (temperature fallback to sampling, no prompt), what a
user would get without emolens. Whole clips go to the ASR (no VAD): this measures recognition,
not segmentation.

Prints English WER (lower-cased, punctuation stripped, numbers as-is), Chinese CER (punctuation
and spaces removed; raw, and after Traditional->Simplified conversion, since Whisper often
writes Traditional), real-time factor (transcription seconds / audio seconds), model load time,
and the language emolens detects (en or zh) on every clip.

Synthetic speech is clean and monotone: absolute error rates say little about real speech,
the ranking between choices is what this measures. espeak-ng's Mandarin is hard to understand
even for people, so the Chinese CER is far above what Whisper gets on human speech.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

import jiwer
import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

sys.path.insert(0, str(Path(__file__).parent))
import datasets as ds  # noqa: E402

from emolens.audio.asr import PROMPTS, Transcriber  # noqa: E402
from emolens.audio.decode import load_audio  # noqa: E402
from emolens.audio.whisper_models import whisper_model_dir  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEED = 20240601
RATE = 16_000
EN_VOICES = ("en-us", "en-us+f3", "en-us+m3", "en-gb")
ZH_VOICES = ("cmn-latn-pinyin", "cmn-latn-pinyin+f3")
RAVDESS_STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}


# -- building the sets ----------------------------------------------------------------------
@dataclass
class Clip:
    """One utterance: its audio file, reference text, language and how it was made."""

    path: str
    text: str
    language: str
    voice: str
    seconds: float


_WEIBO_NOISE = re.compile(
    r"https?://\S+|www\.\S+|//@[^:：\s]*[:：]?|@[^\s:：，,。]+[:：]?|#[^#]*#|\[[^\]]{0,10}\]"
    r"|【[^】]*】")
_HANZI_OR_PUNCT = re.compile(r"[\u4e00-\u9fff，。！？、；：“”‘’（）《》…—,.!?;:\s]+")
_EN_NOISE = re.compile(r"http|www|href|@|#|\d")


def clean_weibo(text: str) -> str:
    """A Weibo post without URLs, @mentions, retweet chains, #topics#, [emoticons] or emoji."""
    text = _WEIBO_NOISE.sub(" ", text)
    # What is left outside Hanzi and punctuation (emoji, Latin, digits) is marked for the
    # caller to reject: spoken-form choices (digits, English words) would muddle the CER.
    kept = "".join(ch if _HANZI_OR_PUNCT.fullmatch(ch) else "\0" for ch in text)
    return re.sub(r"\s+", "", kept).strip("，,、；;：:")


def pick_english(data: Path, n: int, rng: random.Random) -> list[str]:
    """``n`` dair_emotion test sentences of 6-25 words, free of URLs, handles and digits."""
    texts = [t for t in ds.dair(data, "test").texts
             if 6 <= len(t.split()) <= 25 and not _EN_NOISE.search(t)]
    return rng.sample(sorted(set(texts)), n)


def pick_chinese(data: Path, n: int, rng: random.Random) -> list[str]:
    """``n`` SMP2020-EWECT usual test posts of 8-40 Hanzi after cleaning (Hanzi only)."""
    texts = set()
    for raw in ds.smp(data, "usual_test_labeled.json").texts:
        text = clean_weibo(raw)
        hanzi = len(re.findall(r"[\u4e00-\u9fff]", text))
        if "\0" not in text and 8 <= hanzi <= 40:
            texts.add(text)
    return rng.sample(sorted(texts), n)


def to_pinyin(text: str) -> str:
    """Tone-numbered pinyin for espeak-ng's cmn-latn-pinyin voice; punctuation as commas."""
    from pypinyin import Style, lazy_pinyin

    tokens = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True)
    return " ".join(t if re.fullmatch(r"[a-z]+[1-5]", t) else "," for t in tokens)


def speak(text: str, voice: str, speed: int, target: Path) -> float:
    """espeak-ng speech for ``text`` written as 16 kHz mono WAV; returns its duration."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw)],
                       input=text.encode(), check=True)
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(raw), "-ac", "1",
                        "-ar", str(RATE), "-sample_fmt", "s16", str(target)], check=True)
    return sf.info(str(target)).duration


def synth_set(name: str, texts: list[str], language: str, cache: Path,
              rng: random.Random) -> list[Clip]:
    folder = cache / name
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for i, text in enumerate(texts):
        if language == "en":
            voice, speed, spoken = rng.choice(EN_VOICES), rng.randint(140, 170), text
        else:
            voice, speed, spoken = rng.choice(ZH_VOICES), rng.randint(130, 160), to_pinyin(text)
        target = folder / f"{i:03d}.wav"
        seconds = speak(spoken, voice, speed, target)
        clips.append(Clip(str(target.relative_to(cache)), text, language,
                          f"{voice} -s {speed}", seconds))
    return clips


def ravdess_set(data: Path, n: int, rng: random.Random) -> list[Clip]:
    """``n`` RAVDESS recordings (all emotions, both sexes), referenced in place."""
    folder = data / "ravdess_speech"
    paths = sorted(str(p.relative_to(folder)) for p in folder.glob("Actor_*/*.flac"))
    clips = []
    for rel in rng.sample(paths, n):
        statement = Path(rel).stem.split("-")[4]
        clips.append(Clip(str(folder / rel), RAVDESS_STATEMENTS[statement], "en",
                          f"RAVDESS {Path(rel).stem}", sf.info(str(folder / rel)).duration))
    return clips


def narrow_band_set(clips: list[Clip], cache: Path) -> list[Clip]:
    """``clips`` downsampled to 8 kHz (polyphase, as a careful converter does) and written as
    16-bit 8 kHz WAVs: what a telephone line or an 8 kHz recorder leaves of them."""
    folder = cache / "ravdess-8k"
    folder.mkdir(parents=True, exist_ok=True)
    narrow = []
    for clip in clips:
        target = folder / (Path(clip.path).stem + ".wav")
        if not target.is_file():
            audio, rate = sf.read(clip.path, dtype="float32")
            assert rate == RATE, clip.path
            sf.write(str(target), resample_poly(audio, 1, 2).astype(np.float32), RATE // 2,
                     subtype="PCM_16")
        narrow.append(Clip(str(target.relative_to(cache)), clip.text, clip.language,
                           clip.voice + " via 8 kHz", clip.seconds))
    return narrow


def build_sets(data: Path, cache: Path, sizes: dict[str, int]) -> dict[str, list[Clip]]:
    """The sets, from the manifest when one built with the same sizes exists."""
    manifest = cache / ("manifest-" + "-".join(str(n) for n in sizes.values()) + ".json")
    if manifest.is_file():
        stored = json.loads(manifest.read_text(encoding="utf-8"))
        sets = {name: [Clip(**c) for c in clips] for name, clips in stored.items()}
        return {**sets, "en-ravdess-8k": narrow_band_set(sets["en-ravdess"], cache)}
    sets = {
        "en-espeak": synth_set("en", pick_english(data, sizes["en-espeak"], random.Random(SEED)),
                               "en", cache, random.Random(SEED + 1)),
        "zh-espeak": synth_set("zh", pick_chinese(data, sizes["zh-espeak"], random.Random(SEED)),
                               "zh", cache, random.Random(SEED + 2)),
        "en-ravdess": ravdess_set(data, sizes["en-ravdess"], random.Random(SEED)),
    }
    manifest.write_text(json.dumps({k: [asdict(c) for c in v] for k, v in sets.items()},
                                   ensure_ascii=False, indent=1), encoding="utf-8")
    return {**sets, "en-ravdess-8k": narrow_band_set(sets["en-ravdess"], cache)}


# -- metrics --------------------------------------------------------------------------------
def normalise_en(text: str) -> str:
    """Lower-case, apostrophes dropped (dair writes "dont", "im"), other punctuation to spaces."""
    text = text.lower().replace("'", "").replace("\u2019", "")
    return " ".join(re.sub(r"[^\w\s]|_", " ", text).split())


def normalise_zh(text: str, simplify: bool = False) -> str:
    """Characters only: punctuation and spaces removed, Latin lower-cased; optionally Simplified."""
    if simplify:
        from emolens.text.chinese import to_simplified  # OpenCC t2s, as the text models read

        text = to_simplified(text)
    return re.sub(r"[\W_]+", "", text.lower())


def error_rates(refs: list[str], hyps: list[str], language: str) -> dict[str, float]:
    """Corpus WER (English) or CER (Chinese, raw and Simplified): total edits / reference size."""
    if language == "en":
        out = jiwer.process_words([normalise_en(r) for r in refs], [normalise_en(h) for h in hyps])
        return {"wer": out.wer, "substitutions": out.substitutions, "deletions": out.deletions,
                "insertions": out.insertions}
    raw = jiwer.process_characters([normalise_zh(r) for r in refs],
                                   [normalise_zh(h) for h in hyps])
    simple = jiwer.process_characters([normalise_zh(r, True) for r in refs],
                                      [normalise_zh(h, True) for h in hyps])
    return {"cer": raw.cer, "cer_simplified": simple.cer}


# -- the ASR choices ------------------------------------------------------------------------
@dataclass(frozen=True)
class Choice:
    """One ASR setting: which model, beam, sets it is run on, and whose decoding."""

    name: str
    model: str
    beam_size: int
    sets: tuple[str, ...]
    engine: str = "emolens"  # emolens' Transcriber as shipped, or "faster-whisper" defaults


ENGLISH = ("en-espeak", "en-ravdess", "en-ravdess-8k")
EVERY_SET = (*ENGLISH, "zh-espeak")
CHOICES = (
    Choice("base b1", "base", 1, EVERY_SET),  # emolens' default
    Choice("base b5", "base", 5, EVERY_SET),
    Choice("tiny.en b1", "tiny.en", 1, ENGLISH),
    Choice("tiny.en b5", "tiny.en", 5, ENGLISH),
    Choice("faster-whisper base b1", "base", 1, EVERY_SET, engine="faster-whisper"),
)


def load_engine(choice: Choice, threads: int):
    """emolens' Transcriber, or a bare faster-whisper WhisperModel for the peer."""
    if choice.engine == "emolens":
        return Transcriber(choice.model, beam_size=choice.beam_size, threads=threads)
    from faster_whisper import WhisperModel

    return WhisperModel(str(whisper_model_dir(choice.model)), device="cpu",
                        compute_type="int8", cpu_threads=threads)


def transcribe(engine, audio: np.ndarray, language: str, choice: Choice) -> str:
    # The language is given (the app knows it or detects it once); detection is scored apart.
    if isinstance(engine, Transcriber):
        return engine.transcribe(audio, language).text
    segments, _ = engine.transcribe(audio, language=None if choice.model.endswith(".en")
                                    else language, beam_size=choice.beam_size)
    return "".join(s.text for s in segments).strip()


def run_choice(choice: Choice, sets: dict[str, list[Clip]], audio: dict[str, np.ndarray],
               threads: int, log) -> dict:
    t0 = time.perf_counter()
    engine = load_engine(choice, threads)
    result = {"model": choice.model, "beam_size": choice.beam_size, "engine": choice.engine,
              "load_s": time.perf_counter() - t0}
    first = sets[choice.sets[0]][0]
    transcribe(engine, audio[first.path], first.language, choice)  # warm-up, untimed
    for set_name in choice.sets:
        clips, hyps, seconds = sets[set_name], [], 0.0
        for clip in clips:
            t0 = time.perf_counter()
            hyps.append(transcribe(engine, audio[clip.path], clip.language, choice))
            seconds += time.perf_counter() - t0
            log.write(json.dumps({"choice": choice.name, "clip": clip.path, "ref": clip.text,
                                  "hyp": hyps[-1]}, ensure_ascii=False) + "\n")
        scores = error_rates([c.text for c in clips], hyps, clips[0].language)
        scores["rtf"] = seconds / sum(c.seconds for c in clips)
        scores["examples"] = [{"ref": c.text, "hyp": h} for c, h in zip(clips[:2], hyps[:2],
                                                                         strict=True)]
        if clips[0].language in PROMPTS:  # Whisper sometimes writes emolens' prompt back
            tail = normalise_zh(PROMPTS[clips[0].language])[-5:]
            scores["prompt_echoes"] = sum(tail in normalise_zh(h) for h in hyps)
        result[set_name] = scores
    return result


def language_id(sets: dict[str, list[Clip]], audio: dict[str, np.ndarray],
                threads: int) -> dict[str, dict]:
    """The language emolens detects (Whisper base, en or zh) per set: accuracy and time."""
    transcriber = Transcriber("base", threads=threads)
    out = {}
    for set_name, clips in sets.items():
        detected, seconds = [], 0.0
        for clip in clips:
            t0 = time.perf_counter()
            detected.append(transcriber.detect_language(audio[clip.path]))
            seconds += time.perf_counter() - t0
        wrong = sorted({d for d in detected if d != clips[0].language})
        out[set_name] = {"accuracy": float(np.mean([d == c.language for d, c in
                                                    zip(detected, clips, strict=True)])),
                         "detected_instead": wrong, "ms_per_clip": 1000 * seconds / len(clips)}
    return out


# -- report ---------------------------------------------------------------------------------
def machine_info() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    espeak = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout
    return {
        "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
        "versions": {p: version(p) for p in ("faster-whisper", "ctranslate2", "jiwer", "opencc",
                                             "pypinyin")} | {"espeak-ng": espeak.split()[3]},
    }


def _commit() -> str:
    """The emolens commit measured (with '+' when the tree has uncommitted changes)."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return head + ("+" if dirty else "")


def print_table(report: dict) -> None:
    sets = list(report["sets"])
    head = f"{'choice':<24}{'load s':>7}" + "".join(f"{s:>26}" for s in sets)
    print(head + "\n" + f"{'':<31}" + "".join(f"{'WER/CER (simpl.)  RTF':>26}" for _ in sets))
    for name, r in report["choices"].items():
        cells = []
        for s in sets:
            if s not in r:
                cells.append(f"{'-':>26}")
                continue
            err = (f"{r[s]['wer']:.3f}" if "wer" in r[s] else
                   f"{r[s]['cer']:.3f} ({r[s]['cer_simplified']:.3f})")
            cells.append(f"{err:>19} {r[s]['rtf']:6.3f}")
        print(f"{name:<24}{r['load_s']:7.2f}" + "".join(cells))
    print("language emolens detects (base, en or zh): " + ", ".join(
        f"{s} {v['accuracy']:.3f}" + (f" (else {v['detected_instead']})" if v["detected_instead"]
                                      else "") for s, v in report["language_id"].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data",
                        help="the shared data folder (dair_emotion, smp2020_ewect, ravdess_speech)")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs/asr_wer",
                        help="where the synthesized sets and the transcripts are kept")
    parser.add_argument("--quick", action="store_true",
                        help="8 clips per set (a smoke run; results go to the cache folder)")
    parser.add_argument("--threads", type=int, default=2, help="CTranslate2 cpu_threads")
    parser.add_argument("--choices", default=",".join(c.name for c in CHOICES),
                        help="comma-separated choice names to run (default: all)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON report (default benchmarks/results/asr.json; with --quick "
                             "runs/asr_wer/asr-quick.json)")
    args = parser.parse_args()
    out = args.out or (args.cache / "asr-quick.json" if args.quick
                       else ROOT / "benchmarks/results/asr.json")
    sizes = ({"en-espeak": 8, "zh-espeak": 8, "en-ravdess": 8} if args.quick
             else {"en-espeak": 40, "zh-espeak": 40, "en-ravdess": 24})
    args.cache.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    sets = build_sets(args.data, args.cache, sizes)
    print(f"sets ready in {time.perf_counter() - t0:.0f} s: " + ", ".join(
        f"{k} {len(v)} clips {sum(c.seconds for c in v):.0f} s" for k, v in sets.items()))
    audio = {c.path: load_audio(args.cache / c.path) for clips in sets.values() for c in clips}
    report = {
        "quick": args.quick, "machine": machine_info(),
        "settings": {"device": "cpu", "compute_type": "int8", "cpu_threads": args.threads,
                     "language": "given (en / zh); tiny.en is English-only",
                     "engine": "emolens.audio.asr.Transcriber (temperature 0; a looping decode "
                               "redone with repetition penalty 1.2; zh prompt and penalty), "
                               "beside faster-whisper's transcribe defaults",
                     "emolens_commit": _commit(), "seed": SEED},
        "sets": {k: {"clips": len(v), "audio_seconds": sum(c.seconds for c in v),
                     "language": v[0].language} for k, v in sets.items()},
        "choices": {},
    }
    wanted = set(args.choices.split(","))
    with (args.cache / "transcripts.jsonl").open("w", encoding="utf-8") as log:
        for choice in CHOICES:
            if choice.name in wanted:
                report["choices"][choice.name] = run_choice(choice, sets, audio, args.threads,
                                                            log)
                print(f"done {choice.name}", flush=True)
    report["language_id"] = language_id(sets, audio, args.threads)
    print_table(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"written {out}")


if __name__ == "__main__":
    main()
