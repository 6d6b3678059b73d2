"""One signature or document timestamp through the layers, in the order ETSI reports them.

Per signature: structure (:mod:`~dpa.verify.structure`), the signature timestamp validated once
(:mod:`~dpa.verify.timing`), pyHanko's integrity and path validation at the trusted time — assembled from pyHanko's
own pieces so that the timing data it computes is the one dpa judges —, the changes after it
(:mod:`~dpa.verify.changes`), and the trust rules (:mod:`~dpa.verify.trust`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from asn1crypto import x509
from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import (
    DocumentSecurityStore,
    EmbeddedPdfSignature,
    async_validate_pdf_timestamp,
    generic_cms,
)
from pyhanko.sign.validation.errors import NoDSSFoundError, SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import read_certification_data, report_seed_value_validation
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

from dpa.verify.annotations import new_field_over_text, new_field_words
from dpa.verify.changes import DPA_DIFF_POLICY, STRICT_DIFF_POLICY, judge_changes, judge_integrity
from dpa.verify.explain import escape, short
from dpa.verify.findings import DocumentContext, SigState
from dpa.verify.structure import signature_structure_ok
from dpa.verify.timing import (
    claimed_time,
    judge_claimed_time,
    judge_document_timestamp,
    judge_signature_timestamp,
    timing_info,
)
from dpa.verify.trust import (
    check_validity_at,
    describe_trust_problem,
    dn,
    look_alike_chain,
    missing_revocation_status,
    path_validity_problem,
    signer_eku_problem,
    tsa_certificate_problem,
)

if TYPE_CHECKING:
    from dpa.verify.engine import VerificationEngine

INPUT_ERRORS = (misc.PdfError, ValueError, KeyError, TypeError, IndexError)
"""What pyHanko, asn1crypto and certvalidator raise for malformed input around their own calls."""


async def check(
    engine: VerificationEngine, doc: DocumentContext, state: SigState, embedded: EmbeddedPdfSignature
) -> None:
    """Run every rule for one embedded signature; findings go to ``state``."""
    state.kind = "document_timestamp" if embedded.sig_object_type == "/DocTimeStamp" else "signature"
    if not signature_structure_ok(doc.data, state, embedded):
        return
    try:
        signer_cert = embedded.signer_cert
    except SignatureValidationError as exc:
        state.add(exc.ades_subindication or AdESIndeterminate.NO_SIGNING_CERTIFICATE_FOUND, short(exc.failure_message))
        return
    except INPUT_ERRORS as exc:
        state.add(
            AdESIndeterminate.NO_SIGNING_CERTIFICATE_FOUND, f"the signer's certificate cannot be found ({short(exc)})"
        )
        return
    state.signer_cert, state.signer = signer_cert, dn(signer_cert)
    policy = DPA_DIFF_POLICY if doc.made_by_dpa else STRICT_DIFF_POLICY
    context: Any = engine.timestamp_context(proof_moment(doc, state.revision))
    if state.kind == "document_timestamp":
        await _document_timestamp(doc, state, embedded, context, policy)
        return
    state.certification = is_certification(doc.reader, embedded)
    state.claimed = claimed_time(embedded)
    await _signature(engine, doc, state, embedded, signer_cert, context, policy)


async def _signature(
    engine: VerificationEngine,
    doc: DocumentContext,
    state: SigState,
    embedded: EmbeddedPdfSignature,
    signer_cert: x509.Certificate,
    tsa_context: ValidationContext,
    policy: Any,
) -> None:
    try:
        timing = await timing_info(embedded, tsa_context)
    except SignatureValidationError as exc:
        timing = {}
        state.add(
            AdESIndeterminate.SIG_CONSTRAINTS_FAILURE, f"the signature timestamp cannot be checked ({short(exc)})"
        )
    except INPUT_ERRORS as exc:
        timing = {}
        state.add(AdESIndeterminate.SIG_CONSTRAINTS_FAILURE, f"the signature timestamp cannot be read ({short(exc)})")
    tst = timing.get("timestamp_validity")
    tsa_cert = getattr(tst, "signing_cert", None)
    look_alike = (
        tst is not None
        and isinstance(tsa_cert, x509.Certificate)
        and await look_alike_chain(tst.trust_problem_indic, tsa_context, tsa_cert)
    )
    timestamp_findings = SigState(field=state.field, revision=state.revision)
    # Without a timestamp of its own, a trusted document timestamp covering it is its proof of existence: it is
    # judged at that moment, which stands in for its time (DESIGN.md §6, "Time"; §12).
    proof = proof_moment(doc, state.revision) if tst is None and not state.findings else None
    if proof is not None:
        tst_time, future = None, None
        state.proof_of_existence = proof
        judge_claimed_time(state, proof)
    else:
        tst_time, future = judge_signature_timestamp(doc, timestamp_findings, embedded, tst, look_alike)
    state.timestamp, state.accuracy = timestamp_findings.timestamp, timestamp_findings.accuracy
    state.has_token = timestamp_findings.has_token
    # The certificate counts at the trusted time; without one (none, or a token that lies after the moment of
    # validation, which cannot be relied on) at the moment of validation: revocation data is judged at a moment it
    # can speak for, and the timestamp's own finding says what is wrong with the time.
    trusted = tst_time or proof
    moment = trusted or doc.now
    if trusted is not None:
        when = "its proof of existence" if proof is not None else "the timestamp's time"
        check_validity_at(state, signer_cert, trusted, "the signer's certificate", when)
    signer_context = engine.anchors.signer_context(
        doc, moment, embedded.other_embedded_certs, embedded.signer_info["signed_attrs"]
    )
    try:
        status = await _validate(embedded, signer_context, timing, policy)
    except SignatureValidationError as exc:
        state.add(exc.ades_subindication or AdESFailure.FORMAT_FAILURE, short(exc.failure_message))
        return
    except INPUT_ERRORS as exc:
        state.add(AdESFailure.FORMAT_FAILURE, f"the signature cannot be processed ({short(exc)})")
        return
    judge_integrity(state, status)
    state.intact = bool(status.intact and status.valid)
    state.via_signing_ca = engine.anchors.via_signing_ca(status.validation_path)
    judge_changes(doc, state, status)
    if status.has_seed_values and not status.seed_value_ok:
        error = status.seed_value_constraint_error
        state.add(
            AdESIndeterminate.SIG_CONSTRAINTS_FAILURE,
            f"the signature breaks the constraints (seed values) of its field ({short(error) if error else ''})",
        )
    look = await look_alike_chain(status.trust_problem_indic, signer_context, signer_cert)
    unknown = not look and await missing_revocation_status(status.trust_problem_indic, signer_context, signer_cert)
    describe_trust_problem(state, status, "the signer's certificate", moment if trusted else None, look, unknown)
    _signer_rules(doc, state, embedded, status, trusted)
    if future is not None:  # the cause of what the path says at the moment of validation: said first
        state.findings[:0] = timestamp_findings.findings
    else:
        state.findings.extend(timestamp_findings.findings)


def _signer_rules(
    doc: DocumentContext, state: SigState, embedded: EmbeddedPdfSignature, status: PdfSignatureStatus, tst_time: Any
) -> None:
    if tst_time is not None and (status.trust_problem_indic is None or state.has(AdESIndeterminate.TRY_LATER)):
        problem = path_validity_problem(status.validation_path, tst_time, "the signer's certificate")
        if problem:
            state.add(AdESIndeterminate.OUT_OF_BOUNDS_NO_POE, problem)
    eku = signer_eku_problem(state.signer_cert) if state.signer_cert is not None else None
    if eku:
        state.add(AdESIndeterminate.CHAIN_CONSTRAINTS_FAILURE, eku)
    if not state.certification and _declares_docmdp(embedded):
        state.add(
            AdESFailure.FORMAT_FAILURE,
            "it is a second certification signature: only the first signature of a document may certify it",
        )
    if state.field not in doc.allowed_fields:
        covering = new_field_over_text(doc, state, embedded) if doc.made_by_dpa else None
        if covering:
            state.add(AdESFailure.FORMAT_FAILURE, covering)
        elif doc.made_by_dpa:
            state.add(AdESIndeterminate.SIG_CONSTRAINTS_FAILURE, new_field_words(doc, state, embedded))
        else:
            state.add(
                AdESIndeterminate.SIG_CONSTRAINTS_FAILURE,
                f"the signature sits in a field ('{state.field}') that did not exist when the first signature was made",
            )


async def _validate(
    embedded: EmbeddedPdfSignature, context: ValidationContext, timing: dict[str, Any], policy: Any
) -> PdfSignatureStatus:
    """pyHanko's ``async_validate_pdf_signature``, with the timing data already computed (validated once)."""
    embedded.compute_integrity_info(diff_policy=policy)  # type: ignore[no-untyped-call]
    kwargs: dict[str, Any] = embedded.summarise_integrity_info()
    kwargs.update(timing)
    kwargs = await generic_cms.cms_basic_validation(
        embedded.signed_data,
        raw_digest=embedded.compute_digest(),
        validation_context=context,
        status_kwargs=kwargs,
        key_usage_settings=PdfSignatureStatus.default_usage_constraints(None),
    )
    tst = kwargs.get("timestamp_validity")
    found = tst is not None and tst.valid and tst.trusted
    kwargs.update(report_seed_value_validation(embedded, kwargs["validation_path"], found))
    kwargs.update(
        await generic_cms.collect_signer_attr_status(
            sd_attr_certificates=embedded.embedded_attr_certs,
            signer_cert=embedded.signer_cert,
            validation_context=None,
            sd_signed_attrs=embedded.signer_info["signed_attrs"],
        )
    )
    return PdfSignatureStatus(**kwargs)


