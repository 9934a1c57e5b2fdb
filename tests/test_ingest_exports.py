"""Export formats people have: X/Twitter archive, Reddit JSON and NDJSON, Weibo CSV (GBK and
GB18030), Telegram result.json, WeChat TXT and CSV. Real files written here, with emoji,
Chinese and malformed entries; read by the connectors, then collected end to end with
`emolens ingest` and the shipped n-gram model."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emolens.cli import EXIT_PARTIAL, app
from emolens.errors import InvalidInputError
from emolens.ingest import BadItem, IngestItem, Note, guess_kind, open_source
from emolens.store import ResultStore

TWEETS = [
    {"tweet": {"id_str": "1001", "full_text": "So happy with the new release 🎉 &amp; the docs",
               "created_at": "Wed Oct 10 20:19:24 +0000 2018", "lang": "en"}},
    {"tweet": {"id_str": "1002", "full_text": "快递又丢了，气死我了 😡",
               "created_at": "Thu Oct 11 08:00:00 +0800 2018", "lang": "zh"}},
    {"tweet": {"id_str": "1003", "created_at": "Thu Oct 11 09:00:00 +0000 2018"}},
    "not a tweet",
    {"tweet": {"full_text": "a tweet without its id"}},
]


def entries(source: str, kind: str | None = None, **options) -> list:
    return list(open_source(source, kind, **options).items({}))


def split(found: list) -> tuple[list[IngestItem], list[BadItem], list[Note]]:
    return ([e for e in found if isinstance(e, IngestItem)],
            [e for e in found if isinstance(e, BadItem)], [e for e in found if isinstance(e, Note)])


def write_twitter(folder: Path) -> Path:
    data = folder / "data"
    data.mkdir(parents=True)
    (data / "tweets.js").write_text(
        "window.YTD.tweets.part0 = " + json.dumps(TWEETS, ensure_ascii=False, indent=2),
        encoding="utf-8")
    (data / "account.js").write_text('window.YTD.account.part0 = [{"account": '
                                     '{"username": "jo_dev", "accountId": "42"}}]')
    return data / "tweets.js"


def test_twitter_archive(tmp_path):
    tweets = write_twitter(tmp_path / "archive")
    assert guess_kind(str(tmp_path / "archive")) == guess_kind(str(tweets)) == "twitter"
    items, bad, _ = split(entries(str(tmp_path / "archive")))
    assert [i.text for i in items] == ["So happy with the new release 🎉 & the docs",
                                       "快递又丢了，气死我了 😡"]
    first, second = items
    assert (first.id, first.author, first.url) == (
        "tweet:1001", "jo_dev", "https://x.com/jo_dev/status/1001")
    assert first.time == datetime(2018, 10, 10, 20, 19, 24)
    assert second.time == datetime(2018, 10, 11, 0, 0)  # +0800 taken to UTC
    assert [b.message for b in bad] == ["has no full_text", "is str, not a tweet object",
                                        "has no id_str"]
    assert bad[0].name.endswith("tweets.js: tweet 3 (1003)")


def test_twitter_file_that_is_not_an_archive(tmp_path):
    path = tmp_path / "tweets.js"
    path.write_text("var x = [];")
    with pytest.raises(ValueError, match="window.YTD.tweets.part0"):
        entries(str(path))


REDDIT_THREAD = [
    {"kind": "Listing", "data": {"children": [{"kind": "t3", "data": {
        "id": "abc", "name": "t3_abc", "title": "Finally shipped it!", "selftext": "So proud 🚀",
        "author": "maker", "created_utc": 1700000000, "subreddit": "python",
        "permalink": "/r/python/comments/abc/finally/"}}]}},
    {"kind": "Listing", "data": {"children": [
        {"kind": "t1", "data": {
            "id": "c1", "name": "t1_c1", "body": "This is awful, I hate it", "author": "grump",
            "created_utc": 1700000100.0, "subreddit": "python",
            "permalink": "/r/python/comments/abc/finally/c1/",
            "replies": {"kind": "Listing", "data": {"children": [
                {"kind": "t1", "data": {"id": "c2", "body": "太棒了，恭喜！", "author": "[deleted]",
                                        "created_utc": 1700000200, "subreddit": "python"}},
                {"kind": "more", "data": {"count": 3}},
            ]}}}},
        {"kind": "t1", "data": {"id": "c3", "body": "[removed]", "author": "[deleted]"}},
        {"kind": "t1", "data": {"body": "a comment without an id"}},
    ]}},
]


def test_reddit_listing_with_nested_replies(tmp_path):
    path = tmp_path / "thread.json"
    path.write_text(json.dumps(REDDIT_THREAD, ensure_ascii=False), encoding="utf-8")
    assert guess_kind(str(path)) == "reddit"
    items, bad, notes = split(entries(str(path)))
    assert [i.id for i in items] == ["reddit:t3_abc", "reddit:t1_c1", "reddit:t1_c2"]
    post, comment, reply = items
    assert post.text == "Finally shipped it!\nSo proud 🚀"
    assert post.url == "https://www.reddit.com/r/python/comments/abc/finally/"
    assert (comment.author, comment.group) == ("grump", "r/python")
    assert comment.time == datetime(2023, 11, 14, 22, 15)
    assert reply.author is None and reply.text == "太棒了，恭喜！"
    assert len(notes) == 1 and "removed" in notes[0].message
    assert [b.message for b in bad] == ["has no id or name"]


def test_reddit_ndjson_with_a_broken_line(tmp_path):
    path = tmp_path / "comments.ndjson"
    lines = [
        json.dumps({"id": "x1", "body": "love this community ❤️", "author": "a",
                    "subreddit": "aww", "created_utc": "1700000000"}),
        '{"id": "x2", "body": "broken',
        json.dumps({"id": "s1", "title": "Why is it so sad", "selftext": "", "author": "b",
                    "subreddit": "aww", "created_utc": 1700000001}),
        "",
        json.dumps({"id": "x3", "body": "[deleted]", "author": "[deleted]", "subreddit": "aww"}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert guess_kind(str(path)) == "reddit"
    items, bad, notes = split(entries(str(path)))
    assert [(i.id, i.text) for i in items] == [("reddit:t1_x1", "love this community ❤️"),
                                               ("reddit:t3_s1", "Why is it so sad")]
    assert [b.name for b in bad] == [f"{path}:2"] and "not valid JSON" in bad[0].message
    assert len(notes) == 1


WEIBO_HEADER = "微博id,用户id,用户昵称,微博正文,发布时间,点赞数,转发数,评论数,bid"
WEIBO_ROWS = [
    "4890000000000001,1669879400,小明同学,今天心情特别好，阳光明媚！,2024-03-01 12:00,10,2,3,"
    "NpA1b2C3d",
    "4890000000000002,1669879400,小明同学,快递丢了三次，太让人生气了,2024年3月2日,0,0,1,",
    "4890000000000003,2000000000,路人甲,,2024-03-03 09:30,0,0,0,",
    "4890000000000004,2000000000,路人甲,字段太多,2024-03-03,0,0,0,,多余",
]


@pytest.mark.parametrize("encoding", ["gbk", "gb18030"])
def test_weibo_csv_in_chinese_encodings(tmp_path, encoding):
    rows = list(WEIBO_ROWS)
    if encoding == "gb18030":  # GB18030 also holds emoji, which GBK cannot
        rows[0] = rows[0].replace("明媚！", "明媚！😀")
    path = tmp_path / f"weibo-{encoding}.csv"
    path.write_bytes(("\n".join([WEIBO_HEADER, *rows]) + "\n").encode(encoding))
    assert guess_kind(str(path)) == "weibo"
    items, bad, _ = split(entries(str(path)))
    assert [i.id for i in items] == ["weibo:4890000000000001", "weibo:4890000000000002"]
    first, second = items
    assert first.text.startswith("今天心情特别好") and first.author == "小明同学"
    assert first.url == "https://weibo.com/1669879400/NpA1b2C3d"
    assert second.url == "https://m.weibo.cn/detail/4890000000000002"
    assert first.time == datetime(2024, 3, 1, 12) and second.time == datetime(2024, 3, 2)
    assert first.extra["likes"] == "10"
    assert [(b.name, b.message) for b in bad] == [
        (f"{path}:3", "empty text"), (f"{path}:4", "has 10 fields but the header has 9")]


TELEGRAM = {
    "name": "家人群 👨‍👩‍👧", "type": "private_group", "id": 777,
    "messages": [
        {"id": 1, "type": "service", "date": "2024-01-01T10:00:00", "actor": "Mum",
         "action": "create_group"},
        {"id": 2, "type": "message", "date": "2024-01-01T10:01:00", "date_unixtime": "1704103260",
         "from": "Mum", "from_id": "user1", "text": "Happy new year everyone! 🎆"},
        {"id": 3, "type": "message", "date": "2024-01-01T10:02:00", "from": "Dad",
         "from_id": "user2", "text": ["新年快乐，", {"type": "bold", "text": "太开心了"},
                                      "！ see ", {"type": "link", "text": "https://x.org"}]},
        {"id": 4, "type": "message", "date": "2024-01-01T10:03:00", "from": "Kid",
         "text": "", "media_type": "sticker", "sticker_emoji": "😂"},
        "not a message",
        {"type": "message", "date": "2024-01-01T10:04:00", "from": "Kid", "text": "no id"},
        {"id": 7, "type": "message", "from": "Kid", "text": [{"type": "bold"}]},
    ],
}


def test_telegram_export(tmp_path):
    path = tmp_path / "result.json"
    path.write_text(json.dumps(TELEGRAM, ensure_ascii=False, indent=1), encoding="utf-8")
    assert guess_kind(str(path)) == "telegram" == guess_kind(str(tmp_path))
    items, bad, notes = split(entries(str(path)))
    assert [(i.id, i.author, i.text) for i in items] == [
        ("telegram:777:2", "Mum", "Happy new year everyone! 🎆"),
        ("telegram:777:3", "Dad", "新年快乐，太开心了！ see https://x.org"),
    ]
    assert items[0].time == datetime(2024, 1, 1, 10, 1) and items[0].group == "家人群 👨‍👩‍👧"
    assert len(notes) == 1 and "sticker" in notes[0].message
    assert [b.message for b in bad] == [
        "is str, not a message object", "has no id",
        "its text is neither a string nor a list of parts"]


@pytest.mark.usefixtures("isolated_settings")
def test_telegram_export_folder_is_read_through_its_result_json(tmp_path, store_url):
    folder = tmp_path / "ChatExport_2026-01-05"  # as Telegram Desktop names it
    (folder / "photos").mkdir(parents=True)
    result_json = folder / "result.json"
    result_json.write_text(json.dumps(TELEGRAM, ensure_ascii=False), encoding="utf-8")
    assert guess_kind(str(folder)) == "telegram"
    items, bad, _ = split(entries(str(folder)))
    assert [i.id for i in items] == ["telegram:777:2", "telegram:777:3"]
    assert {i.source for i in items} == {str(result_json.resolve())}
    assert bad[0].name.startswith(f"{result_json.resolve()}: 家人群")

    command = ["ingest", str(folder), "--model", "ngram", "--db", store_url, "--json",
               "--no-media"]
    run = CliRunner().invoke(app, command)
    (source,) = [json.loads(line) for line in run.stdout.splitlines()
                 if json.loads(line)["type"] == "source"]
    assert (source["kind"], source["analysed"], source["error_count"]) == ("telegram", 2, 3)
    assert source["failed"] is None
    with ResultStore(store_url) as store:
        frame = store.to_frame()
    assert sorted(frame["author"]) == ["Dad", "Mum"]
    assert set(frame["source"]) == {str(result_json.resolve())}  # as when the file is given
    again = CliRunner().invoke(app, ["ingest", str(result_json), "--model", "ngram", "--db",
                                     store_url, "--json", "--no-media"])
    assert json.loads(again.stdout.splitlines()[-1])["skipped_existing"] == 2


def test_telegram_folder_without_result_json_says_so(tmp_path):
    with pytest.raises(InvalidInputError, match="No result.json in .*: give the folder"):
        entries(str(tmp_path), "telegram")


WECHAT_TXT = """2024-01-05 20:31:02 张三
今天的会开得真累
还要加班😩

