"""`emolens watch`: poll sources on a schedule, analyse what is new, evaluate alert rules and
send the alerts that fire.

The schedule is a plain loop: every source has its own interval and is polled when due; the
rules are evaluated after each poll. One process, no scheduler service: run it under systemd,
cron (with ``--once``) or a container restart policy.

The config is TOML::

    interval = "15m"                  # default poll interval of the sources
    # optional overrides of the settings: db, model, store_text, language, hash_authors,
    # source_tz (a source may also name its own source_tz)

    [[sources]]
    name = "brand-news"
    source = "https://example.com/feed.xml"
    kind = "rss"                      # optional: guessed from the URL or path
    interval = "5m"                   # optional; other keys go to the connector

    [[rules]]
    name = "anger spike"
    label = "anger"
    window = "1h"
    above = 0.30
    baseline = "7d"
    ratio = 2.0
    min_items = 20

    [[notify]]
    name = "ops"
    type = "webhook"                  # log | webhook | email
    url = "https://hooks.example.com/emolens"
"""

from __future__ import annotations

import logging
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from emolens.errors import EmolensError, InvalidInputError, UnknownComponentError
from emolens.ingest.base import Source, is_url
from emolens.ingest.notify import Alert, Notifier
from emolens.ingest.rules import (
    Duration,
    Evaluation,
    Rule,
    check_label,
    evaluate,
    format_duration,
)
from emolens.ingest.run import IngestOptions, IngestReport, ingest
from emolens.io.times import source_zone, zone_name

log = logging.getLogger("emolens.watch")


class SourceConfig(BaseModel):
    """A ``[[sources]]`` table: keys besides these go to the connector as options."""

    model_config = ConfigDict(extra="allow")

    name: str
    source: str
    kind: str | None = None
    interval: Duration | None = None

    @property
    def options(self) -> dict[str, Any]:
        """The connector's options."""
        return dict(self.model_extra or {})


class NotifyConfig(BaseModel):
    """A ``[[notify]]`` table: where alerts go."""

    model_config = ConfigDict(extra="forbid")

    name: str
    type: Literal["log", "webhook", "email"]
    url: str | None = None  # webhook
    auth_env: str | None = None  # webhook: the variable holding its secret
    auth_header: str = "Authorization"
    auth_prefix: str | None = None
    to: list[str] = Field(default_factory=list)  # email
    subject_prefix: str = "[emolens]"
    timeout: float = Field(10.0, gt=0)

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str | None) -> str | None:
        # Refused here, not when the first alert fires and nobody is looking.
        parts = urlsplit(url) if url is not None else None
        if parts is not None and (parts.scheme not in ("http", "https") or not parts.hostname):
            raise ValueError(f"{url!r} is not an http:// or https:// URL with a host")
        return url

    @model_validator(mode="after")
    def _check(self) -> NotifyConfig:
        if self.type == "webhook" and not self.url:
            raise ValueError("a webhook needs url")
        if self.type == "email" and not self.to:
            raise ValueError("an email notifier needs to = [\"someone@example.com\"]")
        return self


class WatchConfig(BaseModel):
    """The whole watch config (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    interval: Duration = timedelta(minutes=15)
    db: str | None = None
    model: str | None = None
    store_text: Literal["full", "redacted", "hash", "none"] | None = None
    language: str | None = None
    hash_authors: bool | None = None
    source_tz: str | None = None
    sources: list[SourceConfig] = Field(min_length=1)
    rules: list[Rule] = Field(default_factory=list)
    notify: list[NotifyConfig] = Field(
        default_factory=lambda: [NotifyConfig(name="log", type="log")])

    @field_validator("source_tz")
    @classmethod
    def _known_zone(cls, name: str | None) -> str | None:
        return None if name is None else zone_name(name)  # the config's mistake, named as such

    @model_validator(mode="after")
    def _check_names(self) -> WatchConfig:
        for what, names in (("sources", [s.name for s in self.sources]),
                            ("rules", [r.name for r in self.rules]),
                            ("notify", [n.name for n in self.notify])):
            if len(set(names)) != len(names):
                raise ValueError(f"two {what} have the same name: {names}")
        known = {"sources": {s.name for s in self.sources}, "notify": {n.name for n in self.notify}}
        for rule in self.rules:
            for what in ("sources", "notify"):
                unknown = set(getattr(rule, what) or ()) - known[what]
                if unknown:
                    raise ValueError(f"rule {rule.name!r} names unknown {what} {sorted(unknown)}")
        return self


def load_config(path: str | Path) -> WatchConfig:
    """The watch config at ``path``; relative source paths are taken from its folder."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInputError(f"Cannot read the watch config {path}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"The watch config {path} is not valid TOML: {exc}") from exc
    try:
        config = WatchConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{_where(e['loc']) or 'config'}: "
                             f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
        raise InvalidInputError(f"The watch config {path} is not valid: {problems}") from exc
    for number, source in enumerate(config.sources):
        if not is_url(source.source) and not Path(source.source).expanduser().is_absolute():
            source.source = str(path.parent.resolve() / source.source)
        try:
            _check_source(source, f"sources[{number}]")
        except EmolensError as exc:
            raise InvalidInputError(f"The watch config {path} is not valid: {exc}") from exc
    return config


