"""On-screen text: character error rate and speed of emolens' TextReader on rendered frames.

    python benchmarks/ocr_benchmark.py [--threads 2] [--per-cell 2]
        [--json benchmarks/results/ocr.json]

Renders its own test frames with Pillow (deterministic): 640x360 and 1280x720, English and
Chinese captions at three text sizes each, over a plain, a gradient and a photo-like noisy
background (dark text on the plain one, white text with a dark outline on the gradient, white
text with no outline on the noisy one), saved as JPEG at quality 40. Long captions wrap to two
lines. Fonts: DejaVu Sans (matplotlib's) for English, Noto Sans CJK SC (mplfonts') for Chinese.
Each configuration reads every frame once after a warm-up read.

Reported per configuration and frame size: CER (Levenshtein distance / reference length, after
NFKC and whitespace collapsing; Chinese with whitespace removed) for English and Chinese apart,
the share of captions the CaptionTracker would take as the reference (similarity >= 0.8), and
ms per frame (median). Configurations: rapidocr 3.10.0 as shipped (detection upscales the short
side to 736, angle classifier on) beside TextReader with detection at longer side 1280 / 960
(the default) / 640, and 1280x720 frames shrunk to 960 and 640 before anything (recognition
crops shrink too).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import time
import unicodedata
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import matplotlib
import mplfonts
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from emolens.vision.ocr import TextReader, join_lines, similarity

ROOT = Path(__file__).resolve().parents[1]
LATIN_FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
CJK_FONT = Path(mplfonts.__file__).parent / "fonts" / "NotoSansCJKsc-Regular.otf"
CAPTIONS = {
    "en": [
        "I can't believe you did that!",
        "Welcome back to the evening news.",
        "We are so proud of everything you achieved this year",
        "Please stay calm and wait for further instructions",
        "That was the best day of my life",
        "Why would anyone leave the door open at night?",
    ],
    "zh": [
        "今天天气很好，我们去公园散步吧",
        "你怎么可以这样对我？",
        "谢谢大家一直以来的支持和鼓励",
        "请保持冷静，等待进一步的通知",
        "这是我一生中最快乐的一天",
        "明天的会议改到下午三点举行",
    ],
}
SIZES = {(640, 360): (12, 18, 28), (1280, 720): (16, 28, 48)}
JPEG_QUALITY = 40  # video frames are lossy: text edges ring and blur
BACKGROUNDS = ("plain", "gradient", "noisy")


@dataclass
class Frame:
    size: tuple[int, int]
    lang: str
    px: int
    background: str
    text: str
    image: np.ndarray


def background(kind: str, size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """A plain, gradient or photo-like (blobs, texture, sensor noise) background."""
    width, height = size
    if kind == "plain":
        return Image.new("RGB", size, (235, 235, 228))
    if kind == "gradient":
        x = np.linspace(0, 1, width)[None, :, None]
        y = np.linspace(0, 1, height)[:, None, None]
        a, b = rng.uniform(30, 220, 3), rng.uniform(30, 220, 3)
        img = a * (1 - 0.6 * x - 0.4 * y) + b * (0.6 * x + 0.4 * y)
        return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    coarse = rng.uniform(20, 235, (6, 10, 3)).astype(np.uint8)
    image = Image.fromarray(coarse).resize(size, Image.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(25):  # objects with edges, like a scene behind the caption
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        w, h = rng.integers(width // 20, width // 4), rng.integers(height // 20, height // 3)
        color = tuple(int(c) for c in rng.integers(0, 255, 3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x0, y0, x0 + w, y0 + h), fill=color)
    image = image.filter(ImageFilter.GaussianBlur(1.5))
    noisy = np.asarray(image, np.float32) + rng.normal(0, 12, (height, width, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def wrap(text: str, face: ImageFont.FreeTypeFont, width: int, lang: str) -> list[str]:
    """The caption in at most two lines that fit ``width``."""
    if face.getlength(text) <= width:
        return [text]
    if lang == "zh":
        cut = len(text) // 2
        return [text[:cut], text[cut:]]
    words = text.split()
    cut = len(words) // 2
    return [" ".join(words[:cut]), " ".join(words[cut:])]


def render(size: tuple[int, int], lang: str, px: int, kind: str, text: str,
           rng: np.random.Generator) -> np.ndarray:
    """One frame with the caption centred near the bottom, subtitle style."""
    width, height = size
    image = background(kind, size, rng)
    draw = ImageDraw.Draw(image)
    face = ImageFont.truetype(str(CJK_FONT if lang == "zh" else LATIN_FONT), px)
    lines = wrap(text, face, int(width * 0.9), lang)
    y = height - int(px * 1.45) * len(lines) - height // 12
    for line in lines:
        x = (width - face.getlength(line)) / 2
        if kind == "plain":
            draw.text((x, y), line, font=face, fill=(25, 25, 25))
        elif kind == "gradient":
            draw.text((x, y), line, font=face, fill=(255, 255, 255),
                      stroke_width=max(1, px // 14), stroke_fill=(0, 0, 0))
        else:  # burned-in text with no outline over a busy scene
            draw.text((x, y), line, font=face, fill=(250, 250, 250))
        y += int(px * 1.45)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY)
    return np.asarray(Image.open(buffer).convert("RGB"))


def frames(per_cell: int) -> list[Frame]:
    """All test frames, ``per_cell`` captions per (size, text size, background, language)."""
    rng = np.random.default_rng(7)
    out, turn = [], 0
    for size, pxs in SIZES.items():
        for px in pxs:
            for kind in BACKGROUNDS:
                for lang, texts in CAPTIONS.items():
                    for _ in range(per_cell):
                        text = texts[turn % len(texts)]
                        turn += 1
                        image = render(size, lang, px, kind, text, rng)
                        out.append(Frame(size, lang, px, kind, text, image))
    return out


def _norm(text: str, lang: str) -> str:
    text = " ".join(unicodedata.normalize("NFKC", text).split())
    return text.replace(" ", "") if lang == "zh" else text


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions)."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


class ShippedRapidOCR:
    """rapidocr 3.10.0 with its own defaults, the peer: same packaged models."""

    def __init__(self, threads: int) -> None:
        from rapidocr import RapidOCR

        self.engine = RapidOCR(params={
            "Global.log_level": "error",
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
        })

    def read_text(self, image: np.ndarray) -> str:
        result = self.engine(np.ascontiguousarray(image[..., ::-1]))
        return " ".join(result.txts or ())


def configurations(threads: int) -> dict[str, object]:
    """name -> reader; readers have read_text(image) -> text."""

    class Ours:
        def __init__(self, **options: int) -> None:
            self.reader = TextReader(threads=threads, **options)

        def read_text(self, image: np.ndarray) -> str:
            return join_lines(self.reader.read(image))

    return {
        "rapidocr defaults (det short side 736, cls)": ShippedRapidOCR(threads),
        "TextReader det 1280": Ours(det_side=1280),
        "TextReader det 960 (default)": Ours(det_side=960),
        "TextReader det 640": Ours(det_side=640),
        "TextReader frame 960": Ours(max_side=960, det_side=960),
        "TextReader frame 640": Ours(max_side=640, det_side=640),
    }


def evaluate(reader: object, test: list[Frame], name: str) -> list[dict]:
    rows = []
    reader.read_text(test[0].image)  # warm-up: sessions load lazily
    for frame in test:
        if name.startswith("TextReader frame") and frame.size == (640, 360):
            continue  # these shrink only frames larger than their size
        start = time.perf_counter()
        got = reader.read_text(frame.image)
        ms = 1000 * (time.perf_counter() - start)
        ref = _norm(frame.text, frame.lang)
        rows.append({"size": f"{frame.size[0]}x{frame.size[1]}", "lang": frame.lang,
                     "px": frame.px, "background": frame.background, "ref": frame.text,
                     "got": got, "edits": levenshtein(ref, _norm(got, frame.lang)),
                     "ref_chars": len(ref), "match": similarity(got, frame.text) >= 0.8,
                     "ms": round(ms, 1)})
    return rows


def summarise(rows: list[dict]) -> dict:
    out: dict = {"frames": len(rows), "ms_per_frame_median": None}
    if not rows:
        return out
    for lang in ("en", "zh"):
        part = [r for r in rows if r["lang"] == lang]
        chars = sum(r["ref_chars"] for r in part)
        out[f"cer_{lang}"] = round(sum(r["edits"] for r in part) / chars, 4) if chars else None
        out[f"match_{lang}"] = round(sum(r["match"] for r in part) / len(part), 3) if part else None
    out["ms_per_frame_median"] = round(statistics.median(r["ms"] for r in rows), 1)
    out["ms_per_frame_mean"] = round(statistics.fmean(r["ms"] for r in rows), 1)
    return out


def table(results: dict[str, list[dict]]) -> dict:
    """Print and return summaries per configuration x frame size, and per background/text size."""
    summary: dict = {}
    head = f"{'configuration':46} {'frame':>9} {'CER en':>7} {'CER zh':>7} " \
           f"{'ok en':>6} {'ok zh':>6} {'ms/frame':>9}"
    print(head)
    print("-" * len(head))
    for name, rows in results.items():
        summary[name] = {}
        for size in ("640x360", "1280x720"):
            s = summarise([r for r in rows if r["size"] == size])
            summary[name][size] = s
            if s["frames"]:
                print(f"{name:46} {size:>9} {s['cer_en']:7.3f} {s['cer_zh']:7.3f} "
                      f"{s['match_en']:6.2f} {s['match_zh']:6.2f} {s['ms_per_frame_median']:9.0f}")
    default = results.get("TextReader det 960 (default)", [])
    print("\nTextReader default, by background and text size (both frame sizes):")
    breakdown = {}
    for key in ("background", "px"):
        for value in sorted({r[key] for r in default}):
            s = summarise([r for r in default if r[key] == value])
            breakdown[f"{key}={value}"] = s
            print(f"  {key}={value!s:9} CER en {s['cer_en']:.3f}  CER zh {s['cer_zh']:.3f}  "
                  f"ok en {s['match_en']:.2f}  ok zh {s['match_zh']:.2f}")
    return {"by_config": summary, "default_breakdown": breakdown}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--per-cell", type=int, default=2,
                        help="captions per (frame size, text size, background, language)")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/ocr.json")
    args = parser.parse_args()

    import onnxruntime

    load = os.getloadavg()[0]
    test = frames(args.per_cell)
    results = {}
    for name, reader in configurations(args.threads).items():
        results[name] = evaluate(reader, test, name)
    report = {
        "benchmark": "ocr", "frames": len(test), "per_cell": args.per_cell,
        "threads": args.threads, "rapidocr": version("rapidocr"),
        "onnxruntime": onnxruntime.__version__, "python": platform.python_version(),
        "cpus": os.cpu_count(), "load_average_at_start": load,
        **table(results),
        "misreads": {name: [r for r in rows if r["edits"]] for name, rows in results.items()},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
