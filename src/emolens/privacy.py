"""Personal data redaction: emails, phone numbers, ID numbers, URLs and @handles; and
salted hashes of authors.

Used before any text leaves the machine (the LLM recognizer) and, later, before storing.
Each match becomes a placeholder such as ``[EMAIL]``; ``Redacted`` keeps where every
placeholder came from, so positions in the redacted text map back to the original.

The patterns favour recall: a number that merely looks like a phone or an ID number is
replaced too. They never touch ordinary dates (2024-05-01, 01.05.2024), clock times, or
amounts with a decimal point or thousands separators.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

KINDS: tuple[str, ...] = ("url", "email", "cn_id", "id_number", "phone", "handle")
PLACEHOLDERS: dict[str, str] = {
    "url": "[URL]",
    "email": "[EMAIL]",
    "cn_id": "[ID]",
    "id_number": "[ID]",
    "phone": "[PHONE]",
    "handle": "[HANDLE]",
}

# Chinese text has no spaces, so boundaries look at ASCII letters and digits only.
_ASCII_WORD = "0-9A-Za-z_"
# ASCII mode: case-insensitive Unicode matching would let "i" match "İ", which the
# excluded non-ASCII range holds, and cut "x.io" short.
_URL = re.compile(
    r"(?<![0-9a-z])(?:https?://|ftp://|www\.)[^\s<>\"'\u0080-\U0010ffff]+"
    r"|(?<![0-9a-z.-])[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|io|cn|co|me|ly|gl|info)/"
    r"[^\s<>\"'\u0080-\U0010ffff]*",
    re.IGNORECASE | re.ASCII,
)
# The local part may hold accented Latin letters (Jörg@...), not Chinese: Chinese prose
# runs straight into an address ("发到abc@x.com") and must not be swallowed.
# The lookbehind starts a match only at the start of a run: otherwise a long run without an
# @ would be rescanned from each of its characters (quadratic time).
_EMAIL = re.compile(
    r"(?<![0-9a-z\u00c0-\u024f._%+-])[0-9a-z\u00c0-\u024f._%+-]+"
    r"@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}",
    re.IGNORECASE | re.ASCII,
)
# Mainland resident ID: 6-digit region, birth date 18xx-20xx, 3-digit sequence, check digit.
_CN_ID = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}\d{7}[0-9Xx](?![0-9A-Za-z])")
# Other ID-like numbers: US SSN (123-45-6789) and card/account numbers of 13-19 digits,
# possibly grouped by spaces or dashes.
_ID_NUMBER = re.compile(
    rf"(?<![{_ASCII_WORD}-])\d{{3}}-\d{{2}}-\d{{4}}(?![{_ASCII_WORD}-])"
    rf"|(?<![{_ASCII_WORD}-])\d{{4}}(?:[ -]?\d{{4}}){{2,3}}(?:[ -]?\d{{1,3}})?(?![{_ASCII_WORD}-])"
)
# Chinese mobiles (+86 optional, 3-4-4 grouping allowed) and international or local numbers
# with 7-15 digits; candidates are checked by ``_is_phone`` (digit count, not a date).
_CN_MOBILE = re.compile(
    rf"(?<![{_ASCII_WORD}+])(?:(?:\+|00)86[ -]?)?1[3-9]\d[ -]?\d{{4}}[ -]?\d{{4}}"
    rf"(?![{_ASCII_WORD}])"
)
_PHONE = re.compile(
    rf"(?<![{_ASCII_WORD}+])(?:\+\d{{1,3}}[ .-]?)?(?:\(\d{{1,4}}\)[ .-]?)?\d{{2,4}}"
    rf"(?:[ .-]?\d{{2,4}}){{1,4}}(?![{_ASCII_WORD}])"
)
# Handles may be Chinese (Weibo); they end at a space or punctuation, at most 30 characters.
_HANDLE = re.compile(rf"(?<![{_ASCII_WORD}.@])@\w[\w.-]{{1,29}}")
_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")
_TIME_OR_SCORE = re.compile(r"\d{1,2}[:.]\d{2}")


def _is_phone(match: str) -> bool:
    digits = sum(ch.isdigit() for ch in match)
    if not 7 <= digits <= 15:
        return False
    plain = match.strip()
    if _DATE.fullmatch(plain) or _TIME_OR_SCORE.fullmatch(plain):
        return False
    # A bare run of digits is a phone only when long enough to be one (not a year, a count).
    return not (plain.isdigit() and digits < 8)


# In this order: URLs hold @ and digits, emails hold dots, an 18-digit ID would pass for a
# phone, a Chinese mobile with its +86 for a card number, a card number for nothing else.
_PATTERNS: tuple[tuple[str, re.Pattern[str], Callable[[str], bool] | None], ...] = (
    ("url", _URL, None),
    ("email", _EMAIL, None),
    ("cn_id", _CN_ID, None),
    ("phone", _CN_MOBILE, None),
    ("id_number", _ID_NUMBER, None),
    ("phone", _PHONE, _is_phone),
    ("handle", _HANDLE, None),
)


@dataclass(frozen=True)
class Replacement:
    """One placeholder: its kind and where it sits in the original and the redacted text."""

    kind: str
    start: int  # in the original text
    end: int
    red_start: int  # in the redacted text
    red_end: int


@dataclass
class Redacted:
    """A redacted text and the replacements made in it, in order."""

    original: str
    text: str
    replacements: list[Replacement] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many of each kind were replaced."""
        out: dict[str, int] = {}
        for r in self.replacements:
            out[r.kind] = out.get(r.kind, 0) + 1
        return out

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """The original text's span for the redacted span [start, end).

        A span boundary inside a placeholder widens to the whole replaced original.
        """
        return self._position(start, at_end=False), self._position(end, at_end=True)

    def _position(self, pos: int, at_end: bool) -> int:
        shift = 0
        for r in self.replacements:
            if pos <= r.red_start:
                break
            if pos < r.red_end:  # inside a placeholder
                return r.end if at_end else r.start
            shift = r.end - r.red_end
        return pos + shift


