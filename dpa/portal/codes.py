"""One-time codes and proof-of-possession challenges for a signing link.

A code is 6 digits from :func:`secrets.randbelow`, valid :data:`CODE_MINUTES`, mailed to the invited address. A
6-digit space is small, so the register keeps only ``HMAC-SHA256(server secret, invitation id ‖ salt ‖ code)``
with a fresh random salt per code: without the server secret (``[portal] secret_env``) a stolen register does not
give the code away, and the invitation id in the MAC means a code for one link never works on another. Codes are
compared in constant time; a code works once; :data:`MAX_WRONG_CODES` wrong ones lock the link (and revoke the
certificates it has not used). Confirming a code binds the link to that browser session: the certificate, the
prepared signature and its completion must all come from it.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import sqlite3
from dataclasses import dataclass

from dpa.portal.ca import new_challenge
from dpa.portal.errors import CodeRejected, LinkGone, SessionMismatch, StepOutOfOrder, TooManyCodes
from dpa.portal.evidence import append_event
from dpa.portal.invitations import Client, Invitation, invitation_row, iso, locked_invitation, parse_time
from dpa.register import Register

CODE_MINUTES = 10
MAX_WRONG_CODES = 5
MAX_CODES = 10
"""Codes one link may send in all (each request mails one)."""
CHALLENGE_MINUTES = 5


def new_code() -> str:
    """A fresh 6-digit one-time code."""
    return f"{secrets.randbelow(10**6):06d}"


def code_mac(secret: bytes, invitation_id: int, salt: str, code: str) -> str:
    """The stored form of a code: HMAC-SHA256 over the invitation id, the code's salt and the code."""
    message = f"dpa-portal-code|{invitation_id}|{salt}|{code}".encode()
    return hmac.new(secret, message, "sha256").hexdigest()


def check_can_send_code(invitation: Invitation) -> None:
    """Refuse a new code for a link that has sent :data:`MAX_CODES` already."""
    if invitation.codes_sent >= MAX_CODES:
        raise TooManyCodes(f"this link has sent {MAX_CODES} codes already; ask ipcall.me for a new link")


def store_code(
    register: Register, token: str, client: Client, code: str, secret: bytes, now: dt.datetime
) -> Invitation:
    """Keep ``code`` (as its MAC) as the link's one valid code, replacing an earlier one; record "code sent".

    Called once the mail with the code has gone out.
    """
    salt = secrets.token_hex(16)
    expires = now + dt.timedelta(minutes=CODE_MINUTES)
    with register.transaction() as db:
        invitation, _agreement = locked_invitation(db, token, now)
        check_can_send_code(invitation)
        db.execute(
            "UPDATE portal_invitations SET code_salt = ?, code_mac = ?, code_expires_at = ?, "
            "codes_sent = codes_sent + 1 WHERE id = ?",
            (salt, code_mac(secret, invitation.id, salt, code), iso(expires), invitation.id),
        )
        detail = {"invitation": invitation.id, "to": invitation.email, "expires_at": iso(expires), **client.facts()}
        append_event(db, invitation.agreement_id, "code-sent", detail, now)
        return invitation_row(db, invitation.id)


@dataclass(frozen=True)
class _Outcome:
    invitation: Invitation
    error: CodeRejected | LinkGone | None


def verify_code(
    register: Register, token: str, client: Client, code: str, secret: bytes, now: dt.datetime
) -> Invitation:
    """Confirm the link's code and bind the link to ``client``'s session; a wrong code counts towards the lock.

    :class:`CodeRejected` for a wrong, expired or missing code (with the attempts left); :class:`LinkGone` when this
    wrong code was the last one allowed. The count and the lock are committed before the error is raised.
    """
    with register.transaction() as db:
        invitation, _agreement = locked_invitation(db, token, now)
        outcome = _check_code(db, invitation, client, code.strip(), secret, now)
    if outcome.error is not None:
        raise outcome.error
    return outcome.invitation


