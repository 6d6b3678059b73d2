"""Signing links: made for one issued agreement and the e-mail address of its customer, stored only as a hash.

A link is ``/s/{token}`` with a token of 256 random bits (:func:`secrets.token_urlsafe`); the register keeps its
SHA-256 (``portal_invitations``), which is enough for a value that cannot be guessed. A link expires after
``[portal] link_days``; a newer link for the same agreement replaces it; too many wrong codes lock it; signing
uses it up. :func:`find_invitation` is the look that a mail scanner's prefetch may trigger: it reads and never
writes. Everything that changes state happens in one register transaction with its evidence event
(:mod:`dpa.portal.evidence`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import sqlite3
import unicodedata
from dataclasses import dataclass, field, fields
from pathlib import Path

from dpa.portal.errors import InvitationRefused, LinkGone, LinkNotFound, PortalError
from dpa.portal.evidence import append_event
from dpa.records import BIDI_CONTROLS, EMAIL_PATTERN, MAX_LENGTHS
from dpa.register import AGREEMENT_COLUMNS, Agreement, Register

TOKEN_BYTES = 32
MAX_USER_AGENT = 400


@dataclass(frozen=True)
class Actor:
    """Who does something on ipcall.me's side: a user name and the role they act in (sales, legal, …)."""

    name: str
    role: str


@dataclass(frozen=True)
class Client:
    """The signer's browser as the server sees it: its session (a secret, only ever stored hashed), IP address
    and user agent (recorded as evidence)."""

    session_id: str = field(repr=False)
    ip: str = ""
    user_agent: str = ""

    @property
    def session_hash(self) -> str:
        """SHA-256 (hex) of the session id: what the register keeps."""
        return hashlib.sha256(self.session_id.encode("utf-8")).hexdigest()

    def facts(self) -> dict[str, str]:
        """IP address, user agent (capped) and a short session reference, for an evidence event."""
        return {"ip": self.ip[:64], "user_agent": self.user_agent[:MAX_USER_AGENT], "session": self.session_hash[:16]}


@dataclass(frozen=True)
class Invitation:
    """One signing link's row (without its token, which only the invited person has)."""

    id: int
    agreement_id: int
    email: str
    invited_by: str
    created_at: str
    expires_at: str
    status: str
    opened_at: str | None
    codes_sent: int
    wrong_codes: int
    session_sha256: str | None
    verified_at: str | None


INVITATION_COLUMNS = ", ".join(f.name for f in fields(Invitation))


