"""The register's account of the customer-signing CA: which certificate went to which link, key and session,
whether it signed, and which were revoked (the CRL's content)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from dpa.portal.codes import revoke_unused
from dpa.portal.evidence import append_event
from dpa.portal.invitations import Client, Invitation, iso, parse_time
from dpa.register import Register


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate the signing page obtained for a browser key."""

    certificate: x509.Certificate
    serial: str
    """The serial number in hex, as the evidence and the CRL name it."""
    key_sha256: str

    @property
    def pem(self) -> bytes:
        """The certificate as PEM (what the page may show or offer)."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)


def serial_hex(certificate: x509.Certificate) -> str:
    """A certificate's serial number as lower-case hex."""
    return format(certificate.serial_number, "x")


def record_certificate(
    db: sqlite3.Connection,
    invitation: Invitation,
    client: Client,
    issued: IssuedCertificate,
    signatory: str,
    now: dt.datetime,
) -> None:
    """Enter a newly issued certificate (an earlier unused one of the link is revoked as superseded) and record
    "certificate issued" with its serial and key fingerprint."""
    revoke_unused(db, invitation, now, "superseded", "a newer certificate was issued for this link")
    der = issued.certificate.public_bytes(serialization.Encoding.DER)
    db.execute(
        "INSERT INTO portal_certificates (serial, invitation_id, session_sha256, key_sha256, certificate, issued_at, "
        "not_after) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            issued.serial,
            invitation.id,
            client.session_hash,
            issued.key_sha256,
            der,
            iso(now),
            iso(issued.certificate.not_valid_after_utc),
        ),
    )
    detail = {
        "invitation": invitation.id,
        "serial": issued.serial,
        "key_sha256": issued.key_sha256,
        "signatory": signatory,
        "expires_at": iso(issued.certificate.not_valid_after_utc),
        **client.facts(),
    }
    append_event(db, invitation.agreement_id, "certificate-issued", detail, now)


def current_certificate(
    db: sqlite3.Connection, invitation: Invitation, client: Client, now: dt.datetime
) -> IssuedCertificate | None:
    """The link's newest unrevoked, unexpired certificate issued to ``client``'s session, or None."""
    row = db.execute(
        "SELECT serial, key_sha256, certificate, not_after FROM portal_certificates WHERE invitation_id = ? "
        "AND session_sha256 = ? AND revoked_at IS NULL AND used_at IS NULL ORDER BY issued_at DESC, rowid DESC LIMIT 1",
        (invitation.id, client.session_hash),
    ).fetchone()
    if row is None or now >= parse_time(row["not_after"]):
        return None
    return IssuedCertificate(
        x509.load_der_x509_certificate(bytes(row["certificate"])), row["serial"], row["key_sha256"]
    )


def certificate_by_serial(db: sqlite3.Connection, serial: str) -> tuple[IssuedCertificate, str | None]:
    """A certificate the CA issued, and when it was revoked (None when it was not)."""
    row = db.execute(
        "SELECT serial, key_sha256, certificate, revoked_at FROM portal_certificates WHERE serial = ?", (serial,)
    ).fetchone()
    cert = x509.load_der_x509_certificate(bytes(row["certificate"]))
    return IssuedCertificate(cert, row["serial"], row["key_sha256"]), row["revoked_at"]


def mark_used(db: sqlite3.Connection, serial: str, now: dt.datetime) -> None:
    """The certificate made its signature: it is never revoked as unused."""
    db.execute("UPDATE portal_certificates SET used_at = ? WHERE serial = ?", (iso(now), serial))


def revoked_certificates(register: Register, now: dt.datetime) -> list[tuple[int, dt.datetime, str]]:
    """(serial, revocation time, reason) of every revoked certificate that has not expired: the CRL's entries."""
    rows = register.query(
        "SELECT serial, revoked_at, revocation_reason, not_after FROM portal_certificates "
        "WHERE revoked_at IS NOT NULL ORDER BY revoked_at, serial"
    )
    return [
        (int(row["serial"], 16), parse_time(row["revoked_at"]), row["revocation_reason"])
        for row in rows
        if parse_time(row["not_after"]) > now
    ]
