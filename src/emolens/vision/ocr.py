"""On-screen text: OCR of sampled frames (rapidocr, PP-OCR ONNX) and caption de-duplication.

``TextReader`` reads Chinese and English lines from one RGB frame with the PP-OCRv6 detection
and recognition models that ship inside the ``rapidocr`` wheel; it points rapidocr at those
files explicitly, so nothing is ever downloaded. ``CaptionTracker`` turns the lines of
successive samples into caption events: the same caption on consecutive samples is one event
over their span, OCR variants a character or two apart are merged, and a caption that leaves
and comes back is a new event. ``group_regions`` and ``join_lines`` make one text per caption
block for the text recognizer.
"""

from __future__ import annotations

import importlib.util
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emolens.errors import InvalidInputError, MissingExtraError, ModelFileError

# The models rapidocr 3.x carries in its wheel (rapidocr/models/).
DET_MODEL = "PP-OCRv6_det_small.onnx"
REC_MODEL = "PP-OCRv6_rec_small.onnx"
CLS_MODEL = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"
# The name stored in video and image model ids: keep it in step with DET_MODEL / REC_MODEL,
# so results read by other OCR models are stored apart.
OCR_MODEL = "PP-OCRv6-small"
MIN_SCORE = 0.6  # recognition score below which a line is dropped

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in the pixels of the frame given


@dataclass(frozen=True)
class TextLine:
    """One line of text found in a frame, with its axis-aligned box and recognition score."""

    text: str
    box: Box
    score: float

    @property
    def height(self) -> int:
        """Box height in pixels (at least 1)."""
        return max(1, self.box[3] - self.box[1])

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"text": self.text, "box": list(self.box), "score": self.score}


@dataclass(frozen=True)
class Caption:
    """A de-duplicated caption: its text and the first and last sample times it was seen."""

    text: str
    t_start: float
    t_end: float
    score: float  # mean recognition score over the samples that saw it
    samples: int  # how many samples saw it
    box: Box  # where it was last seen

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        out = asdict(self)
        out["box"] = list(self.box)
        return out


