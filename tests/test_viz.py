"""Charts and the HTML report, drawn from a real SQLite store of real EmotionResult objects."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pandas as pd
import pytest

from emolens.errors import InvalidInputError
from emolens.labels import CANONICAL
from emolens.store import ResultStore
from emolens.types import EmotionResult
from emolens.viz import (
    EMOTION_COLORS,
    choose_bucket,
    distribution_chart,
    group_shares,
    heatmap_chart,
    trend_chart,
    trend_shares,
    write_report,
)
from emolens.viz.report import examples

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GROUPS = ("support", "客服中心")


def make_results(n: int = 50, days: int = 10, groups: tuple[str, ...] = GROUPS) -> list:
    """``n`` results spread over ``days`` days and ``groups``, every label, unevenly."""
    results = []
    for i in range(n):
        top = CANONICAL[(i * 3 + i // 4) % len(CANONICAL)]
        scores = {x: (0.55 if x == top else 0.075) for x in CANONICAL}
        results.append(EmotionResult(
            label=top, scores=scores, valence=0.3 - (i % 5) * 0.15, arousal=0.1,
            language="zh" if i % 3 == 0 else "en", model="test-model", text=f"item {i}",
            source_id="posts.csv", group=groups[i % len(groups)],
            timestamp=datetime(2024, 3, 1) + timedelta(hours=i * days * 24 / n),
        ))
    return results


@pytest.fixture
def frame(tmp_path) -> pd.DataFrame:
    with ResultStore(str(tmp_path / "viz.db")) as store:
        assert store.add(make_results()) == 50
        return store.to_frame()


def assert_png(path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 10_000


def test_report_from_a_real_store(frame, tmp_path):
    paths = write_report(frame, tmp_path / "out", title="Support <inbox>")
    assert [p.name for p in paths.files()] == [
        "report.html", "distribution.png", "trend.png", "heatmap.png"
    ]
    for png in (paths.distribution, paths.trend, paths.heatmap):
        assert_png(png)
    page = paths.html.read_text(encoding="utf-8")
    assert page.count("Plotly.newPlot") == 3
    assert not re.search(r"<script[^>]*src=[\"']?http", page)
    assert "Support &lt;inbox&gt;" in page
    assert "not a measure of anyone&#x27;s inner state" in page
    assert "客服中心" in page and "sadness" in page
    assert "Items" in page and "Mean valence" in page
    assert paths.skipped == ()


def test_single_group_uses_time_heatmap_and_says_so(tmp_path):
    with ResultStore(str(tmp_path / "one.db")) as store:
        store.add(make_results(groups=("only",)))
        df = store.to_frame()
    paths = write_report(df, tmp_path / "out")
    assert paths.heatmap is not None and paths.trend is not None
    assert any("one group" in s for s in paths.skipped)
    assert "replaced by time" in paths.html.read_text(encoding="utf-8")


def test_no_time_spread_skips_trend_and_heatmap(tmp_path):
    results = [r.model_copy(update={"timestamp": datetime(2024, 3, 1, 9, 30)})
               for r in make_results(groups=("only",))]
    with ResultStore(str(tmp_path / "flat.db")) as store:
        store.add(results)
        df = store.to_frame()
    out = tmp_path / "out"
    out.mkdir()
    (out / "trend.png").write_bytes(b"stale")
    paths = write_report(df, out)
    assert paths.trend is None and paths.heatmap is None
    assert not (out / "trend.png").exists()
    assert "Trend chart skipped" in paths.html.read_text(encoding="utf-8")
    assert_png(paths.distribution)


def test_results_without_times_or_groups_say_which_option_was_missing(tmp_path):
    results = [r.model_copy(update={"timestamp": None, "group": None}) for r in make_results()]
    with ResultStore(str(tmp_path / "plain.db")) as store:
        store.add(results)  # analysed just now: all within one hour
        df = store.to_frame()
    paths = write_report(df, tmp_path / "out")
    assert paths.trend is None and paths.heatmap is None
    assert any("no item times (give --time-col" in s for s in paths.skipped)
    assert any("no groups (give --group-col" in s for s in paths.skipped)


def test_trend_says_how_many_results_it_leaves_out_for_want_of_a_time(tmp_path):
    results = make_results()
    results = [r.model_copy(update={"timestamp": None}) if i % 5 == 0 else r
               for i, r in enumerate(results)]
    with ResultStore(str(tmp_path / "some.db")) as store:
        store.add(results)
        df = store.to_frame()
    page = write_report(df, tmp_path / "out").html.read_text(encoding="utf-8")
    assert "10 of the 50 results have no item time" in page


def test_report_refuses_an_empty_table(tmp_path):
    with ResultStore(str(tmp_path / "empty.db")) as store:
        empty = store.to_frame()
    with pytest.raises(InvalidInputError):
        write_report(empty, tmp_path / "out")


def test_bucket_follows_the_time_span():
    start = pd.Timestamp("2024-01-01")

    def span(delta: timedelta, n: int = 1000) -> pd.Series:
        return pd.Series([start + delta * i / (n - 1) for i in range(n)])

    assert choose_bucket(span(timedelta(hours=20))) == "hour"
    assert choose_bucket(span(timedelta(days=20))) == "day"
    assert choose_bucket(span(timedelta(days=200))) == "week"
    assert choose_bucket(span(timedelta(days=1500))) == "month"
    # 200 items over 50 days: daily buckets would hold 4 each; weeks hold about 25.
    assert choose_bucket(span(timedelta(days=50), n=200)) == "week"
    assert choose_bucket(span(timedelta(days=50), n=2000)) == "day"


def test_share_tables(frame):
    trend = trend_shares(frame)
    assert trend.bucket == "day" and trend.time_column == "timestamp"
    assert trend.table.sum(axis=0).round(6).eq(100).all()
    assert int(trend.counts.sum()) == 50
    assert trend_shares(frame, bucket="week").bucket == "week"
    groups = group_shares(frame)
    assert list(groups.table.index) == list(CANONICAL)
    assert set(groups.table.columns) == set(GROUPS)
    with pytest.raises(InvalidInputError, match="bucket"):
        trend_shares(frame, bucket="fortnight")


def test_plotly_figures_use_the_palette(frame):
    bars = distribution_chart(frame, backend="plotly")
    assert list(bars.data[0].marker.color) == [EMOTION_COLORS[x] for x in CANONICAL]
    lines = trend_chart(frame, backend="plotly")
    assert {t.name for t in lines.data} == set(CANONICAL)
    heat = heatmap_chart(frame, by="time", backend="plotly")
    assert heat.data[0].type == "heatmap"


def test_time_buckets_without_items(tmp_path):
    results = make_results(n=10, days=1)
    late = [r.model_copy(update={"timestamp": r.timestamp + timedelta(days=4), "item_key": f"l{i}"})
            for i, r in enumerate(results)]
    with ResultStore(str(tmp_path / "gaps.db")) as store:
        store.add(results + late)
        df = store.to_frame()
    shares = trend_shares(df, bucket="day")
    assert shares.table.shape[1] == 5 and shares.table.iloc[:, 2].isna().all()
    paths = write_report(df, tmp_path / "out", bucket="day", by="time")
    assert_png(paths.heatmap)


def test_report_command(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from emolens.cli import app

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    missing = runner.invoke(app, ["report", "--db", "none.db"])
    assert missing.exit_code == 1 and "no results in none.db" in missing.output
    assert not (tmp_path / "none.db").exists()
    with ResultStore("full.db") as store:
        store.add(make_results())
    done = runner.invoke(app, ["report", "--db", "full.db", "--out", "rep", "--group", "support"])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "rep" / "report.html").is_file()
    bad = runner.invoke(app, ["report", "--db", "full.db", "--since", "soon"])
    assert bad.exit_code == 2


def speech_results(source: str, n: int = 6) -> list[EmotionResult]:
    """Segments of one recording: anger rising then joy, with pauses between."""
    results = []
    for i in range(n):
        top = "anger" if i < n // 2 else "joy"
        scores = {x: (0.7 if x == top else 0.05) for x in CANONICAL}
        results.append(EmotionResult(
            label=top, scores=scores, modality="speech", model="speech-test", text=f"seg {i}",
            source_id=source, item_key=f"{source}:{i}", t_start=i * 4.0, t_end=i * 4.0 + 3.0,
        ))
    return results


def test_report_draws_a_timeline_per_recording(tmp_path):
    from emolens.viz import timeline_points

    with ResultStore(str(tmp_path / "speech.db")) as store:
        store.add(speech_results("call-1.wav") + speech_results("call-2.mp3", 4)
                  + make_results(10))
        frame = store.to_frame()
    paths = write_report(frame, tmp_path / "out")
    assert [p.name for p in paths.timelines] == ["timeline-1.png", "timeline-2.png"]
    for path in paths.timelines:
        assert_png(path)
    page = paths.html.read_text(encoding="utf-8")
    assert "Emotion over time: call-1.wav" in page and "Emotion over time: call-2.mp3" in page

    points = timeline_points(frame[frame["source"] == "call-1.wav"])
    assert points.index.min() == 0.0 and points.index.max() == 23.0
    assert points.loc[points.index < 3, "anger"].eq(0.7).all()
    pause = points.loc[[3.0, 4.0]].sum(axis=1)
    assert (pause == 0).any()  # the pause between segments drops to zero

    # A later report without recordings removes the stale timeline files.
    again = write_report(frame[frame["t_start"].isna()], tmp_path / "out")
    assert again.timelines == () and not list((tmp_path / "out").glob("timeline-*.png"))


POSTS = ["I am so happy today, best day ever!", "This makes me furious, worst service ever",
         "今天真开心[哈哈]", "我好害怕明天的考试", "meh, it was fine I guess"]


def _store_posts_read_by(db: str, models: list[str], posts: list[str] = POSTS) -> list[str]:
    """The same posts analysed by each of the real ``models``, stored; their model ids."""
    from emolens.pipeline import build_analyzer

    ids = []
    with ResultStore(db) as store:
        for model in models:
            analyzer = build_analyzer(model)
            results = analyzer.analyze_batch(posts)
            for row, r in enumerate(results):
                r.source_id, r.timestamp = "posts.csv", datetime(2024, 3, 1, row)
            assert store.add(results) == len(posts)
            ids.append(analyzer.model_id)
    return ids


def test_report_warns_when_one_modality_comes_from_several_models(tmp_path):
    db = str(tmp_path / "mixed.db")
    cascade, ngram = _store_posts_read_by(db, ["default", "ngram"], POSTS)
    _store_posts_read_by(db, ["ngram"], ["so sad now", "what a surprise", "one more post"])
    with ResultStore(db) as store:
        store.add(speech_results("call.wav"))  # another modality, its own model: not mixed
        frame = store.to_frame()
    assert cascade.startswith("default@") and ngram.startswith("ngram@")
    paths = write_report(frame, tmp_path / "out")
    assert paths.mixed == (f"the 13 text results come from 2 models: {ngram} (8 rows), "
                           f"{cascade} (5 rows)",)
    page = paths.html.read_text(encoding="utf-8")
    assert "Mixed models: the 13 text results come from 2 models" in page

    one = write_report(frame[frame["model"] == cascade], tmp_path / "one")
    assert one.mixed == () and "Mixed models" not in one.html.read_text(encoding="utf-8")
    video = frame[frame["modality"] == "speech"]  # one model per modality: no warning
    assert write_report(pd.concat([video, frame[frame["model"] == ngram]]),
                        tmp_path / "two").mixed == ()


def test_report_command_warns_about_mixed_models_and_filters_one(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from emolens.cli import app

    monkeypatch.chdir(tmp_path)
    cascade, ngram = _store_posts_read_by("mixed.db", ["default", "ngram"])
    runner = CliRunner()
    mixed = runner.invoke(app, ["report", "--db", "mixed.db", "--out", "rep"],
                          terminal_width=100)
    assert mixed.exit_code == 0, mixed.output
    assert "report of 10 results" in mixed.output
    warning = [line for line in mixed.output.splitlines() if line.startswith("warning:")]
    assert warning == [f"warning: the 10 text results come from 2 models: {cascade} (5 rows), "
                       f"{ngram} (5 rows); the charts pool them. Pass --model with one of them "
                       "to report on one model."]
    chosen = runner.invoke(app, ["report", "--db", "mixed.db", "--out", "rep", "--model",
                                 cascade])
    assert chosen.exit_code == 0, chosen.output
    assert "report of 5 results" in chosen.output and "warning" not in chosen.output


def test_report_shows_the_most_confident_examples_of_each_emotion(tmp_path):
    def result(label: str, p: float, text: str, key: str) -> EmotionResult:
        rest = (1.0 - p) / (len(CANONICAL) - 1)
        return EmotionResult(label=label, scores={x: p if x == label else rest
                                                  for x in CANONICAL},
                             text=text, item_key=key, model="m@1", group="shop")

    long = "furious " * 60
    results = [result("anger", 0.60, "mildly cross", "a1"), result("anger", 0.95, long, "a2"),
               result("anger", 0.90, "<script>alert(1)</script> so angry", "a3"),
               result("anger", 0.80, "annoyed again", "a4"),
               result("anger", 0.99, "annoyed again", "a5"),  # the same text: shown once
               result("joy", 0.70, "nice", "j1")]
    with ResultStore(str(tmp_path / "ex.db")) as store:
        store.add(results)
        df = store.to_frame()
    picked = examples(df)
    assert list(picked) == ["anger", "joy"]
    assert picked["anger"]["text"].tolist() == ["annoyed again", long.strip(),
                                                "<script>alert(1)</script> so angry"]
    assert picked["anger"]["confidence"].round(2).tolist() == [0.99, 0.95, 0.90]
    page = write_report(df, tmp_path / "out").html.read_text(encoding="utf-8")
    section = page[page.index("<h2>Examples</h2>"):]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; so angry" in section
    assert "<script>alert" not in section
    assert "furious " * 29 in section and "…" in section and "furious " * 60 not in section
    assert "mildly cross" not in section and section.count("annoyed again") == 1

    with ResultStore(str(tmp_path / "hashed.db")) as store:
        store.add(results, store_text="hash")
        hashed = store.to_frame()
    assert examples(hashed) == {}
    page = write_report(hashed, tmp_path / "out2").html.read_text(encoding="utf-8")
    assert "No texts are stored with these results" in page
