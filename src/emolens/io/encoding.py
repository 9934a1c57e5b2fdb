"""Telling text from binary, and which encoding a text file uses, from a sample of its bytes.

Order of preference: a BOM (UTF-8, UTF-16), then UTF-8, then the legacy encoding that reads
most plausibly among GB18030 (a superset of GBK and GB2312, which Chinese Excel exports use),
Big5 (Traditional Chinese, Taiwan and Hong Kong) and Windows-1252 (Western European, a superset
of Latin-1), then charset_normalizer's best guess. A file that is UTF-8 apart from a few broken
lines stays UTF-8: those lines become row errors, not the file.

Almost any run of bytes decodes as GB18030, so decoding without error proves little: a Big5
file read as GB18030 gives rare characters and Cyrillic letters (钮硂и螟筁), and "Crème"
in Windows-1252 gives "Cr鑝e". So each candidate that decodes is scored by the share of its
non-ASCII characters that are common in that encoding's own script (``_PLAUSIBLE``).
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from emolens.errors import InvalidInputError

SAMPLE_BYTES = 1 << 20
# Bytes that did not decode, kept by errors="surrogateescape" (file rows, command arguments).
UNDECODABLE = re.compile("[\udc80-\udcff]")
# A lone surrogate (JSON's "\ud800" escape, or such bytes) is no character: it cannot be
# encoded to be analysed or stored.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")

# Leading bytes of common binary formats people rename or export by mistake.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (if it is an Excel workbook, name it .xlsx)"),
    (b"\xd0\xcf\x11\xe0", "an old Office document (save an .xls as .xlsx or CSV first)"),
    (b"\x1f\x8b", "a gzip archive (decompress it first)"),
    (b"BZh", "a bzip2 archive (decompress it first)"),
    (b"\xfd7zXZ", "an xz archive (decompress it first)"),
    (b"\x7fELF", "a program"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"PAR1", "a Parquet file (name it .parquet)"),
)
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE, whose BOM is its prefix
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Control bytes that plain text does not contain (tab, newlines, form feed, escape are fine).
_CONTROL = bytes(b for b in range(1, 32) if b not in b"\t\n\r\x0c\x1b\x08")


def read_sample(path: Path, size: int = SAMPLE_BYTES) -> tuple[bytes, bool]:
    """The first ``size`` bytes of a file, and whether they are the whole file."""
    with open(path, "rb") as fh:
        sample = fh.read(size + 1)
    return sample[:size], len(sample) <= size


def bom_encoding(sample: bytes) -> str | None:
    """The encoding named by a byte-order mark at the start of ``sample``, if any."""
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    return None


def check_not_binary(path: Path, sample: bytes) -> None:
    """Raise InvalidInputError when the sample looks like binary data rather than text."""
    for magic, what in _MAGIC:
        if sample.startswith(magic):
            raise InvalidInputError(f"{path} looks binary: it is {what}, not a text file.")
    if bom_encoding(sample) is not None or not sample:
        return
    head = sample[:65536]
    nul_share = head.count(0) / len(head)
    control_share = sum(head.count(b) for b in _CONTROL) / len(head)
    # Text has next to no NUL or control bytes; compressed or binary data has ~0.4 % and ~10 %.
    if nul_share > 0.001 or control_share > 0.02:
        raise InvalidInputError(
            f"{path} looks binary ({nul_share:.1%} NUL bytes, {control_share:.1%} control "
            "bytes), not a text file. UTF-16 text needs a byte-order mark; re-save it as UTF-8."
        )


def _lines(sample: bytes, complete: bool) -> list[bytes]:
    lines = sample.split(b"\n")
    if not complete and len(lines) > 1:
        lines.pop()  # cut mid-line, maybe mid-character
    return lines


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _gb_common(char: str) -> bool:
    """A GB2312 hanzi, or CJK punctuation or a full-width form (GB2312 rows 1 and 3)."""
    try:
        lead = char.encode("gb2312")[0]
    except UnicodeEncodeError:
        return False
    return lead in (0xA1, 0xA3) or 0xB0 <= lead <= 0xF7


def _big5_common(char: str) -> bool:
    """A Big5 level-1 (frequent) hanzi, or Big5 punctuation and symbols."""
    try:
        lead = char.encode("big5")[0]
    except UnicodeEncodeError:
        return False
    return 0xA1 <= lead <= 0xC6


_WESTERN = frozenset("’‘“”–—…€•™°©®«»¿¡£§¢\xa0")


def _western_common(char: str) -> bool:
    """A Latin-1 letter (é, ß, ñ...) or typographic punctuation."""
    return ("\xc0" <= char <= "\xff" and char not in "×÷") or char in _WESTERN


# Candidate legacy encodings, in order of preference on a tie, with their common characters.
_PLAUSIBLE = (("gb18030", _gb_common), ("big5", _big5_common), ("cp1252", _western_common))
_SCORED_CHARS = 20_000  # enough to judge; scoring a whole 1 MB sample would take a while


def _plausible_legacy(lines: list[bytes]) -> str | None:
    """The candidate of ``_PLAUSIBLE`` that decodes every line and reads most plausibly;
    None when none decodes them all, or the best reads less than half plausibly."""
    data = b"\n".join(lines)
    best, best_share = None, 0.5
    for encoding, common in _PLAUSIBLE:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        chars = [c for c in text if c >= "\x80" and c <= "\uffff"][:_SCORED_CHARS]
        share = sum(map(common, chars)) / len(chars) if chars else 0.0
        if share > best_share:
            best, best_share = encoding, share
    return best


def guess_encoding(path: Path, sample: bytes, complete: bool) -> str:
    """Encoding of a text file, judged from its first bytes (see the module docstring)."""
    bom = bom_encoding(sample)
    if bom is not None:
        return bom
    non_ascii = [line for line in _lines(sample, complete) if max(line, default=0) >= 0x80]
    utf8_bad = sum(not _decodes(line, "utf-8") for line in non_ascii)
    if utf8_bad == 0:
        return "utf-8"
    utf8_good = len(non_ascii) - utf8_bad
    if utf8_bad > utf8_good and (legacy := _plausible_legacy(non_ascii)) is not None:
        return legacy
    if utf8_good > 0:
        return "utf-8"  # mostly UTF-8: the broken lines become row errors
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        raise InvalidInputError(
            f"Cannot tell which text encoding {path} uses (it is not UTF-8, GB18030, Big5, "
            "Windows-1252 or UTF-16); "
            "re-save it as UTF-8."
        )
    return best.encoding


def detect_encoding(path: str | Path) -> str:
    """Encoding of the text file at ``path``; raises InvalidInputError for binary files."""
    path = Path(path)
    sample, complete = read_sample(path)
    check_not_binary(path, sample)
    return guess_encoding(path, sample, complete)
