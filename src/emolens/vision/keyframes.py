"""Pictures of what the analysis saw: a key-frame sheet of a video, an annotated image.

Each face is boxed in the colour of its top expression and labelled "person N: joy 72%";
on-screen text is boxed in white and labelled with the emotion of its words.

Which moments a sheet shows: the video is cut into ``n`` equal stretches and each gives at
most one moment: among the stretch's sampled frames that have faces (else the starts of its
fused windows), the one whose fused window is most confident, the earliest on a tie. A
stretch with neither is left out; a video with neither anywhere gets evenly spaced frames.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont

from emolens.errors import InvalidInputError
from emolens.types import EmotionResult
from emolens.vision.frames import load_image, video_frames_at

if TYPE_CHECKING:
    from emolens.vision.pipeline import VideoTimeline

TILE_WIDTH = 480  # pixels of one frame in a sheet
COLUMNS = 4
_PAD = 8
_CAPTION_COLOR = "#ffffff"
_DISCLAIMER = "expressions as estimated by a model, not anyone's inner state"


def pick_moments(timeline: VideoTimeline, n: int = 12) -> list[float]:
    """Up to ``n`` times (seconds) spread over the video, by the rule in the module doc."""
    if n < 1:
        raise InvalidInputError(f"a key-frame sheet needs at least 1 frame, got n={n}")
    duration = timeline.duration or max(
        (r.t_end or 0.0 for r in timeline.results()), default=0.0)
    if duration <= 0:
        return [0.0]
    faces = sorted({r.t_start for r in timeline.faces if r.t_start is not None})
    windows = sorted((r for r in timeline.fused if r.t_start is not None),
                     key=lambda r: r.t_start or 0.0)
    starts = [r.t_start or 0.0 for r in windows]

    def confidence(t: float) -> float:
        k = bisect.bisect_right(starts, t + 1e-6) - 1
        inside = k >= 0 and t < (windows[k].t_end or 0.0)
        return windows[k].confidence if inside else 0.0

    moments = []
    for k in range(n):
        a, b = k * duration / n, (k + 1) * duration / n
        here = [t for t in faces if a <= t < b] or [t for t in starts if a <= t < b]
        if here:
            moments.append(max(here, key=lambda t: (confidence(t), -t)))
    if not faces and not starts:
        moments = [(k + 0.5) * duration / n for k in range(n)]
    return moments


def keyframe_sheet(
    video_path: str | Path, timeline: VideoTimeline, out_png: str | Path, n: int = 12
) -> Path:
    """A contact sheet of up to ``n`` annotated frames of an analysed video, as PNG."""
    moments = pick_moments(timeline, n)
    tiles = []
    for t, frame in zip(moments, video_frames_at(video_path, moments), strict=True):
        image = Image.fromarray(frame.image)
        scale = TILE_WIDTH / image.width
        image = image.resize((TILE_WIDTH, max(1, round(image.height * scale))),
                             Image.Resampling.LANCZOS)
        faces = [r for r in timeline.faces if r.t_start is not None and abs(r.t_start - t) < 1e-6]
        captions = [r for r in timeline.captions if _spans(r, t)]
        _annotate(image, faces, captions, scale, font_size=14)
        tiles.append(_with_header(image, f"{_clock(t)}   {_overall(timeline.fused, t)}", 14))
    sheet = _tile(tiles, f"{Path(str(video_path)).name}: {len(tiles)} key frames "
                  f"({_DISCLAIMER})")
    return _save(sheet, out_png)


def annotate_image(
    image_path: str | Path, timeline: VideoTimeline, out_png: str | Path
) -> Path:
    """A copy of an analysed image with its faces and texts boxed and labelled, as PNG."""
    image = Image.fromarray(load_image(image_path))  # as analysed: upright, same scale
    size = max(12, round(max(image.size) / 60))
    _annotate(image, timeline.faces, timeline.captions, 1.0, font_size=size)
    fused = timeline.fused[0] if timeline.fused else None
    overall = (f"overall: {fused.label} {fused.confidence:.0%}" if fused else
               f"{len(timeline.faces)} faces, {len(timeline.captions)} texts")
    return _save(_with_header(image, f"{overall} ({_DISCLAIMER})", size), out_png)


# -- drawing --------------------------------------------------------------------------------


def _annotate(image: Image.Image, faces: Sequence[EmotionResult],
              captions: Sequence[EmotionResult], scale: float, font_size: int) -> None:
    """Boxes and labels of faces and on-screen texts, drawn onto ``image`` in place."""
    draw = ImageDraw.Draw(image)
    width = max(2, font_size // 7)
    for r in captions:
        if "box" in r.details:
            box = [round(v * scale) for v in r.details["box"]]
            draw.rectangle(box, outline=_CAPTION_COLOR, width=width)
            _label(draw, image.size, box, f"text: {r.label} {r.confidence:.0%}",
                   _CAPTION_COLOR, font_size)
    for r in faces:
        if "box" in r.details:
            box = [round(v * scale) for v in r.details["box"]]
            color = _color(r.label)
            draw.rectangle(box, outline=color, width=width)
            _label(draw, image.size, box, f"{r.group or 'face'}: {r.label} "
                   f"{r.confidence:.0%}", color, font_size)


def _label(draw: ImageDraw.ImageDraw, canvas: tuple[int, int], box: list[int], text: str,
           color: str, size: int) -> None:
    """``text`` on a ``color`` tag just above the box, inside it when there is no room."""
    font = _font(size, text)
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    w, h = x1 - x0 + 6, y1 - y0 + 6
    x = min(max(0, box[0]), max(0, canvas[0] - w))
    y = box[1] - h if box[1] - h >= 0 else box[1]
    draw.rectangle((x, y, x + w, y + h), fill=color)
    draw.text((x + 3 - x0, y + 3 - y0), text, fill=_ink(color), font=font)


def _with_header(image: Image.Image, text: str, size: int) -> Image.Image:
    """The image under a white strip holding ``text``."""
    font = _font(size, text)
    height = size + 2 * _PAD
    out = Image.new("RGB", (image.width, image.height + height), "white")
    out.paste(image, (0, height))
    ImageDraw.Draw(out).text((_PAD // 2, _PAD), text, fill="#222222", font=font)
    return out


def _tile(tiles: list[Image.Image], title: str) -> Image.Image:
    """Tiles in rows of ``COLUMNS`` under a title."""
    columns = min(COLUMNS, len(tiles))
    rows = math.ceil(len(tiles) / columns)
    w, h = max(t.width for t in tiles), max(t.height for t in tiles)
    top = 16 + 2 * _PAD
    sheet = Image.new("RGB", (columns * (w + _PAD) + _PAD, top + rows * (h + _PAD)), "white")
    ImageDraw.Draw(sheet).text((_PAD, _PAD), title, fill="#222222", font=_font(16, title))
    for k, tile in enumerate(tiles):
        sheet.paste(tile, (_PAD + (k % columns) * (w + _PAD), top + (k // columns) * (h + _PAD)))
    return sheet


def _save(image: Image.Image, out_png: str | Path) -> Path:
    path = Path(out_png)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path


# -- small helpers --------------------------------------------------------------------------


def _spans(r: EmotionResult, t: float) -> bool:
    return r.t_start is not None and r.t_end is not None and r.t_start - 1e-6 <= t < r.t_end


def _overall(fused: Sequence[EmotionResult], t: float) -> str:
    here = next((r for r in fused if _spans(r, t)), None)
    return f"overall: {here.label} {here.confidence:.0%}" if here else "nothing fused here"


def _clock(t: float) -> str:
    """Seconds as m:ss.s (h:mm:ss past an hour)."""
    if t >= 3600:
        return f"{int(t // 3600)}:{int(t % 3600 // 60):02d}:{int(t % 60):02d}"
    return f"{int(t // 60)}:{t % 60:04.1f}"


def _color(label: str) -> str:
    from emolens.viz.charts import EMOTION_COLORS

    return EMOTION_COLORS.get(label, "#17becf")


def _ink(color: str) -> str:
    """Black or white text, whichever reads better on ``color``."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "#ffffff"


def _font(size: int, text: str) -> ImageFont.FreeTypeFont:
    """DejaVu Sans (matplotlib's own), or the CJK font of the charts for Chinese text."""
    wide = any(ord(c) > 0x2FF for c in text)
    return _load_font(_cjk_font_file() if wide else None, size)


@functools.cache
def _load_font(path: str | None, size: int) -> ImageFont.FreeTypeFont:
    import matplotlib

    default = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    return ImageFont.truetype(path or str(default), size)


@functools.cache
def _cjk_font_file() -> str | None:
    from matplotlib import font_manager

    from emolens.viz.charts import cjk_font

    family = cjk_font()
    if family is None:
        return None
    try:
        return str(font_manager.findfont(font_manager.FontProperties(family=family),
                                         fallback_to_default=False))
    except ValueError:
        return None

