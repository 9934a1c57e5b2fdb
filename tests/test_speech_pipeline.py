"""The whole speech pipeline on real audio: decode, VAD, Whisper, voice, words, fusion, store."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("faster_whisper", reason="needs the audio extra")

from typer.testing import CliRunner  # noqa: E402

from emolens.audio.decode import load_audio  # noqa: E402
from emolens.audio.pipeline import SpeechAnalyzer  # noqa: E402
from emolens.cli import app  # noqa: E402
from emolens.errors import InvalidInputError  # noqa: E402
from emolens.labels import CANONICAL  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "audio"
RAVDESS = Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess_speech"
ANGRY = RAVDESS / "Actor_01" / "03-01-05-02-01-01-01.flac"  # "Kids are talking by the door"
RATE = 16_000

pytestmark = pytest.mark.usefixtures("isolated_settings")


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.float32)


@pytest.fixture(scope="module")
def analyzer() -> SpeechAnalyzer:
    return SpeechAnalyzer()


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Pause, an acted angry line (RAVDESS), pause, the flight complaint, pause: as FLAC."""
    import soundfile as sf

    if not ANGRY.is_file():
        pytest.skip(f"RAVDESS not found at {RAVDESS}")
    audio = np.concatenate([
        silence(1.0), load_audio(ANGRY), silence(1.5), load_audio(FIXTURES / "en_flight.ogg"),
        silence(1.0),
    ])
    path = tmp_path_factory.mktemp("rec") / "call.flac"
    sf.write(path, audio, RATE)
    return path


def test_timeline_of_a_recording(analyzer: SpeechAnalyzer, recording: Path) -> None:
    timeline = analyzer.analyze_file(recording)
    segments = timeline.segments
    assert len(segments) >= 2
    assert timeline.duration == pytest.approx(load_audio(recording).size / RATE, abs=0.05)
    starts = [s.t_start for s in segments]
    assert starts == sorted(starts) and segments[0].t_start >= 0.6
    assert all(s.t_end <= timeline.duration + 1e-6 for s in segments)
    texts = " | ".join(s.text or "" for s in segments).lower()
    assert "door" in texts and "flight" in texts
    door = next(s for s in segments if "door" in (s.text or "").lower())
    flight = next(s for s in segments if "flight" in (s.text or "").lower())
    assert door.t_end <= flight.t_start  # each transcript sits in its own segment
    for s in segments:
        assert s.modality == "speech" and s.language == "en"
        assert list(s.scores) == list(CANONICAL)
        assert sum(s.scores.values()) == pytest.approx(1.0)
        assert sum(s.details["voice"].values()) == pytest.approx(1.0, abs=1e-3)
        assert sum(s.details["fusion_weights"].values()) == pytest.approx(1.0)
        assert -1 <= s.valence <= 1 and -1 <= s.arousal <= 1
    # The words of the complaint count fully; the fused label follows the two modalities.
    assert flight.details["fusion_weights"]["words"] == pytest.approx(0.5)
    fused = np.array(list(flight.scores.values()))
    voice, words = (np.array(list(flight.details[k].values())) for k in ("voice", "words"))
    assert np.allclose(fused, (voice + words) / 2, atol=2e-3)
    summary = timeline.summary()
    assert summary["segments"] == len(segments) and summary["label"] in CANONICAL
    assert 0 < summary["speech_seconds"] < timeline.duration


def test_chinese_speech_words_are_read_by_the_chinese_text_model(
    analyzer: SpeechAnalyzer,
) -> None:
    timeline = analyzer.analyze_file(FIXTURES / "zh_gift.ogg", language="zh")
    assert timeline.segments
    text = "".join(s.text or "" for s in timeline.segments)
    assert "开心" in text and "礼物" in text
    spoken = [s for s in timeline.segments if s.details["words"]]
    assert spoken and all(s.language == "zh" for s in spoken)


def test_silence_gives_an_empty_timeline(analyzer: SpeechAnalyzer, tmp_path: Path) -> None:
    import soundfile as sf

    path = tmp_path / "quiet.wav"
    sf.write(path, silence(4.0), RATE)
    timeline = analyzer.analyze_file(path)
    assert timeline.segments == [] and timeline.summary()["label"] is None
    assert timeline.duration == pytest.approx(4.0)