async def _document_timestamp(
    doc: DocumentContext, state: SigState, embedded: EmbeddedPdfSignature, context: ValidationContext, policy: Any
) -> None:
    try:
        status = await async_validate_pdf_timestamp(embedded, validation_context=context, diff_policy=policy)
    except SignatureValidationError as exc:
        state.add(exc.ades_subindication or AdESFailure.FORMAT_FAILURE, short(exc.failure_message))
        return
    except INPUT_ERRORS as exc:
        state.add(AdESFailure.FORMAT_FAILURE, f"the document timestamp cannot be processed ({short(exc)})")
        return
    judge_integrity(state, status)
    state.intact = bool(status.intact and status.valid)
    judge_changes(doc, state, status)
    describe_trust_problem(state, status, "the document timestamp's TSA certificate", None)
    if state.signer_cert is not None and status.trust_problem_indic is None:
        problem = tsa_certificate_problem(state.signer_cert)
        if problem:
            state.add(AdESIndeterminate.CHAIN_CONSTRAINTS_FAILURE, problem)
    judge_document_timestamp(doc, state, status.timestamp, embedded.signed_data)


async def chain_of_proofs(
    engine: VerificationEngine, doc: DocumentContext, signatures: Sequence[tuple[SigState, EmbeddedPdfSignature | None]]
) -> None:
    """ETSI's validation of past signatures: a document timestamp proves that the revisions before it existed at its
    genTime, so their timestamps (and the older document timestamps) are validated at that moment; only the newest
    document timestamp is validated at the moment of validation (``--at`` or now). The chain stops at the first one
    that is not intact and trusted, and timestamps before it are validated at the moment of validation.
    """
    for state, embedded in reversed(signatures):
        if embedded is None or embedded.sig_object_type != "/DocTimeStamp":
            continue
        moment = proof_moment(doc, state.revision)
        context: Any = engine.timestamp_context(moment)
        try:
            status = await async_validate_pdf_timestamp(embedded, validation_context=context, skip_diff=True)
        except (SignatureValidationError, *INPUT_ERRORS):
            return
        gen_time = status.timestamp
        sound = status.intact and status.valid and status.trusted
        if not sound or gen_time is None or gen_time > (moment or doc.now):
            return
        doc.proofs.append((state.revision, gen_time))