2024-01-05 20:32:10 我
[图片]

2024-01-05 20:33:00 李四
2024-01-05 20:34:00 张三: 周末去爬山吧，太开心了
"""


def test_wechat_txt(tmp_path):
    path = tmp_path / "张三.txt"
    path.write_text(WECHAT_TXT, encoding="utf-8")
    assert guess_kind(str(path)) == "wechat"
    items, bad, notes = split(entries(str(path)))
    assert [(i.author, i.text) for i in items] == [
        ("张三", "今天的会开得真累\n还要加班😩"), ("张三", "周末去爬山吧，太开心了")]
    assert items[0].time == datetime(2024, 1, 5, 20, 31, 2) and items[0].group == "张三"
    assert [b.name for b in bad] == [f"{path}:8"] and "empty" in bad[0].message
    assert len(notes) == 1  # the picture


def test_wechat_csv(tmp_path):
    path = tmp_path / "chat.csv"
    path.write_text(
        "localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,"
        "NickName,Sender\n"
        "1,wxid_abc,1,0,0,1704457862,2,好累啊今天,2024-01-05 20:31:02,,张三,张三\n"
        "2,wxid_abc,3,0,1,1704457930,2,<msg><img/></msg>,2024-01-05 20:32:10,,我,我\n"
        "3,wxid_abc,1,0,1,1704458040,2,哈哈哈 好开心 😄,2024-01-05 20:34:00,,我,我\n",
        encoding="utf-8-sig")
    assert guess_kind(str(path)) == "wechat"
    items, bad, notes = split(entries(str(path)))
    assert [(i.id, i.author, i.group) for i in items] == [
        ("wechat:wxid_abc:1", "张三", "wxid_abc"), ("wechat:wxid_abc:3", "我", "wxid_abc")]
    assert items[1].time == datetime(2024, 1, 5, 20, 34) and not bad and len(notes) == 1


@pytest.mark.usefixtures("isolated_settings")
def test_ingest_exports_end_to_end_incrementally(tmp_path, store_url):
    tweets = write_twitter(tmp_path / "archive")
    telegram = tmp_path / "result.json"
    telegram.write_text(json.dumps(TELEGRAM, ensure_ascii=False), encoding="utf-8")
    runner = CliRunner()
    command = ["ingest", str(tweets), str(telegram), "--model", "ngram", "--db", store_url,
               "--json", "--no-media"]
    first = runner.invoke(app, command)
    assert first.exit_code == EXIT_PARTIAL, first.output
    lines = [json.loads(line) for line in first.stdout.splitlines()]
    by_kind = {line["kind"]: line for line in lines if line["type"] == "source"}
    assert (by_kind["twitter"]["analysed"], by_kind["twitter"]["error_count"]) == (2, 3)
    assert (by_kind["telegram"]["analysed"], by_kind["telegram"]["error_count"]) == (2, 3)
    assert any("tweets.js: tweet 3 (1003): has no full_text" in e
               for e in by_kind["twitter"]["errors"])
    second = runner.invoke(app, command)
    summary = json.loads(second.stdout.splitlines()[-1])
    assert (summary["analysed"], summary["skipped_existing"]) == (0, 4)
    with ResultStore(store_url) as store:
        frame = store.to_frame().set_index("url")
    row = frame.loc["https://x.com/jo_dev/status/1001"]
    assert row["author"] == "jo_dev" and row["source"] == str(tweets.resolve())
    assert row["text"] == "So happy with the new release 🎉 & the docs"
    assert sorted(frame["author"].dropna()) == ["Dad", "Mum", "jo_dev", "jo_dev"]
