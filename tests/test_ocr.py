"""On-screen text: real rapidocr on rendered frames, and caption de-duplication."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import mplfonts
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from emolens.errors import InvalidInputError
from emolens.vision.ocr import (
    Caption,
    CaptionTracker,
    TextLine,
    TextReader,
    group_regions,
    join_lines,
    similarity,
)

LATIN_FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
CJK_FONT = Path(mplfonts.__file__).parent / "fonts" / "NotoSansCJKsc-Regular.otf"
EN = "Welcome to the evening news"
ZH = "今天天气很好我们去公园散步"


def render(size: tuple[int, int], text: str = "", font: Path = LATIN_FONT, px: int = 30,
           at: tuple[int, int] | None = None) -> np.ndarray:
    """A soft gradient frame with ``text`` in white on a dark caption band near the bottom."""
    width, height = size
    ramp = np.linspace(60, 190, width, dtype=np.float32)
    frame = np.repeat(np.stack([ramp, ramp * 0.8, ramp[::-1]], axis=-1)[None], height, axis=0)
    image = Image.fromarray(frame.astype(np.uint8))
    if text:
        draw = ImageDraw.Draw(image)
        face = ImageFont.truetype(str(font), px)
        x, y = at or (width // 10, height - 2 * px - 10)
        left, top, right, bottom = draw.textbbox((x, y), text, font=face)
        draw.rectangle((left - 8, top - 6, right + 8, bottom + 6), fill=(20, 20, 20))
        draw.text((x, y), text, font=face, fill=(255, 255, 255))
    return np.asarray(image)


@pytest.fixture(scope="module")
def reader() -> TextReader:
    pytest.importorskip("rapidocr", reason="needs the video extra")
    return TextReader(threads=2)


def test_reads_an_english_caption(reader: TextReader) -> None:
    lines = reader.read(render((640, 360), EN))
    assert len(lines) == 1
    assert similarity(lines[0].text, EN) >= 0.9, lines
    assert lines[0].score >= 0.6
    x0, y0, x1, y1 = lines[0].box
    assert 40 <= x0 < x1 <= 640 and 250 <= y0 < y1 <= 360


def test_reads_a_chinese_caption_in_a_large_frame(reader: TextReader) -> None:
    # 2560x1440 is shrunk to max_side=1920 first; the box must come back in frame pixels.
    frame = render((2560, 1440), ZH, font=CJK_FONT, px=72, at=(300, 1200))
    lines = reader.read(frame)
    assert similarity(join_lines(lines), ZH) >= 0.85, lines
    x0, y0, x1, y1 = lines[0].box
    assert abs(x0 - 300) < 40 and abs(y0 - 1210) < 40 and x1 > 1100


def test_an_empty_frame_gives_no_lines(reader: TextReader) -> None:
    assert reader.read(render((640, 360))) == []


def test_bad_frames_are_refused(reader: TextReader) -> None:
    with pytest.raises(InvalidInputError, match="uint8"):
        reader.read(np.zeros((36, 64, 3), np.float32))
    with pytest.raises(InvalidInputError, match="shape"):
        reader.read(np.zeros((36, 64, 5), np.uint8))


def test_real_ocr_sequence_becomes_caption_events(reader: TextReader) -> None:
    english = reader.read(render((640, 360), EN))
    chinese = reader.read(render((640, 360), ZH, font=CJK_FONT, px=28))
    samples = [english] * 5 + [chinese] * 3 + [[]] + [english] * 2
    events = list(CaptionTracker().track((0.5 * i, lines) for i, lines in enumerate(samples)))
    assert [(e.t_start, e.t_end, e.samples) for e in events] == [
        (0.0, 2.0, 5), (2.5, 3.5, 3), (4.5, 5.0, 2)
    ]
    assert similarity(events[1].text, ZH) >= 0.85
    assert events[0].text == events[2].text


def line(text: str, y: int = 300, x: int = 60, score: float = 0.95, h: int = 30) -> TextLine:
    return TextLine(text, (x, y, x + 20 * len(text), y + h), score)


def test_ocr_noise_variants_merge_and_the_common_reading_wins() -> None:
    readings = ["Welcome to the evening news", "Welcome to the evenlng news",
                "Welcome to the evening news", "Welcome  to the evening news.",
                "We1come to the evening news"]
    tracker = CaptionTracker()
    assert all(tracker.push(float(t), [line(text)]) == [] for t, text in enumerate(readings))
    (event,) = tracker.flush()
    assert (event.text, event.t_start, event.t_end, event.samples) == (readings[0], 0.0, 4.0, 5)


def test_short_chinese_captions_a_word_apart_stay_apart() -> None:
    events = list(CaptionTracker().track([(0.0, [line("我很开心")]), (1.0, [line("我很难过")])]))
    assert [e.text for e in events] == ["我很开心", "我很难过"]


def test_a_static_title_and_changing_subtitles_are_tracked_apart() -> None:
    title = line("LIVE 新闻直播", y=20, x=20, h=24)
    subs = ["First we look at the weather", "Then the markets today"]
    samples = [(float(t), [title, line(subs[t // 3])]) for t in range(6)]
    events = list(CaptionTracker().track(samples))
    got = sorted((e.text, e.t_start, e.t_end) for e in events)
    assert got == sorted([("LIVE 新闻直播", 0.0, 5.0), (subs[0], 0.0, 2.0), (subs[1], 3.0, 5.0)])


def test_a_missed_sample_is_bridged_only_when_allowed() -> None:
    samples = [(0.0, [line("Hello there")]), (1.0, []), (2.0, [line("Hello there")])]
    assert len(list(CaptionTracker().track(samples))) == 2
    (event,) = CaptionTracker(max_missed=1).track(samples)
    assert (event.t_start, event.t_end, event.samples) == (0.0, 2.0, 2)


def test_regions_and_joining() -> None:
    two_line_sub = [line("and then we", y=300), line("went home", y=335, x=80)]
    corner = line("频道一", y=10, x=500, h=20)
    regions = group_regions([two_line_sub[1], corner, two_line_sub[0]])
    assert [join_lines(r) for r in regions] == ["频道一", "and then we went home"]
    assert join_lines([line("我们去", y=300), line("公园", y=335)]) == "我们去公园"
    assert join_lines([line("好的", y=300), line("OK", y=335)]) == "好的OK"


def test_caption_to_dict_is_json_safe() -> None:
    caption = Caption("hi", 0.0, 1.0, 0.9, 2, (1, 2, 3, 4))
    assert caption.to_dict() == {"text": "hi", "t_start": 0.0, "t_end": 1.0, "score": 0.9,
                                 "samples": 2, "box": [1, 2, 3, 4]}