def proof_moment(doc: DocumentContext, revision: int) -> dt.datetime | None:
    """The genTime of the oldest trusted document timestamp after ``revision`` (:func:`chain_of_proofs`), if any."""
    later = [gen_time for proved, gen_time in doc.proofs if proved > revision]
    return later[-1] if later else None


def is_certification(reader: PdfFileReader, embedded: EmbeddedPdfSignature) -> bool:
    """Whether ``embedded`` is the document's certification signature (pyHanko's ``read_certification_data``)."""
    try:
        info = read_certification_data(reader)
        if info is None:
            return False
        author = info.author_sig
        return bool(author.get("/ByteRange") == embedded.sig_object.get("/ByteRange"))
    except INPUT_ERRORS:
        return False


def _declares_docmdp(embedded: EmbeddedPdfSignature) -> bool:
    """A signature whose own /Reference asks for DocMDP (pyHanko's ``docmdp_level``, without a field /Lock)."""
    try:
        return embedded.docmdp_level is not None and "/Lock" not in embedded.sig_field
    except INPUT_ERRORS:
        return False


def read_dss(doc: DocumentContext) -> None:
    """The DSS's certificates, CRLs and OCSP responses into ``doc`` (a malformed DSS is a document problem)."""
    try:
        dss = DocumentSecurityStore.read_dss(doc.reader)
        context = dss.as_validation_context({"trust_roots": [], "allow_fetching": False})
        doc.dss_certs, doc.crls, doc.ocsps = list(dss.load_certs()), list(context.crls), list(context.ocsps)
    except NoDSSFoundError:
        return
    except INPUT_ERRORS as exc:
        from dpa.verify.findings import Finding

        doc.problems.append(
            Finding(AdESFailure.FORMAT_FAILURE, f"the document security store (DSS) is malformed ({short(exc)})")
        )