def token_hash(token: str) -> str:
    """SHA-256 (hex) of a link token: how the register finds an invitation without keeping the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same_address(a: str, b: str) -> bool:
    """Whether two e-mail addresses are the same mailbox for this purpose (case-insensitive, outer space ignored)."""
    return a.strip().casefold() == b.strip().casefold()


def create_invitation(
    register: Register, agreement: Agreement, email: str, actor: Actor, now: dt.datetime, link_days: int
) -> tuple[Invitation, str]:
    """A new link for ``agreement`` to ``email``, which must be the customer's address in the register; an older
    open link for the agreement is replaced. Returns the invitation and its token (shown once, never stored)."""
    if agreement.status != "issued":
        raise InvitationRefused(
            f"{agreement.customer_id}: the agreement is {agreement.status}, so there is nothing to sign"
        )
    if not agreement.email:
        raise InvitationRefused(
            f"{agreement.customer_id}: the customer's record has no e-mail address; legal can set one"
        )
    if not same_address(email, agreement.email):
        raise InvitationRefused(
            f"{agreement.customer_id}: {email.strip()} is not the e-mail address in the customer's record; a signing "
            "link goes only to that address (legal can change it)"
        )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires = now + dt.timedelta(days=link_days)
    with register.transaction() as db:
        _supersede(db, agreement.id, now, "a newer signing link was sent")
        cursor = db.execute(
            "INSERT INTO portal_invitations (agreement_id, token_sha256, email, invited_by, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (agreement.id, token_hash(token), agreement.email, actor.name, iso(now), iso(expires)),
        )
        invitation_id = int(cursor.lastrowid or 0)
        append_event(
            db,
            agreement.id,
            "invited",
            {"invitation": invitation_id, "to": agreement.email, "by": actor.name, "expires_at": iso(expires)},
            now,
            file_sha256=agreement.issued_sha256,
        )
        return invitation_row(db, invitation_id), token


def find_invitation(register: Register, token: str, now: dt.datetime) -> tuple[Invitation, Agreement]:
    """The invitation for ``token`` and its agreement, if the link can still be used; writes nothing.

    :class:`LinkNotFound` for an unknown token; :class:`LinkGone` (``reason``) for a link used, expired, replaced,
    locked, or whose agreement is no longer waiting for a signature.
    """
    invitation, agreement = invitation_by_token(register, token)
    check_usable(invitation, agreement, now)
    return invitation, agreement


def invitation_by_token(register: Register, token: str) -> tuple[Invitation, Agreement]:
    """The invitation for ``token`` and its agreement, whatever their state (:class:`LinkNotFound` when none)."""
    rows = register.query(
        f"SELECT {INVITATION_COLUMNS} FROM portal_invitations WHERE token_sha256 = ?", (token_hash(token),)
    )
    if not rows:
        raise LinkNotFound("this signing link does not exist; check the address in the mail")
    invitation = Invitation(**dict(rows[0]))
    agreement_rows = register.query(
        f"SELECT {AGREEMENT_COLUMNS} FROM agreements WHERE id = ?", (invitation.agreement_id,)
    )
    return invitation, Agreement(**dict(agreement_rows[0]))


def invitations_for(register: Register, agreement_id: int) -> list[Invitation]:
    """Every signing link made for an agreement, oldest first (for the agreement page)."""
    rows = register.query(
        f"SELECT {INVITATION_COLUMNS} FROM portal_invitations WHERE agreement_id = ? ORDER BY id", (agreement_id,)
    )
    return [Invitation(**dict(row)) for row in rows]


def check_usable(invitation: Invitation, agreement: Agreement, now: dt.datetime) -> None:
    """Raise :class:`LinkGone` unless the link is open, unexpired and its agreement still waits for the customer."""
    if invitation.status == "used" or agreement.status == "effective":
        raise LinkGone("this signing link has been used: the agreement is signed", "used")
    if invitation.status == "locked":
        raise LinkGone("this signing link is locked after too many wrong codes; ask for a new link", "locked")
    if invitation.status == "superseded":
        raise LinkGone("this signing link was replaced by a newer one; use the link in the latest mail", "superseded")
    if agreement.status != "issued":
        raise LinkGone(f"this agreement is {agreement.status}; it can no longer be signed here", "withdrawn")
    if now >= parse_time(invitation.expires_at):
        raise LinkGone("this signing link has expired; ask for a new link", "expired")


def locked_invitation(db: sqlite3.Connection, token: str, now: dt.datetime) -> tuple[Invitation, Agreement]:
    """:func:`find_invitation` inside the caller's transaction (so the state it checks cannot change under it)."""
    row = db.execute(
        f"SELECT {INVITATION_COLUMNS} FROM portal_invitations WHERE token_sha256 = ?", (token_hash(token),)
    ).fetchone()
    if row is None:
        raise LinkNotFound("this signing link does not exist; check the address in the mail")
    invitation = Invitation(**dict(row))
    agreement = agreement_row(db, invitation.agreement_id)
    check_usable(invitation, agreement, now)
    return invitation, agreement


def note_opened(register: Register, token: str, client: Client, now: dt.datetime) -> Invitation:
    """Record "page opened" (time, IP, user agent) on a browser session's first interaction with the link."""
    with register.transaction() as db:
        invitation, _agreement = locked_invitation(db, token, now)
        seen = db.execute(
            "SELECT 1 FROM events WHERE agreement_id = ? AND kind = 'page-opened' "
            "AND json_extract(detail, '$.invitation') = ? AND json_extract(detail, '$.session') = ?",
            (invitation.agreement_id, invitation.id, client.facts()["session"]),
        ).fetchone()
        if seen is None:
            if invitation.opened_at is None:
                db.execute("UPDATE portal_invitations SET opened_at = ? WHERE id = ?", (iso(now), invitation.id))
            detail = {"invitation": invitation.id, **client.facts()}
            append_event(db, invitation.agreement_id, "page-opened", detail, now)
        return invitation_row(db, invitation.id)


