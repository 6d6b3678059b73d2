"""The verification of one PDF, in-process: orchestration of the rule layers of DESIGN.md §6.

:class:`VerificationEngine` is built once (trust lists parsed once, one timestamp validation context reused across
files) and turns the bytes of a PDF into a :class:`~dpa.verify.report.DocumentReport`. It does no I/O and no network
access. Run it in :mod:`dpa.verify.worker` for time and memory limits.

The layers, in the order they run per document:

1. :mod:`~dpa.verify.structure` — every byte on the /Prev chain, at most ``max_revisions`` updates, strict reading
   of dpa's revisions, signature dictionaries and ByteRanges → TOTAL_FAILED/FORMAT_FAILURE;
2. per signature, :mod:`~dpa.verify.timing` (the signature timestamp, validated once), then pyHanko's integrity
   and path validation at the trusted time, then :mod:`~dpa.verify.changes` (what changed after it) and
   :mod:`~dpa.verify.trust` (paths, roots, key usage);
3. across signatures: the order of timestamps, the roles bound to certificates (:mod:`~dpa.verify.roles_check`),
   completeness and the effective date.

Only the PDF/CMS libraries' own input errors become FORMAT_FAILURE and the like; any other exception is a bug and
becomes INDETERMINATE/GENERIC "internal error, please report" — never a verdict either way.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from collections.abc import Sequence

from asn1crypto import x509
from pyhanko.pdf_utils import misc
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import EmbeddedPdfSignature
from pyhanko.sign.validation.errors import SignatureValidationError

from dpa.roles import PARTIES
from dpa.verify import signature_checks, speedups
from dpa.verify.annotations import MARKUP_SUBTYPES, added_annotations, in_prepared_box, prepared_box
from dpa.verify.explain import page_map, short
from dpa.verify.findings import DocumentContext, Finding, SigState, decisive_sub_indication
from dpa.verify.flattened import flattened_drawings
from dpa.verify.report import (
    INDETERMINATE,
    PROOF_OF_EXISTENCE,
    TIMESTAMP_BASIS,
    TOTAL_FAILED,
    TOTAL_PASSED,
    DocumentReport,
    Indication,
    SignatureReport,
    SubIndication,
    verdict_only,
    worst,
)
from dpa.verify.roles_check import assign_roles, charge_changes, check_roles, check_signing_ca, is_complete
from dpa.verify.structure import (
    made_by_dpa,
    open_pdf,
    revision_of,
    strict_prefix_problem,
    too_many_revisions,
    unaccounted_bytes,
)
from dpa.verify.timing import check_order, effective_date_note
from dpa.verify.trust import TrustAnchors


def drawn_in_box(doc: DocumentContext, first_revision: int) -> None:
    """Annotations and flattened drawings added after the first signature: inside the customer's box they are a
    drawn or typed signature, said in words (INDETERMINATE); the difference policy refuses those over the text
    (:mod:`~dpa.verify.annotations`, :mod:`~dpa.verify.flattened`)."""
    reader = doc.reader
    try:
        old, new = (
            reader.get_historical_resolver(first_revision),
            reader.get_historical_resolver(reader.xrefs.total_revisions - 1),
        )
        added = added_annotations(old, new)
        box = prepared_box(old)
        flattened = flattened_drawings(old, new)
    except READ_ERRORS:
        return
    doc.added_annotations, doc.flattened_drawings = added, flattened
    drawings = [
        (a.page, _verb(a.subtype), a.words()) for a in added if a.subtype in MARKUP_SUBTYPES and in_prepared_box(a, box)
    ]
    drawings += [(f.page, "drew", f.words()) for f in flattened if f.inside(box) and f.bounds.painted is not None]
    for page, verb, words in drawings:
        doc.problems.append(
            Finding(
                AdESIndeterminate.SIG_CONSTRAINTS_FAILURE,
                f"the customer {verb} a signature in their box on page {page} instead of signing digitally "
                f"({words}); the controller has not signed; ipcall.me's signature is intact; ask for a digital "
                "signature in the prepared field",
            )
        )


def _verb(subtype: str) -> str:
    return {"/FreeText": "typed", "/Stamp": "stamped"}.get(subtype, "drew")


for _library in ("pyhanko", "pyhanko_certvalidator"):
    # pyHanko logs a traceback at WARNING for every rejected revision; without a handler of its own, Python's
    # last-resort handler would print those on stderr. Applications that configure logging still see them.
    logging.getLogger(_library).addHandler(logging.NullHandler())

OUR_FIELDS = {party.field: party.role for party in PARTIES}
"""dpa's two pre-created signature fields and the party each belongs to (DESIGN.md §3 step 4)."""
DEFAULT_MAX_REVISIONS = 100
TS_CONTEXT_MAX_AGE = dt.timedelta(minutes=10)
"""With no fixed ``--at``, the shared timestamp validation context is rebuilt when its "now" is older than this."""
LIBRARY_INPUT_ERRORS = (misc.PdfError, SignatureValidationError)
"""The PDF/CMS libraries' own errors about their input: a verdict on the file (FORMAT_FAILURE), not a bug."""
READ_ERRORS = (misc.PdfError, SignatureValidationError, ValueError, KeyError, TypeError, IndexError)
"""What reading a hostile file raises inside pyHanko and asn1crypto (around their own calls only)."""