def rapidocr_model_dir() -> Path:
    """Folder of the ONNX models packaged in the installed rapidocr wheel."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or spec.origin is None:
        raise MissingExtraError("On-screen text (OCR)", "video")
    folder = Path(spec.origin).parent / "models"
    missing = [name for name in (DET_MODEL, REC_MODEL) if not (folder / name).is_file()]
    if missing:
        raise ModelFileError(
            f"rapidocr's packaged models {missing} are missing from {folder}; "
            "reinstall rapidocr==3.10.0 (its wheel carries them)"
        )
    return folder


class TextReader:
    """Reads Chinese and English text lines from RGB frames, in reading order."""

    def __init__(self, *, min_score: float = MIN_SCORE, det_side: int = 960, max_side: int = 1920,
                 use_angle_cls: bool = False, threads: int | None = None) -> None:
        for extra_module in ("rapidocr", "onnxruntime", "cv2"):
            if importlib.util.find_spec(extra_module) is None:
                raise MissingExtraError("On-screen text (OCR)", "video")
        if not 0.0 <= min_score <= 1.0:
            raise InvalidInputError(f"min_score must be within [0, 1], got {min_score}")
        if det_side < 32 or max_side < 32:
            raise InvalidInputError(
                f"det_side and max_side must be >= 32 pixels, got {det_side} and {max_side}"
            )
        self.min_score = min_score
        self.det_side = det_side  # detection sees the frame with its longer side <= this
        self.max_side = max_side  # larger frames are shrunk first (recognition crops too)
        self.use_angle_cls = use_angle_cls  # captions are upright; the classifier costs time
        self.threads = threads
        self._engine: Any = None

    @property
    def model_id(self) -> str:
        """The OCR models and what changes the lines they return (score floor, angle
        classifier), e.g. 'PP-OCRv6-small' or 'PP-OCRv6-small/min0.7+cls'."""
        return (OCR_MODEL + ("" if self.min_score == MIN_SCORE else f"/min{self.min_score:g}")
                + ("+cls" if self.use_angle_cls else ""))

    def _load(self) -> Any:
        if self._engine is None:
            from rapidocr import RapidOCR

            folder = rapidocr_model_dir()
            params: dict[str, Any] = {
                "Global.log_level": "error",
                "Global.text_score": self.min_score,
                "Global.use_cls": self.use_angle_cls,
                "Global.max_side_len": 1 << 15,  # we shrink frames ourselves (boxes map back)
                "Det.model_path": str(folder / DET_MODEL),
                "Det.limit_type": "max",
                "Det.limit_side_len": self.det_side,
                "Rec.model_path": str(folder / REC_MODEL),
                "Cls.model_path": str(folder / CLS_MODEL),
            }
            if self.threads:
                params["EngineConfig.onnxruntime.intra_op_num_threads"] = self.threads
                params["EngineConfig.onnxruntime.inter_op_num_threads"] = 1
            self._engine = RapidOCR(params=params)
        return self._engine

    def read(self, frame: np.ndarray) -> list[TextLine]:
        """Text lines of one RGB uint8 frame (H, W, 3), in reading order; [] when none."""
        import cv2

        frame = _check_frame(frame)
        height, width = frame.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        bgr = np.ascontiguousarray(frame[..., ::-1])  # rapidocr takes arrays as BGR
        result = self._load()(bgr)
        if result.boxes is None or result.txts is None:
            return []
        lines = []
        for quad, text, score in zip(result.boxes, result.txts, result.scores, strict=True):
            text = " ".join(str(text).split())
            if not text or score < self.min_score:
                continue
            quad = np.asarray(quad, np.float64) / scale
            x0, y0 = np.floor(quad.min(axis=0)).astype(int)
            x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
            box = (max(0, int(x0)), max(0, int(y0)), min(width, int(x1)), min(height, int(y1)))
            lines.append(TextLine(text, box, round(float(score), 4)))
        return reading_order(lines)


def _check_frame(frame: np.ndarray) -> np.ndarray:
    if not isinstance(frame, np.ndarray):
        raise InvalidInputError(f"A frame must be a numpy array, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise InvalidInputError(f"A frame must be uint8 RGB, got dtype {frame.dtype}")
    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4) or min(frame.shape[:2]) < 1:
        raise InvalidInputError(f"A frame must have shape (H, W, 3), got {frame.shape}")
    return frame[..., :3]


def reading_order(lines: Sequence[TextLine]) -> list[TextLine]:
    """Lines top to bottom, and left to right within a row (lines that overlap vertically)."""
    rows: list[list[TextLine]] = []
    for line in sorted(lines, key=lambda item: (item.box[1] + item.box[3]) / 2):
        center = (line.box[1] + line.box[3]) / 2
        for row in rows:
            top = min(item.box[1] for item in row)
            bottom = max(item.box[3] for item in row)
            if top <= center <= bottom and _similar_height(line, row[0]):
                row.append(line)
                break
        else:
            rows.append([line])
    return [line for row in rows for line in sorted(row, key=lambda item: item.box[0])]


def _similar_height(a: TextLine, b: TextLine, ratio: float = 1.8) -> bool:
    return max(a.height, b.height) <= ratio * min(a.height, b.height)


def _near(a: TextLine, b: TextLine) -> bool:
    """Same block: similar text size, at most ~one line apart, overlapping or adjacent."""
    if not _similar_height(a, b):
        return False
    size = max(a.height, b.height)
    gap_y = max(a.box[1], b.box[1]) - min(a.box[3], b.box[3])
    gap_x = max(a.box[0], b.box[0]) - min(a.box[2], b.box[2])
    return gap_y <= 0.8 * size and gap_x <= 1.5 * size


def group_regions(lines: Sequence[TextLine]) -> list[list[TextLine]]:
    """Lines grouped into text blocks (a two-line subtitle, a title, a sign), each in order."""
    parent = list(range(len(lines)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(lines)):
        for j in range(i + 1, len(lines)):
            if _near(lines[i], lines[j]):
                parent[root(i)] = root(j)
    blocks: dict[int, list[TextLine]] = {}
    for i, line in enumerate(lines):
        blocks.setdefault(root(i), []).append(line)
    regions = [reading_order(block) for block in blocks.values()]
    return sorted(regions, key=lambda r: (min(x.box[1] for x in r), min(x.box[0] for x in r)))


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return (
        0x2E80 <= code <= 0x9FFF  # radicals, CJK punctuation, kana, unified ideographs
        or 0xF900 <= code <= 0xFAFF
        or 0xFF00 <= code <= 0xFFEF  # full-width forms (，！？)
        or 0x20000 <= code <= 0x3FFFF
    )


def join_lines(lines: Sequence[TextLine]) -> str:
    """One text from lines in reading order: no space between Chinese pieces, else a space."""
    text = ""
    for line in reading_order(lines):
        piece = line.text.strip()
        if not piece:
            continue
        if text and not (_is_cjk(text[-1]) or _is_cjk(piece[0])):
            text += " "
        text += piece
    return text


def _key(text: str) -> str:
    """Comparison form: NFKC, case-folded, letters and digits only."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