def _check_code(
    db: sqlite3.Connection, invitation: Invitation, client: Client, code: str, secret: bytes, now: dt.datetime
) -> _Outcome:
    row = db.execute(
        "SELECT code_salt, code_mac, code_expires_at FROM portal_invitations WHERE id = ?", (invitation.id,)
    ).fetchone()
    left = MAX_WRONG_CODES - invitation.wrong_codes
    if row["code_mac"] is None:
        return _Outcome(invitation, CodeRejected("request a code first; it is sent to the invited address", left))
    if now >= parse_time(row["code_expires_at"]):
        return _Outcome(invitation, CodeRejected("the code has expired; request a new one", left))
    given = code_mac(secret, invitation.id, row["code_salt"], code) if code.isdigit() and len(code) == 6 else ""
    if given and hmac.compare_digest(given, row["code_mac"]):
        db.execute(
            "UPDATE portal_invitations SET code_salt = NULL, code_mac = NULL, code_expires_at = NULL, "
            "session_sha256 = ?, verified_at = ? WHERE id = ?",
            (client.session_hash, iso(now), invitation.id),
        )
        detail = {"invitation": invitation.id, "email": invitation.email, **client.facts()}
        append_event(db, invitation.agreement_id, "code-verified", detail, now)
        return _Outcome(invitation_row(db, invitation.id), None)
    wrong = invitation.wrong_codes + 1
    db.execute("UPDATE portal_invitations SET wrong_codes = ? WHERE id = ?", (wrong, invitation.id))
    append_event(db, invitation.agreement_id, "code-wrong", {"invitation": invitation.id, **client.facts()}, now)
    if wrong < MAX_WRONG_CODES:
        attempts = MAX_WRONG_CODES - wrong
        return _Outcome(invitation, CodeRejected(f"wrong code; {attempts} attempt(s) left", attempts))
    lock(db, invitation, now)
    message = f"wrong code; after {MAX_WRONG_CODES} wrong codes this link is locked: ask ipcall.me for a new link"
    return _Outcome(invitation, LinkGone(message, "locked"))


def lock(db: sqlite3.Connection, invitation: Invitation, now: dt.datetime) -> None:
    """Lock the link and revoke the certificates issued through it that never signed."""
    db.execute(
        "UPDATE portal_invitations SET status = 'locked', code_mac = NULL, challenge = NULL WHERE id = ?",
        (invitation.id,),
    )
    append_event(db, invitation.agreement_id, "link-locked", {"invitation": invitation.id}, now)
    revoke_unused(db, invitation, now, "cessation_of_operation", "the signing link was locked")


def revoke_unused(db: sqlite3.Connection, invitation: Invitation, now: dt.datetime, reason: str, why: str) -> None:
    """Revoke every certificate of ``invitation`` that has not signed (``reason``: an RFC 5280 CRL reason name)."""
    rows = db.execute(
        "SELECT serial FROM portal_certificates WHERE invitation_id = ? AND used_at IS NULL AND revoked_at IS NULL",
        (invitation.id,),
    ).fetchall()
    for row in rows:
        db.execute(
            "UPDATE portal_certificates SET revoked_at = ?, revocation_reason = ? WHERE serial = ?",
            (iso(now), reason, row["serial"]),
        )
        detail = {"invitation": invitation.id, "serial": row["serial"], "reason": why}
        append_event(db, invitation.agreement_id, "certificate-revoked", detail, now)


def require_session(invitation: Invitation, client: Client) -> None:
    """Refuse unless the code was confirmed, and in ``client``'s browser session."""
    if invitation.session_sha256 is None:
        raise StepOutOfOrder("confirm the one-time code first")
    if not hmac.compare_digest(invitation.session_sha256, client.session_hash):
        raise SessionMismatch(
            "the code was confirmed in another browser session; request a new code in this browser to go on"
        )


def issue_challenge(register: Register, token: str, client: Client, now: dt.datetime) -> bytes:
    """A fresh challenge for the browser's proof of possession (valid :data:`CHALLENGE_MINUTES`, used once)."""
    challenge = new_challenge()
    expires = now + dt.timedelta(minutes=CHALLENGE_MINUTES)
    with register.transaction() as db:
        invitation, _agreement = locked_invitation(db, token, now)
        require_session(invitation, client)
        db.execute(
            "UPDATE portal_invitations SET challenge = ?, challenge_expires_at = ? WHERE id = ?",
            (challenge, iso(expires), invitation.id),
        )
    return challenge


def take_challenge(db: sqlite3.Connection, invitation: Invitation, now: dt.datetime) -> bytes:
    """The link's outstanding challenge, cleared so that it serves one proof only."""
    row = db.execute(
        "SELECT challenge, challenge_expires_at FROM portal_invitations WHERE id = ?", (invitation.id,)
    ).fetchone()
    db.execute("UPDATE portal_invitations SET challenge = NULL WHERE id = ?", (invitation.id,))
    if row["challenge"] is None:
        raise StepOutOfOrder("ask for a challenge first (the browser signs it to prove it holds its key)")
    if now >= parse_time(row["challenge_expires_at"]):
        raise StepOutOfOrder("the challenge has expired; ask for a new one")
    return bytes(row["challenge"])