class VerificationEngine:
    """Applies DESIGN.md §6 to PDFs; built once per run (trust lists, timestamp validation context)."""

    def __init__(
        self,
        trust_roots: Sequence[x509.Certificate],
        *,
        tsa_roots: Sequence[x509.Certificate] | None = None,
        at: dt.datetime | None = None,
        memory_mb: int | None = None,
        processor_certs: Sequence[x509.Certificate] = (),
        signing_cas: Sequence[x509.Certificate] = (),
        max_revisions: int = DEFAULT_MAX_REVISIONS,
        processor_name: str = "ipcall.me",
    ) -> None:
        if at is not None and at.utcoffset() is None:
            raise ValueError("the validation moment must carry a time zone")
        speedups.install()  # hex strings and name preparation, faster (the profile's two largest costs)
        self.anchors = TrustAnchors(trust_roots, trust_roots if tsa_roots is None else tsa_roots, signing_cas)
        self.processor_certs = tuple(processor_certs)
        self.processor_name = processor_name
        self.max_revisions = max_revisions
        self._at = at
        self._memory_note = f" ({memory_mb} MB, [verify] memory_mb)" if memory_mb else ""
        self._ts_context_made: dt.datetime | None = None
        self._ts_context = self.anchors.tsa_context(at)

    def timestamp_context(self, moment: dt.datetime | None = None) -> object:
        """One context for every timestamp token of the run: TSA paths are validated once and remembered; a context
        of its own for a token validated at an earlier ``moment`` (its proof of existence)."""
        if moment is not None:
            return self.anchors.tsa_context(moment)
        now = dt.datetime.now(dt.UTC)
        if self._at is None and (self._ts_context_made is None or now - self._ts_context_made > TS_CONTEXT_MAX_AGE):
            self._ts_context = self.anchors.tsa_context(None)
            self._ts_context_made = now
        return self._ts_context

    # --- one file ------------------------------------------------------------------------------------------------

    def verify(self, data: bytes | bytearray, name: str) -> DocumentReport:
        """The verdict on the PDF ``data`` (reported as ``name``); never raises for anything in the file."""
        digest = hashlib.sha256(data).hexdigest()
        try:
            return asyncio.run(self._verify(data, name, digest))
        except RecursionError:
            return verdict_only(
                name,
                digest,
                TOTAL_FAILED,
                SubIndication.FORMAT_FAILURE,
                "the file's objects are nested too deeply to be read",
            )
        except MemoryError:
            note = f"checking the file needed more memory than allowed{self._memory_note}"
            return verdict_only(name, digest, INDETERMINATE, SubIndication.GENERIC, note)
        except LIBRARY_INPUT_ERRORS as exc:
            return verdict_only(
                name, digest, TOTAL_FAILED, SubIndication.FORMAT_FAILURE, f"the file cannot be read ({short(exc)})"
            )
        except Exception as exc:  # a bug, not a verdict on the file: say so, never a traceback
            return internal_error(name, digest, exc)

    async def _verify(self, data: bytes | bytearray, name: str, digest: str) -> DocumentReport:
        def failed(sentence: str) -> DocumentReport:
            return verdict_only(name, digest, TOTAL_FAILED, SubIndication.FORMAT_FAILURE, sentence)

        if not data:
            return failed("the file is empty")
        if b"%PDF-" not in data[:1024]:
            return failed("the file is not a PDF (no %PDF- header)")
        refused = too_many_revisions(data, self.max_revisions)
        if refused:
            return verdict_only(name, digest, INDETERMINATE, SubIndication.GENERIC, refused)
        try:
            reader, lenient = open_pdf(data)
            if reader.encrypted:
                return verdict_only(
                    name,
                    digest,
                    INDETERMINATE,
                    SubIndication.GENERIC,
                    "the PDF is encrypted, so its signatures cannot be checked; ask for an unencrypted copy",
                )
            filled = list(enumerate_sig_fields(reader, filled_status=True))
            empty = [str(fq) for fq, _v, _ref in enumerate_sig_fields(reader, filled_status=False)]
        except READ_ERRORS as exc:
            return failed(f"the file cannot be read as a PDF ({short(exc)})")
        if not filled:
            blank = f"; its signature fields {', '.join(empty)} are empty" if empty else ""
            return failed(f"the file contains no signature{blank}")
        doc, signatures = self._document(data, reader, filled)
        if lenient:
            first = min(state.revision for state, _ in signatures)
            problem = strict_prefix_problem(data, reader, first)
            if problem:
                return failed(problem)
        await signature_checks.chain_of_proofs(self, doc, signatures)
        for state, embedded in signatures:
            if embedded is not None:
                await signature_checks.check(self, doc, state, embedded)
        check_order([state for state, _ in signatures])
        return self._document_report(name, digest, doc, [s for s, _ in signatures], empty)

    def _document(
        self, data: bytes | bytearray, reader: object, filled: list[tuple[object, object, object]]
    ) -> tuple[DocumentContext, list[tuple[SigState, EmbeddedPdfSignature | None]]]:
        from pyhanko.pdf_utils.reader import PdfFileReader

        assert isinstance(reader, PdfFileReader)
        ours = made_by_dpa(reader)
        signatures = _embedded_signatures(reader, filled)
        first_revision = min(state.revision for state, _ in signatures)
        prepared = signature_checks.fields_in_revision(reader, first_revision)
        allowed = frozenset(OUR_FIELDS) if ours else frozenset(prepared)
        doc = DocumentContext(
            data=data,
            reader=reader,
            now=self._at or dt.datetime.now(dt.UTC),
            made_by_dpa=ours,
            allowed_fields=allowed,
            dss_certs=[],
            crls=[],
            ocsps=[],
            processor_certs=frozenset(cert.dump() for cert in self.processor_certs),
        )
        if ours:
            doc.new_signature_fields = {state.field for state, _ in signatures if state.field not in allowed}
            drawn_in_box(doc, first_revision)
        signature_checks.read_dss(doc)
        doc.pages = page_map(reader)
        trailing = unaccounted_bytes(data, reader)
        if trailing:
            doc.problems.append(Finding(AdESFailure.FORMAT_FAILURE, trailing))
        return doc, signatures

    def _document_report(
        self, name: str, digest: str, doc: DocumentContext, states: list[SigState], empty: list[str]
    ) -> DocumentReport:
        if not any(state.kind == "signature" for state in states):
            doc.problems.append(
                Finding(AdESFailure.FORMAT_FAILURE, "the file contains no signature, only document timestamps")
            )
        assign_roles(doc, states)
        charge_changes(doc, states)
        check_roles(self, doc, states)
        check_signing_ca(doc, states)
        reports = [state.report() for state in states]
        indication = worst([r.indication for r in reports] + [f.indication for f in doc.problems])
        sub = decisive_sub_indication(
            [(f.indication, f.sub_indication) for f in doc.problems]
            + [(r.indication, r.sub_indication) for r in reports],
            indication,
        )
        problems = [f.sentence for f in doc.problems]
        for report in reports:
            problems.extend(f"{report.field}: {p}" for p in report.problems)
        complete = is_complete(doc, states, reports, empty)
        effective, basis = None, None
        if indication == TOTAL_PASSED and complete:
            note = effective_date_note(states)
            if note:
                problems.append(note)
            else:
                effective, basis = _effective_date([r for r in reports if r.kind == "signature"])
        problems.extend(doc.notes)
        return DocumentReport(
            file=name,
            sha256=digest,
            indication=indication,
            sub_indication=sub if indication != TOTAL_PASSED else None,
            complete=complete,
            effective_date=effective,
            effective_date_basis=basis,
            pades_level=signature_checks.pades_level(doc.reader, states),
            problems=tuple(dict.fromkeys(problems)),
            signatures=tuple(reports),
            made_by_dpa=doc.made_by_dpa,
        )


