"""Mail for the signing page: the invitation with the issued agreement attached, one-time codes, the signed copy.

:class:`SmtpMailer` sends through ``[smtp]`` (``smtplib``; STARTTLS and login when configured; the password only
from ``password_env``). :class:`Outbox` is the embedded outbox of ``make serve`` and the demo: every message is
saved as an ``.eml`` file under ``OUTPUT/outbox`` and :func:`list_outbox` lists them (the ``/outbox`` page). It is
used only with the development PKI and no ``[smtp]`` (:func:`mailer_from_config`). Nothing here logs a message's
content: links and codes travel only inside the messages.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import secrets
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol

from dpa.config import Config, SmtpConfig
from dpa.devtools.devpki import DEV_MARKER
from dpa.errors import ConfigError
from dpa.files import write_atomic
from dpa.portal.errors import MailError
from dpa.signing.keys import SecretPrompt, read_secret
from dpa.signing.trust import load_certificates

OUTBOX_SENDER = "dpa-outbox@localhost"
"""The From address of messages in the embedded outbox (they never leave the machine)."""


class Mailer(Protocol):
    """Something that delivers a message: :class:`SmtpMailer` or :class:`Outbox`."""

    sender: str

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message`` (its To, Subject and body are set; From is set here)."""


class SmtpMailer:
    """Delivery through an SMTP server, one connection per message."""

    def __init__(self, smtp: SmtpConfig, *, prompt: SecretPrompt | None = None) -> None:
        self._smtp = smtp
        self.sender = smtp.sender
        self._password = None
        if smtp.username:
            if not smtp.password_env and prompt is None:
                raise ConfigError("[smtp] username is set but password_env is not")
            self._password = read_secret(smtp.password_env, f"password of mail user '{smtp.username}'", prompt)
        self._context = None
        if smtp.starttls:
            self._context = ssl.create_default_context(cafile=str(smtp.cafile) if smtp.cafile else None)
            if smtp.cafile:
                load_certificates(smtp.cafile, "[smtp] cafile")  # a clear error for a bad file, not an SSL one

    def send(self, message: EmailMessage) -> None:
        """Send ``message``; :class:`MailError` with the server's reason when it cannot be delivered."""
        smtp = self._smtp
        where = f"{smtp.host}:{smtp.port}"
        _stamp(message, self.sender)
        try:
            with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s) as client:
                client.ehlo()
                if self._context is not None:
                    client.starttls(context=self._context)
                    client.ehlo()
                if smtp.username:
                    client.login(smtp.username, self._password or "")
                refused = client.send_message(message)
        except smtplib.SMTPAuthenticationError:
            raise MailError(f"the mail server {where} refused the login of '{smtp.username}'") from None
        except smtplib.SMTPNotSupportedError:
            raise MailError(f"the mail server {where} does not offer STARTTLS or login as configured") from None
        except smtplib.SMTPRecipientsRefused:
            raise MailError(f"the mail server {where} refused the recipient address") from None
        except smtplib.SMTPException as exc:
            raise MailError(f"the mail server {where} did not accept the message: {type(exc).__name__}") from None
        except ssl.SSLError as exc:
            raise MailError(f"STARTTLS with the mail server {where} failed: {exc.reason or exc}") from None
        except OSError as exc:
            raise MailError(f"cannot reach the mail server {where}: {exc.strerror or exc}") from None
        if refused:
            raise MailError(f"the mail server {where} refused the recipient address")


@dataclass(frozen=True)
class OutboxMessage:
    """One message in the embedded outbox."""

    path: Path
    to: str
    subject: str
    date: str


class Outbox:
    """The embedded outbox: messages saved as ``.eml`` files in ``folder`` (atomically), never sent anywhere."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sender = OUTBOX_SENDER

    def send(self, message: EmailMessage) -> None:
        """Save ``message`` as ``<UTC time>-<random>.eml``."""
        _stamp(message, self.sender)
        name = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}-{secrets.token_hex(4)}.eml"
        write_atomic(self.folder / name, message.as_bytes(policy=email.policy.SMTP))


def list_outbox(folder: Path) -> list[OutboxMessage]:
    """The outbox's messages, oldest first (for the ``/outbox`` page)."""
    if not folder.is_dir():
        return []
    result = []
    for path in sorted(folder.glob("*.eml")):
        message = read_message(path)
        to, subject, date = (str(message[name] or "") for name in ("To", "Subject", "Date"))
        result.append(OutboxMessage(path, to, subject, date))
    return result


def read_message(path: Path) -> EmailMessage:
    """Parse one saved message."""
    with path.open("rb") as handle:
        message = BytesParser(policy=email.policy.default).parse(handle)
    assert isinstance(message, EmailMessage)
    return message


def is_development(config: Config) -> bool:
    """Whether ``config`` runs on the development PKI (its customer-signing CA is marked NIET VOOR PRODUCTIE)."""
    if config.signing_ca is None:
        return False
    try:
        certs = load_certificates(config.signing_ca.cert, "customer-signing CA certificate")
    except ConfigError:
        return False
    return DEV_MARKER in certs[0].subject.human_friendly


def mailer_from_config(config: Config, *, prompt: SecretPrompt | None = None) -> Mailer:
    """``[smtp]`` when configured; else the embedded outbox under ``[paths] output``, but only on the development
    PKI — a production set-up without ``[smtp]`` is a configuration error, never a silently kept mail."""
    if config.smtp is not None:
        return SmtpMailer(config.smtp, prompt=prompt)
    if is_development(config):
        return Outbox(config.paths.output / "outbox")
    raise ConfigError(
        "no [smtp] section: configure the mail server through which signing links are sent (the embedded outbox "
        "is only for the development PKI)"
    )


def _stamp(message: EmailMessage, sender: str) -> None:
    """Set From, Date and Message-ID (replacing any)."""
    for header in ("From", "Date", "Message-ID"):
        del message[header]
    message["From"] = sender
    message["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    domain = sender.rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