def fields_in_revision(reader: PdfFileReader, revision: int) -> set[str]:
    """Names of the signature fields present in ``revision``."""
    try:
        historical = reader.get_historical_resolver(revision)
        return {field_name(name) for name, _v, _r in enumerate_sig_fields(historical)}
    except INPUT_ERRORS:
        return set()


def field_name(value: object) -> str:
    """A field's fully qualified name as shown (escaped)."""
    return escape(str(value))


def pades_level(reader: PdfFileReader, states: list[SigState]) -> str | None:
    """B-B, B-T, B-LT or B-LTA (a document timestamp in the DSS's revision or after it). A signature without a
    timestamp of its own counts as timestamped by the trusted document timestamp covering it (PAdES allows B-T by a
    document timestamp)."""
    sigs = [s for s in states if s.kind == "signature"]
    if not sigs:
        return None
    if not all(s.has_token or s.proof_of_existence is not None for s in sigs):
        return "B-B"
    dss_revision = _first_revision_with_dss(reader)
    if dss_revision is None:
        return "B-T"
    if any(s.kind == "document_timestamp" and s.revision >= dss_revision for s in states):
        return "B-LTA"
    return "B-LT"


def _first_revision_with_dss(reader: PdfFileReader) -> int | None:
    if "/DSS" not in reader.root:
        return None
    for revision in range(reader.xrefs.total_revisions):
        try:
            if "/DSS" in reader.get_historical_resolver(revision).root:
                return revision
        except INPUT_ERRORS:
            continue
    return None  # pragma: no cover


_ = generic
__all__ = ["check", "fields_in_revision", "is_certification", "pades_level", "read_dss"]