def redact(text: str, kinds: Iterable[str] = KINDS) -> Redacted:
    """``text`` with every match of ``kinds`` (see ``KINDS``) replaced by its placeholder."""
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"Unknown redaction kinds {sorted(unknown)}; known: {list(KINDS)}")
    spans: list[tuple[int, int, str]] = []
    taken = [False] * (len(text) + 1)
    wanted = set(kinds)
    for kind, pattern, accept in _PATTERNS:
        if kind not in wanted:
            continue
        for m in pattern.finditer(text):
            start, end = m.span()
            end = _trim_trailing_punctuation(text, start, end) if kind == "url" else end
            if end <= start or any(taken[start:end]):
                continue
            if accept is not None and not accept(text[start:end]):
                continue
            spans.append((start, end, kind))
            taken[start:end] = [True] * (end - start)
    return _apply(text, sorted(spans))


def _trim_trailing_punctuation(text: str, start: int, end: int) -> int:
    """URLs in prose often end with a full stop, comma or closing bracket that is not theirs."""
    while end > start and text[end - 1] in ".,;:!?)]}'\"":
        end -= 1
    return end


def _apply(text: str, spans: list[tuple[int, int, str]]) -> Redacted:
    parts: list[str] = []
    replacements: list[Replacement] = []
    pos = out_len = 0
    for start, end, kind in spans:
        parts.append(text[pos:start])
        out_len += start - pos
        placeholder = PLACEHOLDERS[kind]
        replacements.append(Replacement(kind, start, end, out_len, out_len + len(placeholder)))
        parts.append(placeholder)
        out_len += len(placeholder)
        pos = end
    parts.append(text[pos:])
    return Redacted(text, "".join(parts), replacements)


def is_loopback_url(url: str) -> bool:
    """True when the URL's host is localhost, 127.0.0.0/8 or ::1 (nothing leaves the machine)."""
    host = urlsplit(url if "//" in url else f"//{url}").hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redaction_default(url: str, forced: bool | None = None) -> bool:
    """Whether to redact text sent to ``url``: ``forced`` if given, else on unless loopback."""
    return forced if forced is not None else not is_loopback_url(url)


def hash_author(author: str, salt: str) -> str:
    """Salted SHA-256 of an author's name or handle (hex), so that authors can be counted and
    deleted on request without being stored; the same salt gives the same hash."""
    if not salt:
        raise ValueError("hashing authors needs a salt (the author_salt setting)")
    data = f"{salt}\x1f{author.strip()}".encode("utf-8", errors="surrogatepass")
    return hashlib.sha256(data).hexdigest()
