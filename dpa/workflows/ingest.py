"""Counter-signed agreements coming back from customers → the register (DESIGN.md §3 step 7, §6).

A returned file is accepted only when, in this order:

1. the issued file's bytes are an exact prefix of it (the customer signed exactly what was issued, in an
   incremental update);
2. the agreement is not already effective with another signed copy (evidence on file is never replaced; the same
   file again is harmless);
3. it verifies: TOTAL_PASSED, both parties, an effective date (:class:`~dpa.verify.verifier.Verifier`);
4. it continues the issued file's revisions and carries ipcall.me's issued signature itself, and the customer's
   signature was not made with a processor certificate (:mod:`dpa.workflows.evidence`);
5. the controller's certificate names the customer (:mod:`dpa.workflows.signer`), or legal confirmed that signer
   for this agreement (``confirm_signer``, recorded in the register);
6. with an :class:`~dpa.archive.seal.Archiver` (``dpa ingest`` always passes one): validation data and an archive
   timestamp are added (PAdES B-LTA, DESIGN.md §12) and the sealed copy verifies as the returned file did.

A counter-signature without a timestamp (``[ingest] untimestamped = "prove-existence"``, the default), and a
return whose signer's revocation status the file does not carry (INDETERMINATE/TRY_LATER), are sealed before
step 3 — with the given archiver, or one made for it — and step 3 judges that sealed copy (:mod:`dpa.workflows.proof`):
at its archive timestamp, with the validation data the seal fetched. The date an untimestamped one is effective from
is "no later than" that moment's date.

Then the file (sealed, with an archiver) is stored, never over another file, as
``signed/<customer id>+<register id>.pdf`` beside the issued file (``+`` never occurs in an id, and the register
id is unique, so two agreements never share a name) and the agreement becomes ``effective`` with its date.
Otherwise the reason is recorded as an event, nothing is stored and nothing else in the register changes.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pypdf import PdfReader

from dpa.archive.seal import WITHOUT_VALIDATION_DATA, Archiver
from dpa.errors import DpaError, EvidenceError
from dpa.files import write_new
from dpa.register import Agreement, Register
from dpa.register_files import already_effective
from dpa.signing.trust import load_certificates
from dpa.verify.effective_date import amsterdam_text
from dpa.verify.report import PROOF_OF_EXISTENCE
from dpa.verify.verifier import DocumentReport, Verifier
from dpa.workflows.evidence import ControllerSigner, check_return
from dpa.workflows.proof import NO_REVOCATION_DATA, Sealed, awaits_sealing, prove_existence
from dpa.workflows.signer import compare_signer

SIGNED_FOLDER = "signed"


@dataclass(frozen=True)
class IngestResult:
    """What happened to one returned file."""

    file: Path
    accepted: bool
    reason: str
    agreement: Agreement | None = None
    report: DocumentReport | None = None
    stored: Path | None = None
    signer: ControllerSigner | None = None
    waiting_for_legal: bool = False
    """Refused only because legal has not yet confirmed the controller's signer (``--confirm-signer``)."""


def stored_path(agreement: Agreement) -> Path:
    """Where the signed copy of ``agreement`` is kept: ``signed/<customer id>+<register id>.pdf`` beside its
    issued file. Injective: ids never contain ``+`` and register ids are unique."""
    issued = Path(agreement.issued_file or ".")
    return issued.parent / SIGNED_FOLDER / f"{agreement.customer_id}+{agreement.id}.pdf"


