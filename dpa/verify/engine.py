"""The verification rules of DESIGN.md §6, applied in-process to one PDF, with pyHanko's validation as the base.

:class:`VerificationEngine` is built once (trust roots parsed once, one validation context for timestamps that is
reused across files) and turns the bytes of a PDF into a :class:`~dpa.verify.report.DocumentReport`. It never
raises for anything a file can contain: every problem becomes an ETSI EN 319 102-1 indication with a sentence.
It does no I/O and no network access (no OCSP/CRL fetching; revocation data only from the file, soft-fail when
there is none). Run it in :mod:`dpa.verify.worker` for time and memory limits.

Order of the checks per signature, and the (indication, sub-indication) each one yields — the first FAILED wins,
else the first INDETERMINATE:

1. structure: signature dictionary, SubFilter, ByteRange, /Contents → TOTAL_FAILED/FORMAT_FAILURE;
   no signer certificate → INDETERMINATE/NO_SIGNING_CERTIFICATE_FOUND;
2. integrity: digest → TOTAL_FAILED/HASH_FAILURE; signature value → TOTAL_FAILED/SIG_CRYPTO_FAILURE;
3. coverage below a whole revision, bytes after the last %%EOF, or a change after the signature that
   :mod:`dpa.verify.changes` does not allow → TOTAL_FAILED/FORMAT_FAILURE;
4. the signing certificate at the trusted timestamp's time: not yet valid → TOTAL_FAILED/NOT_YET_VALID; expired →
   INDETERMINATE/OUT_OF_BOUNDS_NO_POE; revoked before it → INDETERMINATE/REVOKED_NO_POE; no chain to a trust root
   → INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND (pyHanko's certificate-validation sub-indications otherwise);
5. the signature timestamp: missing, not over this signature value, broken, in the future, outside the TSA
   certificate → INDETERMINATE/SIG_CONSTRAINTS_FAILURE; TSA not trusted → INDETERMINATE with the TSA chain's
   sub-indication (NO_CERTIFICATE_CHAIN_FOUND for an unknown TSA);
6. the field: not one of our two fields (or, for a PDF dpa did not make, not a field that existed when the first
   signature was made) → INDETERMINATE/SIG_CONSTRAINTS_FAILURE;
7. across signatures: a later signature's timestamp before an earlier one's → INDETERMINATE/TIMESTAMP_ORDER_FAILURE.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import io
import itertools
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms, core, tsp, x509
from cryptography import x509 as pyca_x509
from cryptography.exceptions import InvalidSignature
from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate, AdESStatus, AdESSubIndic
from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel, SuspiciousModification
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import (
    DocumentSecurityStore,
    EmbeddedPdfSignature,
    SignatureCoverageLevel,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.errors import NoDSSFoundError, SignatureValidationError
from pyhanko.sign.validation.generic_cms import (
    extract_tst_data_iter,
    message_imprint_checker,
    validate_tst_signed_data,
)
from pyhanko.sign.validation.status import DocumentTimestampStatus, PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy, RevocationCheckingRule
from pyhanko_certvalidator.registry import CertificateRegistry, SimpleTrustManager

from dpa.roles import PARTIES, PROCESSOR
from dpa.verify.changes import STRICT_DIFF_POLICY, describe
from dpa.verify.effective_date import amsterdam_text, effective_date
from dpa.verify.report import (
    INDETERMINATE,
    SEVERITY,
    TOTAL_FAILED,
    TOTAL_PASSED,
    DocumentReport,
    SignatureReport,
    verdict_only,
    worst,
)

for _library in ("pyhanko", "pyhanko_certvalidator"):
    # pyHanko logs a traceback at WARNING for every rejected revision; without a handler of its own, Python's
    # last-resort handler would print those on stderr. Applications that configure logging still see them.
    logging.getLogger(_library).addHandler(logging.NullHandler())

OUR_FIELDS = {party.field: party.role for party in PARTIES}
"""dpa's two pre-created signature fields and the party each belongs to (DESIGN.md §3 step 4)."""

SIGNATURE_SUBFILTERS = frozenset({"/ETSI.CAdES.detached", "/adbe.pkcs7.detached"})
TIMESTAMP_SUBFILTERS = frozenset({"/ETSI.RFC3161"})
CLOCK_TOLERANCE = dt.timedelta(seconds=1)
"""Added to a token's stated accuracy when comparing times (timestamps in the future, order of timestamps)."""
TS_CONTEXT_MAX_AGE = dt.timedelta(minutes=10)
"""With no fixed ``--at``, the shared timestamp validation context is rebuilt when its "now" is older than this."""

_FAILED = "FAILED"
_INDET = "INDET"


@dataclass
class _Finding:
    """One broken rule: its indication, sub-indication and the sentence for people."""

    indication: str
    sub_indication: str
    sentence: str


