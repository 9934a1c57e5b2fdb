"""Connectors over HTTP, against a real server on loopback (tests/loopback.py): RSS and Atom
feeds (ETag and 304), a paginated JSON API (page numbers and cursors, an auth header the
server checks) and web pages (main text); incremental runs through `emolens ingest`."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from loopback import HttpServer, Request
from typer.testing import CliRunner

from emolens.cli import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, app
from emolens.ingest import IngestItem, open_source
from emolens.ingest.web import extract_page
from emolens.store import ResultStore

pytestmark = pytest.mark.usefixtures("isolated_settings")

POSTS = [
    ("g1", "Launch day: we are so happy 🎉", "<p>Thanks to <b>everyone</b> who helped!</p>",
     "ann", datetime(2024, 5, 1, 9)),
    ("g2", "服务中断", "<p>气死我了，又崩了</p>", "客服小王", datetime(2024, 5, 1, 10)),
    ("g3", "A sad farewell", "We will miss you.", "ann", datetime(2024, 5, 2, 8)),
    ("g4", "", "", "nobody", datetime(2024, 5, 2, 9)),  # no title and no text: a bad entry
]


def rss(posts) -> bytes:
    entries = "".join(
        f"<item><guid>{gid}</guid><title>{title}</title>"
        f"<description><![CDATA[{body}]]></description><author>{author}</author>"
        f"<link>https://blog.example/{gid}</link>"
        f"<pubDate>{format_datetime(when.replace(tzinfo=UTC))}</pubDate>"
        "</item>"
        for gid, title, body, author, when in posts)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Example blog</title><link>https://blog.example/</link>{entries}"
            "</channel></rss>").encode()


class Feed:
    """Serves the RSS of ``posts`` with an ETag, answering 304 when it has not changed."""

    def __init__(self, posts) -> None:
        self.posts = list(posts)

    def __call__(self, request: Request):
        body = rss(self.posts)
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if request.headers.get("if-none-match") == etag:
            return 304, {"ETag": etag}, b""
        return 200, {"Content-Type": "application/rss+xml; charset=utf-8", "ETag": etag}, body


def ingest(*args: str):
    result = CliRunner().invoke(app, ["ingest", *args, "--model", "ngram", "--json"])
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result, next((line for line in lines if line["type"] == "source"), None)


def test_rss_feed_is_incremental_with_etag(tmp_path, store_url):
    feed = Feed(POSTS)
    with HttpServer() as server:
        server.route("/feed.xml", feed)
        url = server.url("/feed.xml")
        first, report = ingest(url, "--db", store_url)
        assert first.exit_code == EXIT_PARTIAL, first.output
        assert (report["kind"], report["analysed"], report["error_count"]) == ("rss", 3, 1)
        assert "entry 4 (g4): no title or text" in report["errors"][0]

        second, report = ingest(url, "--db", store_url)
        assert second.exit_code == EXIT_OK and (report["read"], report["analysed"]) == (0, 0)
        assert server.requests[-1].headers.get("if-none-match", "").startswith('"')

        feed.posts.append(("g5", "New post", "Another great day 😀", "ann",
                           datetime(2024, 5, 3, 9)))
        third, report = ingest(url, "--db", store_url)
        assert (report["analysed"], report["skipped_existing"]) == (1, 3)

        fourth, report = ingest(url, "--db", store_url, "--refetch")
        assert (report["analysed"], report["skipped_existing"]) == (0, 4)
    with ResultStore(store_url) as store:
        frame = store.to_frame().set_index("url")
    row = frame.loc["https://blog.example/g1"]
    assert row["text"] == "Launch day: we are so happy 🎉\nThanks to everyone who helped!"
    assert (row["author"], row["group"], row["source"]) == ("ann", "Example blog", url)
    assert row["timestamp"] == datetime(2024, 5, 1, 9)
    assert frame.loc["https://blog.example/g2", "author"] == "客服小王"


def test_atom_feed():
    atom = (b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            b"<title>Atom news</title><id>urn:feed</id><updated>2024-06-01T00:00:00Z</updated>"
            b"<entry><id>urn:e1</id><title>Great news</title><updated>2024-06-01T12:00:00+02:00"
            b"</updated><author><name>Zoe</name></author><link href='https://n.example/e1'/>"
            b"<content type='html'>&lt;p&gt;We &lt;em&gt;won&lt;/em&gt;!&lt;/p&gt;</content>"
            b"</entry></feed>")
    with HttpServer() as server:
        server.route("/atom", lambda r: (200, {"Content-Type": "application/atom+xml"}, atom))
        (item,) = open_source(server.url("/atom"), "rss").items({})
    assert (item.text, item.author, item.url) == ("Great news\nWe won!", "Zoe",
                                                  "https://n.example/e1")
    assert item.time == datetime(2024, 6, 1, 10) and item.group == "Atom news"


API_PAGES = {
    "1": [{"post_id": 1, "body": "Absolutely love it ❤️", "user": {"name": "ann"},
           "ts": 1714550400, "permalink": "https://api.example/p/1"},
          {"post_id": 2, "body": "太失望了", "user": {"name": "bo"}, "ts": "2024-05-01T09:00:00Z"}],
    "2": [{"post_id": 3, "user": {"name": "cy"}},  # no text
          "not an object",
          {"post_id": 4, "body": "I am so angry right now", "user": {"name": "cy"}}],
    "3": [],
}


def api_page(request: Request):
    if request.headers.get("x-api-key") != "s3cret":
        return 401, {"Content-Type": "application/json"}, b'{"error": "unauthorised"}'
    page = request.path.split("page=")[1]
    body = {"data": {"posts": API_PAGES.get(page, [])}, "page": int(page)}
    return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


def test_paginated_api_with_auth_header_from_the_environment(tmp_path, monkeypatch, store_url):
    args = ["--items-path", "data.posts", "--field", "id=post_id", "--field", "text=body",
            "--field", "author=user.name", "--field", "time=ts", "--field", "url=permalink",
            "--auth-env", "TEST_API_KEY", "--auth-header", "X-Api-Key", "--db", store_url]
    with HttpServer() as server:
        server.route("/api/posts", api_page)
        url = server.url("/api/posts?page={page}")
        missing, _ = ingest(url, *args)
        assert missing.exit_code == EXIT_ERROR and "TEST_API_KEY" in missing.output
        monkeypatch.setenv("TEST_API_KEY", "wrong")
        refused, report = ingest(url, *args)
        assert refused.exit_code == EXIT_ERROR and "HTTP 401" in report["failed"]

        monkeypatch.setenv("TEST_API_KEY", "s3cret")
        server.requests.clear()
        result, report = ingest(url, *args)
        assert result.exit_code == EXIT_PARTIAL, result.output
        assert [r.path for r in server.requests] == [f"/api/posts?page={n}" for n in (1, 2, 3)]
        assert {r.headers["x-api-key"] for r in server.requests} == {"s3cret"}
        assert "s3cret" not in result.output
        assert (report["analysed"], report["error_count"]) == (3, 2)
        assert report["errors"] == [f"{server.url('/api/posts?page=2')} item 1: no text at "
                                    "'body'", f"{server.url('/api/posts?page=2')} item 2: is "
                                    "str, not a JSON object"]
        again, report = ingest(url, *args)
        assert (report["analysed"], report["skipped_existing"]) == (0, 3)
    with ResultStore(store_url) as store:
        frame = store.to_frame().set_index("text")
    assert frame.loc["Absolutely love it ❤️", "url"] == "https://api.example/p/1"
    assert frame.loc["Absolutely love it ❤️", "timestamp"] == datetime(2024, 5, 1, 8)
    assert frame.loc["太失望了", "author"] == "bo"


def test_cursor_pagination_and_resume():
    pages = {"": (["one 😀", "two"], "c2"), "c2": (["three"], "c3"), "c3": (["four"], None)}

    def stream(request: Request):
        cursor = request.path.partition("cursor=")[2]
        texts, after = pages[cursor]
        body = {"items": [{"id": t, "text": t} for t in texts], "next": {"cursor": after}}
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    with HttpServer() as server:
        server.route("/stream", stream)
        source = open_source(server.url("/stream?cursor={cursor}"), items_path="items",
                             next_path="next.cursor", resume=True)
        state: dict = {}
        texts = [e.text for e in source.items(state) if isinstance(e, IngestItem)]
        assert texts == ["one 😀", "two", "three", "four"] and state == {"cursor": "c3"}
        server.requests.clear()
        assert [e.text for e in source.items(state)] == ["four"]
        assert [r.path for r in server.requests] == ["/stream?cursor=c3"]


ARTICLE = """<!doctype html><html><head><title>Shop | Review</title>
<meta name="author" content="Dana"><meta property="article:published_time"
content="2024-04-02T08:30:00Z"><link rel="canonical" href="/reviews/42">
<style>p {{ color: red }}</style><script>var tracking = "do not read me";</script></head>
<body><header><a href="/">Home</a></header><nav><ul><li>Products</li><li>Cart</li></ul></nav>
<main><article><h1>My review</h1><p>{first}</p><p>The delivery took three weeks 😤.</p>
<ul><li><p>Support never answered.</p></li></ul></article>
<aside>Related: 10 best phones</aside></main>
<footer><p>© 2024 Shop. Privacy. Cookies.</p></footer></body></html>"""


def test_web_page_main_text_and_incremental_ingest(store_url):
    page = {"first": "I was really disappointed with this phone."}

    def serve(request: Request):
        body = ARTICLE.format(**page).encode()
        return 200, {"Content-Type": "text/html; charset=utf-8"}, body

    found = extract_page(ARTICLE.format(**page), "http://shop.example/r?id=42")
    assert found.text == ("My review\nI was really disappointed with this phone.\n"
                          "The delivery took three weeks 😤.\nSupport never answered.")
    assert (found.title, found.author, found.url) == ("Shop | Review", "Dana",
                                                      "http://shop.example/reviews/42")
    assert found.time == datetime(2024, 4, 2, 8, 30)
    with HttpServer() as server:
        server.route("/review", serve)
        server.route("/feed", lambda r: (200, {"Content-Type": "application/rss+xml"}, rss([])))
        url = server.url("/review")
        first, report = ingest(url, "--db", store_url)
        assert first.exit_code == EXIT_OK and (report["kind"], report["analysed"]) == ("web", 1)
        _, report = ingest(url, "--db", store_url)
        assert report["analysed"] == 0
        page["first"] = "Update: they refunded me, I am happy now."
        _, report = ingest(url, "--db", store_url)
        assert report["analysed"] == 1
        feed, report = ingest(server.url("/feed"), "--kind", "web", "--db", store_url)
        assert feed.exit_code == EXIT_ERROR and "use --kind rss" in report["failed"]
    with ResultStore(store_url) as store:
        frame = store.to_frame()
    assert set(frame["url"]) == {server.url("/reviews/42")}
    assert frame["text"].str.startswith("Shop | Review\nMy review\n").all()
    assert not frame["text"].str.contains("tracking|Products|Cookies|Related").any()