def ingest_file(
    path: Path,
    register: Register,
    verifier: Verifier,
    *,
    confirm_signer: bool = False,
    archiver: Archiver | None = None,
) -> IngestResult:
    """Match ``path`` to its issued agreement, check and verify it, and record the outcome in the register.

    ``confirm_signer``: legal confirms that the controller's signer signs for the customer although the
    certificate names neither the customer's legal name nor its e-mail domain. ``archiver``: seal the accepted
    copy (validation data and an archive timestamp) before it is stored; without one it is stored as returned,
    except a return that has to be sealed to be judged (see the module docstring), which is stored sealed.
    """
    data = _read_returned(path, verifier.limits.max_file_bytes)
    if isinstance(data, str):
        return IngestResult(path, False, data)
    digest = hashlib.sha256(data).hexdigest()
    customer_id = _customer_id(data)
    if customer_id is None:
        return IngestResult(path, False, "not an agreement made by dpa (no customer id in its metadata)")
    candidates = [a for a in register.agreements(customer_id=customer_id) if a.status in ("issued", "effective")]
    if not candidates:
        return IngestResult(path, False, f"no issued agreement for customer {customer_id} in the register")
    match = _issued_prefix_of(data, candidates)
    if isinstance(match, str):
        latest = candidates[-1]
        register.record_refusal(latest.id, digest, "NOT_AN_EXTENSION", match)
        return IngestResult(path, False, match, latest)
    agreement, issued = match
    if agreement.status == "effective":
        return _already_effective(path, register, agreement, data, digest)
    verified = _verified(path, data, verifier, archiver)
    if isinstance(verified, str):
        code = "NO_REVOCATION_DATA" if verified.startswith(NO_REVOCATION_DATA) else "NO_PROOF_OF_EXISTENCE"
        register.record_refusal(agreement.id, digest, code, verified)
        return IngestResult(path, False, verified, agreement)
    report, proved = verified
    if not (report.indication == "TOTAL_PASSED" and report.complete and report.effective_date is not None):
        return _not_verified(path, register, agreement, digest, report, proved[2] if proved else None)
    processor_certs = [
        cert
        for cert_path in verifier.config.verify.processor_certificates
        for cert in load_certificates(cert_path, "processor certificate ([verify] processor_certificates)")
    ]
    check = check_return(issued, data, processor_certs)
    if check.refusal is not None or check.controller is None:
        reason = check.refusal or "the controller's signature could not be read"
        register.record_refusal(agreement.id, digest, "NOT_THE_ISSUED_AGREEMENT", reason)
        return IngestResult(path, False, reason, agreement, report)
    signer = check.controller
    confirmed = _signer_confirmed(register, agreement, signer, digest, confirm_signer)
    if isinstance(confirmed, str):
        register.record_refusal(agreement.id, digest, "SIGNER_UNCONFIRMED", f"{confirmed} ({signer.subject})")
        return IngestResult(path, False, confirmed, agreement, report, signer=signer, waiting_for_legal=True)
    if proved is not None:
        kept: Sealed | str = proved  # sealed already, and judged at that archive timestamp
    else:
        kept = _sealed(archiver, data, path, report, verifier) if archiver is not None else (data, report, None)
    if isinstance(kept, str):
        register.record_refusal(agreement.id, digest, "NOT_SEALED", kept)
        return IngestResult(path, False, kept, agreement, report, signer=signer)
    note = f"; signer {signer.subject} confirmed by legal" if confirmed else ""
    if kept[2]:
        note += f"; sealed without all revocation data: {kept[2]}"
    return _store(path, register, agreement, kept[0], kept[1], signer, note)


def _verified(
    path: Path, data: bytes, verifier: Verifier, archiver: Archiver | None
) -> tuple[DocumentReport, Sealed | None] | str:
    """The returned file's verdict; for one that an archive update can settle (a counter-signature without a
    timestamp, a certificate whose revocation status the file lacks: :func:`~dpa.workflows.proof.awaits_sealing`)
    the verdict on a sealed copy, or why none could be made (:mod:`.proof`)."""
    report = verifier.verify_bytes(data, str(path))
    why = awaits_sealing(report, verifier.config)
    if why is None:
        return report, None
    proved = prove_existence(archiver, data, path, verifier, why)
    if isinstance(proved, str):
        return proved
    return proved[1], proved


def _sealed(archiver: Archiver, data: bytes, path: Path, report: DocumentReport, verifier: Verifier) -> Sealed | str:
    """The accepted file with validation data and an archive timestamp, verified again, with the archiver's warning
    (validation data it could not have), or why it cannot be sealed."""
    try:
        appended = archiver.seal_bytes(data, path.name)
    except DpaError as exc:
        return f"the agreement could not be sealed with an archive timestamp: {exc}"
    sealed = verifier.verify_bytes(appended.data, str(path))
    if (sealed.indication, sealed.complete, sealed.effective_date) != ("TOTAL_PASSED", True, report.effective_date):
        why = "; ".join(sealed.problems) or f"verdict {sealed.indication}"
        return f"the sealed copy does not verify as the returned file did: {why}"
    return appended.data, sealed, appended.warning


def _signer_confirmed(
    register: Register, agreement: Agreement, signer: ControllerSigner, digest: str, confirm: bool
) -> str | bool:
    """False when the certificate names the customer, True when legal confirmed the signer (now or before), or
    the reason ingest waits for legal."""
    match = compare_signer(signer.organization, signer.emails, agreement.name, agreement.email)
    if match.matches:
        return False
    if register.signer_confirmed(agreement.id, signer.certificate_sha256):
        return True
    if confirm:
        register.confirm_signer(agreement.id, signer.certificate_sha256, signer.subject, digest)
        return True
    return (
        f"waiting for legal to confirm this signer: {match.reason}. The signer is {signer.subject}; when legal "
        "has established that they sign for the customer, run dpa ingest FILE --confirm-signer"
    )


