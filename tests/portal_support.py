"""Helpers for the signing-page tests: a real SMTP server on loopback (aiosmtpd), reading codes and links from the
mail it received, an agreement entered in a real register, and "the browser" (an EC key made here)."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import email.policy
import hashlib
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from dpa.config import Config, SmtpConfig
from dpa.portal.ca import CRL_PATH
from dpa.portal.flow import SigningPortal
from dpa.portal.invitations import Client
from dpa.records import CustomerRecord
from dpa.register import Agreement, Register
from tests.signing_support import free_port

CODE_PATTERN = re.compile(r"Uw eenmalige code: (\d{6})")
LINK_PATTERN = re.compile(r"(https?://\S+/s/[A-Za-z0-9_-]+)")


class _Collect:
    """aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = BytesParser(policy=email.policy.default).parsebytes(envelope.original_content or envelope.content)
        with self.arrived:
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.arrived.notify_all()
        return "250 OK"


@dataclass
class SmtpServer:
    """A running aiosmtpd on 127.0.0.1 and what it received."""

    port: int
    controller: Controller
    handler: _Collect

    @property
    def messages(self) -> list[EmailMessage]:
        """Every message received so far, oldest first."""
        return self.handler.messages

    def wait_for(self, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        """Wait until ``count`` messages have arrived (generous: the machine is loaded)."""
        deadline = time.monotonic() + timeout
        with self.handler.arrived:
            while len(self.handler.messages) < count:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"only {len(self.handler.messages)} of {count} mails arrived"
                self.handler.arrived.wait(remaining)
        return list(self.handler.messages)

    def config(self, **changes: Any) -> SmtpConfig:
        """An ``[smtp]`` section for this server (plain SMTP unless changed)."""
        return dataclasses.replace(
            SmtpConfig(host="127.0.0.1", sender="dpa@ipcall.example", port=self.port, starttls=False), **changes
        )

    def stop(self) -> None:
        """Stop the server."""
        self.controller.stop()


def start_smtp(
    *, tls: ssl.SSLContext | None = None, logins: dict[str, str] | None = None, attempts: int = 5
) -> SmtpServer:
    """Start aiosmtpd on a free loopback port; with ``tls`` it offers (and requires) STARTTLS, with ``logins``
    it requires AUTH with one of those user/password pairs."""
    handler = _Collect()
    kwargs: dict[str, Any] = {}
    if tls is not None:
        kwargs.update(tls_context=tls, require_starttls=True)
    if logins is not None:
        kwargs.update(authenticator=_authenticator(logins), auth_required=True)
    for _ in range(attempts):  # the free port may be taken between probing and binding
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
        try:
            controller.start()
        except OSError:
            continue
        return SmtpServer(port, controller, handler)
    raise RuntimeError("aiosmtpd did not start")


def _authenticator(logins: dict[str, str]) -> Callable[..., AuthResult]:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            user, password = data.login.decode(), data.password.decode()
            if logins.get(user) == password:
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    return check


def body(message: EmailMessage) -> str:
    """The plain-text body of a message."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def code_from(message: EmailMessage) -> str:
    """The one-time code in a code mail."""
    match = CODE_PATTERN.search(body(message))
    assert match, body(message)
    return match.group(1)


def token_from(message: EmailMessage) -> str:
    """The link token in an invitation mail."""
    match = LINK_PATTERN.search(body(message))
    assert match, body(message)
    return match.group(1).rsplit("/", 1)[1]


def attachments(message: EmailMessage) -> dict[str, bytes]:
    """File name → content of every attachment."""
    return {str(part.get_filename()): part.get_content() for part in message.iter_attachments()}  # type: ignore[attr-defined]


def enter_agreement(register: Register, record: CustomerRecord, pdf: bytes, folder: Path) -> Agreement:
    """An issued agreement in the register, its file written to ``folder`` (as dpa issue leaves it)."""
    path = folder / f"{record.id}.pdf"
    path.write_bytes(pdf)
    return register.record_issued(record, "test-template", path, hashlib.sha256(pdf).hexdigest())


@dataclass
class FixedClock:
    """A clock the test moves by hand (no sleeping)."""

    now: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move the clock forward."""
        self.now += dt.timedelta(**delta)


@dataclass
class Browser:
    """The signer's browser: a session and an ECDSA P-256 key it made (WebCrypto in real life)."""

    client: Client
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    @property
    def spki(self) -> bytes:
        """``exportKey("spki")``."""
        return self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, data: bytes) -> bytes:
        """``crypto.subtle.sign({name: "ECDSA", hash: "SHA-256"}, key, data)``: raw r ‖ s."""
        r, s = decode_dss_signature(self.key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def private_forms(self) -> list[bytes]:
        """Every form in which the private key could end up on disk (raw scalar, DER, PEM, base64)."""
        scalar = self.key.private_numbers().private_value.to_bytes(32, "big")
        der = self.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return [scalar, scalar.hex().encode(), der, pem, base64.b64encode(scalar), base64.b64encode(der)]


def browser(session: str, ip: str = "192.0.2.10", user_agent: str = "Mozilla/5.0 (test browser)") -> Browser:
    """A browser with its own session id."""
    return Browser(Client(session_id=session, ip=ip, user_agent=user_agent))


def files_under(folder: Path) -> Iterator[Path]:
    """Every regular file below ``folder``."""
    return (p for p in folder.rglob("*") if p.is_file())


def local_portal_config(
    config: Config, folder: Path, smtp: SmtpConfig | None, *, base_url: str | None = None
) -> Config:
    """``config`` with output and register under ``folder``, the given ``[smtp]`` and ``[portal] base_url``."""
    paths = dataclasses.replace(config.paths, output=folder, register=folder / "register.sqlite3")
    portal = dataclasses.replace(config.portal, base_url=base_url) if base_url else config.portal
    return dataclasses.replace(config, paths=paths, smtp=smtp, portal=portal)


class CrlServer:
    """The customer-signing CA's CRL over HTTP on loopback, at the path ``dpa serve`` publishes it
    (``/ca/customer-signing.crl``), for library tests without the web application: the portal fetches it from the
    address its certificates name when it prepares a signature (PAdES B-LT). Set :attr:`portal` once made."""

    def __init__(self) -> None:
        self.portal: SigningPortal | None = None
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != CRL_PATH or outer.portal is None:
                    self.send_error(404)
                    return
                outer.requests += 1
                body = outer.portal.crl()
                self.send_response(200)
                self.send_header("Content-Type", "application/pkix-crl")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        """``[portal] base_url`` for a portal whose CRL this server answers."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
