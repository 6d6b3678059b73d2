"""Verification reports: per signature and per document, as JSON (DESIGN.md §5) and as text for people.

Indications are those of ETSI EN 319 102-1: ``TOTAL_PASSED``, ``TOTAL_FAILED`` or ``INDETERMINATE``, with the
standard's sub-indication names (``HASH_FAILURE``, ``OUT_OF_BOUNDS_NO_POE``, …). Times are UTC in JSON and
Europe/Amsterdam, with the offset, in the text report.

This module has no pyHanko imports: the reports travel as JSON between the verification worker and its parent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dpa.roles import BY_ROLE, PARTIES
from dpa.verify.effective_date import amsterdam_text, parse_utc_iso, utc_iso
from dpa.verify.explain import escape


class Indication(StrEnum):
    """ETSI EN 319 102-1 main indications (the JSON carries these names)."""

    TOTAL_PASSED = "TOTAL_PASSED"
    INDETERMINATE = "INDETERMINATE"
    TOTAL_FAILED = "TOTAL_FAILED"


class SubIndication(StrEnum):
    """The ETSI EN 319 102-1 sub-indications dpa reports (the names pyHanko's ``AdESSubIndic`` also uses)."""

    FORMAT_FAILURE = "FORMAT_FAILURE"
    HASH_FAILURE = "HASH_FAILURE"
    SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
    REVOKED = "REVOKED"
    NOT_YET_VALID = "NOT_YET_VALID"
    SIG_CONSTRAINTS_FAILURE = "SIG_CONSTRAINTS_FAILURE"
    CHAIN_CONSTRAINTS_FAILURE = "CHAIN_CONSTRAINTS_FAILURE"
    CERTIFICATE_CHAIN_GENERAL_FAILURE = "CERTIFICATE_CHAIN_GENERAL_FAILURE"
    CRYPTO_CONSTRAINTS_FAILURE = "CRYPTO_CONSTRAINTS_FAILURE"
    EXPIRED = "EXPIRED"
    POLICY_PROCESSING_ERROR = "POLICY_PROCESSING_ERROR"
    SIGNATURE_POLICY_NOT_AVAILABLE = "SIGNATURE_POLICY_NOT_AVAILABLE"
    TIMESTAMP_ORDER_FAILURE = "TIMESTAMP_ORDER_FAILURE"
    NO_SIGNING_CERTIFICATE_FOUND = "NO_SIGNING_CERTIFICATE_FOUND"
    NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
    REVOKED_NO_POE = "REVOKED_NO_POE"
    REVOKED_CA_NO_POE = "REVOKED_CA_NO_POE"
    OUT_OF_BOUNDS_NO_POE = "OUT_OF_BOUNDS_NO_POE"
    REVOCATION_OUT_OF_BOUNDS_NO_POE = "REVOCATION_OUT_OF_BOUNDS_NO_POE"
    OUT_OF_BOUNDS_NOT_REVOKED = "OUT_OF_BOUNDS_NOT_REVOKED"
    CRYPTO_CONSTRAINTS_FAILURE_NO_POE = "CRYPTO_CONSTRAINTS_FAILURE_NO_POE"
    NO_POE = "NO_POE"
    TRY_LATER = "TRY_LATER"
    SIGNED_DATA_NOT_FOUND = "SIGNED_DATA_NOT_FOUND"
    GENERIC = "GENERIC"


TOTAL_PASSED = Indication.TOTAL_PASSED
TOTAL_FAILED = Indication.TOTAL_FAILED
INDETERMINATE = Indication.INDETERMINATE
INDICATIONS = (TOTAL_PASSED, INDETERMINATE, TOTAL_FAILED)
"""From best to worst: a document's indication is the worst of its signatures'."""

SEVERITY = {indication: rank for rank, indication in enumerate(INDICATIONS)}


EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INDETERMINATE = 3
EXIT_INCOMPLETE = 4

TIMESTAMP_BASIS = "timestamp"
"""``effective_date_basis`` when the effective date rests on signature timestamps."""
PROOF_OF_EXISTENCE = "proof_of_existence"
"""``effective_date_basis`` when it rests on a document timestamp covering a signature without one ("no later
than")."""

DOCUMENT_JSON_KEYS = (
    "file",
    "sha256",
    "indication",
    "sub_indication",
    "complete",
    "effective_date",
    "effective_date_basis",
    "pades_level",
    "problems",
    "signatures",
)
SIGNATURE_JSON_KEYS = (
    "field",
    "role",
    "signer",
    "indication",
    "sub_indication",
    "timestamp",
    "proof_of_existence",
    "claimed_signing_time",
    "coverage",
    "modification_level",
    "certification",
)


@dataclass(frozen=True)
class SignatureReport:
    """The verdict on one signature (or document timestamp) in a PDF."""

    field: str
    role: str | None
    """``processor`` or ``controller`` for our two fields; ``None`` for a PDF dpa did not make."""
    signer: str | None
    """The signer's subject DN (RFC 4514); for a document timestamp, the TSA's."""
    indication: str
    sub_indication: str | None
    timestamp: dt.datetime | None
    """genTime of the trusted RFC 3161 signature timestamp (UTC), ``None`` when there is none or it is not trusted."""
    claimed_signing_time: dt.datetime | None
    """The signer's own clock (signingTime attribute or ``/M``): informative only, never trusted."""
    coverage: str | None
    """pyHanko's SignatureCoverageLevel name: ENTIRE_FILE, ENTIRE_REVISION, CONTIGUOUS_BLOCK_FROM_START, UNCLEAR."""
    modification_level: str | None
    """pyHanko's ModificationLevel name for the changes after this signature: NONE, LTA_UPDATES, FORM_FILLING,
    ANNOTATIONS or OTHER (a change that is not allowed)."""
    certification: bool
    problems: tuple[str, ...] = ()
    kind: str = "signature"
    """``signature`` or ``document_timestamp``."""
    proof_of_existence: dt.datetime | None = None
    """For a signature without a timestamp of its own: genTime of the earliest trusted document timestamp covering
    it, the moment at which it was judged and which stands in for its time (DESIGN.md §6, "Time")."""

    @property
    def passed(self) -> bool:
        """Whether this signature is TOTAL_PASSED."""
        return self.indication == TOTAL_PASSED

    def to_json(self) -> dict[str, Any]:
        """Exactly the §5 keys of a signature object."""
        return {
            "field": self.field,
            "role": self.role,
            "signer": self.signer,
            "indication": self.indication,
            "sub_indication": self.sub_indication,
            "timestamp": utc_iso(self.timestamp),
            "proof_of_existence": utc_iso(self.proof_of_existence),
            "claimed_signing_time": utc_iso(self.claimed_signing_time),
            "coverage": self.coverage,
            "modification_level": self.modification_level,
            "certification": self.certification,
        }

    def to_wire(self) -> dict[str, Any]:
        """Everything, for the worker → parent channel (:meth:`to_json` plus problems and kind)."""
        return {**self.to_json(), "problems": list(self.problems), "kind": self.kind}

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> SignatureReport:
        """Inverse of :meth:`to_wire`."""
        return cls(
            field=str(data["field"]),
            role=data["role"],
            signer=data["signer"],
            indication=Indication(data["indication"]),
            sub_indication=_sub(data["sub_indication"]),
            timestamp=parse_utc_iso(data["timestamp"]),
            proof_of_existence=parse_utc_iso(data["proof_of_existence"]),
            claimed_signing_time=parse_utc_iso(data["claimed_signing_time"]),
            coverage=data["coverage"],
            modification_level=data["modification_level"],
            certification=bool(data["certification"]),
            problems=tuple(str(p) for p in data.get("problems", ())),
            kind=str(data.get("kind", "signature")),
        )


@dataclass(frozen=True)
class DocumentReport:
    """The verdict on one file: its signatures, completeness and effective date."""

    file: str
    sha256: str | None
    """SHA-256 of the file's bytes (``None`` when the file was not read: too large, unreadable)."""
    indication: str
    sub_indication: str | None
    complete: bool
    """Both parties' fields carry a TOTAL_PASSED signature."""
    effective_date: dt.date | None
    """Europe/Amsterdam date of the latest signature timestamp; only for a TOTAL_PASSED, complete document."""
    pades_level: str | None
    problems: tuple[str, ...]
    signatures: tuple[SignatureReport, ...] = ()
    made_by_dpa: bool = False
    """The first signature was made in a PDF with dpa's two pre-created fields (roles are known)."""
    effective_date_basis: str | None = None
    """What the effective date rests on: ``timestamp`` (signature timestamps) or ``proof_of_existence`` (a
    signature without one, dated by the document timestamp that covers it: "no later than"); ``None`` without a
    date."""

    @property
    def passed(self) -> bool:
        """Whether the document is TOTAL_PASSED."""
        return self.indication == TOTAL_PASSED

    def to_json(self) -> dict[str, Any]:
        """Exactly the §5 keys: one line of ``dpa verify --json``."""
        return {
            "file": self.file,
            "sha256": self.sha256,
            "indication": self.indication,
            "sub_indication": self.sub_indication,
            "complete": self.complete,
            "effective_date": self.effective_date.isoformat() if self.effective_date else None,
            "effective_date_basis": self.effective_date_basis,
            "pades_level": self.pades_level,
            "problems": list(self.problems),
            "signatures": [s.to_json() for s in self.signatures],
        }

    def to_wire(self) -> dict[str, Any]:
        """Everything, for the worker → parent channel."""
        data = self.to_json()
        data["signatures"] = [s.to_wire() for s in self.signatures]
        data["made_by_dpa"] = self.made_by_dpa
        return data

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> DocumentReport:
        """Inverse of :meth:`to_wire`."""
        effective = data.get("effective_date")
        return cls(
            file=str(data["file"]),
            sha256=data["sha256"],
            indication=Indication(data["indication"]),
            sub_indication=_sub(data["sub_indication"]),
            complete=bool(data["complete"]),
            effective_date=dt.date.fromisoformat(effective) if effective else None,
            effective_date_basis=data.get("effective_date_basis"),
            pades_level=data["pades_level"],
            problems=tuple(str(p) for p in data.get("problems", ())),
            signatures=tuple(SignatureReport.from_wire(s) for s in data.get("signatures", ())),
            made_by_dpa=bool(data.get("made_by_dpa", False)),
        )


def _sub(value: object) -> SubIndication | None:
    return None if value is None else SubIndication(str(value))


def worst(indications: Iterable[str]) -> Indication:
    """The worst of ``indications`` (TOTAL_PASSED when there are none)."""
    return max((Indication(i) for i in indications), key=SEVERITY.__getitem__, default=TOTAL_PASSED)


def verdict_only(
    file: str, sha256: str | None, indication: Indication, sub_indication: SubIndication, problem: str
) -> DocumentReport:
    """A report for a file whose signatures could not be looked at (unreadable, too large, too slow, …)."""
    return DocumentReport(
        file=file,
        sha256=sha256,
        indication=indication,
        sub_indication=sub_indication,
        complete=False,
        effective_date=None,
        pades_level=None,
        problems=(problem,),
    )


def exit_code(reports: Sequence[DocumentReport], *, require_complete: bool = False) -> int:
    """DESIGN.md §4: 1 if any TOTAL_FAILED; else 3 if any INDETERMINATE; else 4 if ``require_complete`` and a
    document lacks a party's signature; else 0."""
    if any(r.indication == TOTAL_FAILED for r in reports):
        return EXIT_FAILED
    if any(r.indication == INDETERMINATE for r in reports):
        return EXIT_INDETERMINATE
    if require_complete and any(not r.complete for r in reports):
        return EXIT_INCOMPLETE
    return EXIT_OK


# --- text for people ----------------------------------------------------------------------------------------------


def _verdict(indication: str, sub_indication: str | None) -> str:
    return indication + (f" ({sub_indication})" if sub_indication else "")


def _time_line(sig: SignatureReport) -> str:
    if sig.timestamp is None and sig.proof_of_existence is not None:
        claimed = (
            f"; signer's clock {amsterdam_text(sig.claimed_signing_time)}, not trusted"
            if sig.claimed_signing_time is not None
            else ""
        )
        proof = amsterdam_text(sig.proof_of_existence)
        return f"no later than {proof}, proof of existence (document timestamp){claimed}"
    if sig.timestamp is not None:
        source = "document timestamp" if sig.kind == "document_timestamp" else "trusted timestamp"
        return f"{amsterdam_text(sig.timestamp)}, {source}"
    if sig.claimed_signing_time is not None:
        return f"{amsterdam_text(sig.claimed_signing_time)}, signer's clock, not trusted"
    return "unknown"


def format_text(report: DocumentReport) -> str:
    """A readable report: per signature party, signer, time and its source, verdict and reasons; then the
    document verdict, completeness and effective date. Ends without a newline."""
    lines = [f"{_verdict(report.indication, report.sub_indication)}: {escape(report.file)}"]
    if report.sha256:
        lines.append(f"  sha256: {report.sha256}")
    sig_problems: dict[str, list[str]] = {}
    doc_problems: list[str] = []
    for problem in report.problems:
        name, sep, rest = problem.partition(": ")
        if sep and any(s.field == name for s in report.signatures):
            sig_problems.setdefault(name, []).append(rest)
        else:
            doc_problems.append(problem)
    for sig in report.signatures:
        if sig.kind == "document_timestamp":
            party = "document timestamp"
        elif sig.role:
            party = BY_ROLE[sig.role].label if sig.role in BY_ROLE else sig.role
        else:
            party = "party unknown (a field dpa did not create)" if report.made_by_dpa else "party unknown"
        lines.append(f"  {sig.field}: {party}")
        lines.append(f"    signer:  {sig.signer or 'unknown'}")
        lines.append(f"    time:    {_time_line(sig)}")
        kind = "certification signature" if sig.certification else ("timestamp" if sig.kind != "signature" else "")
        lines.append(f"    verdict: {_verdict(sig.indication, sig.sub_indication)}" + (f" — {kind}" if kind else ""))
        for problem in sig_problems.get(sig.field, []) or list(sig.problems):
            lines.append(f"      - {problem}")
    for problem in doc_problems:
        lines.append(f"  ! {problem}")
    level = f", PAdES {report.pades_level}" if report.pades_level else ""
    lines.append(f"  document: {_verdict(report.indication, report.sub_indication)}{level}")
    lines.append(f"  complete: {_completeness(report)}")
    if report.effective_date is not None and report.effective_date_basis == PROOF_OF_EXISTENCE:
        lines.append(
            f"  effective date: no later than {report.effective_date:%Y-%m-%d} (Europe/Amsterdam, art. 12.1; a "
            "signature without a timestamp of its own, dated by the document timestamp that proves it existed)"
        )
    elif report.effective_date is not None:
        lines.append(f"  effective date: {report.effective_date:%Y-%m-%d} (Europe/Amsterdam, art. 12.1)")
    else:
        lines.append(f"  effective date: none ({_why_no_date(report)})")
    return "\n".join(lines)


def _completeness(report: DocumentReport) -> str:
    signed = [s for s in report.signatures if s.kind == "signature"]
    if report.complete:
        if report.made_by_dpa:
            return "yes, both parties signed"
        return f"yes, every prepared signature field is signed ({len(signed)}; roles unknown)"
    if report.made_by_dpa:
        missing = [p.label for p in PARTIES if not any(s.role == p.role and s.passed for s in signed)]
        return "no, no passing signature of " + " and ".join(missing) if missing else "no"
    return "no"


def _why_no_date(report: DocumentReport) -> str:
    if not report.passed:
        return "the document did not pass"
    if not report.complete:
        return "not every party has signed"
    return "no trusted timestamp"  # pragma: no cover - a passing signature always has one


__all__ = [
    "DOCUMENT_JSON_KEYS",
    "INDETERMINATE",
    "PROOF_OF_EXISTENCE",
    "SIGNATURE_JSON_KEYS",
    "TIMESTAMP_BASIS",
    "TOTAL_FAILED",
    "TOTAL_PASSED",
    "DocumentReport",
    "Indication",
    "SignatureReport",
    "SubIndication",
    "exit_code",
    "format_text",
    "verdict_only",
    "worst",
]
