"""Decoding, voice-activity segmentation and Whisper ASR on real short audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("faster_whisper", reason="needs the audio extra")
av = pytest.importorskip("av")

from emolens.audio.decode import SAMPLE_RATE, iter_audio_blocks, load_audio, probe  # noqa: E402
from emolens.audio.vad import (  # noqa: E402
    Segmenter,
    SegmentOptions,
    SpeechProbability,
    speech_segments,
)
from emolens.errors import InvalidInputError  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "audio"
EN = FIXTURES / "en_flight.ogg"
ZH = FIXTURES / "zh_gift.ogg"


def write_audio(path: Path, samples: np.ndarray, rate: int = 16_000, codec: str = "pcm_s16le",
                channels: int = 1, video: bool = False) -> Path:
    """Encode float samples in [-1, 1] with PyAV (any container it writes)."""
    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(path), "w") as out:
        if video:
            vstream = out.add_stream("mpeg4", rate=10)
            vstream.width, vstream.height, vstream.pix_fmt = 64, 64, "yuv420p"
        stream = out.add_stream(codec, rate=rate, layout=layout)
        data = np.tile(samples.astype(np.float32), (channels, 1))
        fmt = stream.codec_context.format.name
        frame_size = 1024
        for start in range(0, samples.size, frame_size):
            chunk = data[:, start : start + frame_size]
            if fmt in ("s16", "s16p"):
                chunk = (np.clip(chunk, -1, 1) * 32767).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(chunk if fmt.endswith("p") else chunk.T.reshape(1, -1)),
                format=fmt, layout=layout,
            )
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
        if video:
            for i in range(int(samples.size / rate * 10)):
                image = np.full((64, 64, 3), i % 255, np.uint8)
                for packet in vstream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    out.mux(packet)
            for packet in vstream.encode(None):
                out.mux(packet)
    return path


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return load_audio(EN)


def test_decodes_opus_fixture_to_16k_mono(speech: np.ndarray) -> None:
    info = probe(EN)
    assert info.codec == "opus" and info.channels == 1
    assert speech.dtype == np.float32 and speech.ndim == 1
    assert abs(speech.size / SAMPLE_RATE - info.duration) < 0.1
    assert 0.1 < np.abs(speech).max() <= 1.0


@pytest.mark.parametrize(("suffix", "codec", "rate", "channels", "video"), [
    ("wav", "pcm_s16le", 44_100, 2, False),
    ("flac", "flac", 22_050, 1, False),
    ("m4a", "aac", 48_000, 2, False),
    ("mp4", "aac", 44_100, 1, True),
])
def test_any_container_rate_and_channels_give_the_same_audio(
    tmp_path: Path, speech: np.ndarray, suffix: str, codec: str, rate: int, channels: int,
    video: bool,
) -> None:
    from scipy.signal import resample_poly

    native = resample_poly(speech, rate // 100, 160).astype(np.float32) * 0.9
    path = write_audio(tmp_path / f"clip.{suffix}", native, rate, codec, channels, video)
    decoded = load_audio(path)
    assert abs(decoded.size - speech.size) < 0.05 * SAMPLE_RATE
    # Same waveform up to codec loss and encoder delay: strongly correlated energy envelopes
    # once aligned (AAC adds ~20-40 ms of priming).
    assert _best_envelope_correlation(decoded, speech) > 0.9


def _best_envelope_correlation(a: np.ndarray, b: np.ndarray, hop: int = 160) -> float:
    n = min(a.size, b.size) // hop * hop
    env_a, env_b = (np.abs(x[:n]).reshape(-1, hop).mean(1) for x in (a, b))
    best = -1.0
    for lag in range(0, 20):  # up to 0.2 s
        x, y = env_a[lag:], env_b[: env_b.size - lag]
        best = max(best, float(np.corrcoef(x, y)[0, 1]))
    return best


def test_blocks_are_bounded_and_complete(speech: np.ndarray) -> None:
    blocks = list(iter_audio_blocks(EN, block_seconds=1.0))
    assert all(b.size == SAMPLE_RATE for b in blocks[:-1])
    assert 0 < blocks[-1].size <= SAMPLE_RATE
    assert np.array_equal(np.concatenate(blocks), speech)


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty"),
    (b"this is really a text file, not audio\n" * 20, "not a readable audio"),
    (bytes(range(256)) * 40, "not a readable audio"),
])
def test_bad_files_raise_a_clear_error_naming_the_file(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "recording.wav"
    path.write_bytes(content)
    with pytest.raises(InvalidInputError, match=message) as caught:
        load_audio(path)
    assert str(path) in str(caught.value)


def test_a_missing_file_or_a_folder_is_named_not_an_oserror(tmp_path: Path) -> None:
    missing = tmp_path / "a" / "nonexist.wav"
    with pytest.raises(InvalidInputError, match="no such file") as caught:
        load_audio(missing)
    assert str(caught.value) == f"{missing}: no such file"
    with pytest.raises(InvalidInputError, match="is a folder, not a recording") as caught:
        probe(tmp_path)
    assert str(tmp_path) in str(caught.value)


def test_a_file_without_audio_track_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "silent-film.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with pytest.raises(InvalidInputError, match="no audio track"):
        load_audio(path)


def test_truncated_file_yields_what_decoded(tmp_path: Path, speech: np.ndarray) -> None:
    full = write_audio(tmp_path / "full.flac", speech, codec="flac")
    cut = tmp_path / "cut.flac"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    decoded = load_audio(cut)
    assert 0.2 * speech.size < decoded.size < 0.8 * speech.size


def test_vad_in_small_blocks_equals_one_pass(speech: np.ndarray) -> None:
    whole = SpeechProbability()(speech)
    stream = SpeechProbability()
    pieces = [stream(speech[i : i + 3001]) for i in range(0, speech.size, 3001)]
    chunked = np.concatenate(pieces)
    assert chunked.size == whole.size
    assert np.allclose(chunked, whole, atol=1e-5)
    assert whole.max() > 0.9  # the sentence is detected as speech


def test_segments_split_at_silence_and_skip_it(speech: np.ndarray) -> None:
    silence = np.zeros(2 * SAMPLE_RATE, np.float32)
    audio = np.concatenate([silence, speech, silence, speech, silence])
    spans = list(speech_segments(iter(np.array_split(audio, 17))))
    assert len(spans) >= 2
    first_speech, second_speech = 2 * SAMPLE_RATE, 4 * SAMPLE_RATE + speech.size
    assert spans[0][0] >= first_speech - 0.5 * SAMPLE_RATE
    assert any(s <= second_speech + 0.5 * SAMPLE_RATE <= e + SAMPLE_RATE for s, e in spans)
    for start, end in spans:  # no span lies inside the long silences
        assert not (end <= first_speech or start >= audio.size - 2 * SAMPLE_RATE + 8000)


def test_silence_and_noise_give_no_segments() -> None:
    rng = np.random.default_rng(0)
    quiet = np.concatenate([np.zeros(SAMPLE_RATE * 3), rng.normal(0, 0.003, SAMPLE_RATE * 3)])
    assert list(speech_segments(iter([quiet.astype(np.float32)]))) == []


def test_long_speech_is_split_at_max_segment() -> None:
    seg = Segmenter(SegmentOptions(max_segment=2.0, pad=0.0))
    # 10 s of speech with one 0.2 s dip in the middle of each 1.5 s
    probs = np.ones(int(10 * SAMPLE_RATE / 512), np.float32)
    probs[40:46] = 0.1
    spans = seg.push(probs) + seg.flush()
    lengths = [(e - s) / SAMPLE_RATE for s, e in spans]
    assert len(spans) >= 5 and max(lengths) <= 2.0 + 1e-6
    assert spans[0][1] == 40 * 512  # the first cut is at the pause, not at 2.0 s
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_short_bursts_are_dropped() -> None:
    seg = Segmenter(SegmentOptions(min_speech=0.25))
    probs = np.zeros(200, np.float32)
    probs[50:53] = 0.9  # ~0.1 s click
    probs[100:140] = 0.9  # ~1.3 s of speech
    spans = seg.push(probs) + seg.flush()
    assert len(spans) == 1 and spans[0][0] < 100 * 512 < spans[0][1]
