"""The evidence of a signature made on the signing page: hash-chained register events, and their words.

Every event the signing page writes goes into the register's ``events`` table, for the agreement it concerns,
with a JSON ``detail`` and ``prev_hash``: the SHA-256 of the agreement's event before it. An event's own hash
(:func:`event_hash`) covers its agreement, time, kind, file hash, verdict, detail and ``prev_hash``, so changing or
removing any earlier event of that agreement breaks the chain at the next signing-page event
(:func:`check_chain`). Events written elsewhere (issued, effective, ended) carry no ``prev_hash`` of their own,
but are covered by the next signing-page event's.

The newest hash when the browser signs — the *evidence head* — is put into the customer's signature as a signed
attribute (:data:`dpa.portal.binding.EVIDENCE_HEAD_OID`), so the signed PDF itself fixes the history up to the
signature (invitation, page opened, code sent and confirmed, certificate issued), and the ``signed`` event
records it again.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dpa.register import Register

GENESIS = "0" * 64
"""The ``prev_hash`` of a first event (an agreement always has its ``issued`` event before, so never in practice)."""

IDENTIFICATION = {
    "en": "e-mail address confirmed by a one-time code",
    "nl": "e-mailadres bevestigd met een eenmalige code",
}
"""How the signing page identifies the signer, in the words of the agreement page and the verification report."""

KINDS: dict[str, tuple[str, str]] = {
    # kind: (English, Dutch)
    "invited": ("signing link sent", "ondertekeningslink verstuurd"),
    "invitation-superseded": ("signing link replaced by a newer one", "ondertekeningslink vervangen door een nieuwe"),
    "email-changed": ("customer's e-mail address changed", "e-mailadres van de klant gewijzigd"),
    "page-opened": ("signing page opened", "ondertekeningspagina geopend"),
    "code-sent": ("one-time code sent", "eenmalige code verstuurd"),
    "code-wrong": ("wrong one-time code entered", "verkeerde eenmalige code ingevoerd"),
    "code-verified": ("one-time code confirmed", "eenmalige code bevestigd"),
    "link-locked": ("signing link locked after too many wrong codes", "ondertekeningslink geblokkeerd"),
    "certificate-issued": ("signing certificate issued", "ondertekeningscertificaat uitgegeven"),
    "certificate-revoked": ("signing certificate revoked", "ondertekeningscertificaat ingetrokken"),
    "signature-prepared": ("signature prepared", "handtekening voorbereid"),
    "signed": ("signed in the browser", "ondertekend in de browser"),
    "signature-refused": ("signed file refused", "ondertekend bestand geweigerd"),
    "signed-file-uploaded": (
        "a file signed elsewhere was uploaded on the signing page",
        "elders ondertekend bestand geüpload op de ondertekeningspagina",
    ),
    "inviter-notified": ("the user who sent the link was told", "de verzender van de link is op de hoogte gebracht"),
}
"""The events the signing page writes, and what they are called."""

_DETAIL_LABELS = (
    ("to", "to"),
    ("email", "address"),
    ("by", "by"),
    ("ip", "IP"),
    ("user_agent", "browser"),
    ("serial", "certificate serial"),
    ("key_sha256", "key fingerprint (SHA-256)"),
    ("signatory", "signatory"),
    ("timestamp", "timestamp"),
    ("file", "file"),
    ("reason", "reason"),
    ("expires_at", "valid until"),
)


def event_hash(row: Mapping[str, Any] | sqlite3.Row) -> str:
    """The SHA-256 (hex) of one events row: agreement, time, kind, file hash, verdict, detail and ``prev_hash``."""
    material = [
        row["agreement_id"],
        row["at"],
        row["kind"],
        row["file_sha256"],
        row["verdict"],
        row["detail"],
        row["prev_hash"],
    ]
    encoded = json.dumps(material, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


_ROW_COLUMNS = "agreement_id, at, kind, file_sha256, verdict, detail, prev_hash"


def append_event(
    db: sqlite3.Connection,
    agreement_id: int,
    kind: str,
    detail: Mapping[str, Any],
    at: datetime,
    *,
    file_sha256: str | None = None,
) -> str:
    """Append a signing-page event, chained to the agreement's newest event, inside the caller's transaction;
    returns the new event's hash (the new evidence head)."""
    if kind not in KINDS:  # a programming error: every kind needs its words
        raise ValueError(f"unknown evidence kind {kind!r}")
    previous = db.execute(
        f"SELECT {_ROW_COLUMNS} FROM events WHERE agreement_id = ? ORDER BY id DESC LIMIT 1", (agreement_id,)
    ).fetchone()
    row = {
        "agreement_id": agreement_id,
        "at": at.isoformat(timespec="seconds"),
        "kind": kind,
        "file_sha256": file_sha256,
        "verdict": None,
        "detail": json.dumps(dict(detail), ensure_ascii=False, sort_keys=True),
        "prev_hash": event_hash(previous) if previous is not None else GENESIS,
    }
    db.execute(
        f"INSERT INTO events ({_ROW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        tuple(row[name] for name in _ROW_COLUMNS.split(", ")),
    )
    return event_hash(row)


