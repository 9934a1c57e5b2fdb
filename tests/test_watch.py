"""`emolens watch CONFIG --once`: a feed on a loopback server, the shipped n-gram model, alert
rules against a baseline, a webhook receiver and a tiny SMTP server on loopback; alerts
stored (SQLite and PostgreSQL), cooldowns, rules under their threshold staying quiet."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.utils import format_datetime

import pytest
from loopback import HttpServer, Request, SmtpServer
from typer.testing import CliRunner

from emolens.cli import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, app
from emolens.ingest.notify import Alert, EmailNotifier
from emolens.ingest.rules import Rule, evaluate, parse_duration
from emolens.store import ResultStore
from emolens.store.tables import list_alerts
from emolens.types import EmotionResult

pytestmark = pytest.mark.usefixtures("isolated_settings")

ANGRY = ["I am so angry and furious about this outage", "This makes me furious, I hate it",
         "气死我了，太生气了", "Outrageous service, I am so angry", "I hate this, so angry"]
HAPPY = ["I love this so much, what a happy day", "So happy and glad, great fun",
         "今天很开心，太好了", "What a wonderful happy surprise", "I love it, so glad"]


def feed(posts: list[tuple[str, datetime]]) -> bytes:
    items = "".join(
        f"<item><guid>p{i}</guid><title></title><description>{text}</description>"
        f"<pubDate>{format_datetime(when.replace(tzinfo=UTC))}</pubDate></item>"
        for i, (text, when) in enumerate(posts))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Brand mentions</title>{items}</channel></rss>").encode()


def posts(recent: list[str], older: list[str]) -> list[tuple[str, datetime]]:
    """``recent`` texts written in the last hour, ``older`` ones over the days before."""
    now = datetime.now(UTC).replace(tzinfo=None)
    return ([(t, now - timedelta(minutes=5 + i)) for i, t in enumerate(recent)]
            + [(t, now - timedelta(days=1 + i % 5, hours=i)) for i, t in enumerate(older)])


def write_config(tmp_path, feed_url: str, hook_url: str, extra: str = "") -> str:
    path = tmp_path / "watch.toml"
    path.write_text(f"""
interval = "10m"
model = "ngram"

[[sources]]
name = "mentions"
source = "{feed_url}"

[[rules]]
name = "anger spike"
label = "anger"
window = "1h"
above = 0.30
baseline = "7d"
ratio = 2.0
min_items = 3

[[notify]]
name = "log"
type = "log"

