"""The LLM recognizer against a real OpenAI-compatible HTTP server on loopback (tests/llm_fake.py).

Every case scripts what the server answers and checks what it received.
"""

from __future__ import annotations

import json
import socket
import time

import numpy as np
import pytest
from llm_fake import FakeLLM, Reply, answer, sent_text

from emolens.errors import InvalidInputError
from emolens.labels import CANONICAL
from emolens.llm.cache import AnswerCache
from emolens.llm.client import OpenAICompatClient
from emolens.llm.errors import LLMAnswerError, LLMRequestError
from emolens.llm.outcome import Annotation, ItemFailure
from emolens.llm.recognizer import LLMRecognizer
from emolens.pipeline import Analyzer

FLIGHT = "I can't believe they cancelled my flight again"


@pytest.fixture
def fake():
    with FakeLLM() as server:
        yield server


def make(fake: FakeLLM, *, cache: AnswerCache | None = None, model: str = "fake-model",
         timeout: float = 5.0, max_retries: int = 2, api_key: str | None = None,
         concurrency: int = 4, **kwargs) -> LLMRecognizer:
    client = OpenAICompatClient(fake.url, model, api_key, timeout=timeout,
                                max_retries=max_retries, backoff=0.01, concurrency=concurrency)
    return LLMRecognizer(client, cache=cache, concurrency=concurrency, **kwargs)


def test_intensities_become_a_distribution(fake):
    fake.script_for(FLIGHT, Reply(answer({"anger": 0.8, "sadness": 0.4, "joy": 0.0},
                                         ["cancelled my flight again"], -0.6, 0.7)))
    recognizer = make(fake)
    probs = recognizer.predict_proba([FLIGHT])
    assert probs.shape == (1, len(CANONICAL))
    assert probs.sum() == pytest.approx(1.0)
    scores = dict(zip(CANONICAL, probs[0], strict=True))
    assert scores["anger"] == pytest.approx(2 / 3) and scores["sadness"] == pytest.approx(1 / 3)
    assert scores["joy"] == 0.0 and scores["neutral"] == 0.0
    result = Analyzer(recognizer).analyze_batch([FLIGHT])[0]  # answered from memory
    assert result.label == "anger" and result.model == "llm@fake-model/p1"
    assert result.details["llm"]["rationale"] == "It reads that way."
    assert result.details["llm"]["valence"] == -0.6
    assert len(fake.requests) == 1
    body = fake.bodies()[0]
    assert body["model"] == "fake-model" and body["temperature"] == 0.0
    assert "response_format" not in body
    assert sent_text(body) == FLIGHT


def test_empty_text_is_neutral_and_never_sent(fake):
    probs = make(fake).predict_proba(["", "  \n"])
    assert probs[:, CANONICAL.index("neutral")].tolist() == [1.0, 1.0]
    assert fake.requests == []


@pytest.mark.parametrize("wrap", [
    "Sure! Here is the analysis:\n{}\nLet me know if you need more.",
    "```json\n{}\n```",
    "Analysis: {} (done)",
])
def test_json_wrapped_in_prose_is_extracted(fake, wrap):
    fake.script_for(FLIGHT, Reply(wrap.replace("{}", answer({"anger": 0.9}))))
    outcome = make(fake).annotate([FLIGHT])[0]
    assert isinstance(outcome, Annotation) and outcome.label == "anger"
    assert "took the JSON object out of surrounding text" in outcome.repairs
    assert len(fake.requests) == 1


