"""Alert rules: "the share of LABEL over the last WINDOW is above ABOVE (and RATIO times its
BASELINE share), over at least MIN_ITEMS items".

The baseline is the share over the BASELINE period before the window (the window itself left
out), so a surge is compared with what came before it. A rule that fired stays quiet for its
cooldown (default: its window), judged from the alerts stored.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from emolens.errors import InvalidInputError

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(value: Any) -> timedelta:
    """'90s', '30m', '1h', '7d', '2w', or a number of seconds, as a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return timedelta(seconds=value)
    match = _DURATION.fullmatch(value.lower()) if isinstance(value, str) else None
    if match is None or float(match[1]) <= 0:
        raise InvalidInputError(
            f"{value!r} is not a duration; use a number and a unit: 90s, 30m, 1h, 7d or 2w"
        )
    return timedelta(**{_UNITS[match[2]]: float(match[1])})


def format_duration(value: timedelta) -> str:
    """A timedelta as '7d', '1h', '30m' or '90s' (the largest unit that divides it)."""
    seconds = value.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class Rule(BaseModel):
    """One alert rule (a ``[[rules]]`` table of the watch config)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    label: str
    window: Duration
    above: float = Field(ge=0.0, le=1.0, description="The share must be above this.")
    baseline: Duration | None = None
    ratio: float | None = Field(None, gt=0.0, description="And above this times the baseline.")
    min_items: int = Field(20, ge=1, description="Items needed in the window (and baseline).")
    sources: list[str] | None = None  # names of the watch's sources; None: all
    cooldown: Duration | None = None  # None: the window
    notify: list[str] | None = None  # names of notifiers; None: all

    @model_validator(mode="after")
    def _check(self) -> Rule:
        if self.ratio is not None and self.baseline is None:
            raise ValueError("ratio needs a baseline period (e.g. baseline = \"7d\")")
        if self.baseline is not None and self.baseline <= self.window:
            raise ValueError("the baseline period must be longer than the window")
        return self


def check_label(rule: Rule, labels: Sequence[str], model: str, where: str = "rule") -> None:
    """Refuse a rule on a label ``model`` never gives (a typo would keep it quiet forever)."""
    if rule.label in labels:
        return
    close = difflib.get_close_matches(rule.label, labels, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise InvalidInputError(
        f"{where}.label: rule {rule.name!r} watches {rule.label!r}, which the model {model} "
        f"never gives; its labels: {', '.join(labels)}{hint}"
    )


@dataclass
class Evaluation:
    """A rule's figures at one time, and whether it fires."""

    rule: Rule
    at: datetime
    items: int
    hits: int
    baseline_items: int | None = None
    baseline_share: float | None = None
    fires: bool = False
    why: str = ""

    @property
    def share(self) -> float:
        """Share of the rule's label in the window (0 without items)."""
        return self.hits / self.items if self.items else 0.0

    def message(self) -> str:
        """What a person reads in the alert."""
        rule = self.rule
        text = (f"{rule.name}: {rule.label} is {self.share:.0%} of {self.items} items in the "
                f"last {format_duration(rule.window)} (threshold {rule.above:.0%})")
        if self.baseline_share is not None and rule.baseline is not None:
            times = (f"{self.share / self.baseline_share:.1f}x" if self.baseline_share
                     else "up from none in")
            text += (f", {times} the {format_duration(rule.baseline)} baseline of "
                     f"{self.baseline_share:.0%} ({self.baseline_items} items)")
        return text


def evaluate(rule: Rule, engine: Any, now: datetime, model: str | None = None,
             sources: list[str] | None = None) -> Evaluation:
    """The rule's figures at ``now`` (naive UTC) over the stored results of ``model`` from
    ``sources`` (stored source strings; a folder covers the files under it)."""
    from emolens.store.tables import label_share

    items, hits = label_share(engine, rule.label, now - rule.window, now, model, sources)
    found = Evaluation(rule, now, items, hits)
    if items < rule.min_items:
        found.why = f"{items} items in the window, fewer than min_items {rule.min_items}"
        return found
    if found.share <= rule.above:
        found.why = f"share {found.share:.0%} is not above {rule.above:.0%}"
        return found
    if rule.baseline is not None:
        base_items, base_hits = label_share(engine, rule.label, now - rule.baseline,
                                            now - rule.window, model, sources)
        found.baseline_items = base_items
        if base_items < rule.min_items:
            found.why = f"{base_items} items in the baseline, fewer than min_items"
            return found
        found.baseline_share = base_hits / base_items
        ratio = rule.ratio or 1.0
        if found.share <= ratio * found.baseline_share:
            found.why = (f"share {found.share:.0%} is not above {ratio:g}x the baseline "
                         f"{found.baseline_share:.0%}")
            return found
    found.fires, found.why = True, "fires"
    return found