def _effective_date(signatures: list[SignatureReport]) -> tuple[dt.date | None, str | None]:
    """The effective date and what it rests on: signature timestamps, or a proof of existence standing in for the
    time of a signature without one (then the date is "no later than")."""
    from dpa.verify.effective_date import effective_date

    moments = [s.timestamp or s.proof_of_existence for s in signatures]
    effective = effective_date(m for m in moments if m is not None)
    if effective is None:
        return None, None
    by_proof = any(s.timestamp is None and s.proof_of_existence is not None for s in signatures)
    return effective, PROOF_OF_EXISTENCE if by_proof else TIMESTAMP_BASIS


def _embedded_signatures(
    reader: object, filled: list[tuple[object, object, object]]
) -> list[tuple[SigState, EmbeddedPdfSignature | None]]:
    from pyhanko.pdf_utils.reader import PdfFileReader

    assert isinstance(reader, PdfFileReader)
    signatures: list[tuple[SigState, EmbeddedPdfSignature | None]] = []
    for fq_name, value, field_ref in filled:
        state = SigState(field=signature_checks.field_name(fq_name), revision=revision_of(reader, value))
        try:
            embedded = EmbeddedPdfSignature(reader, field_ref, str(fq_name))  # type: ignore[arg-type]
        except READ_ERRORS as exc:
            state.add(AdESFailure.FORMAT_FAILURE, f"the signature dictionary is malformed ({short(exc)})")
            signatures.append((state, None))
            continue
        state.revision = embedded.signed_revision
        signatures.append((state, embedded))
    signatures.sort(key=lambda pair: pair[0].revision)
    return signatures


def internal_error(name: str, digest: str | None, exc: BaseException) -> DocumentReport:
    """The report for a bug in the verifier: INDETERMINATE/GENERIC, never a verdict on the file."""
    logging.getLogger(__name__).error("internal error verifying %s", name, exc_info=exc)
    return verdict_only(
        name,
        digest,
        Indication.INDETERMINATE,
        SubIndication.GENERIC,
        f"internal error, please report: the verification could not be completed ({type(exc).__name__})",
    )


__all__ = ["LIBRARY_INPUT_ERRORS", "OUR_FIELDS", "VerificationEngine", "internal_error"]