def change_email(
    register: Register, customer_id: str, new_email: str, actor: Actor, now: dt.datetime
) -> list[Agreement]:
    """Legal changes the customer's e-mail address on its live agreements; open links to the old address stop.

    Only the ``legal`` role may do this; the register records who, from which address to which.
    """
    if actor.role != "legal":
        raise PortalError("only legal may change the e-mail address a signing link goes to")
    address = unicodedata.normalize("NFC", new_email).strip()
    if not EMAIL_PATTERN.match(address) or any(ch in BIDI_CONTROLS for ch in address) or len(address) > 254:
        raise InvitationRefused(f"{customer_id}: not a valid e-mail address")
    with register.transaction() as db:
        rows = db.execute(
            f"SELECT {AGREEMENT_COLUMNS} FROM agreements WHERE customer_id = ? AND status IN ('issued', 'effective')",
            (customer_id,),
        ).fetchall()
        if not rows:
            raise InvitationRefused(f"no issued or effective agreement for customer {customer_id}")
        for row in rows:
            agreement = Agreement(**dict(row))
            db.execute("UPDATE agreements SET email = ? WHERE id = ?", (address, agreement.id))
            detail = {"from": agreement.email or "", "email": address, "by": actor.name}
            append_event(db, agreement.id, "email-changed", detail, now)
            _supersede(db, agreement.id, now, "the customer's e-mail address was changed")
        return [agreement_row(db, r["id"]) for r in rows]


def _supersede(db: sqlite3.Connection, agreement_id: int, now: dt.datetime, reason: str) -> None:
    open_rows = db.execute(
        "SELECT id FROM portal_invitations WHERE agreement_id = ? AND status = 'open'", (agreement_id,)
    ).fetchall()
    for row in open_rows:
        db.execute("UPDATE portal_invitations SET status = 'superseded' WHERE id = ?", (row["id"],))
        append_event(db, agreement_id, "invitation-superseded", {"invitation": row["id"], "reason": reason}, now)


def invitation_row(db: sqlite3.Connection, invitation_id: int) -> Invitation:
    """One invitation by its id, inside the caller's transaction."""
    row = db.execute(f"SELECT {INVITATION_COLUMNS} FROM portal_invitations WHERE id = ?", (invitation_id,)).fetchone()
    return Invitation(**dict(row))


def agreement_row(db: sqlite3.Connection, agreement_id: int) -> Agreement:
    """One agreement by its register id, inside the caller's transaction."""
    row = db.execute(f"SELECT {AGREEMENT_COLUMNS} FROM agreements WHERE id = ?", (agreement_id,)).fetchone()
    return Agreement(**dict(row))


def iso(moment: dt.datetime) -> str:
    """A moment as the register stores it: ISO 8601 in UTC, to the second."""
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def parse_time(text: str) -> dt.datetime:
    """A moment stored by :func:`iso`."""
    return dt.datetime.fromisoformat(text)


def issued_file_bytes(agreement: Agreement) -> bytes:
    """The issued file, which must still be the one the register recorded."""
    problem = f"{agreement.customer_id}: the issued file {agreement.issued_file} is missing or changed"
    if not agreement.issued_file:
        raise InvitationRefused(problem)
    try:
        data = Path(agreement.issued_file).read_bytes()
    except OSError:
        raise InvitationRefused(problem) from None
    if hashlib.sha256(data).hexdigest() != agreement.issued_sha256:
        raise InvitationRefused(problem)
    return data


def clean_signatory_text(value: str, name: str, *, required: bool) -> str:
    """A name or title typed on the page: NFC, no control, format or bidi characters, not blank-looking, capped."""
    text = unicodedata.normalize("NFC", value).strip()
    for char in text:
        if char in BIDI_CONTROLS or unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            raise PortalError(f"{name}: contains a control character U+{ord(char):04X}")
    visible = [c for c in text if not unicodedata.category(c).startswith(("Z", "M", "C"))]
    if required and not visible:
        raise PortalError(f"{name}: required")
    if len(text) > MAX_LENGTHS[name]:
        raise PortalError(f"{name}: longer than {MAX_LENGTHS[name]} characters")
    return text if visible else ""