def _store(
    path: Path,
    register: Register,
    agreement: Agreement,
    data: bytes,
    report: DocumentReport,
    signer: ControllerSigner,
    note: str,
) -> IngestResult:
    """Keep the signed copy (never over another file) and make the agreement effective; ``note`` goes into the
    register's event and the reason."""
    assert report.effective_date is not None
    digest = hashlib.sha256(data).hexdigest()
    stored = stored_path(agreement)
    try:
        created = write_new(stored, data)
        try:
            row = register.record_ingest(
                agreement.id,
                stored.resolve(),
                digest,
                report.indication,
                report.effective_date,
                f"accepted{note}",
                effective_date_basis=report.effective_date_basis,
            )
        except EvidenceError:
            if created:
                stored.unlink(missing_ok=True)  # a refused return leaves nothing stored
            raise
    except EvidenceError as exc:
        register.record_refusal(agreement.id, digest, "EVIDENCE_ON_FILE", str(exc))
        return IngestResult(path, False, str(exc), agreement, report, signer=signer)
    reason = f"{effective_words(report)}{note}"
    return IngestResult(path, True, reason, row, report, stored, signer)


def effective_words(report: DocumentReport) -> str:
    """``effective from DATE``, or for a date that rests on a proof of existence ``effective no later than DATE``
    with the moment that proves it."""
    assert report.effective_date is not None
    proofs = [s.proof_of_existence for s in report.signatures if s.timestamp is None and s.proof_of_existence]
    if report.effective_date_basis != PROOF_OF_EXISTENCE or not proofs:
        return f"effective from {report.effective_date.isoformat()}"
    return (
        f"effective no later than {report.effective_date.isoformat()} (the counter-signature has no timestamp of "
        f"its own: the archive timestamp of {amsterdam_text(max(proofs))} proves it existed then)"
    )


def _already_effective(path: Path, register: Register, agreement: Agreement, data: bytes, digest: str) -> IngestResult:
    """An effective agreement: the same signed copy again (or the file that was sealed into it) is harmless; any
    other return is refused."""
    if not _on_file(agreement, data, digest) or not agreement.effective_date or not agreement.signed_file:
        reason = already_effective(agreement)
        register.record_refusal(agreement.id, digest, "ALREADY_EFFECTIVE", reason)
        return IngestResult(path, False, reason, agreement)
    effective = date.fromisoformat(agreement.effective_date)
    row = register.record_ingest(
        agreement.id,
        Path(agreement.signed_file),
        agreement.signed_sha256 or digest,
        "ALREADY_ON_FILE",
        effective,
        "the same file again",
    )
    reason = f"effective from {agreement.effective_date} (this file is the signed copy on file)"
    return IngestResult(path, True, reason, row, stored=Path(agreement.signed_file))


def _on_file(agreement: Agreement, data: bytes, digest: str) -> bool:
    """Whether ``data`` is the signed copy on file, or the returned file that ingest sealed into it."""
    if agreement.signed_sha256 == digest:
        return True
    try:
        kept = Path(agreement.signed_file or "").read_bytes()
    except OSError:
        return False
    return hashlib.sha256(kept).hexdigest() == agreement.signed_sha256 and kept.startswith(data)


def _not_verified(
    path: Path,
    register: Register,
    agreement: Agreement,
    digest: str,
    report: DocumentReport,
    seal_warning: str | None = None,
) -> IngestResult:
    reason = "; ".join(report.problems) or (
        "a party has not signed yet" if not report.complete else f"verdict {report.indication}"
    )
    if seal_warning:  # what the seal of the judged copy could not add (a CA's revocation service down, …)
        missing = seal_warning.removesuffix(WITHOUT_VALIDATION_DATA)
        reason += f"; nothing was stored, the archive update could not add all validation data: {missing}"
    verdict = report.indication + (f"/{report.sub_indication}" if report.sub_indication else "")
    row = register.record_ingest(agreement.id, None, digest, verdict, None, reason)
    return IngestResult(path, False, reason, row, report)


def _read_returned(path: Path, limit: int) -> bytes | str:
    """The returned file's bytes, or why they cannot be read (never blocks on a FIFO or device)."""
    try:
        if not path.is_file():
            return "not a regular file" if path.exists() else "the file does not exist"
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        return f"cannot read the file: {exc.strerror or exc}"
    if len(data) > limit:
        return f"the file is larger than the limit of {limit} bytes ([verify] max_file_bytes)"
    return data


def _customer_id(data: bytes) -> str | None:
    try:
        info = PdfReader(io.BytesIO(data)).metadata
    except Exception:  # hostile input (deep nesting, broken objects): simply not one of ours
        return None
    value = info.get("/DPACustomerId") if info else None
    return str(value) if value else None


def _issued_prefix_of(data: bytes, candidates: list[Agreement]) -> tuple[Agreement, bytes] | str:
    """The agreement whose issued bytes start ``data`` (with those bytes), or the reason why there is none."""
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
            return agreement, issued
    if missing and len(missing) == len(candidates):
        return f"the issued file is missing or changed ({', '.join(missing)}), so the returned file cannot be matched"
    return (
        "the returned file is not an extension of the issued agreement: the customer signed a regenerated or "
        "edited document, not the one that was issued"
    )