def test_a_shout_the_vad_barely_hears_gets_a_second_look(
    analyzer: SpeechAnalyzer, tmp_path: Path
) -> None:
    """Silero rates this screamed line 0.2-0.8 (one window over 0.5): the first pass finds no
    speech, the second, at threshold 0.3, finds the line. Steady noise and a tone, which the
    second look also sees, stay empty."""
    import soundfile as sf

    shout = RAVDESS / "Actor_06" / "03-01-05-02-01-01-06.flac"
    if not shout.is_file():
        pytest.skip(f"RAVDESS not found at {RAVDESS}")
    timeline = analyzer.analyze_file(shout)
    assert len(timeline.segments) == 1
    segment = timeline.segments[0]
    assert segment.details["vad_threshold"] == 0.3
    assert segment.text and "kids" in segment.text.lower()
    assert 0.5 < segment.t_start < 1.0 and segment.t_end > 1.5
    rng = np.random.default_rng(0)
    t = np.arange(4 * RATE) / RATE
    for name, audio in (("noise", 0.1 * rng.normal(size=t.size)),
                        ("tone", 0.3 * np.sin(2 * np.pi * 440 * t))):
        sf.write(tmp_path / f"{name}.wav", audio.astype(np.float32), RATE)
        assert analyzer.analyze_file(tmp_path / f"{name}.wav").segments == [], name


