"""The source_tz setting (--source-tz, EMOLENS_SOURCE_TZ): times written without an offset are
read in the zone they were written in and stored in UTC; times with an offset and Unix times
are stored as they were. Real files (a CSV, a GB18030 Weibo export, a Telegram result.json, a
WeChat TXT, an RSS file, a watch config) go through the real CLI into a real SQLite file,
whose stored times are read back with sqlite3."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emolens.cli import EXIT_ERROR, EXIT_OK, app
from emolens.errors import InvalidInputError
from emolens.io.times import parse_time, source_zone

pytestmark = pytest.mark.usefixtures("isolated_settings")


def run(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


def stored_times(db: Path) -> dict[str, datetime | None]:
    """text -> the time the results table holds for it, as SQLite holds it (UTC)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT text, timestamp FROM results").fetchall()
    return {text: None if when is None else datetime.fromisoformat(when) for text, when in rows}


def one_line_error(output: str) -> str:
    (line,) = [line for line in output.splitlines() if line.startswith("error:")]
    return line


# -- the shared function ---------------------------------------------------------------------

def test_parse_time_reads_naive_times_in_the_source_zone():
    assert parse_time("2024-03-01 12:00", "Asia/Shanghai") == datetime(2024, 3, 1, 4)
    assert parse_time("2024-03-01 12:00") == datetime(2024, 3, 1, 12)  # default: UTC
    # The zone's rules, not one offset: New York is UTC-5 in winter and UTC-4 in summer.
    assert parse_time("2024-01-15 12:00", "America/New_York") == datetime(2024, 1, 15, 17)
    assert parse_time("2024-07-15 12:00", "America/New_York") == datetime(2024, 7, 15, 16)
    # An offset, a Z and a Unix time say when, whatever the source zone.
    assert parse_time("2024-03-01T12:00:00+02:00", "Asia/Shanghai") == datetime(2024, 3, 1, 10)
    assert parse_time("2024-03-01T04:00:00Z", "Asia/Shanghai") == datetime(2024, 3, 1, 4)
    assert parse_time(1709265600, "Asia/Shanghai") == datetime(2024, 3, 1, 4)
    assert parse_time("1709265600000", "Asia/Shanghai") == datetime(2024, 3, 1, 4)  # ms
    # A date alone is the start of that day where it was written.
    assert parse_time("2024年3月2日", "Asia/Shanghai") == datetime(2024, 3, 1, 16)


def test_an_unknown_zone_is_refused_with_the_name_meant():
    with pytest.raises(InvalidInputError, match=r"Unknown time zone 'Mars/Base': give an IANA "
                       r"name such as 'Asia/Shanghai'"):
        source_zone("Mars/Base")
    with pytest.raises(InvalidInputError, match=r"Did you mean 'Asia/Shanghai'\?$"):
        source_zone("asia/shanghai")
    for not_a_zone in ("", "Asia", "../etc", "/etc/passwd"):
        with pytest.raises(InvalidInputError, match="Unknown time zone"):
            source_zone(not_a_zone)
    # parse_time raises it too, not the ValueError of an unreadable value that callers skip.
    with pytest.raises(InvalidInputError):
        parse_time("2024-03-01 12:00", "Mars/Base")


# -- emolens analyze file --------------------------------------------------------------------

CSV = ("id,text,when\n"
       "1,今天很开心,2024-03-01 12:00\n"
       "2,so angry today,2024-03-01T12:00:00+02:00\n"
       "3,very sad news,1709265600\n"
       "4,I love this,\n")