[[notify]]
name = "hook"
type = "webhook"
url = "{hook_url}"
{extra}
""", encoding="utf-8")
    return str(path)


class Hook:
    """A webhook receiver: keeps each JSON body, answers ``status``."""

    def __init__(self, status: int = 204) -> None:
        self.status, self.bodies = status, []

    def __call__(self, request: Request):
        self.bodies.append(json.loads(request.body))
        return self.status, {}, b""


def watch_once(config: str, db: str):
    result = CliRunner().invoke(app, ["watch", config, "--once", "--db", db, "--json"])
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result, lines


def test_a_surge_of_anger_fires_a_webhook_alert_once(tmp_path, store_url):
    hook = Hook()
    with HttpServer() as server:
        server.route("/feed.xml", lambda r: (200, {"Content-Type": "application/rss+xml"},
                                             feed(posts(ANGRY[:4] + HAPPY[:1], HAPPY * 2))))
        server.route("/hook", hook)
        config = write_config(tmp_path, server.url("/feed.xml"), server.url("/hook"))
        result, lines = watch_once(config, store_url)
        assert result.exit_code == EXIT_OK, result.output
        (rule,) = [line for line in lines if line["type"] == "rule"]
        assert rule["fires"] and rule["items"] == 5 and rule["share"] == pytest.approx(0.8)
        assert len(hook.bodies) == 1
        body = hook.bodies[0]
        assert (body["rule"], body["label"], body["items"]) == ("anger spike", "anger", 5)
        assert body["baseline"] == 0.0 and body["text"].startswith("anger spike: anger is 80%")

        again, lines = watch_once(config, store_url)  # within the cooldown (the window, 1h)
        assert again.exit_code == EXIT_OK
        (rule,) = [line for line in lines if line["type"] == "rule"]
        assert not rule["fires"] and rule["why"] == "fired within its cooldown"
        assert len(hook.bodies) == 1
    with ResultStore(store_url) as store:
        (alert,) = list_alerts(store.engine)
    assert (alert["rule"], alert["label"], alert["items"]) == ("anger spike", "anger", 5)
    assert alert["details"]["delivered"] == ["log", "hook"] and alert["details"]["failed"] == {}


def test_no_alert_under_the_threshold_or_without_enough_items(tmp_path):
    hook = Hook()
    db = str(tmp_path / "watch.db")
    with HttpServer() as server:
        recent = ANGRY[:1] + HAPPY[:4]  # anger 20 %: under 30 %
        server.route("/feed.xml", lambda r: (200, {"Content-Type": "application/rss+xml"},
                                             feed(posts(recent, HAPPY * 2))))
        server.route("/hook", hook)
        config = write_config(tmp_path, server.url("/feed.xml"), server.url("/hook"))
        result, lines = watch_once(config, db)
        (rule,) = [line for line in lines if line["type"] == "rule"]
        assert result.exit_code == EXIT_OK and not rule["fires"]
        assert rule["why"] == "share 20% is not above 30%"
        assert hook.bodies == []
    with ResultStore(db) as store:
        assert list_alerts(store.engine) == []
        assert (store.to_frame()["label"] == "anger").sum() == 1


def test_rules_on_stored_results_with_a_baseline(store_url):
    now = datetime(2024, 6, 10, 12)

    def result(i: int, label: str, when: datetime, source: str = "/data/a.csv"):
        return EmotionResult(label=label, scores={label: 1.0}, model="m@1", text=f"t{i}",
                             item_key=f"k{i}", source_id=source, timestamp=when)

    rows = [result(i, "anger" if i < 4 else "joy", now - timedelta(minutes=10 + i))
            for i in range(10)]  # the last hour: 40 % anger
    rows += [result(100 + i, "anger" if i < 3 else "joy", now - timedelta(days=2, hours=i))
             for i in range(20)]  # the week before: 15 % anger
    rows += [result(200, "anger", now - timedelta(minutes=5), "/other/b.csv"),
             result(201, "anger", now - timedelta(minutes=5), "/data-old/c.csv")]
    rule = Rule(name="r", label="anger", window="1h", above=0.3, baseline="7d", ratio=2.0,
                min_items=5)
    with ResultStore(store_url) as store:
        store.add(rows)
        scoped = evaluate(rule, store.engine, now, "m@1", ["/data"])
        everything = evaluate(rule, store.engine, now, "m@1")
        stricter = evaluate(rule.model_copy(update={"ratio": 3.0}), store.engine, now, "m@1",
                            ["/data"])
        other_model = evaluate(rule, store.engine, now, "m@2")
    assert (scoped.items, scoped.hits, scoped.baseline_items) == (10, 4, 20)
    assert scoped.fires and scoped.baseline_share == pytest.approx(0.15)
    assert "2.7x the 7d baseline of 15% (20 items)" in scoped.message()
    assert (everything.items, everything.hits) == (12, 6)
    assert not stricter.fires and "not above 3x the baseline" in stricter.why
    assert other_model.items == 0 and "fewer than min_items" in other_model.why


def test_alert_by_email_through_a_loopback_smtp_server(tmp_path, monkeypatch):
    with HttpServer() as server, SmtpServer() as smtp:
        server.route("/feed.xml", lambda r: (200, {"Content-Type": "application/rss+xml"},
                                             feed(posts(ANGRY[:4], HAPPY * 2))))
        monkeypatch.setenv("EMOLENS_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("EMOLENS_SMTP_PORT", str(smtp.port))
        monkeypatch.setenv("EMOLENS_SMTP_STARTTLS", "false")
        monkeypatch.setenv("EMOLENS_SMTP_USER", "alerts@example.com")
        monkeypatch.setenv("EMOLENS_SMTP_PASSWORD", "app-password")
        config = write_config(tmp_path, server.url("/feed.xml"), server.url("/nowhere"),
                              '[[notify]]\nname = "mail"\ntype = "email"\n'
                              'to = ["ops@example.com", "pr@example.com"]\n')
        path = tmp_path / "watch.toml"
        path.write_text(path.read_text(encoding="utf-8").replace(
            'min_items = 3', 'min_items = 3\nnotify = ["mail"]'), encoding="utf-8")
        result, lines = watch_once(config, str(tmp_path / "w.db"))
    assert result.exit_code == EXIT_OK, result.output
    (mail,) = smtp.mails
    assert mail.login == ("alerts@example.com", "app-password")
    assert mail.sender == "alerts@example.com"
    assert mail.recipients == ["ops@example.com", "pr@example.com"]
    message = message_from_bytes(mail.data)
    assert message["Subject"] == "[emolens] anger spike: anger at 100%"
    assert "anger is 100% of 4 items in the last 1h" in message.get_payload(decode=True).decode()
    assert "app-password" not in result.output


def test_email_message_and_an_undeliverable_webhook(tmp_path):
    alert = Alert(rule="fear watch", label="fear", share=0.42, items=50, baseline=0.1,
                  message="fear watch: fear is 42% of 50 items in the last 1h",
                  created_at=datetime(2024, 6, 1, 12, 30))
    mail = EmailNotifier("mail", ["a@example.com"], "smtp.example.com",
                         sender="emolens@example.com").message(alert)
    assert mail["Subject"] == "[emolens] fear watch: fear at 42%"
    assert mail["To"] == "a@example.com" and mail["From"] == "emolens@example.com"
    body = mail.get_content()
    assert "share: 42% of 50 items" in body and "baseline share: 10%" in body
    assert "at: 2024-06-01 12:30 UTC" in body and "not anyone's inner state" in body

    hook = Hook(status=500)
    db = str(tmp_path / "w.db")
    with HttpServer() as server:
        server.route("/feed.xml", lambda r: (200, {"Content-Type": "application/rss+xml"},
                                             feed(posts(ANGRY[:4], HAPPY * 2))))
        server.route("/hook", hook)
        config = write_config(tmp_path, server.url("/feed.xml"), server.url("/hook"))
        result, lines = watch_once(config, db)
    assert result.exit_code == EXIT_PARTIAL
    (failure,) = [line for line in lines if line["type"] == "delivery_failed"]
    assert "anger spike -> hook: webhook" in failure["message"] and "HTTP 500" in failure["message"]
    with ResultStore(db) as store:
        (alert_row,) = list_alerts(store.engine)
    assert alert_row["details"]["delivered"] == ["log"]
    assert "HTTP 500" in alert_row["details"]["failed"]["hook"]


def test_config_errors_are_reported(tmp_path):
    assert parse_duration("90s") == timedelta(seconds=90)
    config = tmp_path / "bad.toml"
    config.write_text('[[sources]]\nname = "a"\nsource = "x.csv"\n\n[[rules]]\nname = "r"\n'
                      'label = "anger"\nwindow = "an hour"\nabove = 0.3\nsources = ["b"]\n')
    result = CliRunner().invoke(app, ["watch", str(config), "--once"])
    assert result.exit_code == EXIT_ERROR
    assert "rules.0.window" in result.output and "not a duration" in result.output
