"""QA fixes for ids, through the real CLI on real stores: `emolens export` gives a collected
post's own id as item_id (as `analyze file --id-col` does), not the internal key; a second row
with the id of an earlier one in the same file is reported by name, not dropped unsaid."""

from __future__ import annotations

import csv
import io
import json

import pytest
from loopback import HttpServer
from typer.testing import CliRunner

from emolens.cli import EXIT_OK, EXIT_PARTIAL, app

pytestmark = pytest.mark.usefixtures("isolated_settings")
WIDE = {"COLUMNS": "400"}


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), env=WIDE)


def ingest(*args: str):
    result = invoke("ingest", *args, "--model", "ngram", "--json")
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result, [line for line in lines if line["type"] == "source"]


def exported(store_url: str) -> list[dict]:
    done = invoke("export", "--db", store_url)
    assert done.exit_code == EXIT_OK, done.output
    return list(csv.DictReader(io.StringIO(done.stdout.lstrip("\ufeff"))))


def test_export_item_id_is_the_posts_own_id(tmp_path, store_url):
    (tmp_path / "posts.csv").write_text("id,text\n1,I love this so much\n2,so angry today\n",
                                        encoding="utf-8")
    (tmp_path / "weibo.csv").write_text("微博id,用户昵称,微博正文,发布时间\n"
                                        "1001,小王,今天很开心,2024-03-01 12:00\n",
                                        encoding="utf-8")
    (tmp_path / "plain.txt").write_text("no id here, just a happy line\n", encoding="utf-8")
    feed = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>B</title><item>'
            b"<guid>a1</guid><title>What a sad day</title></item></channel></rss>")
    with HttpServer() as server:
        server.route("/rss.xml", lambda r: (200, {"Content-Type": "application/rss+xml"}, feed))
        url = server.url("/rss.xml")
        done, _ = ingest(str(tmp_path / "posts.csv"), str(tmp_path / "weibo.csv"),
                         str(tmp_path / "plain.txt"), url, "--db", store_url)
    assert done.exit_code == EXIT_OK, done.output
    ids = {(row["source"], row["text"]): row["item_id"] for row in exported(store_url)}
    posts, weibo, plain = (str((tmp_path / name).resolve())
                           for name in ("posts.csv", "weibo.csv", "plain.txt"))
    assert ids == {(posts, "I love this so much"): "1", (posts, "so angry today"): "2",
                   (weibo, "今天很开心"): "1001", (url, "What a sad day"): "a1",
                   (plain, "no id here, just a happy line"): ""}  # no id of its own

    analysed = tmp_path / "analysed.db"  # the same id as `analyze file --id-col id` gives
    done = invoke("analyze", "file", posts, "--id-col", "id", "--model", "ngram", "--db",
                  str(analysed))
    assert done.exit_code == EXIT_OK, done.output
    assert [row["item_id"] for row in exported(str(analysed))] == ["1", "2"]
    again, (report, *_) = ingest(posts, "--db", store_url)  # still the same item to dedupe
    assert (report["analysed"], report["skipped_existing"]) == (0, 2), again.output


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_duplicate_id_in_one_file_is_reported_by_name(tmp_path, store_url, suffix):
    path = tmp_path / f"posts{suffix}"
    rows = [("a", "I love this"), ("b", "so sad"), ("a", "I hate this"), ("b", "so sad")]
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in rows),
                        encoding="utf-8")
    else:
        path.write_text("id,text\n" + "".join(f"{i},{t}\n" for i, t in rows), encoding="utf-8")
    done, (report,) = ingest(str(path), "--db", store_url)
    assert done.exit_code == EXIT_PARTIAL, done.output
    where = path.resolve()
    assert report["errors"] == [f"{where}:3: duplicate id 'a' (row 1 has it, with another "
                                 "text); left out: give each post its own id"]
    assert f"{where}:4: duplicate id 'b' (row 2, same text); left out" in report["notes"]
    assert (report["stored"], report["skipped_existing"]) == (2, 0)
    assert f"{where}:3: duplicate id 'a'" in " ".join(invoke(
        "ingest", str(path), "--model", "ngram", "--db", store_url).output.split())
