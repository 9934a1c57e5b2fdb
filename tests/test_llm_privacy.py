"""Redaction of personal data (emolens.privacy) and the default decision to redact."""

from __future__ import annotations

import time

import pytest

from emolens.privacy import is_loopback_url, redact, redaction_default

CASES = [
    ("mail john.doe+tag@example.co.uk now", "mail [EMAIL] now", "email"),
    ("Mail: Jörg@ex.de", "Mail: [EMAIL]", "email"),
    ("发到abc@x.com吧", "发到[EMAIL]吧", "email"),
    ("call +1 (555) 123-4567.", "call [PHONE].", "phone"),
    ("UK +44 20 7946 0958", "UK [PHONE]", "phone"),
    ("landline 010-62345678", "landline [PHONE]", "phone"),
    ("我的手机是13812345678，谢谢", "我的手机是[PHONE]，谢谢", "phone"),
    ("+86 138-1234-5678 / 0086 13812345678", "[PHONE] / [PHONE]", "phone"),
    ("138 1234 5678", "[PHONE]", "phone"),
    ("身份证号110101199003074518，", "身份证号[ID]，", "cn_id"),
    ("ID 11010119900307451X ok", "ID [ID] ok", "cn_id"),
    ("SSN 123-45-6789", "SSN [ID]", "id_number"),
    ("card 4111 1111 1111 1111 or 4111111111111111", "card [ID] or [ID]", "id_number"),
    ("see https://example.com/a?b=c.", "see [URL].", "url"),
    ("HTTPS://WWW.SITE.IO/X?y=1 ok", "[URL] ok", "url"),
    ("见https://t.cn/A6x这里", "见[URL]这里", "url"),
    ("go to www.foo.org, or bit.ly/abc", "go to [URL], or [URL]", "url"),
    ("@united you lost my bag again!", "[HANDLE] you lost my bag again!", "handle"),
    ("回复@张三:好的", "回复[HANDLE]:好的", "handle"),
]

UNTOUCHED = [
    "Flight on 2024-05-01 at 10:30, cost 1,299.00",
    "01.05.2024 and 5.5.24 and 12/25/2024",
    "3 hours, year 2023, 15 people, version 1.2.3, room 12345, order 1234567",
    "score 3:2 at 21.45, temperature 36.6",
    "今天真开心[哈哈]",
]


@pytest.mark.parametrize(("text", "expected", "kind"), CASES)
def test_personal_data_is_replaced(text, expected, kind):
    redacted = redact(text)
    assert redacted.text == expected
    assert kind in redacted.counts()


@pytest.mark.parametrize("text", UNTOUCHED)
def test_dates_times_and_amounts_are_kept(text):
    assert redact(text).text == text


def test_only_the_kinds_asked_for():
    text = "mail a@b.com or call 13812345678"
    assert redact(text, kinds=["phone"]).text == "mail a@b.com or call [PHONE]"
    with pytest.raises(ValueError, match="Unknown redaction kinds"):
        redact(text, kinds=["names"])


def test_positions_map_back_to_the_original():
    original = "hi a@b.com, call 13812345678 now"
    redacted = redact(original)
    assert redacted.text == "hi [EMAIL], call [PHONE] now"
    at = redacted.text.index("now")
    assert redacted.to_original(at, at + 3) == (original.index("now"), original.index("now") + 3)
    # a span reaching into a placeholder widens to the whole replaced original
    start, end = redacted.to_original(0, redacted.text.index("[EMAIL]") + 2)
    assert original[start:end] == "hi a@b.com"
    start, end = redacted.to_original(redacted.text.index("call"), len(redacted.text))
    assert original[start:end] == "call 13812345678 now"


@pytest.mark.parametrize(("url", "loopback"), [
    ("http://127.0.0.1:11434/v1", True),
    ("http://localhost:8080/v1", True),
    ("http://[::1]:8000/v1", True),
    ("http://127.8.9.10/v1", True),
    ("https://api.openai.com/v1", False),
    ("http://192.168.1.20:11434/v1", False),
    ("http://0.0.0.0:8000/v1", False),
    ("http://localhost.example.com/v1", False),
])
def test_redaction_is_on_by_default_unless_loopback(url, loopback):
    assert is_loopback_url(url) is loopback
    assert redaction_default(url) is (not loopback)
    assert redaction_default(url, forced=True) is True
    assert redaction_default(url, forced=False) is False


@pytest.mark.parametrize("run", ["x", "a.", "ab-", "1 "])
def test_long_texts_take_linear_time(run):
    text = run * (200_000 // len(run)) + " mail a@b.com"
    started = time.monotonic()
    assert redact(text).text.endswith(" mail [EMAIL]")
    assert time.monotonic() - started < 5  # a quadratic pattern takes minutes here
