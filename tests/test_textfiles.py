"""Reading items from real files: every format, encodings, broken rows, binary junk, times."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import pytest

from emolens.errors import InvalidInputError
from emolens.io import Item, RowError, detect_encoding, estimate_rows, parse_time, read_items


def split(entries):
    """(items, errors) from what a reader yields."""
    entries = list(entries)
    items = [e for e in entries if isinstance(e, Item)]
    return items, [e for e in entries if isinstance(e, RowError)]


def test_csv_with_columns_times_and_row_numbers(tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text(
        "id,when,channel,text\n"
        "a1,2024-03-01 12:00,web,I love it\n"
        "\n"  # a blank line: skipped, but still counted as a row
        'a2,2024/03/02,app,"two\nlines, with a comma"\n'
        "a3,not a time,app,third\n",
        encoding="utf-8",
    )
    reader = read_items(path, time_col="when", group_col="channel", id_col="id")
    assert (reader.format, reader.encoding, reader.columns.text) == ("csv", "utf-8", "text")
    items, errors = split(reader)
    assert errors == []
    assert [(i.row, i.item_id, i.group) for i in items] == [
        (1, "a1", "web"), (3, "a2", "app"), (4, "a3", "app")
    ]
    assert items[0].timestamp == datetime(2024, 3, 1, 12, 0)
    assert items[1].text == "two\nlines, with a comma"
    assert items[1].timestamp == datetime(2024, 3, 2)
    assert items[2].timestamp is None and "not a time" in items[2].warning


def test_csv_sniffs_semicolons_and_tsv_uses_tabs(tmp_path):
    (tmp_path / "a.csv").write_text("text;score\nhello, world;1\n", encoding="utf-8")
    (tmp_path / "b.tsv").write_text("content\tx\nhi, there; you\t2\n", encoding="utf-8")
    assert [i.text for i in read_items(tmp_path / "a.csv")] == ["hello, world"]
    assert [i.text for i in read_items(tmp_path / "b.tsv")] == ["hi, there; you"]


def test_gb18030_chinese_csv(tmp_path):
    path = tmp_path / "weibo.csv"
    rows = [
        "用户,微博内容,发布时间",
        "小明,今天真开心！,2024年3月1日 12:00",
        "小红,气死我了，航班又取消了,2024-03-02",
    ]
    path.write_text("\n".join(rows) + "\n", encoding="gb18030")
    reader = read_items(path, time_col="发布时间", group_col="用户")
    assert reader.encoding == "gb18030"
    assert reader.columns.text == "微博内容"  # found by its name, no --text-col needed
    items, errors = split(reader)
    assert errors == []
    assert [i.text for i in items] == ["今天真开心！", "气死我了，航班又取消了"]
    assert items[0].group == "小明"
    assert items[0].timestamp == datetime(2024, 3, 1, 12, 0)


@pytest.mark.parametrize(("encoding", "texts"), [
    # Traditional Chinese from Taiwan or Hong Kong: these bytes also decode as GB18030, into
    # rare characters and Cyrillic letters.
    ("big5", ["聽到這個消息我很難過", "今天真開心", "氣死我了"]),
    # Western European: "Crème" decodes as GB18030 too ("Cr鑝e"); Latin-1 is the same here.
    ("cp1252", ["Crème brûlée, delicious", "naïve and sad", "¿Qué tal? – “great”"]),
    ("latin-1", ["Ich bin so glücklich", "Das ist schön", "Très bien"]),
    ("gbk", ["听到这个消息我很难过", "今天真开心", "气死我了"]),
])
def test_legacy_encodings_are_told_apart(tmp_path, encoding, texts):
    path = tmp_path / "posts.csv"
    path.write_bytes(("id,text\n" + "".join(f'{i},"{t}"\n' for i, t in enumerate(texts)))
                     .encode(encoding))
    reader = read_items(path)
    assert reader.encoding == {"latin-1": "cp1252", "gbk": "gb18030"}.get(encoding, encoding)
    items, errors = split(reader)
    assert errors == [] and [i.text for i in items] == texts


def test_utf16_with_bom(tmp_path):
    path = tmp_path / "export.txt"
    path.write_text("第一行\nsecond line\n", encoding="utf-16")
    assert detect_encoding(path) == "utf-16"
    assert [i.text for i in read_items(path)] == ["第一行", "second line"]


def test_one_row_of_invalid_bytes_fails_only_that_row(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        "text,n\ncafé au lait ☕,1\n".encode()
        + b"broken \xff\xfe\xfa bytes,2\n"
        + b"fine again,3\n"
    )
    reader = read_items(path)
    assert reader.encoding == "utf-8"
    items, errors = split(reader)
    assert [i.text for i in items] == ["café au lait ☕", "fine again"]
    assert [(e.row, "not valid utf-8" in e.message) for e in errors] == [(2, True)]
    assert str(errors[0]) == f"{path}:2: {errors[0].message}"


def test_a_lone_surrogate_escape_fails_only_that_row(tmp_path):
    # JSON may escape half of a UTF-16 pair; such a string cannot be analysed or stored.
    path = tmp_path / "posts.jsonl"
    path.write_text('{"text": "ok 😀"}\n{"text": "half \\ud83d pair"}\n{"text": "fine"}\n',
                    encoding="utf-8")
    items, errors = split(read_items(path))
    assert [i.text for i in items] == ["ok 😀", "fine"]
    assert [(e.row, "lone surrogate" in e.message) for e in errors] == [(2, True)]


def test_utf8_bom_is_not_part_of_the_first_column(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufefftext,x\nhé,1\n".encode())
    reader = read_items(path)
    assert reader.fields == ["text", "x"]
    assert [i.text for i in reader] == ["hé"]


def test_empty_texts_are_row_errors_and_blank_lines_are_skipped(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("text,group\nfirst,a\n,b\n   ,c\n,\n\nlast,d\n", encoding="utf-8")
    items, errors = split(read_items(path, group_col="group"))
    assert [(i.row, i.text) for i in items] == [(1, "first"), (6, "last")]
    assert [(e.row, e.message) for e in errors] == [(2, "empty text"), (3, "empty text")]


def test_wrong_number_of_fields_is_a_row_error(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("text,a,b\nok,1,2\nshort,1\nlong,1,2,3\n", encoding="utf-8")
    items, errors = split(read_items(path))
    assert [i.text for i in items] == ["ok"]
    assert [e.row for e in errors] == [2, 3]
    assert "2 fields but the header has 3" in errors[0].message


def test_missing_column_names_the_columns(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("id,content,created\n1,hello,2024-01-01\n", encoding="utf-8")
    with pytest.raises(InvalidInputError) as err:
        read_items(path, text_col="contents")
    message = str(err.value)
    assert "'contents'" in message and "'id', 'content', 'created'" in message
    assert "Did you mean 'content'" in message
    with pytest.raises(InvalidInputError, match="'created'"):
        read_items(path, time_col="creatd")


def test_text_column_must_be_named_when_it_cannot_be_guessed(tmp_path):
    (tmp_path / "none.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (tmp_path / "two.csv").write_text("text,body\n1,2\n", encoding="utf-8")
    for name in ("none.csv", "two.csv"):
        with pytest.raises(InvalidInputError, match="--text-col"):
            read_items(tmp_path / name)
    assert [i.text for i in read_items(tmp_path / "two.csv", text_col="body")] == ["2"]


def test_one_megabyte_text_is_read_and_truncated_to_max_chars(tmp_path):
    big = "好" * 500_000 + "a" * 500_000
    path = tmp_path / "big.csv"
    path.write_text(f'text\n"{big}"\nsmall\n', encoding="utf-8")
    items, errors = split(read_items(path, max_chars=100_000))
    assert errors == []
    assert len(items[0].text) == 100_000 and items[0].truncated
    assert items[1].text == "small" and not items[1].truncated
    assert len(next(read_items(path, max_chars=2_000_000)).text) == 1_000_000


def test_binary_junk_is_refused(tmp_path):
    png = tmp_path / "photo.txt"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 40)
    nuls = tmp_path / "dump.csv"
    nuls.write_bytes(b"text\n" + b"ab\x00\x00\x00\x00cd\n" * 500)
    for path in (png, nuls):
        with pytest.raises(InvalidInputError, match="looks binary") as err:
            read_items(path)
        assert str(path) in str(err.value)


def test_unknown_extension_lists_supported_ones(tmp_path):
    path = tmp_path / "book.ods"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(InvalidInputError, match=r"\.csv, \.tsv, \.jsonl.*\.xlsx.*as \.xlsx or CSV"):
        read_items(path)


def test_jsonl_malformed_line_is_a_row_error_and_reading_goes_on(tmp_path):
    path = tmp_path / "chat.jsonl"
    lines = [
        json.dumps({"message": "hello", "ts": 1709294400, "user": "u1"}),
        '{"message": "broken", ',
        "",
        json.dumps({"message": "ms time", "ts": 1709294400000, "user": 7}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"message": {"nested": True}}),
        json.dumps({"other": "no text"}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items, errors = split(read_items(path, time_col="ts", group_col="user"))
    assert [(i.row, i.text, i.group) for i in items] == [(1, "hello", "u1"), (4, "ms time", "7")]
    assert items[0].timestamp == items[1].timestamp == datetime(2024, 3, 1, 12, 0)
    assert [e.row for e in errors] == [2, 5, 6, 7]
    assert errors[0].message.startswith("not valid JSON")


def test_json_array_is_streamed_and_a_syntax_error_stops_with_a_row_error(tmp_path):
    good = tmp_path / "good.json"
    records = [{"post": f"post {i}", "n": i} for i in range(5000)]
    good.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    texts = [i.text for i in read_items(good)]
    assert texts == [f"post {i}" for i in range(5000)]

    bad = tmp_path / "bad.json"
    bad.write_text('[{"post": "one"}, {"post": "two"} {"post": "three"}]', encoding="utf-8")
    items, errors = split(read_items(bad))
    assert [i.text for i in items] == ["one", "two"]
    assert len(errors) == 1 and errors[0].row == 3

    with pytest.raises(InvalidInputError, match="array"):
        (tmp_path / "obj.json").write_text('{"post": "x"}', encoding="utf-8")
        read_items(tmp_path / "obj.json")


def test_txt_one_item_per_line(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("first\n\n   \nsecond\r\nthird", encoding="utf-8")
    items = list(read_items(path, text_col="ignored"))
    assert [(i.row, i.text) for i in items] == [(1, "first"), (4, "second"), (5, "third")]


def test_parquet_by_batches(tmp_path):
    path = tmp_path / "posts.parquet"
    n = 10_000
    frame = pd.DataFrame({
        "body": [f"text {i}" if i % 1000 else None for i in range(n)],
        "at": pd.date_range("2024-01-01", periods=n, freq="min", tz="Asia/Shanghai"),
        "gid": [i % 3 for i in range(n)],
    })
    frame.to_parquet(path, row_group_size=3000)
    reader = read_items(path, time_col="at", group_col="gid")
    assert (reader.format, reader.encoding) == ("parquet", None)
    items, errors = split(reader)
    assert len(items) == n - 10 and [e.row for e in errors] == [1 + 1000 * k for k in range(10)]
    assert items[0].row == 2 and items[0].group == "1"
    assert items[0].timestamp == datetime(2023, 12, 31, 16, 1)  # converted to UTC
    assert estimate_rows(path) == n


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-01T12:00:00Z", datetime(2024, 3, 1, 12)),
        ("2024-03-01T20:00:00+08:00", datetime(2024, 3, 1, 12)),
        ("2024-03-01 12:00", datetime(2024, 3, 1, 12)),
        ("2024/03/01", datetime(2024, 3, 1)),
        ("2024年3月1日 12:00", datetime(2024, 3, 1, 12)),
        ("March 1, 2024", datetime(2024, 3, 1)),
        (1709294400, datetime(2024, 3, 1, 12)),
        ("1709294400000", datetime(2024, 3, 1, 12)),
        (1709294400.5, datetime(2024, 3, 1, 12, 0, 0, 500000)),
        ("20240301", datetime(2024, 3, 1)),
        ("", None),
        (None, None),
    ],
)
def test_parse_time(value, expected):
    assert parse_time(value) == expected


@pytest.mark.parametrize("value", ["soon", "2024-13-45", True, [2024]])
def test_parse_time_refuses_what_is_not_a_time(value):
    with pytest.raises(ValueError):
        parse_time(value)


def test_estimate_rows(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("text\n" + "x\n" * 41, encoding="utf-8")
    assert estimate_rows(path) == 41
    assert estimate_rows(path, max_bytes=10) is None
    (tmp_path / "b.json").write_text("[]", encoding="utf-8")
    assert estimate_rows(tmp_path / "b.json") is None


def test_a_duplicated_column_is_refused_when_used_and_warned_of_when_not(tmp_path, caplog):
    path = tmp_path / "dh.csv"
    path.write_text("comment,comment,when,when\nfirst happy text,second angry text,1,2\n",
                    encoding="utf-8")
    with pytest.raises(InvalidInputError) as err:
        read_items(path, text_col="comment")
    assert str(err.value) == (f"{path} has 2 columns named 'comment'; rename them so that one "
                              "holds the texts.")
    path.write_text("comment,when,when\nhappy,1,2\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="2 columns named 'when'.*one holds the times"):
        read_items(path, text_col="comment", time_col="WHEN")
    path.write_text("text,note,note\nhello there,a,b\n", encoding="utf-8")
    with caplog.at_level("WARNING"):
        items = list(read_items(path))
    assert [i.text for i in items] == ["hello there"]
    assert f"{path} has 2 columns named 'note'" in caplog.text