def _where(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as the config reads: ('rules', 0, 'window') ->
    'rules[0].window'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _check_source(source: SourceConfig, where: str) -> None:
    """The source's connector takes its options, with values of the right types: a mistake
    stops the watch at the start, not one source in the middle of the night."""
    from emolens.ingest.sources import check_options, guess_kind

    if source.kind is None:
        items_path = source.options.get("items_path")
        try:
            source.kind = guess_kind(source.source, items_path
                                     if isinstance(items_path, str) else None)
        except EmolensError as exc:
            raise InvalidInputError(f"{where} ({source.name!r}): {exc}") from exc
    try:
        check_options(source.kind, source.options, f"{where}.")
    except UnknownComponentError as exc:
        raise InvalidInputError(f"{where}.kind: {exc}") from exc
    if isinstance(zone := source.options.get("source_tz"), str):
        try:
            source_zone(zone)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{where}.source_tz: {exc}") from exc


@dataclass
class Cycle:
    """One poll of some sources and the rule evaluations after it."""

    reports: list[IngestReport] = field(default_factory=list)
    evaluations: list[Evaluation] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # alerts not delivered

    @property
    def status(self) -> str:
        """'ok', or 'partial' when a source or a delivery failed."""
        bad = self.failures or any(r.status != "ok" for r in self.reports)
        return "partial" if bad else "ok"


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _check_labels(rules: list[Rule], analyzer: Any) -> None:
    """Every rule watches a label the model gives; a misspelt one would never fire."""
    labels = tuple(analyzer.output_labels)
    if getattr(analyzer, "abstain_below", None) is not None:
        labels += ("uncertain",)  # what such a model stores below its threshold
    for number, rule in enumerate(rules):
        check_label(rule, labels, analyzer.model_id, f"rules[{number}]")


class Watcher:
    """Polls the config's sources, evaluates its rules and sends what fires."""

    def __init__(
        self,
        config: WatchConfig,
        sources: dict[str, Source],
        analyzer: Any,
        store: Any,
        notifiers: dict[str, Notifier],
        options: IngestOptions | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.config, self.sources, self.analyzer, self.store = config, sources, analyzer, store
        # A drop folder without files is normal between deliveries: 'no files yet', not an error.
        self.options = replace(options or IngestOptions(), empty_ok=True)
        self.notifiers, self.clock = notifiers, clock
        _check_labels(config.rules, analyzer)
        self.intervals = {s.name: (s.interval or config.interval).total_seconds()
                          for s in config.sources}
        self.next_due = dict.fromkeys(self.sources, 0.0)

    def cycle(self, names: list[str] | None = None) -> Cycle:
        """Poll ``names`` (default: every source), then evaluate the rules."""
        done = Cycle()
        for name in names or list(self.sources):
            done.reports.append(self._poll(name))
            self.next_due[name] = time.monotonic() + self.intervals[name]
        self._check_rules(done)
        return done

    def _poll(self, name: str) -> IngestReport:
        """Collect one source. ``ingest`` reports the failures it knows; anything else (a
        connector's bug) is reported as this source's failure too, so that one broken source
        does not stop the others from being polled."""
        source = self.sources[name]
        try:
            return ingest(source, self.analyzer, self.store, self.options)
        except Exception as exc:
            log.debug("source %r failed", name, exc_info=True)
            report = IngestReport(source.source, source.name)
            report.failed = (f"source {name!r} ({source.source}) failed unexpectedly: "
                             f"{type(exc).__name__}: {exc}")
            report.add_error(report.failed)
            return report

    def run(self, on_cycle: Callable[[Cycle], None], should_stop: Callable[[], bool],
            sleep: Callable[[float], None] = time.sleep) -> None:
        """Poll each source when it is due, until ``should_stop()``."""
        while not should_stop():
            now = time.monotonic()
            due = [name for name, at in self.next_due.items() if at <= now]
            if due:
                on_cycle(self.cycle(due))
                continue
            sleep(min(max(min(self.next_due.values()) - now, 0.1), 1.0))

    def _check_rules(self, done: Cycle) -> None:
        now = self.clock()
        for rule in self.config.rules:
            scope = None if rule.sources is None else [self.sources[n].source
                                                       for n in rule.sources]
            found = evaluate(rule, self.store.engine, now, self.analyzer.model_id, scope)
            done.evaluations.append(found)
            if found.fires and self._cooling(rule, now):
                found.fires, found.why = False, "fired within its cooldown"
            if found.fires:
                done.alerts.append(self._fire(found, done))

    def _cooling(self, rule: Rule, now: datetime) -> bool:
        from emolens.store.tables import last_alert

        last = last_alert(self.store.engine, rule.name)
        return last is not None and now - last < (rule.cooldown or rule.window)

    def _fire(self, found: Evaluation, done: Cycle) -> Alert:
        """Send the alert to the rule's notifiers, then store it with what was delivered."""
        from emolens.store.tables import add_alert

        rule = found.rule
        alert = Alert(rule=rule.name, label=rule.label, share=found.share, items=found.items,
                      message=found.message(), created_at=found.at,
                      baseline=found.baseline_share,
                      details={"window": format_duration(rule.window), "above": rule.above,
                               "baseline_items": found.baseline_items,
                               "model": self.analyzer.model_id, "sources": rule.sources})
        delivered, failed = [], {}
        for name in rule.notify or list(self.notifiers):
            try:
                self.notifiers[name].send(alert)
                delivered.append(name)
            except EmolensError as exc:
                failed[name] = str(exc)
                done.failures.append(f"{rule.name} -> {name}: {exc}")
        alert.details.update(delivered=delivered, failed=failed)
        add_alert(self.store.engine, rule=alert.rule, created_at=alert.created_at,
                  label=alert.label, share=alert.share, baseline=alert.baseline,
                  items=alert.items, message=alert.message, details=alert.details)
        return alert
