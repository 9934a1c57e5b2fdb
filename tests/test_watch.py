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
from emolens.errors import InvalidInputError
from emolens.ingest import open_source
from emolens.ingest.notify import Alert, EmailNotifier
from emolens.ingest.rules import Rule, evaluate, parse_duration
from emolens.ingest.watch import Watcher, load_config
from emolens.pipeline import build_analyzer
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
    assert "rules[0].window" in result.output and "not a duration" in result.output


def write_sources(tmp_path, bad: str, extra: str = "") -> str:
    """A config with a good table source and a second source ``bad`` (TOML lines)."""
    (tmp_path / "posts").mkdir(exist_ok=True)
    (tmp_path / "posts" / "a.csv").write_text(
        "text\n" + "".join(f'"{t}"\n' for t in ANGRY[:2] + HAPPY[:2]), encoding="utf-8")
    path = tmp_path / "watch.toml"
    path.write_text(f'model = "ngram"\n\n[[sources]]\nname = "good"\nsource = "posts/a.csv"\n'
                    f'\n[[sources]]\nname = "second"\n{bad}\n{extra}', encoding="utf-8")
    return str(path)


API = 'source = "https://api.example.com/posts?page={page}"\nkind = "api"'


@pytest.mark.parametrize(("bad", "message"), [
    ('source = "posts"\ntext_col = 5', "sources[1].text_col: expected a string, got 5"),
    ('source = "posts"\npattern = 5', "sources[1].pattern: expected a string, got 5"),
    (f'{API}\nfields = ["text=body"]',
     "sources[1].fields: expected a table of strings, got ['text=body']"),
    (f'{API}\nmax_pages = "two"', "sources[1].max_pages: expected an integer, got 'two'"),
    (f'{API}\nitems_path = 5', "sources[1].items_path: expected a string, got 5"),
    (f'{API}\ntimeout = "soon"', "sources[1].timeout: expected a number, got 'soon'"),
    (f'{API}\nresume = "yes"', "sources[1].resume: expected true or false, got 'yes'"),
    (f'{API}\ntext_col = "body"', "sources[1].text_col does not apply to the 'api' connector"),
    ('source = "posts"\nkind = "nope"', "sources[1].kind: Unknown source 'nope'"),
])
def test_connector_options_are_checked_when_the_config_is_loaded(tmp_path, bad, message):
    db = tmp_path / "w.db"
    result = CliRunner().invoke(app, ["watch", write_sources(tmp_path, bad), "--once",
                                      "--db", str(db)])
    assert result.exit_code == EXIT_ERROR, result.output
    assert f"is not valid: {message}" in " ".join(result.output.split())
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not db.exists()  # refused before anything was opened, let alone polled


def test_open_source_checks_option_types_too():
    with pytest.raises(InvalidInputError, match="max_pages: expected an integer, got '2'"):
        open_source("https://api.example.com/x", "api", max_pages="2")
    assert open_source("https://api.example.com/x", "api", max_pages=2, timeout=5).max_pages == 2


class Broken:
    """A connector with a bug: reading it raises what no connector should."""

    name = "broken"

    def __init__(self, source: str) -> None:
        self.source, self.polls = source, 0

    def items(self, state):
        self.polls += 1
        raise AttributeError("'int' object has no attribute 'strip'")
        yield  # a generator, as connectors are


def test_a_source_that_crashes_is_reported_and_the_others_are_still_polled(tmp_path):
    config = load_config(write_sources(tmp_path, 'source = "https://example.com/x.json"'))
    config.interval = timedelta(seconds=0.05)  # every source due again at once in loop mode
    good = open_source(config.sources[0].source)
    broken = Broken("https://example.com/x.json")
    with ResultStore(str(tmp_path / "w.db")) as store:
        watcher = Watcher(config, {"good": good, "second": broken}, build_analyzer("ngram"),
                          store, {})
        first = watcher.cycle()
        cycles = [first]
        watcher.run(cycles.append, should_stop=lambda: len(cycles) >= 4)  # loop mode
        stored = store.count()
    ok, failed = first.reports
    assert (ok.status, ok.stored) == ("ok", 4) and first.status == "partial"
    assert failed.status == "failed" and failed.error_count == 1
    assert failed.failed == ("source 'second' (https://example.com/x.json) failed unexpectedly: "
                             "AttributeError: 'int' object has no attribute 'strip'")
    polled = [r.source for cycle in cycles[1:] for r in cycle.reports]
    assert polled.count(good.source) >= 2 and broken.polls >= 2  # both went on being polled
    assert stored == 4