def chain_head(db: sqlite3.Connection, agreement_id: int) -> str:
    """The hash of the agreement's newest event (what the next event will carry as ``prev_hash``)."""
    row = db.execute(
        f"SELECT {_ROW_COLUMNS} FROM events WHERE agreement_id = ? ORDER BY id DESC LIMIT 1", (agreement_id,)
    ).fetchone()
    return event_hash(row) if row is not None else GENESIS


@dataclass(frozen=True)
class EvidenceLine:
    """One event of the signing page, ready to show: when, what (both languages), the facts it records."""

    at: str
    kind: str
    what_en: str
    what_nl: str
    facts: tuple[tuple[str, str], ...]
    """(label, value) pairs, e.g. ("IP", "192.0.2.7"); values as recorded (escape them when showing)."""
    hash: str

    def what(self, lang: str = "en") -> str:
        """The event's name in ``lang`` (``en`` or ``nl``)."""
        return self.what_nl if lang == "nl" else self.what_en


@dataclass(frozen=True)
class PortalEvidence:
    """The signing page's evidence for one agreement, for its page and for the verification report."""

    agreement_id: int
    lines: tuple[EvidenceLine, ...]
    head: str
    """The hash of the agreement's newest event."""
    problems: tuple[str, ...]
    """Breaks in the hash chain, in words; empty when every link holds."""
    signed_head: str | None
    """The evidence head the customer's signature carries, when it was signed on the page."""

    @property
    def chain_intact(self) -> bool:
        """Whether every signing-page event carries the hash of the event before it."""
        return not self.problems

    def identification(self, lang: str = "en") -> str | None:
        """How the signer was identified (``None`` when no one-time code was ever confirmed)."""
        if any(line.kind == "code-verified" for line in self.lines):
            return IDENTIFICATION["nl" if lang == "nl" else "en"]
        return None

    def text(self, lang: str = "en") -> list[str]:
        """Plain lines for a report: identification, every event with its facts, and the chain's state."""
        out = []
        how = self.identification(lang)
        if how:
            out.append(("signer identified: " if lang != "nl" else "ondertekenaar geïdentificeerd: ") + how)
        for line in self.lines:
            facts = "; ".join(f"{label}: {_printable(value)}" for label, value in line.facts)
            out.append(f"{line.at}  {line.what(lang)}" + (f" ({facts})" if facts else ""))
        if self.problems:
            out.extend(f"EVIDENCE CHAIN BROKEN: {problem}" for problem in self.problems)
        else:
            out.append(f"evidence chain intact, newest hash {self.head}")
        return out


def portal_evidence(register: Register, agreement_id: int) -> PortalEvidence:
    """Read and check the hash chain of one agreement's events and put the signing page's events into words."""
    rows = register.query(f"SELECT id, {_ROW_COLUMNS} FROM events WHERE agreement_id = ? ORDER BY id", (agreement_id,))
    lines: list[EvidenceLine] = []
    problems: list[str] = []
    previous_hash = GENESIS
    signed_head = None
    seen: set[str] = set()
    for row in rows:
        own = event_hash(row)
        seen.add(own)
        if row["prev_hash"] is not None and row["prev_hash"] != previous_hash:
            problems.append(
                f"the event '{row['kind']}' of {row['at']} does not carry the hash of the event before it: an earlier "
                f"event was changed or removed (event {row['id']})"
            )
        previous_hash = own
        if row["kind"] not in KINDS:
            continue
        detail = _detail(row["detail"])
        if row["kind"] == "signed":
            signed_head = str(detail.get("evidence_head") or "") or None
        english, dutch = KINDS[row["kind"]]
        facts = tuple((label, str(detail[key])) for key, label in _DETAIL_LABELS if detail.get(key))
        lines.append(EvidenceLine(row["at"], row["kind"], english, dutch, facts, own))
    if signed_head is not None and signed_head not in seen:
        problems.append("the evidence head in the customer's signature is not an event of this agreement's history")
    return PortalEvidence(agreement_id, tuple(lines), previous_hash, tuple(problems), signed_head)


def _detail(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _printable(value: str) -> str:
    """``value`` with control characters escaped (a user agent is whatever the browser sent)."""
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in value)
