"""AudioFeed: a live audio stream's buffer between the socket and the analysis thread, bounded in
seconds of audio; when the analysis is too far behind, the waiting audio is skipped (never
waited for), and results are put back on the stream's clock. No models: plain bytes.

The same behaviour over a real socket, with the real models, is in test_server_audio.py
(test_a_stream_too_far_behind_skips_audio_says_so_and_keeps_answering_pings).
"""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("fastapi", reason="needs the server extra: pip install 'emolens[server]'")

from emolens.server.settings import ServerSettings  # noqa: E402
from emolens.server.speech import AudioFeed, StreamAborted  # noqa: E402
from emolens.types import EmotionResult  # noqa: E402

RATE = 1000  # Hz: 100 ms frames of 100 samples, 200 bytes
FRAME = 200


def frame(k: int) -> bytes:
    return bytes([k % 250 + 1]) * FRAME  # never silence: each frame can be told apart


def take(items, n_bytes: int) -> bytes:
    """At least n_bytes from the feed's chunks, as one string."""
    out = b""
    while len(out) < n_bytes:
        out += next(items)
    return out


@pytest.fixture
def cpu():
    lock = threading.Lock()
    lock.acquire()  # the analysis thread holds it while it works, as SpeechService.run_stream
    return lock


def test_the_default_lag_limit_is_30_seconds_and_a_setting():
    assert ServerSettings().audio_max_lag_seconds == 30.0
    assert ServerSettings(audio_max_lag_seconds=2.5).audio_max_lag_seconds == 2.5
    with pytest.raises(ValueError):
        ServerSettings(audio_max_lag_seconds=0)


def test_audio_under_the_limit_waits_whole(cpu):
    feed = AudioFeed(RATE, max_lag=1.0)
    assert all(feed.put(frame(k)) is None for k in range(10))  # exactly 1.0 s waits
    assert feed.behind == pytest.approx(1.0)
    feed.end()
    assert b"".join(feed.chunks(cpu)) == b"".join(frame(k) for k in range(10))
    assert feed.skipped == 0 and feed.bytes == 10 * FRAME


def test_beyond_the_limit_all_but_the_newest_frame_is_skipped_and_said(cpu):
    feed = AudioFeed(RATE, max_lag=1.5)
    notes = [feed.put(frame(k)) for k in range(16)]
    assert notes[:15] == [None] * 15
    first = notes[15]
    assert (first.t_start, first.t_end, first.behind, first.total) == pytest.approx(
        (0.0, 1.5, 1.6, 1.5))
    assert feed.behind == pytest.approx(0.1)  # the newest frame waits: the stream is live again
    message = first.message(1.5)
    assert message["type"] == "skipped" and message["seconds"] == 1.5
    assert "1.6 s behind" in message["reason"] and "audio_max_lag_seconds (1.5 s)" in \
        message["reason"]

    items = feed.chunks(cpu)
    assert take(items, 2 * RATE) == bytes(2 * RATE)  # 1.5 s skipped: analysed as 1 s of silence
    assert take(items, FRAME) == frame(15)
    later = [feed.put(frame(k)) for k in range(16, 32)]
    second = later[-1]
    assert later[:-1] == [None] * 15
    assert (second.t_start, second.t_end, second.total) == pytest.approx((1.6, 3.1, 3.0))
    feed.end()
    assert b"".join(items) == bytes(2 * RATE) + frame(31)
    assert feed.skipped == 30 * FRAME and feed.bytes == 32 * FRAME

    # Analysed: silence 0-1, frame 15 at 1.0-1.1, silence 1.1-2.1, frame 31 at 2.1-2.2.
    assert feed.stream_time(1.05) == pytest.approx(1.55)  # frame 15 was sent at 1.5-1.6 s
    assert feed.stream_time(2.15) == pytest.approx(3.15)  # frame 31 at 3.1-3.2 s
    # A time in a gap's silence goes to the nearer edge of the skipped span, never inside it.
    assert feed.stream_time(0.2) == pytest.approx(0.0)
    assert feed.stream_time(0.8) == pytest.approx(1.5)
    assert feed.stream_time(1.3) == pytest.approx(1.6)
    assert feed.stream_time(1.9) == pytest.approx(3.1)
    result = feed.restamp(EmotionResult(text="", label="neutral", scores={"neutral": 1.0},
                                        model="m", t_start=1.3, t_end=2.15))
    assert (result.t_start, result.t_end) == pytest.approx((1.6, 3.15))


def test_skips_while_the_analysis_takes_nothing_make_one_gap(cpu):
    feed = AudioFeed(RATE, max_lag=1.0)
    notes = [n for k in range(25) if (n := feed.put(frame(k))) is not None]
    assert [x for n in notes for x in (n.t_start, n.t_end)] == pytest.approx([0, 1, 1, 2])
    feed.end()
    analysed = b"".join(feed.chunks(cpu))
    assert analysed == bytes(2 * RATE) + b"".join(frame(k) for k in range(20, 25))
    assert feed.stream_time(1.25) == pytest.approx(2.25)  # frame 22: 1.0 s of silence for 2 s


def test_a_gap_shorter_than_the_silence_cap_is_that_long(cpu):
    feed = AudioFeed(RATE, max_lag=0.3)
    for k in range(4):
        feed.put(frame(k))
    feed.end()
    assert b"".join(feed.chunks(cpu)) == bytes(3 * FRAME) + frame(3)
    assert feed.stream_time(0.35) == pytest.approx(0.35)


def test_an_odd_skipped_length_keeps_the_samples_aligned(cpu):
    feed = AudioFeed(RATE, max_lag=1.0)
    feed.put(b"\1" * 2001)
    assert feed.put(b"\2" * 3) is not None
    feed.end()
    analysed = b"".join(feed.chunks(cpu))
    assert len(analysed) % 2 == 0 and analysed.endswith(b"\2" * 3)


def test_the_analysis_waits_without_the_cpu_and_put_never_waits():
    cpu, feed, got = threading.Lock(), AudioFeed(RATE, max_lag=1.0), []
    working = threading.Event()

    def analysis() -> None:  # as SpeechService.run_stream
        with cpu:
            working.set()
            got.extend(feed.chunks(cpu))

    worker = threading.Thread(target=analysis)
    worker.start()
    assert working.wait(10)
    assert cpu.acquire(timeout=10)  # the analysis, with nothing to do, let go of it
    for k in range(30):  # it cannot take anything while the CPU is held here: skips
        feed.put(frame(k))
    assert feed.skipped > 0 and feed.behind <= 1.0
    cpu.release()
    feed.end()
    worker.join(10)
    assert not worker.is_alive() and got[-1] == frame(29)


def test_abort_stops_the_analysis_without_flushing(cpu):
    feed = AudioFeed(RATE, max_lag=1.0)
    feed.put(frame(0))
    feed.abort()
    with pytest.raises(StreamAborted):
        list(feed.chunks(cpu))
