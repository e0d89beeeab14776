"""Sending a message over SMTP (the weekly report): one clear line when it fails, and retries."""

from __future__ import annotations

import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage

from podslo.backoff import Backoff
from podslo.errors import PodsloError

PASSWORD_ENV = "PODSLO_SMTP_PASSWORD"


class MailError(PodsloError):
    """The message could not be handed to the SMTP server; the text says why."""


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    security: str = "none"  # none | starttls | ssl
    user: str | None = None
    password: str | None = None
    timeout_s: float = 30.0

    @classmethod
    def parse(cls, address: str, **options) -> Smtp:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise MailError(f"--smtp {address!r}: expected HOST:PORT")
        return cls(host, int(port), **options)

    def send(self, message: EmailMessage) -> None:
        """Hand the message over once; MailError (one line) when that fails."""
        try:
            if self.security == "ssl":
                client = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout_s, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
            with client:
                if self.security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if self.user:
                    client.login(self.user, self.password or "")
                client.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(
                f"SMTP {self.host}:{self.port} refused the login of {self.user!r}: "
                f"{exc.smtp_code} {exc.smtp_error.decode(errors='replace')}"
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise MailError(f"SMTP {self.host}:{self.port}: {exc}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(f"SMTP {self.host}:{self.port}: {type(exc).__name__}: {exc}") from None


def send_with_retries(
    smtp: Smtp, message: EmailMessage, attempts: int = 3, first_wait_s: float = 2.0, say=print
) -> None:
    """Try `attempts` times, waiting 2 s, 4 s, ... between; the last failure is raised."""
    for attempt in range(1, attempts + 1):
        try:
            smtp.send(message)
            return
        except MailError as exc:
            if attempt == attempts:
                raise
            wait = Backoff(first_wait_s).delay_s(attempt)
            say(f"{exc}; trying again in {wait:g}s ({attempt}/{attempts})")
            time.sleep(wait)
