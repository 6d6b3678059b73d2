"""Counter-signed agreements coming back from customers → the register.

A returned file is accepted only when the issued file's bytes are an exact prefix of it (the customer signed
exactly what was issued, in an incremental update) and it verifies (DESIGN.md §6). Then it is stored next to the
issued file and the agreement becomes ``effective`` with its effective date; otherwise the verdict and the reason
are recorded and the status stays. Ingesting the same file twice is harmless.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from pypdf import PdfReader

from dpa.files import write_atomic
from dpa.register import Agreement, Register
from dpa.verify.verifier import DocumentReport, Verifier


@dataclass(frozen=True)
class IngestResult:
    """What happened to one returned file."""

    file: Path
    accepted: bool
    reason: str
    agreement: Agreement | None = None
    report: DocumentReport | None = None
    stored: Path | None = None


def ingest_file(path: Path, register: Register, verifier: Verifier) -> IngestResult:
    """Match ``path`` to its issued agreement, verify it and record the outcome in the register."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return IngestResult(path, False, f"cannot read the file: {exc.strerror or exc}")
    digest = hashlib.sha256(data).hexdigest()
    customer_id = _customer_id(data)
    if customer_id is None:
        return IngestResult(path, False, "not an agreement made by dpa (no customer id in its metadata)")
    candidates = [a for a in register.agreements(customer_id=customer_id) if a.status in ("issued", "effective")]
    if not candidates:
        return IngestResult(path, False, f"no issued agreement for customer {customer_id} in the register")
    issued = _issued_prefix_of(data, candidates)
    if isinstance(issued, str):
        latest = candidates[-1]
        register.record_refusal(latest.id, digest, "NOT_AN_EXTENSION", issued)
        return IngestResult(path, False, issued, latest)
    report = verifier.verify_bytes(data, str(path))
    if report.indication == "TOTAL_PASSED" and report.complete and report.effective_date is not None:
        issued_path = Path(issued.issued_file or path)
        stored = issued_path.with_name(f"{issued_path.name.removesuffix('.pdf')}.signed.pdf")
        if not (stored.exists() and hashlib.sha256(stored.read_bytes()).hexdigest() == digest):
            write_atomic(stored, data)
        row = register.record_ingest(issued.id, stored.resolve(), digest, report.indication, report.effective_date, "")
        return IngestResult(path, True, f"effective from {report.effective_date.isoformat()}", row, report, stored)
    reason = "; ".join(report.problems) or (
        "a party has not signed yet" if not report.complete else f"verdict {report.indication}"
    )
    verdict = report.indication + (f"/{report.sub_indication}" if report.sub_indication else "")
    row = register.record_ingest(issued.id, None, digest, verdict, None, reason)
    return IngestResult(path, False, reason, row, report)


def _customer_id(data: bytes) -> str | None:
    try:
        info = PdfReader(io.BytesIO(data)).metadata
    except Exception:  # hostile input (deep nesting, broken objects): simply not one of ours
        return None
    value = info.get("/DPACustomerId") if info else None
    return str(value) if value else None


def _issued_prefix_of(data: bytes, candidates: list[Agreement]) -> Agreement | str:
    """The agreement whose issued bytes start ``data``, or the reason why there is none."""
    missing = []
    for agreement in reversed(candidates):
        if not agreement.issued_file:
            continue
        try:
            issued = Path(agreement.issued_file).read_bytes()
        except OSError:
            missing.append(agreement.issued_file)
            continue
        if hashlib.sha256(issued).hexdigest() != agreement.issued_sha256:
            missing.append(agreement.issued_file)  # replaced since: it can no longer vouch for this agreement
            continue
        if data == issued:
            return "the returned file is the issued file itself: the customer has not signed it yet"
        if data.startswith(issued):
            return agreement
    if missing and len(missing) == len(candidates):
        return f"the issued file is missing or changed ({', '.join(missing)}), so the returned file cannot be matched"
    return (
        "the returned file is not an extension of the issued agreement: the customer signed a regenerated or "
        "edited document, not the one that was issued"
    )