def test_streaming_yields_each_segment_before_the_stream_ends(
    analyzer: SpeechAnalyzer, recording: Path
) -> None:
    from scipy.signal import resample_poly

    audio = resample_poly(load_audio(recording), 3, 1)  # as a 48 kHz microphone gives it
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    chunk = 4800 * 2  # 100 ms of 16-bit samples
    consumed = 0
    total = -(-len(pcm) // chunk)

    def microphone():
        nonlocal consumed
        for i in range(0, len(pcm), chunk):
            consumed += 1
            yield pcm[i : i + chunk]

    seen = []
    for result in analyzer.stream(microphone(), sample_rate=48_000):
        seen.append((consumed, result))
    assert len(seen) >= 2
    first_at, first = seen[0]
    assert first_at < total  # the first utterance came out while audio was still arriving
    assert "door" in (first.text or "").lower()
    assert any("flight" in (r.text or "").lower() for _, r in seen)
    batch = analyzer.analyze_file(recording)
    assert abs(len(seen) - len(batch.segments)) <= 1
    assert seen[0][1].t_start == pytest.approx(batch.segments[0].t_start, abs=0.1)


def test_cli_stores_resumes_reports_and_names_bad_files(
    recording: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "calls"
    folder.mkdir()
    (folder / "call.flac").write_bytes(recording.read_bytes())
    (folder / "notes.mp3").write_text("this is a text file, not audio\n" * 10)
    (folder / "empty.wav").write_bytes(b"")
    db = tmp_path / "speech.db"
    runner = CliRunner()

    first = runner.invoke(app, ["analyze", "audio", str(folder), "--db", str(db), "--json"])
    assert first.exit_code == 3, first.output  # partial: two bad files
    lines = [json.loads(x) for x in first.stdout.splitlines() if x.startswith("{")]
    segments = [x for x in lines if x["type"] == "segment"]
    files = {Path(x["path"]).name: x for x in lines if x["type"] == "file"}
    assert files["call.flac"]["status"] == "ok" and files["call.flac"]["stored"] == len(segments)
    assert "notes.mp3" in files["notes.mp3"]["error"]
    assert "empty" in files["empty.wav"]["error"]
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select modality, t_start, t_end, text from results").fetchall()
    assert len(rows) == len(segments) >= 2
    assert all(m == "speech" and s < e for m, s, e, _ in rows)

    again = runner.invoke(app, ["analyze", "audio", str(folder / "call.flac"), "--db", str(db),
                                "--json"])
    assert again.exit_code == 0, again.output
    summary = [json.loads(x) for x in again.stdout.splitlines() if '"type": "file"' in x][0]
    assert summary["stored"] == 0 and summary["skipped_existing"] == len(segments)

    report = runner.invoke(app, ["report", "--db", str(db), "--out", str(tmp_path / "rep")])
    assert report.exit_code == 0, report.output
    assert (tmp_path / "rep" / "timeline-1.png").is_file()


def test_the_same_file_gives_the_same_segments_every_time(analyzer: SpeechAnalyzer) -> None:
    # Chinese read as English: Whisper's sampling fallback made this differ run to run.
    runs = [analyzer.analyze_file(FIXTURES / "zh_gift.ogg", language="en") for _ in range(2)]
    first, again = ([(r.t_start, r.text, r.label, r.scores) for r in t.segments] for t in runs)
    assert first and first == again


def test_a_missing_file_or_a_folder_is_an_invalid_input(
    analyzer: SpeechAnalyzer, tmp_path: Path
) -> None:
    missing = tmp_path / "nonexist.wav"
    with pytest.raises(InvalidInputError, match="no such file") as caught:
        analyzer.analyze_file(missing)
    assert str(missing) in str(caught.value)
    with pytest.raises(InvalidInputError, match="is a folder, not a recording"):
        analyzer.analyze_file(tmp_path)
    result = CliRunner().invoke(app, ["analyze", "audio", str(missing), "--no-store", "--json"])
    assert result.exit_code == 1, result.output
    assert f"{missing}: no such file" in result.output and "Errno" not in result.output


def _rows(path: Path) -> list[tuple[str, ...]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = csv.DictReader(handle)
        return [(r["item_key"], r["label"], r["t_start"], r["text"]) for r in rows]


def test_out_holds_every_segment_on_a_rerun_and_a_resume(tmp_path: Path) -> None:
    clip, db = FIXTURES / "en_flight.ogg", tmp_path / "speech.db"
    runner = CliRunner()

    def run(out: Path, *more: str) -> list[dict]:
        result = runner.invoke(app, ["analyze", "audio", str(clip), "--db", str(db),
                                     "--out", str(out), "--json", *more])
        assert result.exit_code == 0, result.output
        return [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]

    run(tmp_path / "first.csv")
    first = _rows(tmp_path / "first.csv")
    assert first and all(text for *_, text in first)
    lines = run(tmp_path / "again.csv")  # everything already stored
    assert _rows(tmp_path / "again.csv") == first
    assert [x["stored"] for x in lines if x["type"] == "file"] == [0]
    lines = run(tmp_path / "again.jsonl")
    written = [json.loads(x) for x in (tmp_path / "again.jsonl").read_text().splitlines()]
    assert len(written) == len(first) == sum(x["type"] == "segment" for x in lines)
    with sqlite3.connect(db) as conn:  # as if the first run had been stopped before the end
        conn.execute("delete from results where t_start = (select max(t_start) from results)")
    lines = run(tmp_path / "resumed.csv")
    assert _rows(tmp_path / "resumed.csv") == first
    assert [x["stored"] for x in lines if x["type"] == "file"] == [1]
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from results").fetchone()[0] == len(first)


def test_a_rerun_reads_back_each_segments_voice_and_words(tmp_path: Path) -> None:
    clip, db = FIXTURES / "en_flight.ogg", tmp_path / "speech.db"
    runner = CliRunner()

    def segments() -> list[dict]:
        result = runner.invoke(app, ["analyze", "audio", str(clip), "--db", str(db), "--json",
                                     "--language", "en"])
        assert result.exit_code == 0, result.output
        lines = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
        return [x for x in lines if x["type"] == "segment"]

    first = segments()
    again = segments()  # every segment read back from the store
    assert first and len(again) == len(first)
    assert any(x["details"]["words"] for x in first)
    for new, old in zip(first, again, strict=True):
        assert {"voice", "words", "fusion_weights"} <= set(new["details"])
        assert old["details"] == {**new["details"], "stored_before": True}
    with sqlite3.connect(db) as conn:
        kept = [json.loads(d) for (d,) in conn.execute("select details from results")]
    assert all("text" not in d for d in kept)


def test_models_command_lists_the_speech_models() -> None:
    result = CliRunner().invoke(app, ["models"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "tiny.en" in result.output and "RAVDESS" in result.output