def test_invalid_json_is_sent_back_and_the_retry_used(fake):
    fake.script_for(FLIGHT, Reply("I think the author is angry."),
                    Reply(answer({"anger": 0.9})))
    recognizer = make(fake)
    outcome = recognizer.annotate([FLIGHT])[0]
    assert isinstance(outcome, Annotation) and outcome.label == "anger"
    assert outcome.attempts == 2 and outcome.tokens == 140  # both requests paid for
    assert len(fake.requests) == 2
    retry = fake.bodies()[1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": "I think the author is angry."}
    assert retry[-1]["role"] == "user" and "cannot be used" in retry[-1]["content"]
    assert recognizer.stats_.repairs == 1 and recognizer.stats_.requests == 2


def test_synonyms_are_mapped_without_asking_again(fake):
    fake.script_for(FLIGHT, Reply(answer({"Annoyance": 0.6, "happiness": 0.2, "anger": 0.5})))
    outcome = make(fake).annotate([FLIGHT])[0]
    assert isinstance(outcome, Annotation)
    assert outcome.intensities == {"anger": 0.6, "joy": 0.2}  # two angers: the higher one
    assert outcome.scores["anger"] == pytest.approx(0.75)
    assert len(fake.requests) == 1


def test_unknown_label_is_retried_a_bounded_number_of_times_then_reported(fake):
    bad = Reply(answer({"frustration": 0.9}))
    fake.script_for(FLIGHT, *[bad] * 6)  # enough for two rounds of 3 attempts
    recognizer = make(fake, max_repairs=2)
    outcomes = recognizer.annotate(["What a lovely day", FLIGHT])
    assert isinstance(outcomes[0], Annotation)
    failure = outcomes[1]
    assert isinstance(failure, ItemFailure)
    assert failure.index == 1 and failure.attempts == 3
    assert "frustration" in failure.reason and "after 3 attempts" in failure.reason
    assert str(failure).startswith("item 1 (\"I can't believe they cancelled my")
    assert fake.texts().count(FLIGHT) == 3  # 1 + max_repairs, not more
    assert recognizer.stats_.failures == 1 and recognizer.stats_.repairs == 2
    with pytest.raises(LLMAnswerError, match=r"1 of 2 items: item 1 \(\"I can't believe") as err:
        recognizer.predict_proba(["What a lovely day", FLIGHT])
    assert [f.index for f in err.value.failures] == [1]


def test_429_then_success(fake):
    fake.script_for(FLIGHT, Reply(status=429, body='{"error": "slow down"}',
                                  headers={"Retry-After": "0"}),
                    Reply(status=503, body="busy"),
                    Reply(answer({"anger": 0.9})))
    recognizer = make(fake, max_retries=2)
    outcome = recognizer.annotate([FLIGHT])[0]
    assert isinstance(outcome, Annotation) and outcome.label == "anger"
    assert len(fake.requests) == 3
    assert recognizer.stats_.retries == 2 and recognizer.stats_.requests == 3  # every request


def test_retries_are_bounded(fake):
    fake.script_for(FLIGHT, *[Reply(status=500, body="oops")] * 5)
    outcome = make(fake, max_retries=1).annotate([FLIGHT])[0]
    assert isinstance(outcome, ItemFailure)
    assert "HTTP 500" in outcome.reason and "after 1 retries" in outcome.reason
    assert len(fake.requests) == 2


def test_slow_reply_times_out_and_the_item_is_named(fake):
    fake.script_for(FLIGHT, Reply(answer({"anger": 1.0}), delay=1.5),
                    Reply(answer({"anger": 1.0}), delay=1.5))
    started = time.monotonic()
    outcomes = make(fake, timeout=0.3, max_retries=1).annotate(["fine", FLIGHT])
    assert time.monotonic() - started < 1.5  # gave up, did not wait for the slow replies
    assert isinstance(outcomes[0], Annotation)
    assert isinstance(outcomes[1], ItemFailure) and outcomes[1].index == 1
    assert "no answer within 0.3 s" in outcomes[1].reason
    assert fake.texts().count(FLIGHT) == 2


def test_a_refusal_is_raised_at_once(fake):
    fake.script(Reply(status=401, body='{"error": "bad key"}'))
    with pytest.raises(LLMRequestError, match="HTTP 401.*EMOLENS_LLM_API_KEY"):
        make(fake, api_key="wrong", concurrency=1).annotate([FLIGHT])
    assert len(fake.requests) == 1
    assert fake.requests[0]["headers"]["authorization"] == "Bearer wrong"


def test_tokens_are_counted_from_usage(fake):
    fake.script_for("b", Reply(answer({"neutral": 1.0}), usage=None))
    recognizer = make(fake)
    recognizer.annotate(["a", "b", "c"])
    stats = recognizer.stats_
    assert stats.requests == 3 and stats.items == 3
    assert (stats.prompt_tokens, stats.completion_tokens, stats.total_tokens) == (100, 40, 140)
    assert stats.without_usage == 1
    assert "tokens: 100 prompt + 40 completion = 140" in stats.summary()
    assert recognizer.reset_stats().total_tokens == 140 and recognizer.stats_.total_tokens == 0


def test_cache_hit_makes_no_request(fake, tmp_path):
    path = tmp_path / "answers.sqlite3"
    first = make(fake, cache=AnswerCache(path)).annotate([FLIGHT])[0]
    assert len(fake.requests) == 1 and not first.cached
    again = make(fake, cache=AnswerCache(path))  # a new process would start like this
    second = again.annotate([FLIGHT])[0]
    assert len(fake.requests) == 1
    assert second.cached and second.scores == first.scores
    assert first.tokens == second.tokens == 70  # what it cost, although not paid again
    assert again.stats_.cache_hits == 1 and again.stats_.total_tokens == 0
    make(fake, cache=AnswerCache(path), model="other-model").annotate([FLIGHT])
    assert len(fake.requests) == 2  # the model is part of the key


def test_failures_are_not_cached(fake, tmp_path):
    fake.script_for(FLIGHT, *[Reply("no idea")] * 3)
    cache = AnswerCache(tmp_path / "answers.sqlite3")
    assert isinstance(make(fake, cache=cache).annotate([FLIGHT])[0], ItemFailure)
    assert len(cache) == 0
    assert isinstance(make(fake, cache=cache).annotate([FLIGHT])[0], Annotation)


def test_repeated_texts_are_asked_once(fake):
    outcomes = make(fake).annotate(["same", "other", "same"])
    assert sorted(fake.texts()) == ["other", "same"]
    assert outcomes[0] == outcomes[2]


def test_requests_in_flight_are_limited(fake):
    fake.respond = lambda body: Reply(answer({"neutral": 1.0}), delay=0.2)
    make(fake, concurrency=2).annotate([f"text {i}" for i in range(6)])
    assert fake.max_in_flight == 2


def test_personal_data_is_redacted_before_the_request(fake):
    text = ("Mail me at jane@example.com or call 13812345678 now, ID 110101199003074518, "
            "see https://example.com/x @janedoe")
    fake.script_for(
        "Mail me at [EMAIL] or call [PHONE] now, ID [ID], see [URL] [HANDLE]",
        Reply(answer({"anger": 0.5}, ["call [PHONE] now"])),
    )
    outcome = make(fake, redact=True).annotate([text])[0]
    raw = json.dumps(fake.bodies(), ensure_ascii=False)
    for secret in ("jane@example.com", "13812345678", "110101199003074518",
                   "example.com/x", "@janedoe"):
        assert secret not in raw
    assert isinstance(outcome, Annotation)
    assert outcome.redacted == {"email": 1, "phone": 1, "cn_id": 1, "url": 1, "handle": 1}
    # the quote is checked against what was sent and placed in the original text
    [evidence] = outcome.evidence
    assert evidence.quote == "call 13812345678 now" == text[evidence.start : evidence.end]


def test_without_redaction_the_text_goes_as_it_is(fake):
    make(fake, redact=False).annotate(["mail jane@example.com"])
    assert fake.texts() == ["mail jane@example.com"]


def test_evidence_must_be_quoted_from_the_text(fake):
    text = "They cancelled   my\nflight AGAIN. Unbelievable."
    fake.script_for(text, Reply(answer({"anger": 0.9}, [
        "Unbelievable", "cancelled my flight", "terrible service", "again", ""])))
    outcome = make(fake).annotate([text])[0]
    assert isinstance(outcome, Annotation)
    quotes = [e.quote for e in outcome.evidence]
    assert quotes == ["Unbelievable", "cancelled   my\nflight"]  # white space may differ
    for e in outcome.evidence:
        assert text[e.start : e.end] == e.quote
    assert outcome.evidence_rejected == ["terrible service", "again"]  # case differs: not verbatim


def test_language_picks_the_prompt(fake):
    recognizer = make(fake)
    recognizer.annotate(["气死我了，快递又丢了", "The parcel is lost again"])
    systems = {sent_text(b): b["messages"][0]["content"] for b in fake.bodies()}
    assert "只回答一个 JSON 对象" in systems["气死我了，快递又丢了"]
    assert "Answer with exactly one JSON object" in systems["The parcel is lost again"]
    recognizer.annotate(["mixed text"], ["zh"])  # a given language wins over detection
    assert "只回答一个 JSON 对象" in fake.bodies()[-1]["messages"][0]["content"]


def test_json_schema_mode_and_its_fallback(fake):
    recognizer = make(fake, json_schema=True, concurrency=1)
    recognizer.annotate(["first"])
    fmt = fake.bodies()[0]["response_format"]
    assert fmt["type"] == "json_schema"
    enum = fmt["json_schema"]["schema"]["properties"]["emotions"]["items"]["properties"]["label"]
    assert enum["enum"] == list(CANONICAL)
    fake.script_for("second", Reply(status=400, body='{"error": "response_format unsupported"}'))
    outcome = recognizer.annotate(["second"])[0]
    assert isinstance(outcome, Annotation)
    assert "response_format" in fake.bodies()[1] and "response_format" not in fake.bodies()[2]
    recognizer.annotate(["third"])  # remembered: not offered again
    assert "response_format" not in fake.bodies()[3]


def test_a_label_set_of_your_own(fake):
    labels = ("frustrated", "grateful", "confused")
    fake.script_for(FLIGHT, Reply(answer({"Frustrated": 0.9, "confused": 0.3})))
    recognizer = make(fake, labels=labels)
    assert recognizer.scheme == "custom"
    result = Analyzer(recognizer).analyze_batch([FLIGHT])[0]
    assert list(result.scores) == list(labels) and result.label == "frustrated"
    assert result.scores["frustrated"] == pytest.approx(0.75) and result.valence is None
    system = fake.bodies()[0]["messages"][0]["content"]
    assert "frustrated, grateful, confused" in system and '"neutral"' not in system


def test_long_texts_are_cut_before_sending(fake):
    make(fake, max_chars=50).annotate(["word " * 1000])
    assert fake.texts() == [("word " * 1000)[:50]]


def test_probabilities_are_a_distribution_for_every_item(fake):
    texts = ["so happy today", "meh", "气死我了", "", "great news 开心"]
    probs = make(fake).predict_proba(texts)
    assert probs.shape == (5, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert probs[0, CANONICAL.index("joy")] == pytest.approx(0.8)


def test_an_unreachable_endpoint_stops_the_batch():
    with socket.socket() as probe:  # a loopback port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = OpenAICompatClient(f"http://127.0.0.1:{port}/v1", "m", max_retries=1, backoff=0.01)
    with pytest.raises(LLMRequestError, match="cannot connect.*after 1 retries"):
        LLMRecognizer(client).annotate(["a", "b", "c"])


def test_the_endpoint_must_be_an_http_url():
    with pytest.raises(InvalidInputError, match="http:// or https://"):
        OpenAICompatClient("localhost:11434/v1", "m")


def test_texts_are_cut_after_redaction(fake):
    text = "x" * 45 + " a.long.address@example.com, then more text, then 13812345678"
    outcome = make(fake, redact=True, max_chars=50).annotate([text])[0]
    assert fake.texts() == ["x" * 45 + " [EMA"]  # no half address left to leak
    assert outcome.redacted == {"email": 1}  # the phone number was not sent at all