def test_analyze_file_stores_naive_csv_times_in_utc(tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text(CSV, encoding="utf-8")
    shanghai, as_written = tmp_path / "shanghai.db", tmp_path / "utc.db"
    common = [str(path), "--model", "ngram", "--time-col", "when", "--quiet"]
    result = run("analyze", "file", *common, "--db", str(shanghai), "--source-tz",
                 "Asia/Shanghai")
    assert result.exit_code == EXIT_OK, result.output
    assert stored_times(shanghai) == {
        "今天很开心": datetime(2024, 3, 1, 4),  # 12:00 in Beijing, 8 hours ahead of UTC
        "so angry today": datetime(2024, 3, 1, 10),  # its own +02:00, unchanged
        "very sad news": datetime(2024, 3, 1, 4),  # a Unix time, unchanged
        "I love this": None,
    }
    assert run("analyze", "file", *common, "--db", str(as_written)).exit_code == EXIT_OK
    times = stored_times(as_written)
    assert times["今天很开心"] == datetime(2024, 3, 1, 12)  # without it: taken as UTC
    assert times["so angry today"] == datetime(2024, 3, 1, 10)


def test_the_zone_also_comes_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "posts.csv"
    path.write_text(CSV, encoding="utf-8")
    db = tmp_path / "r.db"
    monkeypatch.setenv("EMOLENS_SOURCE_TZ", "Europe/Berlin")
    result = run("analyze", "file", str(path), "--model", "ngram", "--time-col", "when",
                 "--db", str(db), "--quiet")
    assert result.exit_code == EXIT_OK, result.output
    assert stored_times(db)["今天很开心"] == datetime(2024, 3, 1, 11)  # CET is UTC+1


def test_a_bad_zone_is_one_clear_error_before_anything_is_stored(tmp_path, monkeypatch):
    path = tmp_path / "posts.csv"
    path.write_text(CSV, encoding="utf-8")
    db = tmp_path / "r.db"
    result = run("analyze", "file", str(path), "--model", "ngram", "--db", str(db),
                 "--source-tz", "Mars/Base")
    assert result.exit_code == EXIT_ERROR
    line = one_line_error(result.output)
    assert "source_tz (EMOLENS_SOURCE_TZ" in line
    assert "Unknown time zone 'Mars/Base': give an IANA name such as 'Asia/Shanghai'" in line
    assert not db.exists()

    monkeypatch.setenv("EMOLENS_SOURCE_TZ", "asia/shanghai")
    result = run("ingest", str(path), "--model", "ngram", "--db", str(db))
    assert result.exit_code == EXIT_ERROR
    assert "Did you mean 'Asia/Shanghai'?" in one_line_error(result.output)
    assert not db.exists()


# -- emolens ingest: exports and feeds -------------------------------------------------------

WEIBO = ("微博id,用户id,用户昵称,微博正文,发布时间,点赞数,转发数,评论数\n"
         "4890000000000001,1669879400,小明同学,今天心情特别好，阳光明媚！😀,"
         "2024-03-01 12:00,10,2,3\n"
         "4890000000000002,1669879400,小明同学,快递丢了三次，太让人生气了,2024年3月2日,0,0,1\n")


def test_ingest_weibo_export_written_in_beijing_time(tmp_path):
    path = tmp_path / "weibo.csv"
    path.write_bytes(WEIBO.encode("gb18030"))
    db = tmp_path / "r.db"
    result = run("ingest", str(path), "--model", "ngram", "--db", str(db), "--source-tz",
                 "Asia/Shanghai", "--json")
    assert result.exit_code == EXIT_OK, result.output
    assert json.loads(result.stdout.splitlines()[0])["kind"] == "weibo"
    assert stored_times(db) == {
        "今天心情特别好，阳光明媚！😀": datetime(2024, 3, 1, 4),
        "快递丢了三次，太让人生气了": datetime(2024, 3, 1, 16),  # 3月2日 00:00 in Beijing
    }


def test_ingest_telegram_export_with_the_zone_from_the_environment(tmp_path, monkeypatch):
    # Older Telegram Desktop exports have only "date", the exporting computer's local time;
    # newer ones add "date_unixtime", which is absolute and wins.
    export = {"name": "Team", "type": "private_group", "id": 5, "messages": [
        {"id": 1, "type": "message", "date": "2024-01-01T10:01:00", "from": "Ann",
         "from_id": "user1", "text": "Happy new year everyone!"},
        {"id": 2, "type": "message", "date": "2024-01-01T05:02:00",
         "date_unixtime": "1704103320", "from": "Bo", "from_id": "user2", "text": "so sad"},
    ]}
    path = tmp_path / "result.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    db = tmp_path / "r.db"
    monkeypatch.setenv("EMOLENS_SOURCE_TZ", "America/New_York")
    result = run("ingest", str(path), "--model", "ngram", "--db", str(db), "--quiet")
    assert result.exit_code == EXIT_OK, result.output
    assert stored_times(db) == {
        "Happy new year everyone!": datetime(2024, 1, 1, 15, 1),  # EST is UTC-5
        "so sad": datetime(2024, 1, 1, 10, 2),  # 1704103320, unchanged
    }


def test_ingest_wechat_txt(tmp_path):
    path = tmp_path / "张三.txt"
    path.write_text("2024-01-05 20:31:02 张三\n今天的会开得真累\n\n"
                    "2024-01-05 20:34:00 我: 周末去爬山吧，太开心了\n", encoding="utf-8")
    db = tmp_path / "r.db"
    result = run("ingest", str(path), "--model", "ngram", "--db", str(db), "--source-tz",
                 "Asia/Shanghai", "--quiet")
    assert result.exit_code == EXIT_OK, result.output
    assert stored_times(db) == {"今天的会开得真累": datetime(2024, 1, 5, 12, 31, 2),
                                "周末去爬山吧，太开心了": datetime(2024, 1, 5, 12, 34)}


RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Shop news</title>
<item><guid>a</guid><title>So happy with the new shop</title>
  <pubDate>Fri, 01 Mar 2024 12:00:00</pubDate></item>
<item><guid>b</guid><title>I hate these delays</title>
  <pubDate>Fri, 01 Mar 2024 12:00:00 +0100</pubDate></item>
<item><guid>c</guid><title>Sad news today</title>
  <pubDate>Fri, 01 Mar 2024 12:00:00 GMT</pubDate></item>
<item><guid>d</guid><title>What a wonderful day</title>
  <pubDate>2024-03-01T12:30:00</pubDate></item>
<item><guid>e</guid><title>今天的快递终于到了</title>
  <pubDate>Fri, 01 Mar 2024 20:00:00 CST</pubDate></item>
<item><guid>f</guid><title>Storm warning for Chicago</title>
  <pubDate>Fri, 01 Mar 2024 20:00:00 EST</pubDate></item>
</channel></rss>
"""


def test_ingest_feed_reads_only_zoneless_dates_in_the_source_zone(tmp_path):
    pytest.importorskip("feedparser")
    path = tmp_path / "news.xml"
    path.write_text(RSS, encoding="utf-8")
    db = tmp_path / "r.db"
    result = run("ingest", str(path), "--model", "ngram", "--db", str(db), "--source-tz",
                 "Asia/Shanghai", "--quiet")
    assert result.exit_code == EXIT_OK, result.output
    assert stored_times(db) == {
        "So happy with the new shop": datetime(2024, 3, 1, 4),  # no zone: Beijing
        "I hate these delays": datetime(2024, 3, 1, 11),
        "Sad news today": datetime(2024, 3, 1, 12),
        "What a wonderful day": datetime(2024, 3, 1, 4, 30),  # no zone either
        # CST is what Asia/Shanghai calls itself: China Standard Time, not US Central.
        "今天的快递终于到了": datetime(2024, 3, 1, 12),
        "Storm warning for Chicago": datetime(2024, 3, 2, 1),  # another zone's name
    }


# -- emolens watch ---------------------------------------------------------------------------

def test_watch_config_zone_and_a_source_of_its_own(tmp_path):
    (tmp_path / "cn.csv").write_text("text,time\n今天很开心,2024-03-01 12:00\n", encoding="utf-8")
    (tmp_path / "de.csv").write_text("text,time\nI love this,2024-03-01 12:00\n",
                                     encoding="utf-8")
    config = tmp_path / "watch.toml"
    config.write_text('model = "ngram"\nsource_tz = "Asia/Shanghai"\n\n'
                      '[[sources]]\nname = "cn"\nsource = "cn.csv"\n\n'
                      '[[sources]]\nname = "de"\nsource = "de.csv"\nsource_tz = "Europe/Berlin"\n',
                      encoding="utf-8")
    db = tmp_path / "w.db"
    result = run("watch", str(config), "--once", "--db", str(db), "--json")
    assert result.exit_code == EXIT_OK, result.output
    assert stored_times(db) == {"今天很开心": datetime(2024, 3, 1, 4),
                                "I love this": datetime(2024, 3, 1, 11)}

    bad = tmp_path / "bad.toml"
    bad.write_text(config.read_text(encoding="utf-8").replace("Europe/Berlin", "Europe/Berln"),
                   encoding="utf-8")
    result = run("watch", str(bad), "--once", "--db", str(tmp_path / "bad.db"))
    assert result.exit_code == EXIT_ERROR
    line = " ".join(result.output.split())
    assert "sources[1].source_tz: Unknown time zone 'Europe/Berln'" in line
    assert "Did you mean 'Europe/Berlin'" in line
    assert not (tmp_path / "bad.db").exists()