def similarity(a: str, b: str) -> float:
    """Similarity ratio in [0, 1] of two texts' comparison forms (1 = same letters)."""
    a, b = _key(a), _key(b)
    if not a or not b:
        return float(a == b)
    try:
        from rapidfuzz.fuzz import ratio
    except ImportError:  # pragma: no cover - rapidfuzz is optional
        from difflib import SequenceMatcher

        return SequenceMatcher(None, a, b, autojunk=False).ratio()
    return ratio(a, b) / 100.0


@dataclass
class _Open:
    t_start: float
    t_end: float
    box: Box
    variants: dict[str, list[float]] = field(default_factory=dict)  # text -> scores seen
    missed: int = 0

    @property
    def text(self) -> str:
        # The reading seen most often; ties go to the better-scored one.
        return max(self.variants, key=lambda t: (len(self.variants[t]), sum(self.variants[t])))

    def add(self, t: float, text: str, score: float, box: Box) -> None:
        self.variants.setdefault(text, []).append(score)
        self.t_end, self.box, self.missed = t, box, 0

    def close(self) -> Caption:
        scores = [s for values in self.variants.values() for s in values]
        return Caption(self.text, self.t_start, self.t_end, round(float(np.mean(scores)), 4),
                       len(scores), self.box)


class CaptionTracker:
    """Caption events from per-sample OCR lines: push (time, lines), get closed captions back.

    A caption's ``t_end`` is the time of the last sample that saw it; it left the screen some
    time before the next sample.
    """

    def __init__(self, *, min_similarity: float = 0.8, max_missed: int = 0,
                 min_samples: int = 1, min_chars: int = 1) -> None:
        if not 0.0 < min_similarity <= 1.0:
            raise InvalidInputError(f"min_similarity must be within (0, 1], got {min_similarity}")
        self.min_similarity = min_similarity  # texts this similar are the same caption
        self.max_missed = max_missed  # samples a caption may be unread and still continue
        self.min_samples = min_samples  # shorter events are dropped (flashes, OCR noise)
        self.min_chars = min_chars  # texts with fewer letters or digits are ignored
        self._open: list[_Open] = []
        self._last_t: float | None = None

    def push(self, t: float, lines: Sequence[TextLine]) -> list[Caption]:
        """Take one sample's lines; return the captions that ended before it, oldest first."""
        if self._last_t is not None and t < self._last_t:
            raise InvalidInputError(f"Samples must come in time order: {t} after {self._last_t}")
        self._last_t = t
        found = []
        for region in group_regions(lines):
            text = join_lines(region)
            if len(_key(text)) >= self.min_chars:
                score = float(np.mean([line.score for line in region]))
                found.append((text, score, _union(region)))
        pairs = sorted(
            ((similarity(event.text, text), i, j)
             for i, event in enumerate(self._open) for j, (text, _, _) in enumerate(found)),
            reverse=True,
        )
        used_events: set[int] = set()
        used_texts: set[int] = set()
        for sim, i, j in pairs:
            if sim < self.min_similarity:
                break
            if i not in used_events and j not in used_texts:
                used_events.add(i)
                used_texts.add(j)
                self._open[i].add(t, *found[j])
        closed, still_open = [], []
        for i, event in enumerate(self._open):
            if i not in used_events:
                event.missed += 1
            (closed if event.missed > self.max_missed else still_open).append(event)
        for j, (text, score, box) in enumerate(found):
            if j not in used_texts:
                event = _Open(t, t, box)
                event.add(t, text, score, box)
                still_open.append(event)
        self._open = still_open
        return self._finish(closed)

    def flush(self) -> list[Caption]:
        """Close every open caption (end of the video); return them, oldest first."""
        closed, self._open = self._open, []
        return self._finish(closed)

    def _finish(self, events: list[_Open]) -> list[Caption]:
        captions = [event.close() for event in events]
        captions = [c for c in captions if c.samples >= self.min_samples]
        return sorted(captions, key=lambda c: (c.t_start, c.box[1], c.box[0]))

    def track(self, samples: Iterable[tuple[float, Sequence[TextLine]]]) -> Iterator[Caption]:
        """Captions of a whole sequence of (time, lines) samples, as each one closes."""
        for t, lines in samples:
            yield from self.push(t, lines)
        yield from self.flush()


def _union(lines: Sequence[TextLine]) -> Box:
    return (min(x.box[0] for x in lines), min(x.box[1] for x in lines),
            max(x.box[2] for x in lines), max(x.box[3] for x in lines))
