"""Where alerts go: the log, a webhook (an HTTP POST of JSON) or email (SMTP).

A notifier's ``send(alert)`` raises ``DeliveryError`` when the alert could not be delivered;
the caller records that and goes on with the other notifiers. Secrets (a webhook token, the
SMTP password) are passed in by the caller, who reads them from the environment.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import asdict, dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any, Protocol

from emolens.errors import EmolensError

log = logging.getLogger("emolens.watch")


class DeliveryError(EmolensError, OSError):
    """An alert could not be delivered (webhook or mail server unreachable or refusing)."""


@dataclass
class Alert:
    """A rule that fired: the share of a label that made it fire, and a message for people."""

    rule: str
    label: str
    share: float
    items: int
    message: str
    created_at: datetime  # naive UTC
    baseline: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe; ``text`` repeats the message (chat webhooks show that key)."""
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat() + "Z"
        return {"text": self.message, **data}


class Notifier(Protocol):
    """Sends alerts somewhere."""

    name: str

    def send(self, alert: Alert) -> None:
        """Deliver ``alert``; DeliveryError when it could not be."""
        ...


class LogNotifier:
    """Writes alerts to the 'emolens.watch' log as warnings."""

    def __init__(self, name: str = "log") -> None:
        self.name = name

    def send(self, alert: Alert) -> None:
        """Log the alert's message."""
        log.warning("ALERT %s", alert.message)


class WebhookNotifier:
    """POSTs each alert as JSON (``Alert.to_dict``) to a URL; any 2xx answer is delivery."""

    def __init__(self, name: str, url: str, headers: dict[str, str] | None = None,
                 timeout: float = 10.0) -> None:
        self.name, self.url, self.headers, self.timeout = name, url, dict(headers or {}), timeout

    def send(self, alert: Alert) -> None:
        """POST the alert."""
        import httpx

        from emolens.ingest.http import client

        try:
            with client(self.headers, self.timeout) as http:
                response = http.post(self.url, json=alert.to_dict())
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook {self.url}: {exc.__class__.__name__}: {exc}") from exc
        if not response.is_success:
            raise DeliveryError(f"webhook {self.url}: HTTP {response.status_code} "
                                f"{response.reason_phrase}")


class EmailNotifier:
    """Mails each alert through an SMTP server (STARTTLS unless told otherwise)."""

    def __init__(
        self,
        name: str,
        to: list[str],
        host: str,
        port: int = 587,
        user: str | None = None,
        password: str | None = None,
        sender: str | None = None,
        starttls: bool = True,
        use_ssl: bool = False,
        timeout: float = 30.0,
        subject_prefix: str = "[emolens]",
    ) -> None:
        self.name, self.to, self.host, self.port = name, list(to), host, port
        self.user, self.password = user, password
        self.sender = sender or user or "emolens@localhost"
        self.starttls, self.use_ssl, self.timeout = starttls, use_ssl, timeout
        self.subject_prefix = subject_prefix

    def message(self, alert: Alert) -> EmailMessage:
        """The mail for ``alert``: a short subject, the message and the figures."""
        mail = EmailMessage()
        share = f"{alert.share:.0%}"
        mail["Subject"] = f"{self.subject_prefix} {alert.rule}: {alert.label} at {share}".strip()
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.to)
        lines = [alert.message, "", f"rule: {alert.rule}", f"label: {alert.label}",
                 f"share: {share} of {alert.items} items"]
        if alert.baseline is not None:
            lines.append(f"baseline share: {alert.baseline:.0%}")
        lines += [f"at: {alert.created_at:%Y-%m-%d %H:%M} UTC", "",
                  "Shares describe the emotion expressed in the items collected, not anyone's "
                  "inner state."]
        mail.set_content("\n".join(lines))
        return mail

    def send(self, alert: Alert) -> None:
        """Connect, log in when a user is set, and send the mail."""
        smtp_class = smtplib.SMTP_SSL if self.use_ssl else smtplib.SMTP
        try:
            with smtp_class(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls and not self.use_ssl:
                    smtp.starttls()
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(self.message(alert))
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"mail via {self.host}:{self.port}: {exc}") from exc
