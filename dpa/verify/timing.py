"""The timing layer: signature timestamps (validated once, by pyHanko), their order, document timestamps, /M.

* Each signature timestamp is validated ONCE, by pyHanko's own :func:`~pyhanko.sign.validation.generic_cms.
  collect_timing_info` (``validate_tst_signed_data`` inside) against ``[trust] tsa_roots``; dpa then applies its
  rules to that status: the token stamps this signature value, its TSA is trusted and is a timestamp authority
  (:func:`dpa.verify.trust.tsa_certificate_problem`), every CA of the TSA's path is valid, and genTime does not lie
  after the moment of validation.
* No accuracy credit: genTime alone orders signatures and is compared with the validation moment. A token with an
  accuracy over one minute cannot establish an effective date (:func:`effective_date_note`).
* /M and the signingTime attribute are the signer's own clock: informative, read leniently, never a failure.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from asn1crypto import cms, core, tsp, x509
from pyhanko.pdf_utils import generic, misc
from pyhanko.sign.ades.report import AdESIndeterminate, AdESStatus
from pyhanko.sign.validation import EmbeddedPdfSignature, generic_cms
from pyhanko.sign.validation.status import TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext

from dpa.verify.effective_date import amsterdam_text
from dpa.verify.explain import quoted
from dpa.verify.findings import DocumentContext, SigState
from dpa.verify.trust import dn, path_validity_problem, tsa_certificate_problem

MAX_ACCURACY_FOR_DATE = dt.timedelta(minutes=1)
"""A token whose stated accuracy is larger cannot establish an effective date (DESIGN.md §6, "Time")."""


async def timing_info(embedded: EmbeddedPdfSignature, tsa_context: ValidationContext) -> dict[str, Any]:
    """pyHanko's timing data for a signature: the signature timestamp validated once (and any content timestamp)."""
    kwargs: dict[str, Any] = await generic_cms.collect_timing_info(
        embedded.signer_info, tsa_context, raw_digest=embedded.compute_digest
    )
    return kwargs