@dataclass
class _SigState:
    """What is learnt about one signature while the rules run."""

    field: str
    revision: int
    kind: str = "signature"
    role: str | None = None
    signer: str | None = None
    certification: bool = False
    claimed: dt.datetime | None = None
    timestamp: dt.datetime | None = None
    accuracy: dt.timedelta = dt.timedelta(0)
    coverage: str | None = None
    modification_level: str | None = None
    has_token: bool = False
    findings: list[_Finding] = dataclasses.field(default_factory=list)

    def fail(self, sub_indication: str, sentence: str) -> None:
        self.findings.append(_Finding(TOTAL_FAILED, sub_indication, sentence))

    def indeterminate(self, sub_indication: str, sentence: str) -> None:
        self.findings.append(_Finding(INDETERMINATE, sub_indication, sentence))

    def add(self, subindic: AdESSubIndic, sentence: str) -> None:
        if subindic.status == AdESStatus.FAILED:
            self.fail(str(subindic.standard_name), sentence)
        else:
            self.indeterminate(str(subindic.standard_name), sentence)

    def report(self) -> SignatureReport:
        indication, sub = TOTAL_PASSED, None
        for finding in self.findings:
            if SEVERITY[finding.indication] > SEVERITY[indication]:
                indication, sub = finding.indication, finding.sub_indication
        sentences = tuple(dict.fromkeys(f.sentence for f in self.findings))
        return SignatureReport(
            field=self.field,
            role=self.role,
            signer=self.signer,
            indication=indication,
            sub_indication=sub,
            timestamp=self.timestamp,
            claimed_signing_time=self.claimed,
            coverage=self.coverage,
            modification_level=self.modification_level,
            certification=self.certification,
            problems=sentences,
            kind=self.kind,
        )


@dataclass
class _Document:
    """Per-file context shared by the checks of its signatures."""

    data: bytes | bytearray
    reader: PdfFileReader
    now: dt.datetime
    made_by_dpa: bool
    allowed_fields: frozenset[str]
    dss_certs: list[x509.Certificate]
    crls: list[Any]
    ocsps: list[Any]


