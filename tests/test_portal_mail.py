"""Mail through a real SMTP server on loopback (aiosmtpd): plain, STARTTLS with login, refusals; the embedded
outbox, and when dpa may use it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dpa.config import Config, config_from_dict, load_config
from dpa.devtools.devpki import DevPki, dev_name, make_ca
from dpa.errors import ConfigError
from dpa.portal.errors import MailError
from dpa.portal.mail import Outbox, SmtpMailer, list_outbox, mailer_from_config, read_message
from dpa.portal.messages import code_message, inviter_notice_message, signed_copy_message
from dpa.register import Agreement
from dpa.verify.report import PROOF_OF_EXISTENCE
from tests.portal_support import SmtpServer, body, code_from, start_smtp

PASSWORD_ENV = "DPA_TEST_SMTP_PASSWORD"


def server_tls(dev_pki: DevPki, folder: Path) -> ssl.SSLContext:
    """A TLS context for the test server: a certificate for 127.0.0.1 from the development CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(dev_pki.ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(dev_pki.ca.key, hashes.SHA256())
    )
    (folder / "smtp.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "smtp-key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "smtp.pem", folder / "smtp-key.pem")
    return context


@pytest.fixture(scope="module")
def tls_server(dev_pki: DevPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    server = start_smtp(tls=server_tls(dev_pki, tmp_path_factory.mktemp("smtp")), logins={"dpa": "mail-secret"})
    yield server
    server.stop()


def test_starttls_and_login(tls_server: SmtpServer, dev_pki: DevPki, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "mail-secret")
    smtp = tls_server.config(starttls=True, username="dpa", password_env=PASSWORD_ENV, cafile=dev_pki.ca_path)
    before = len(tls_server.messages)
    SmtpMailer(smtp).send(code_message("jan@klant.example", "123456", 10, "ipcall.me"))
    (message,) = tls_server.wait_for(before + 1)[before:]
    assert message["From"] == "dpa@ipcall.example" and message["To"] == "jan@klant.example"
    assert code_from(message) == "123456"

    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    with pytest.raises(MailError, match="refused the login of 'dpa'") as refused:
        SmtpMailer(smtp).send(code_message("jan@klant.example", "654321", 10, "ipcall.me"))
    assert "654321" not in str(refused.value) and "wrong" not in str(refused.value)


def test_refusals_are_mail_errors(tls_server: SmtpServer, dev_pki: DevPki, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "mail-secret")
    untrusted = tls_server.config(starttls=True, username="dpa", password_env=PASSWORD_ENV)  # system CAs only
    with pytest.raises(MailError, match="STARTTLS"):
        SmtpMailer(untrusted).send(code_message("jan@klant.example", "123456", 10, "ipcall.me"))
    plain = tls_server.config(starttls=False, username="dpa", password_env=PASSWORD_ENV)  # the server requires TLS
    with pytest.raises(MailError):
        SmtpMailer(plain).send(code_message("jan@klant.example", "123456", 10, "ipcall.me"))
    with pytest.raises(ConfigError, match="DPA_TEST_UNSET"):
        SmtpMailer(tls_server.config(username="dpa", password_env="DPA_TEST_UNSET"))


def test_outbox_keeps_messages_and_lists_them(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    assert list_outbox(outbox.folder) == []
    for code in ("111111", "222222"):
        outbox.send(code_message("jan@klant.example", code, 10, "ipcall.me"))
    listed = list_outbox(outbox.folder)
    assert [m.to for m in listed] == ["jan@klant.example"] * 2
    assert [code_from(read_message(m.path)) for m in listed] == ["111111", "222222"]
    assert "ondertekenen" in listed[0].subject and "111111" in body(read_message(listed[0].path))
    assert not list((tmp_path / "outbox").glob("*.part"))


def test_outbox_only_on_the_development_pki_without_smtp(dev_pki: DevPki, tmp_path: Path) -> None:
    development = dataclasses.replace(load_config(dev_pki.config_path), paths=Config().paths)
    assert isinstance(mailer_from_config(development), Outbox)
    with_smtp = dataclasses.replace(
        development, smtp=config_from_dict({"smtp": {"host": "mail", "from": "a@b.example"}}, base=tmp_path).smtp
    )
    assert isinstance(mailer_from_config(with_smtp), SmtpMailer)
    production_ca = make_ca(subject=dev_name("ipcall.me customer-signing CA", marked=False))
    (tmp_path / "prod-ca.pem").write_bytes(production_ca.cert_pem())  # a CA without the development marker
    production = config_from_dict({"signing_ca": {"cert": "prod-ca.pem", "key": "prod-ca-key.pem"}}, base=tmp_path)
    with pytest.raises(ConfigError, match="no \\[smtp\\] section"):
        mailer_from_config(production)
    with pytest.raises(ConfigError, match="no \\[smtp\\] section"):
        mailer_from_config(Config())


def test_the_mails_say_no_later_than_for_a_date_by_proof_of_existence() -> None:
    """The signer's copy and the inviter's notice word an effective date that rests on an archive timestamp over
    an untimestamped counter-signature (an Acrobat upload on the signing page) as "uiterlijk" / "no later than"."""
    row = Agreement(
        1, "C-1", "v", "r", "Klant B.V.", None, None, None, None, "a@klant.example", None, None, None, "s",
        "2026-12-01T10:00:00+00:00", None, None, "effective", "2026-12-01", None, PROOF_OF_EXISTENCE,
    )  # fmt: skip
    day = dt.date(2026, 12, 1)
    copy = body(signed_copy_message("a@klant.example", row, day, b"%PDF-1.7", PROOF_OF_EXISTENCE))
    notice = body(inviter_notice_message("sales@ipcall.example", row, day, "https://dpa/x", PROOF_OF_EXISTENCE))
    for text in (copy, notice):
        assert "uiterlijk op 01-12-2026 van kracht geworden" in text and "in force no later than 01-12-2026" in text
    plain = body(signed_copy_message("a@klant.example", row, day, b"%PDF-1.7", "timestamp"))
    assert "van kracht vanaf 01-12-2026" in plain and "in force from 01-12-2026" in plain