def test_rule_on_a_label_the_model_never_gives_is_refused(tmp_path):
    rule = '[[rules]]\nname = "typo"\nlabel = "angr"\nwindow = "1h"\nabove = 0.3\n'
    config = write_sources(tmp_path, 'source = "posts/a.csv"', rule)
    result = CliRunner().invoke(app, ["watch", config, "--once", "--db",
                                      str(tmp_path / "w.db")])
    assert result.exit_code == EXIT_ERROR, result.output
    output = " ".join(result.output.split())
    assert "rules[0].label: rule 'typo' watches 'angr', which the model" in output
    assert "never gives; its labels: anger, disgust," in output
    assert "did you mean 'anger'?" in output
    with ResultStore(str(tmp_path / "w.db")) as store:
        assert store.count() == 0  # refused before any source was polled
    fixed = write_sources(tmp_path, 'source = "posts/a.csv"', rule.replace("angr", "anger"))
    assert CliRunner().invoke(app, ["watch", fixed, "--once", "--db",
                                    str(tmp_path / "w.db")]).exit_code == EXIT_OK


@pytest.mark.parametrize("url", ["not a url", "ftp://hooks.example.com/x", "https://",
                                 "hooks.example.com/x"])
def test_a_webhook_url_that_is_not_http_is_refused_at_load(tmp_path, url):
    notify = f'[[notify]]\nname = "ops"\ntype = "webhook"\nurl = "{url}"\n'
    result = CliRunner().invoke(app, ["watch", write_sources(tmp_path, 'source = "posts/a.csv"',
                                                             notify), "--once",
                                      "--db", str(tmp_path / "w.db")])
    assert result.exit_code == EXIT_ERROR, result.output
    assert (f"notify[0].url: {url!r} is not an http:// or https:// URL with a host"
            in " ".join(result.output.split()))
    assert not (tmp_path / "w.db").exists()


def test_a_bad_smtp_setting_is_named_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOLENS_SMTP_PORT", "abc")
    result = CliRunner().invoke(app, ["watch", write_sources(tmp_path, 'source = "posts/a.csv"'),
                                      "--once", "--db", str(tmp_path / "w.db")])
    assert result.exit_code == EXIT_ERROR
    assert "smtp_port (EMOLENS_SMTP_PORT" in " ".join(result.output.split())


def test_an_empty_drop_folder_is_normal_not_a_failure(tmp_path):
    (tmp_path / "drop").mkdir()
    config = tmp_path / "watch.toml"
    config.write_text('model = "ngram"\n\n[[sources]]\nname = "drop"\nsource = "drop"\n'
                      'pattern = "*.csv"\n', encoding="utf-8")
    db = str(tmp_path / "w.db")
    result = CliRunner().invoke(app, ["watch", str(config), "--once", "--db", db])
    assert result.exit_code == EXIT_OK, result.output
    assert f"INFO {tmp_path / 'drop'} (files): no files yet, 0 read" in result.output
    assert "ERROR" not in result.output and "failed" not in result.output

    (tmp_path / "drop" / "a.csv").write_text("text\nso happy today\n", encoding="utf-8")
    result, (report,) = watch_once(str(config), db)
    assert result.exit_code == EXIT_OK and (report["status"], report["stored"]) == ("ok", 1)
    assert report["nothing_new"] is None
    (tmp_path / "empty").mkdir()
    once = CliRunner().invoke(app, ["ingest", str(tmp_path / "empty"), "--model", "ngram",
                                    "--db", db, "--json"])
    assert once.exit_code == EXIT_ERROR  # asked for once, an empty folder is still an error
    assert "no files found" in once.output