def judge_signature_timestamp(
    doc: DocumentContext,
    state: SigState,
    embedded: EmbeddedPdfSignature,
    status: TimestampSignatureStatus | None,
    look_alike: bool = False,
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Apply dpa's rules to pyHanko's timestamp status: (trusted genTime, genTime of a sound token in the future).

    Problems become INDETERMINATE findings on ``state``; ``state.timestamp`` and ``state.accuracy`` are set when
    the token can be relied on.
    """
    if status is None:
        state.add(
            AdESIndeterminate.SIG_CONSTRAINTS_FAILURE,
            "the signature has no RFC 3161 timestamp: its time rests on the signer's own clock",
        )
        return None, None
    state.has_token = True
    gen_time = _aware(status.timestamp)
    tsa_cert = status.signing_cert if isinstance(status.signing_cert, x509.Certificate) else None
    tsa = dn(tsa_cert) if tsa_cert is not None else "unknown"
    problem = _token_integrity_problem(status)
    if problem is None and gen_time is not None and gen_time > doc.now:
        state.add(
            AdESIndeterminate.SIG_CONSTRAINTS_FAILURE,
            f"the timestamp ({amsterdam_text(gen_time)}) lies after the moment of validation "
            f"({amsterdam_text(doc.now)}): a time in the future cannot be relied on",
        )
        return None, gen_time
    problem = problem or _token_trust_problem(status, tsa, look_alike)
    if problem is not None:
        state.add(*problem)
        return None, None
    assert gen_time is not None  # TSTInfo.genTime is mandatory
    tsa_problem = _tsa_problem(status, tsa_cert, gen_time, doc.now)
    if tsa_problem is not None:
        state.add(*tsa_problem)
        return None, None
    state.timestamp = gen_time
    state.accuracy = token_accuracy(embedded.signer_info, gen_time)
    return gen_time, gen_time


def _token_integrity_problem(status: TimestampSignatureStatus) -> tuple[AdESIndeterminate, str] | None:
    if not status.intact:
        return (
            AdESIndeterminate.SIG_CONSTRAINTS_FAILURE,
            "the timestamp does not stamp this signature (its message imprint is that of other data)",
        )
    if not status.valid:
        return AdESIndeterminate.SIG_CONSTRAINTS_FAILURE, "the signature timestamp's own signature is broken"
    return None


def _token_trust_problem(
    status: TimestampSignatureStatus, tsa: str, look_alike: bool
) -> tuple[AdESIndeterminate, str] | None:
    indic = status.trust_problem_indic
    if indic is not None and look_alike:
        return (
            AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND,
            f"the timestamp authority ({tsa}) is not trusted: its certificate does not chain to a configured "
            "timestamp authority root ([trust] tsa_roots, --trust-tsa); at most a CA in its chain carries a trusted "
            "CA's name",
        )
    if indic is not None:
        name = str(indic.standard_name)
        sub = AdESIndeterminate[name] if indic.status == AdESStatus.INDETERMINATE and name in _INDET else None
        return (
            sub or AdESIndeterminate.SIG_CONSTRAINTS_FAILURE,
            f"the timestamp authority ({tsa}) is not trusted: its certificate does not chain to a configured "
            f"timestamp authority root ([trust] tsa_roots, --trust-tsa) ({name})",
        )
    return None


_INDET = frozenset(member.name for member in AdESIndeterminate)


def _tsa_problem(
    status: TimestampSignatureStatus, tsa_cert: x509.Certificate | None, gen_time: dt.datetime, now: dt.datetime
) -> tuple[AdESIndeterminate, str] | None:
    if tsa_cert is None:
        return AdESIndeterminate.NO_SIGNING_CERTIFICATE_FOUND, "the timestamp carries no TSA certificate"
    problem = tsa_certificate_problem(tsa_cert)
    if problem is not None:
        return AdESIndeterminate.CHAIN_CONSTRAINTS_FAILURE, problem
    not_before = tsa_cert["tbs_certificate"]["validity"]["not_before"].native
    not_after = tsa_cert["tbs_certificate"]["validity"]["not_after"].native
    if not not_before <= gen_time <= not_after:
        return (
            AdESIndeterminate.SIG_CONSTRAINTS_FAILURE,
            f"the timestamp's time {amsterdam_text(gen_time)} lies outside the validity of the TSA certificate",
        )
    path_problem = path_validity_problem(status.validation_path, now, "the timestamp authority's certificate")
    if path_problem is not None:
        return AdESIndeterminate.OUT_OF_BOUNDS_NO_POE, path_problem
    return None


def token_accuracy(signer_info: cms.SignerInfo, gen_time: dt.datetime) -> dt.timedelta | None:
    """The stated accuracy of the signature timestamp whose genTime is ``gen_time`` (``None``: none stated)."""
    try:
        for token in generic_cms.extract_tst_data_iter(signer_info, signed=False):
            accuracy = signed_data_accuracy(token, gen_time)
            if accuracy is not _NO_MATCH:
                return accuracy  # type: ignore[return-value]
    except (ValueError, TypeError, KeyError):
        return None
    return None


_NO_MATCH = object()


def signed_data_accuracy(signed_data: cms.SignedData, gen_time: dt.datetime | None = None) -> object:
    """The accuracy stated in a token (``None`` when absent); ``_NO_MATCH`` when its genTime is another one."""
    content = signed_data["encap_content_info"]["content"]
    tst_info = content.parsed if isinstance(content, core.ParsableOctetString) else None
    if not isinstance(tst_info, tsp.TSTInfo):
        return _NO_MATCH
    if gen_time is not None and _aware(tst_info["gen_time"].native) != gen_time:
        return _NO_MATCH
    accuracy = tst_info["accuracy"]
    if isinstance(accuracy, core.Void) or accuracy.native is None:
        return None
    native = accuracy.native
    return dt.timedelta(
        seconds=native.get("seconds") or 0,
        milliseconds=native.get("millis") or 0,
        microseconds=native.get("micros") or 0,
    )


def judge_document_timestamp(doc: DocumentContext, state: SigState, gen_time: dt.datetime | None, sd: Any) -> None:
    """A sound document timestamp sets the state's time unless it lies after the moment of validation."""
    if state.findings or gen_time is None:
        return
    if gen_time > doc.now:
        state.add(
            AdESIndeterminate.SIG_CONSTRAINTS_FAILURE,
            f"the document timestamp ({amsterdam_text(gen_time)}) lies after the moment of validation",
        )
        return
    state.timestamp = gen_time
    accuracy = signed_data_accuracy(sd)
    state.accuracy = accuracy if isinstance(accuracy, dt.timedelta) else None


def judge_claimed_time(state: SigState, proof: dt.datetime) -> None:
    """A signature dated by its proof of existence: the signer's own clock may not claim a later time."""
    if state.claimed is not None and state.claimed > proof:
        state.add(
            AdESIndeterminate.SIG_CONSTRAINTS_FAILURE,
            f"its claimed signing time ({amsterdam_text(state.claimed)}, the signer's clock) lies after the document "
            f"timestamp that proves it existed ({amsterdam_text(proof)}): the signer's clock contradicts its proof "
            "of existence",
        )


def check_order(states: Sequence[SigState]) -> None:
    """A later signature's (or document timestamp's) genTime may not precede an earlier one's (no accuracy credit);
    nor may the claimed signing time of a signature dated by its proof of existence."""
    earlier: list[SigState] = []
    for state in states:
        if state.timestamp is None:
            _check_claimed_order(state, earlier)
            continue
        for before in earlier:
            assert before.timestamp is not None
            if state.timestamp < before.timestamp:
                state.add(
                    AdESIndeterminate.TIMESTAMP_ORDER_FAILURE,
                    f"its timestamp ({amsterdam_text(state.timestamp)}) is earlier than that of "
                    f"{quoted(before.field)} ({amsterdam_text(before.timestamp)}), which was signed before it",
                )
                break
        earlier.append(state)


def _check_claimed_order(state: SigState, earlier: Sequence[SigState]) -> None:
    """The signer's clock of a signature dated by a proof of existence may not precede an earlier signature's
    timestamp (compared to the second: signingTime and /M carry no fractions)."""
    if state.proof_of_existence is None or state.claimed is None:
        return
    for before in earlier:
        assert before.timestamp is not None
        if before.kind == "signature" and state.claimed < before.timestamp.replace(microsecond=0):
            state.add(
                AdESIndeterminate.TIMESTAMP_ORDER_FAILURE,
                f"its claimed signing time ({amsterdam_text(state.claimed)}, the signer's clock) is earlier than the "
                f"timestamp of {quoted(before.field)} ({amsterdam_text(before.timestamp)}), which was signed before it",
            )
            return


def effective_date_note(states: Sequence[SigState]) -> str | None:
    """Why the trusted times cannot establish an effective date (an imprecise token), or ``None``."""
    for state in states:
        if state.kind == "signature" and state.accuracy is not None and state.accuracy > MAX_ACCURACY_FOR_DATE:
            return (
                f"no effective date: the timestamp of {quoted(state.field)} states an accuracy of "
                f"{_duration(state.accuracy)}, more than one minute, so it cannot fix the date of signing"
            )
    return None


def _duration(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86400:
        return f"±{seconds // 86400} day(s)"
    if seconds >= 3600:
        return f"±{seconds // 3600} hour(s)"
    return f"±{seconds} s"


_PDF_DATE = re.compile(r"D?:?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?")


def claimed_time(embedded: EmbeddedPdfSignature) -> dt.datetime | None:
    """The signer's own clock (signingTime, else /M), read leniently: an odd /M is informative, never an error."""
    try:
        reported = generic_cms.extract_self_reported_ts(embedded.signer_info)
    except (ValueError, TypeError, KeyError):
        reported = None
    if reported is not None:
        return _aware(reported)
    raw = embedded.sig_object.get("/M")
    if not isinstance(raw, generic.TextStringObject | generic.ByteStringObject | str):
        return None
    text = str(raw)
    try:
        return _aware(generic.parse_pdf_date(text, strict=False))
    except (misc.PdfError, ValueError, TypeError, KeyError, IndexError):
        pass
    match = _PDF_DATE.match(text.strip())
    if match is None:
        return None
    parts = [int(p) if p else d for p, d in zip(match.groups(), (0, 1, 1, 0, 0, 0), strict=True)]
    try:
        return dt.datetime(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], tzinfo=dt.UTC)
    except ValueError:
        return None


def _aware(value: object) -> dt.datetime | None:
    if not isinstance(value, dt.datetime):
        return None
    return value.astimezone(dt.UTC) if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


__all__ = [
    "MAX_ACCURACY_FOR_DATE",
    "check_order",
    "claimed_time",
    "effective_date_note",
    "judge_claimed_time",
    "judge_document_timestamp",
    "judge_signature_timestamp",
    "timing_info",
    "token_accuracy",
]
