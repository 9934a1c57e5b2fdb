"""The report on recordings: a video's timeline from its fused windows, an audio file's from
its speech segments, and a time x emotion heatmap per person seen in the video. Built from
real results, fused by the real fusion step, stored in and read back from a real store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emolens.fusion import fuse_timeline
from emolens.labels import CANONICAL
from emolens.store import ResultStore
from emolens.types import EmotionResult
from emolens.viz import people_chart, person_bins, timeline_points, write_report
from emolens.viz.report import timeline_rows

VIDEO, AUDIO = "clips/ad-空港.mp4", "call.wav"


def result(top: str, modality: str, t0: float, t1: float, source: str = VIDEO,
           group: str | None = None, key: str = "") -> EmotionResult:
    scores = {x: (0.7 if x == top else 0.05) for x in CANONICAL}
    return EmotionResult(label=top, scores=scores, modality=modality, model="test",
                         source_id=source, group=group, t_start=t0, t_end=t1,
                         item_key=f"{source}:{modality}:{t0}:{group}:{key}")


def video_results() -> list[EmotionResult]:
    """20 s sampled at 5 fps: person 1 (joy) throughout, person 2 (anger) away from 6 to 14 s;
    a caption from 3 to 6 s, speech from 2 to 8 s; fused per second."""
    found = []
    for k in range(100):
        t = round(k * 0.2, 3)
        found.append(result("joy", "face", t, round(t + 0.2, 3), group="person 1"))
        if not 6.0 <= t < 14.0:
            found.append(result("anger", "face", t, round(t + 0.2, 3), group="person 2"))
    found += [result("surprise", "screen_text", 3.0, 6.0), result("sadness", "speech", 2.0, 8.0)]
    for window in fuse_timeline(found, window=1.0):
        window.source_id = VIDEO
        window.item_key = f"{VIDEO}:fused:{window.t_start}"
        found.append(window)
    return found


@pytest.fixture
def frame(tmp_path) -> pd.DataFrame:
    audio = [result("fear", "speech", i * 4.0, i * 4.0 + 3.0, source=AUDIO) for i in range(4)]
    with ResultStore(str(tmp_path / "media.db")) as store:
        store.add(video_results() + audio)
        return store.to_frame()


def test_report_draws_fused_timelines_and_people(frame, tmp_path):
    paths = write_report(frame, tmp_path / "out")
    assert [p.name for p in paths.timelines] == ["timeline-1.png", "timeline-2.png"]
    assert [p.name for p in paths.people] == ["people-1.png"]
    assert paths.people[0] in paths.files()
    assert paths.people[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = paths.html.read_text(encoding="utf-8")
    assert "Emotion per person over time: ad-空港.mp4" in page
    assert "20 fused 1-s windows of faces, voice, words and on-screen text" in page
    assert "call.wav: 4 speech segments; gaps are pauses without speech." in page
    assert "Emotion per person over time: call.wav" not in page

    # A later report without faces removes the stale heatmap.
    again = write_report(frame[frame["source"] == AUDIO], tmp_path / "out")
    assert again.people == () and not list((tmp_path / "out").glob("people-*.png"))


def test_video_timeline_is_drawn_from_the_fused_windows_only(frame):
    video = frame[frame["source"] == VIDEO]
    rows, note = timeline_rows(video)
    assert set(rows["modality"]) == {"fused"} and len(rows) == 20
    assert note.startswith("20 fused 1-s windows of faces, voice, words and on-screen text")
    points = timeline_points(rows)
    assert points.index.min() == 0.0 and points.index.max() == 20.0
    # Every second has a face in it, so the fused curve has no gap (no row of zeros).
    assert (points.sum(axis=1) > 0.99).all()

    rows, note = timeline_rows(frame[frame["source"] == AUDIO])
    assert set(rows["modality"]) == {"speech"} and note.startswith("4 speech segments")


def test_person_heatmap_is_blank_where_the_person_is_absent(frame):
    bins = person_bins(frame[frame["source"] == VIDEO])
    assert list(bins.detections) == ["person 1", "person 2"]  # most detected first
    assert bins.detections == {"person 1": 100, "person 2": 60}
    assert bins.bin_seconds == 0.2  # 100 columns over 20 s
    one, two = bins.tables["person 1"], bins.tables["person 2"]
    assert list(one.index) == list(CANONICAL) and one.shape == (7, 100)
    assert not one.isna().any().any()
    assert one.loc["joy"].to_numpy() == pytest.approx(np.full(100, 0.7))
    away = (two.columns >= 6.0) & (two.columns < 14.0)
    assert two.loc[:, away].isna().all().all()  # not seen: blank, not zero
    assert two.loc["anger", ~away].to_numpy() == pytest.approx(np.full(60, 0.7))

    capped = person_bins(frame[frame["source"] == VIDEO], max_people=1)
    assert list(capped.tables) == ["person 1"] and capped.left_out == ["person 2"]
    fig = people_chart(frame[frame["source"] == VIDEO], backend="plotly")
    assert len(fig.data) == 2 and np.isnan(np.asarray(fig.data[1].z, float)).any()


def test_detections_off_the_bin_grid_leave_no_false_gaps(tmp_path):
    """Samples every 0.208 s (24 fps video read at 5 fps) against 0.2-s bins."""
    faces = [result("joy", "face", round(k / 4.8, 3), round((k + 1) / 4.8, 3),
                    group="person 3", key=str(k)) for k in range(48)]
    with ResultStore(str(tmp_path / "grid.db")) as store:
        store.add(faces)
        table = person_bins(store.to_frame(), bin_seconds=0.2).tables["person 3"]
    assert not table.isna().any().any()
