"""Settings of `emolens watch`'s mail, declared once on top of the library's (same load order
and file). The SMTP password is never a setting: it is read from the environment variable
named by ``smtp_password_env``.
"""

from __future__ import annotations

from pydantic import Field

from emolens.config import Settings


class WatchSettings(Settings):
    """The library settings plus the SMTP server that alert mails go through."""

    smtp_host: str | None = Field(None, description="SMTP server for alert mails.")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port (587: submission).")
    smtp_user: str | None = Field(None, description="SMTP login; none: send without logging in.")
    smtp_sender: str | None = Field(
        None, description="From address of alert mails (default: smtp_user)."
    )
    smtp_starttls: bool = Field(True, description="Upgrade the connection with STARTTLS.")
    smtp_ssl: bool = Field(False, description="Connect with TLS from the start (port 465).")
    smtp_password_env: str = Field(
        "EMOLENS_SMTP_PASSWORD", description="Environment variable holding the SMTP password."
    )