class VerificationEngine:
    """Applies DESIGN.md §6 to PDFs; built once per run (trust roots, timestamp validation context)."""

    def __init__(
        self,
        trust_roots: Sequence[x509.Certificate],
        *,
        at: dt.datetime | None = None,
        memory_mb: int | None = None,
        processor_certs: Sequence[x509.Certificate] = (),
    ) -> None:
        if at is not None and at.utcoffset() is None:
            raise ValueError("the validation moment must carry a time zone")
        self._roots = list(trust_roots)
        self._processor_certs = frozenset(cert.dump() for cert in processor_certs)
        self._trust_manager = SimpleTrustManager.build(trust_roots=self._roots)
        self._at = at
        self._memory_note = f" ({memory_mb} MB, [verify] memory_mb)" if memory_mb else ""
        self._ts_context: ValidationContext | None = None
        self._ts_context_made: dt.datetime | None = None

    # --- contexts ------------------------------------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        return self._at or dt.datetime.now(dt.UTC)

    def _timestamp_context(self) -> ValidationContext:
        """One context for every timestamp token of the run: TSA paths are validated once and remembered."""
        now = dt.datetime.now(dt.UTC)
        stale = self._ts_context_made is None or (self._at is None and now - self._ts_context_made > TS_CONTEXT_MAX_AGE)
        if self._ts_context is None or stale:
            self._ts_context = ValidationContext(
                trust_manager=self._trust_manager,
                moment=self._at,
                allow_fetching=False,
                revocation_mode="soft-fail",
            )
            self._ts_context_made = now
        return self._ts_context

    def _signer_context(
        self, doc: _Document, moment: dt.datetime, signer: x509.Certificate, extra: Iterable[x509.Certificate]
    ) -> ValidationContext:
        """The signer's certificate is judged at ``moment`` (the trusted timestamp's time), offline, against the
        revocation data embedded in the file (see :func:`_revinfo_policy`)."""
        registry = CertificateRegistry.build([*doc.dss_certs, *extra])
        return ValidationContext(
            trust_manager=self._trust_manager,
            certificate_registry=registry,
            moment=moment,
            allow_fetching=False,
            revinfo_policy=_revinfo_policy(doc, signer),
            crls=doc.crls,
            ocsps=doc.ocsps,
        )

    # --- one file ------------------------------------------------------------------------------------------------

    def verify(self, data: bytes | bytearray, name: str) -> DocumentReport:
        """The verdict on the PDF ``data`` (reported as ``name``); never raises for anything in the file."""
        digest = hashlib.sha256(data).hexdigest()
        try:
            return asyncio.run(self._verify(data, name, digest))
        except RecursionError:
            return verdict_only(
                name, digest, TOTAL_FAILED, "FORMAT_FAILURE", "the file's objects are nested too deeply to be read"
            )
        except MemoryError:
            return verdict_only(
                name,
                digest,
                INDETERMINATE,
                "GENERIC",
                f"checking the file needed more memory than allowed{self._memory_note}",
            )
        except Exception as exc:  # a gap in the rules, not a verdict on the file: say so, never a traceback
            return verdict_only(
                name,
                digest,
                INDETERMINATE,
                "GENERIC",
                f"the verification could not be completed ({type(exc).__name__}: {_short(exc)})",
            )

    async def _verify(self, data: bytes | bytearray, name: str, digest: str) -> DocumentReport:
        def failed(sentence: str) -> DocumentReport:
            return verdict_only(name, digest, TOTAL_FAILED, "FORMAT_FAILURE", sentence)

        if not data:
            return failed("the file is empty")
        if b"%PDF-" not in data[:1024]:
            return failed("the file is not a PDF (no %PDF- header)")
        try:
            reader = PdfFileReader(io.BytesIO(data), strict=True)
            encrypted = reader.encrypted
        except RecursionError:
            raise
        except Exception as exc:
            return failed(f"the file cannot be read as a PDF ({_short(exc)})")
        if encrypted:
            return verdict_only(
                name,
                digest,
                INDETERMINATE,
                "GENERIC",
                "the PDF is encrypted, so its signatures cannot be checked; ask for an unencrypted copy",
            )
        try:
            filled = list(enumerate_sig_fields(reader, filled_status=True))
            empty = [fq for fq, _v, _ref in enumerate_sig_fields(reader, filled_status=False)]
        except RecursionError:
            raise
        except Exception as exc:
            return failed(f"the form (AcroForm) of the PDF cannot be read ({_short(exc)})")
        if not filled:
            blank = f"; its signature fields {', '.join(empty)} are empty" if empty else ""
            return failed(f"the file contains no signature{blank}")

        doc_problems: list[_Finding] = []
        signatures: list[tuple[_SigState, EmbeddedPdfSignature | None]] = []
        for fq_name, value, field_ref in filled:
            state = _SigState(field=str(fq_name), revision=_revision_of(reader, value))
            try:
                embedded = EmbeddedPdfSignature(reader, field_ref, fq_name)
            except RecursionError:
                raise
            except Exception as exc:
                state.fail("FORMAT_FAILURE", f"the signature dictionary is malformed ({_short(exc)})")
                signatures.append((state, None))
                continue
            state.revision = embedded.signed_revision
            signatures.append((state, embedded))
        signatures.sort(key=lambda pair: pair[0].revision)

        first_revision = min(state.revision for state, _ in signatures)
        prepared = _fields_in_revision(reader, first_revision)
        made_by_dpa = set(OUR_FIELDS) <= prepared
        allowed = frozenset(OUR_FIELDS) if made_by_dpa else frozenset(prepared)
        try:
            dss_certs, crls, ocsps = _read_dss(reader)
        except RecursionError:
            raise
        except Exception as exc:
            doc_problems.append(
                _Finding(
                    TOTAL_FAILED, "FORMAT_FAILURE", f"the document security store (DSS) is malformed ({_short(exc)})"
                )
            )
            dss_certs, crls, ocsps = [], [], []
        doc = _Document(
            data=data,
            reader=reader,
            now=self._now(),
            made_by_dpa=made_by_dpa,
            allowed_fields=allowed,
            dss_certs=dss_certs,
            crls=crls,
            ocsps=ocsps,
        )
        trailing = _trailing_bytes_problem(data, reader)
        for state, parsed in signatures:
            if made_by_dpa:
                state.role = OUR_FIELDS.get(state.field)
            if parsed is None:
                continue
            await self._check(doc, state, parsed)
            if trailing:
                state.fail("FORMAT_FAILURE", trailing)
        _check_order([state for state, _ in signatures])
        if not any(state.kind == "signature" for state, _ in signatures):
            doc_problems.append(
                _Finding(TOTAL_FAILED, "FORMAT_FAILURE", "the file contains no signature, only document timestamps")
            )

        reports = [state.report() for state, _ in signatures]
        indication = worst([r.indication for r in reports] + [f.indication for f in doc_problems])
        sub_indication: str | None = None
        for finding in doc_problems:
            if finding.indication == indication:
                sub_indication = finding.sub_indication
                break
        else:
            sub_indication = next((r.sub_indication for r in reports if r.indication == indication), None)
        problems = [f.sentence for f in doc_problems]
        for report in reports:
            problems.extend(f"{report.field}: {p}" for p in report.problems)
        signed = [r for r in reports if r.kind == "signature"]
        if made_by_dpa:
            complete = all(any(r.role == role and r.passed for r in signed) for role in OUR_FIELDS.values())
        else:
            open_fields = [f for f in empty if f in allowed]
            complete = len(signed) >= 2 and all(r.passed for r in signed) and not open_fields
        effective = None
        if indication == TOTAL_PASSED and complete:
            effective = effective_date(r.timestamp for r in signed if r.timestamp is not None)
        return DocumentReport(
            file=name,
            sha256=digest,
            indication=indication,
            sub_indication=sub_indication if indication != TOTAL_PASSED else None,
            complete=complete,
            effective_date=effective,
            pades_level=_pades_level(reader, signatures),
            problems=tuple(problems),
            signatures=tuple(reports),
            made_by_dpa=made_by_dpa,
        )

    # --- one signature -------------------------------------------------------------------------------------------

    async def _check(self, doc: _Document, state: _SigState, embedded: EmbeddedPdfSignature) -> None:
        is_timestamp = embedded.sig_object_type == "/DocTimeStamp"
        state.kind = "document_timestamp" if is_timestamp else "signature"
        state.certification = not is_timestamp and _is_certification(embedded)
        if not _structure_ok(doc, state, embedded, is_timestamp):
            return
        try:
            signer_cert = embedded.signer_cert
        except SignatureValidationError as exc:
            state.add(exc.ades_subindication or AdESIndeterminate.NO_SIGNING_CERTIFICATE_FOUND, _sve(exc))
            return
        except Exception as exc:
            state.indeterminate(
                "NO_SIGNING_CERTIFICATE_FOUND", f"the signer's certificate cannot be found ({_short(exc)})"
            )
            return
        state.signer = _dn(signer_cert)
        if is_timestamp:
            await self._check_document_timestamp(doc, state, embedded)
            return
        try:
            state.claimed = _aware(embedded.self_reported_timestamp)
        except Exception:  # an unparsable /M is only informative
            state.claimed = None

        timestamp_findings: list[_Finding] = []
        tst_time, stamped_at = await self._check_signature_timestamp(doc, state, embedded, timestamp_findings)
        # the certificate counts at the trusted timestamp's time; a token that is sound but lies after the moment of
        # validation still tells when the signature was made (its finding says why it cannot be relied on)
        moment = tst_time or stamped_at or doc.now
        if tst_time is not None:
            _check_validity_at(state, signer_cert, tst_time, "the signer's certificate")
        signer_context = self._signer_context(doc, moment, signer_cert, embedded.other_embedded_certs)
        try:
            status = await async_validate_pdf_signature(
                embedded,
                signer_validation_context=signer_context,
                ts_validation_context=self._timestamp_context(),
                diff_policy=STRICT_DIFF_POLICY,
            )
        except SignatureValidationError as exc:
            state.add(exc.ades_subindication or AdESFailure.FORMAT_FAILURE, _sve(exc))
            return
        except (misc.PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
            state.fail("FORMAT_FAILURE", f"the signature cannot be processed ({_short(exc)})")
            return
        _integrity(state, status)
        _modifications(doc, state, status)
        if status.has_seed_values and not status.seed_value_ok:
            error = status.seed_value_constraint_error
            state.indeterminate(
                "SIG_CONSTRAINTS_FAILURE",
                f"the signature breaks the constraints (seed values) of its field ({_short(error) if error else ''})",
            )
        look_alike = await _look_alike_chain(status.trust_problem_indic, signer_context, signer_cert)
        _trust(state, status, "the signer's certificate", moment if tst_time is not None else None, look_alike)
        state.findings.extend(timestamp_findings)
        if (
            self._processor_certs
            and doc.made_by_dpa
            and state.field == PROCESSOR.field
            and signer_cert.dump() not in self._processor_certs
        ):
            state.indeterminate(
                "SIG_CONSTRAINTS_FAILURE",
                f"the processor's field is signed by {state.signer}, which is not one of ipcall.me's certificates "
                "([verify] processor_certificates)",
            )
        if state.field not in doc.allowed_fields:
            where = (
                "is not one of dpa's two signature fields (processor_signature, controller_signature)"
                if doc.made_by_dpa
                else "did not exist when the first signature was made"
            )
            state.indeterminate(
                "SIG_CONSTRAINTS_FAILURE", f"the signature sits in a field ('{state.field}') that {where}"
            )

    async def _check_signature_timestamp(
        self, doc: _Document, state: _SigState, embedded: EmbeddedPdfSignature, findings: list[_Finding]
    ) -> tuple[dt.datetime | None, dt.datetime | None]:
        """Validate the RFC 3161 signature timestamp: (its genTime when trusted, over this signature and not in the
        future; the genTime of a sound token that lies in the future).

        Problems go to ``findings`` (reported after the certificate checks, as ETSI orders them).
        """

        def problem(sub_indication: str, sentence: str) -> None:
            findings.append(_Finding(INDETERMINATE, sub_indication, sentence))

        signer_info = embedded.signer_info
        try:
            tokens = list(extract_tst_data_iter(signer_info, signed=False))
        except Exception as exc:
            problem("SIG_CONSTRAINTS_FAILURE", f"the signature timestamp cannot be read ({_short(exc)})")
            return None, None
        if not tokens:
            problem(
                "SIG_CONSTRAINTS_FAILURE",
                "the signature has no RFC 3161 timestamp: its time rests on the signer's own clock",
            )
            return None, None
        state.has_token = True
        last_problem: tuple[str, str] = ("SIG_CONSTRAINTS_FAILURE", "the signature timestamp is not valid")
        for token in tokens:
            try:
                kwargs = await validate_tst_signed_data(
                    token, self._timestamp_context(), message_imprint_checker(signer_info)
                )
            except SignatureValidationError as exc:
                sub = exc.ades_subindication
                last_problem = ("SIG_CONSTRAINTS_FAILURE", f"the signature timestamp is not valid ({_sve(exc)})")
                if sub is not None and sub.status == AdESStatus.INDETERMINATE:
                    last_problem = (str(sub.standard_name), last_problem[1])
                continue
            except Exception as exc:
                last_problem = ("SIG_CONSTRAINTS_FAILURE", f"the signature timestamp cannot be checked ({_short(exc)})")
                continue
            gen_time = _aware(kwargs.get("timestamp"))
            tsa_cert = kwargs.get("signing_cert")
            tsa = _dn(tsa_cert) if isinstance(tsa_cert, x509.Certificate) else "unknown"
            if not kwargs.get("valid"):
                last_problem = ("SIG_CONSTRAINTS_FAILURE", "the signature timestamp's own signature is broken")
                continue
            if not kwargs.get("intact"):
                last_problem = (
                    "SIG_CONSTRAINTS_FAILURE",
                    "the timestamp does not stamp this signature (its message imprint is that of other data)",
                )
                continue
            if gen_time is None:  # pragma: no cover - TSTInfo.genTime is mandatory
                continue
            trust_problem = kwargs.get("trust_problem_indic")
            if (
                trust_problem is not None
                and isinstance(tsa_cert, x509.Certificate)
                and await _look_alike_chain(trust_problem, self._timestamp_context(), tsa_cert)
            ):
                last_problem = (
                    "NO_CERTIFICATE_CHAIN_FOUND",
                    f"the timestamp authority ({tsa}) is not trusted: its certificate does not chain to a configured "
                    "trust root (at most a CA in its chain carries a trusted CA's name)",
                )
                continue
            accuracy = _accuracy(token)
            if gen_time - accuracy - CLOCK_TOLERANCE > doc.now:
                problem(
                    "SIG_CONSTRAINTS_FAILURE",
                    f"the timestamp ({amsterdam_text(gen_time)}) lies after the moment of validation "
                    f"({amsterdam_text(doc.now)}): a time in the future cannot be relied on",
                )
                return None, gen_time
            if trust_problem is not None:
                last_problem = (
                    str(trust_problem.standard_name)
                    if trust_problem.status == AdESStatus.INDETERMINATE
                    else "SIG_CONSTRAINTS_FAILURE",
                    f"the timestamp authority ({tsa}) is not trusted: its certificate does not validate against the "
                    f"configured trust roots ({trust_problem.standard_name})",
                )
                continue
            if isinstance(tsa_cert, x509.Certificate) and not _valid_at(tsa_cert, gen_time):
                last_problem = (
                    "SIG_CONSTRAINTS_FAILURE",
                    f"the timestamp's time {amsterdam_text(gen_time)} lies outside the validity of the TSA certificate",
                )
                continue
            state.timestamp = gen_time
            state.accuracy = accuracy
            return gen_time, gen_time
        problem(*last_problem)
        return None, None

    async def _check_document_timestamp(self, doc: _Document, state: _SigState, embedded: EmbeddedPdfSignature) -> None:
        try:
            status = await async_validate_pdf_timestamp(
                embedded, validation_context=self._timestamp_context(), diff_policy=STRICT_DIFF_POLICY
            )
        except SignatureValidationError as exc:
            state.add(exc.ades_subindication or AdESFailure.FORMAT_FAILURE, _sve(exc))
            return
        except (misc.PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
            state.fail("FORMAT_FAILURE", f"the document timestamp cannot be processed ({_short(exc)})")
            return
        _integrity(state, status)
        _modifications(doc, state, status)
        _trust(state, status, "the document timestamp's TSA certificate", None)
        gen_time = _aware(status.timestamp)
        if state.findings or gen_time is None:
            return
        if gen_time - CLOCK_TOLERANCE > doc.now:
            state.indeterminate(
                "SIG_CONSTRAINTS_FAILURE",
                f"the document timestamp ({amsterdam_text(gen_time)}) lies after the moment of validation",
            )
            return
        state.timestamp = gen_time
        state.accuracy = _accuracy_of_signed_data(embedded.signed_data)


# --- the individual rules ---------------------------------------------------------------------------------------


def _structure_ok(doc: _Document, state: _SigState, embedded: EmbeddedPdfSignature, is_timestamp: bool) -> bool:
    """SubFilter, ByteRange and /Contents: a signature must exclude exactly its own value, nothing else."""
    sig_object = embedded.sig_object
    subfilter = str(sig_object.get("/SubFilter", ""))
    allowed = TIMESTAMP_SUBFILTERS if is_timestamp else SIGNATURE_SUBFILTERS
    if subfilter not in allowed:
        state.fail("FORMAT_FAILURE", f"the signature has an unsupported /SubFilter '{subfilter or 'none'}'")
        return False
    byte_range = embedded.byte_range
    if not isinstance(byte_range, generic.ArrayObject) or len(byte_range) != 4:
        state.fail("FORMAT_FAILURE", "the signature's /ByteRange is not an array of four numbers")
        return False
    try:
        start1, len1, start2, len2 = (int(v) for v in byte_range)
    except (TypeError, ValueError):
        state.fail("FORMAT_FAILURE", "the signature's /ByteRange is not an array of four numbers")
        return False
    if not all(isinstance(v, generic.NumberObject) for v in byte_range) or min(start1, len1, start2, len2) < 0:
        state.fail("FORMAT_FAILURE", "the signature's /ByteRange contains non-integer or negative numbers")
        return False
    if start1 != 0:
        state.fail("FORMAT_FAILURE", "the signature's /ByteRange does not start at the beginning of the file")
        return False
    if start2 < len1 or start2 + len2 > len(doc.data):
        state.fail("FORMAT_FAILURE", "the signature's /ByteRange points outside the file")
        return False
    gap = bytes(doc.data[len1:start2])
    contents_hex = embedded.pkcs7_content.hex().encode()
    digits = re.sub(rb"\s", b"", gap[1:-1]).lower()  # a hex string may contain white space
    if not re.fullmatch(rb"<[0-9A-Fa-f\s]*>", gap) or digits != contents_hex:
        state.fail(
            "FORMAT_FAILURE",
            "the signature's /ByteRange does not exclude exactly its own /Contents (the signed bytes can be "
            "shown as something else)",
        )
        return False
    return True


def _integrity(state: _SigState, status: PdfSignatureStatus | DocumentTimestampStatus) -> None:
    if not status.intact:
        state.fail(
            "HASH_FAILURE",
            "the signed bytes no longer match the signature: the document was changed inside the signed range",
        )
    elif not status.valid:
        state.fail("SIG_CRYPTO_FAILURE", "the signature value does not verify with the signer's public key")


def _modifications(doc: _Document, state: _SigState, status: PdfSignatureStatus | DocumentTimestampStatus) -> None:
    coverage = status.coverage
    state.coverage = coverage.name if coverage is not None else None
    if coverage not in (SignatureCoverageLevel.ENTIRE_FILE, SignatureCoverageLevel.ENTIRE_REVISION):
        state.fail(
            "FORMAT_FAILURE",
            f"the signature does not cover a whole revision of the file (coverage: {state.coverage or 'unknown'})",
        )
        state.modification_level = ModificationLevel.OTHER.name
        return
    diff = status.diff_result
    if isinstance(diff, SuspiciousModification):
        state.modification_level = ModificationLevel.OTHER.name
        state.fail("FORMAT_FAILURE", f"the document was changed after this signature: {_diff_text(diff, doc.reader)}")
        return
    if not isinstance(diff, DiffResult):  # pragma: no cover - pyHanko always runs the diff here
        state.modification_level = None
        return
    level = diff.modification_level
    state.modification_level = level.name
    if level > ModificationLevel.FORM_FILLING:
        state.fail("FORMAT_FAILURE", f"the document was changed after this signature beyond signing ({level.name})")
    docmdp_ok = getattr(status, "docmdp_ok", None)
    if docmdp_ok is False:
        state.fail(
            "FORMAT_FAILURE",
            "the changes after this certification signature exceed the permissions it granted (DocMDP)",
        )
    changed = set(diff.changed_form_fields) - doc.allowed_fields - _document_timestamp_fields(doc.reader)
    if changed:
        state.fail("FORMAT_FAILURE", f"form fields were changed after signing: {', '.join(sorted(changed))}")


def _trust(
    state: _SigState,
    status: PdfSignatureStatus | DocumentTimestampStatus,
    what: str,
    moment: dt.datetime | None,
    look_alike: bool = False,
) -> None:
    indic = status.trust_problem_indic
    if indic is None:
        return
    if look_alike:
        state.indeterminate(
            "NO_CERTIFICATE_CHAIN_FOUND",
            f"{what} does not chain to a configured trust root ([trust] roots, --trust): no certificate in its chain "
            "was really issued by a trusted CA (at most it carries a trusted CA's name)",
        )
        return
    name = str(indic.standard_name)
    if name in ("OUT_OF_BOUNDS_NO_POE", "NOT_YET_VALID", "EXPIRED") and any(
        f.sub_indication in ("OUT_OF_BOUNDS_NO_POE", "NOT_YET_VALID") for f in state.findings
    ):
        return  # already said precisely by _check_validity_at
    when = f" at {amsterdam_text(moment)}" if moment is not None else ""
    sentences = {
        "NO_CERTIFICATE_CHAIN_FOUND": f"{what} does not chain to a configured trust root ([trust] roots, --trust)",
        "OUT_OF_BOUNDS_NO_POE": f"{what} was not valid{when} (outside its validity period)",
        "OUT_OF_BOUNDS_NOT_REVOKED": f"{what} was not valid{when} (outside its validity period)",
        "REVOKED_NO_POE": f"{what} was revoked before{when or ' the time of signing'}",
        "REVOKED_CA_NO_POE": f"a CA certificate above {what} was revoked",
        "CHAIN_CONSTRAINTS_FAILURE": f"{what} breaks the constraints of its chain (key usage, path length, …)",
        "CERTIFICATE_CHAIN_GENERAL_FAILURE": f"the chain of {what} is not valid{when}",
        "CRYPTO_CONSTRAINTS_FAILURE": f"{what} uses an algorithm that is no longer accepted",
    }
    sentence = sentences.get(name, f"{what} cannot be validated ({name})")
    details = getattr(status, "revocation_details", None)
    if name in ("REVOKED_NO_POE", "REVOKED_CA_NO_POE") and details is not None:
        whose = what if name == "REVOKED_NO_POE" else f"a CA certificate above {what}"
        sentence = f"{whose} was revoked on {amsterdam_text(details.revocation_date)}" + (
            f", before the timestamp's time {amsterdam_text(moment)}" if moment is not None else ""
        )
    if isinstance(status, PdfSignatureStatus) and name == "CHAIN_CONSTRAINTS_FAILURE":
        sentence = f"{what} may not be used for signing (key usage)"
    state.add(indic, sentence)


CHAIN_PROBLEMS = frozenset({"CERTIFICATE_CHAIN_GENERAL_FAILURE", "CHAIN_CONSTRAINTS_FAILURE"})


async def _look_alike_chain(indic: AdESSubIndic | None, context: ValidationContext, cert: x509.Certificate) -> bool:
    """Whether a chain problem is really "no chain": no path to a trust root verifies cryptographically.

    A certificate issued by a look-alike CA (same name as a trusted root, another key) or a self-signed copy of a
    trusted certificate gets a path by name from pyHanko, which then fails on the signature; ETSI calls that
    NO_CERTIFICATE_CHAIN_FOUND, and so does dpa.
    """
    if indic is None or str(indic.standard_name) not in CHAIN_PROBLEMS:
        return False
    try:
        paths = await context.path_builder.async_build_paths(cert)
    except Exception:  # PathBuildingError and friends: there is no path at all
        return True
    for path in paths:
        try:
            certs = [pyca_x509.load_der_x509_certificate(c.dump()) for c in path.iter_certs(include_root=True)]
        except (ValueError, LookupError):
            continue
        if all(_issued_by(issuer, subject) for issuer, subject in itertools.pairwise(certs)):
            return False
    return True


def _issued_by(issuer: pyca_x509.Certificate, subject: pyca_x509.Certificate) -> bool:
    try:
        subject.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _check_validity_at(state: _SigState, cert: x509.Certificate, moment: dt.datetime, what: str) -> None:
    """notBefore ≤ moment ≤ notAfter, with the exact ETSI sub-indications."""
    not_before = cert["tbs_certificate"]["validity"]["not_before"].native
    not_after = cert["tbs_certificate"]["validity"]["not_after"].native
    if moment < not_before:
        state.fail(
            "NOT_YET_VALID",
            f"{what} was not yet valid at the timestamp's time {amsterdam_text(moment)} (valid from "
            f"{amsterdam_text(not_before)})",
        )
    elif moment > not_after:
        state.indeterminate(
            "OUT_OF_BOUNDS_NO_POE",
            f"{what} had expired at the timestamp's time {amsterdam_text(moment)} (valid until "
            f"{amsterdam_text(not_after)})",
        )


def _check_order(states: Sequence[_SigState]) -> None:
    """A later signature's (or document timestamp's) trusted time may not precede an earlier one's."""
    earlier: list[_SigState] = []
    for state in states:
        if state.timestamp is not None:
            for before in earlier:
                assert before.timestamp is not None
                if state.timestamp + state.accuracy + CLOCK_TOLERANCE < before.timestamp - before.accuracy:
                    state.indeterminate(
                        "TIMESTAMP_ORDER_FAILURE",
                        f"its timestamp ({amsterdam_text(state.timestamp)}) is earlier than that of "
                        f"'{before.field}' ({amsterdam_text(before.timestamp)}), which was signed before it",
                    )
                    break
            earlier.append(state)


def _trailing_bytes_problem(data: bytes | bytearray, reader: PdfFileReader) -> str | None:
    """Bytes after the last revision's ``%%EOF`` (other than one end-of-line) that no revision accounts for."""
    xrefs = reader.xrefs
    last = xrefs.total_revisions - 1
    try:
        meta = xrefs.get_xref_container_info(last)
        startxref = xrefs.get_startxref_for_revision(last)
    except (misc.PdfError, IndexError, KeyError):
        return "the end of the file does not belong to any revision"
    tail = data[meta.end_location :]
    match = re.search(rb"startxref\s+(\d+)\s*%%EOF", tail)
    if match is None or int(match.group(1)) != startxref:
        return "the file does not end with the last revision's startxref and %%EOF"
    after = tail[match.end() :]
    if after in (b"", b"\n", b"\r", b"\r\n") and tail.count(b"%%EOF") == 1:
        return None
    extra = len(after) if after else len(tail)
    return f"{extra} bytes follow the last %%EOF that no revision accounts for"


def _pades_level(
    reader: PdfFileReader, signatures: Sequence[tuple[_SigState, EmbeddedPdfSignature | None]]
) -> str | None:
    parsed = [(s, e) for s, e in signatures if e is not None]
    sigs = [s for s, _ in parsed if s.kind == "signature"]
    if not sigs:
        return None
    if not all(s.has_token for s in sigs):
        return "B-B"
    dss_revision = _first_revision_with_dss(reader)
    if dss_revision is None:
        return "B-T"
    if any(s.kind == "document_timestamp" and s.revision > dss_revision for s, _ in parsed):
        return "B-LTA"
    return "B-LT"


# --- small helpers ----------------------------------------------------------------------------------------------


def _first_revision_with_dss(reader: PdfFileReader) -> int | None:
    if "/DSS" not in reader.root:
        return None
    for revision in range(reader.xrefs.total_revisions):
        try:
            if "/DSS" in reader.get_historical_resolver(revision).root:
                return revision
        except (misc.PdfError, KeyError):
            continue
    return None  # pragma: no cover


def _revinfo_policy(doc: _Document, cert: x509.Certificate) -> CertRevTrustPolicy:
    """Revocation with what the file carries: when it embeds a CRL from the signer's issuer (or OCSP responses),
    that data must show the certificate was not revoked before the signature's time; when it embeds nothing, the
    check soft-fails (nothing is fetched: this verifier never goes to the network). Revocation entries count from
    their revocation date, whenever the CRL itself was issued (``retroactive_revinfo``)."""
    issuer = cert.issuer.hashable
    relevant = bool(doc.ocsps) or any(
        getattr(c, "issuer", None) is not None and c.issuer.hashable == issuer for c in doc.crls
    )
    ee_rule = RevocationCheckingRule.CRL_OR_OCSP_REQUIRED if relevant else RevocationCheckingRule.CHECK_IF_DECLARED_SOFT
    return CertRevTrustPolicy(
        RevocationCheckingPolicy(
            ee_certificate_rule=ee_rule, intermediate_ca_cert_rule=RevocationCheckingRule.CHECK_IF_DECLARED_SOFT
        ),
        retroactive_revinfo=True,
    )


def _read_dss(reader: PdfFileReader) -> tuple[list[x509.Certificate], list[Any], list[Any]]:
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return [], [], []
    context = dss.as_validation_context({"trust_roots": [], "allow_fetching": False})
    certs = list(dss.load_certs())
    return certs, list(context.crls), list(context.ocsps)


def _fields_in_revision(reader: PdfFileReader, revision: int) -> set[str]:
    """Names of the signature fields present in ``revision``."""
    try:
        historical = reader.get_historical_resolver(revision)
        return {str(name) for name, _v, _r in enumerate_sig_fields(historical)}
    except (misc.PdfError, KeyError, TypeError, ValueError):
        return set()


def _document_timestamp_fields(reader: PdfFileReader) -> set[str]:
    names: set[str] = set()
    for name, value, _ref in enumerate_sig_fields(reader, filled_status=True):
        obj = value.get_object() if isinstance(value, generic.IndirectObject) else value  # type: ignore[no-untyped-call]
        if isinstance(obj, generic.DictionaryObject) and obj.get("/Type") == "/DocTimeStamp":
            names.add(str(name))
    return names


def _revision_of(reader: PdfFileReader, value: object) -> int:
    try:
        if isinstance(value, generic.IndirectObject):
            return int(reader.xrefs.get_last_change(value.reference))
    except (misc.PdfError, KeyError, IndexError):
        pass
    total: int = reader.xrefs.total_revisions
    return total


def _is_certification(embedded: EmbeddedPdfSignature) -> bool:
    try:
        references = embedded.sig_object.get("/Reference")
        if not isinstance(references, generic.ArrayObject):
            return False
        for ref in references:
            ref_dict = ref.get_object() if isinstance(ref, generic.IndirectObject) else ref  # type: ignore[no-untyped-call]
            if isinstance(ref_dict, generic.DictionaryObject) and ref_dict.get("/TransformMethod") == "/DocMDP":
                return True
    except (misc.PdfError, KeyError, TypeError):
        return False
    return False


def _valid_at(cert: x509.Certificate, moment: dt.datetime) -> bool:
    validity = cert["tbs_certificate"]["validity"]
    not_before: dt.datetime = validity["not_before"].native
    not_after: dt.datetime = validity["not_after"].native
    return not_before - CLOCK_TOLERANCE <= moment <= not_after + CLOCK_TOLERANCE


def _accuracy(token: cms.SignedData) -> dt.timedelta:
    return _accuracy_of_signed_data(token)


def _accuracy_of_signed_data(signed_data: cms.SignedData) -> dt.timedelta:
    try:
        content = signed_data["encap_content_info"]["content"]
        tst_info = content.parsed if isinstance(content, core.ParsableOctetString) else None
        if not isinstance(tst_info, tsp.TSTInfo):
            return dt.timedelta(0)
        accuracy = tst_info["accuracy"]
        if isinstance(accuracy, core.Void) or accuracy.native is None:
            return dt.timedelta(0)
        native = accuracy.native
        return dt.timedelta(
            seconds=native.get("seconds") or 0,
            milliseconds=native.get("millis") or 0,
            microseconds=native.get("micros") or 0,
        )
    except (ValueError, TypeError, KeyError):
        return dt.timedelta(0)


def _dn(cert: x509.Certificate) -> str:
    """The subject as an RFC 4514 string (CN=…,O=…,C=NL)."""
    try:
        return pyca_x509.load_der_x509_certificate(cert.dump()).subject.rfc4514_string()
    except (ValueError, TypeError):
        return str(cert.subject.human_friendly)


def _aware(value: object) -> dt.datetime | None:
    if not isinstance(value, dt.datetime):
        return None
    return value.astimezone(dt.UTC) if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _short(exc: object) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "…"


def _sve(exc: SignatureValidationError) -> str:
    return _short(exc.failure_message)


_REF = re.compile(r"Reference\(idnum=(\d+), generation=(\d+)\)")


def _diff_text(exc: SuspiciousModification, reader: PdfFileReader) -> str:
    """pyHanko's verdict on a later revision, in words: which objects changed, and what they are."""
    text = describe(exc)
    if not text.startswith("There are unexplained xrefs"):
        return text
    revision = re.search(r"in revision (\d+)", text)
    refs = list(dict.fromkeys(_REF.findall(text.split(". Some objects")[0])))
    parts = [f"{num} {gen} R ({_object_kind(reader, int(num), int(gen))})" for num, gen in refs[:8]]
    more = f" and {len(refs) - 8} more" if len(refs) > 8 else ""
    where = f" (revision {int(revision.group(1)) + 1} of the file)" if revision else ""
    listed = ", ".join(parts)
    return f"an update made after it{where} adds or replaces objects that signing does not explain: {listed}{more}"


def _object_kind(reader: PdfFileReader, idnum: int, generation: int) -> str:
    """A few words on what an object is: a page, an annotation (/Square), a form field, a stream, …"""
    try:
        obj = reader.get_object(generic.Reference(idnum, generation, reader))  # type: ignore[no-untyped-call]
    except Exception:
        return "unreadable"
    if isinstance(obj, generic.StreamObject):
        kind = obj.get("/Type") or obj.get("/Subtype")
        return f"a {str(kind)[1:]} stream" if kind else "a content stream"
    if isinstance(obj, generic.DictionaryObject):
        type_ = obj.get("/Type")
        if type_ == "/Page":
            return "a page"
        if "/FT" in obj:
            return f"the form field '{obj.get('/T', '?')}'"
        if type_ == "/Annot" or (type_ is None and "/Rect" in obj):
            return f"an annotation ({obj.get('/Subtype', '?')})"
        subtype = f" ({obj.get('/Subtype')})" if "/Subtype" in obj else ""
        return f"a {str(type_)[1:]} dictionary{subtype}" if type_ else "a dictionary"
    return f"a {type(obj).__name__.removesuffix('Object').lower()}"


__all__ = ["OUR_FIELDS", "VerificationEngine"]
