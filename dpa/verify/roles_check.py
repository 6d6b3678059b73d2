"""Roles bound to certificates (DESIGN.md §6): who may fill which field, and when an agreement is complete.

* The customer-signing CA (``[signing_ca] cert``) counts only for the customer's signature in the controller's field
  of an agreement dpa made, and only on the agreement its certificate names (:mod:`dpa.verify.binding`: the
  agreement's issued file, i.e. the revision before that signature).
* An agreement dpa made (recognised by its content, :func:`dpa.verify.structure.made_by_dpa`) must carry ipcall.me's
  certification signature — present, intact, made with a ``[verify] processor_certificates`` certificate —
  whatever its fields are called; otherwise it is TOTAL_FAILED.
* A processor certificate never fills the controller's field; a complete agreement has two different signers
  (different keys); a controller certificate whose subject imitates ipcall.me's is named in words.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cryptography import x509 as pyca_x509
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate

from dpa.roles import CONTROLLER, PARTIES, PROCESSOR
from dpa.verify.binding import binding_problem
from dpa.verify.findings import DocumentContext, Finding, SigState
from dpa.verify.report import SignatureReport
from dpa.verify.structure import revision_ends
from dpa.verify.trust import imitates, same_key

if TYPE_CHECKING:
    from dpa.verify.engine import VerificationEngine

OUR_FIELDS = {party.field: party.role for party in PARTIES}


def _signatures(states: Sequence[SigState]) -> list[SigState]:
    return [s for s in states if s.kind == "signature"]


def assign_roles(doc: DocumentContext, states: Sequence[SigState]) -> None:
    """For dpa's agreements: the prepared fields' roles, and the processor's for the certification signature."""
    if not doc.made_by_dpa:
        return
    for state in _signatures(states):
        state.role = OUR_FIELDS.get(state.field)
    signed = _signatures(states)
    if signed and signed[0].certification and signed[0].role is None:
        signed[0].role = PROCESSOR.role


def _processor(doc: DocumentContext, states: Sequence[SigState]) -> SigState | None:
    signed = _signatures(states)
    return signed[0] if signed else None


def _is_processor_cert(doc: DocumentContext, state: SigState) -> bool:
    return state.signer_cert is not None and state.signer_cert.dump() in doc.processor_certs


def check_roles(engine: VerificationEngine, doc: DocumentContext, states: Sequence[SigState]) -> None:
    """Apply the role rules; problems go to the signatures or to the document."""
    if not doc.made_by_dpa:
        return
    first = _processor(doc, states)
    problem = _certification_problem(doc, first)
    if problem is not None:
        doc.problems.append(problem)
    for state in _signatures(states):
        if state is first:
            continue
        _check_controller(engine, doc, state, first)


def _certification_problem(doc: DocumentContext, first: SigState | None) -> Finding | None:
    if not doc.processor_certs:
        return Finding(
            AdESIndeterminate.SIG_CONSTRAINTS_FAILURE,
            "ipcall.me's certificates are not configured ([verify] processor_certificates), so ipcall.me's "
            "signature on this agreement cannot be recognised",
        )
    intro = "this is an agreement dpa made, but"
    if first is None or not first.certification:
        return Finding(AdESFailure.FORMAT_FAILURE, f"{intro} ipcall.me's certification signature is missing")
    if not _is_processor_cert(doc, first):
        return Finding(
            AdESFailure.FORMAT_FAILURE,
            f"{intro} its certification signature is made by {first.signer or 'an unknown signer'}, which is not "
            "one of ipcall.me's certificates ([verify] processor_certificates)",
        )
    return None  # a broken certification signature fails by its own findings (HASH_FAILURE, …)


def _check_controller(
    engine: VerificationEngine, doc: DocumentContext, state: SigState, first: SigState | None
) -> None:
    if state.signer_cert is None:
        return
    if _is_processor_cert(doc, state):
        state.add(
            AdESIndeterminate.SIG_CONSTRAINTS_FAILURE,
            f"it is signed with one of ipcall.me's own certificates ({state.signer}), not by the customer: "
            "the controller has not signed",
        )
        return
    if first is not None and first.signer_cert is not None and same_key(first.signer_cert, state.signer_cert):
        state.add(
            AdESIndeterminate.SIG_CONSTRAINTS_FAILURE,
            f"it is signed with the same key as the first signature ({state.signer}): a complete agreement needs "
            "two different signers",
        )
        return
    if state.field == PROCESSOR.field:
        state.add(
            AdESIndeterminate.SIG_CONSTRAINTS_FAILURE,
            f"the processor's field is signed by {state.signer}, which is not one of ipcall.me's certificates "
            "([verify] processor_certificates)",
        )
    if imitates(state.signer_cert, engine.processor_certs, engine.processor_name):
        state.add(
            AdESIndeterminate.SIG_CONSTRAINTS_FAILURE,
            f"the controller's certificate ({state.signer}) carries ipcall.me's name, but it is not one of "
            "ipcall.me's certificates: it imitates the processor",
        )


def check_signing_ca(doc: DocumentContext, states: Sequence[SigState]) -> None:
    """A certificate from the customer-signing CA signs only the controller's field of the agreement it names."""
    for state in _signatures(states):
        if not state.via_signing_ca or state.signer_cert is None:
            continue
        if not (doc.made_by_dpa and state.role == CONTROLLER.role and state.field == CONTROLLER.field):
            state.add(
                AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND,
                "the signer's certificate was issued by the customer-signing CA ([signing_ca] cert), which is "
                "trusted only for the customer's signature in the controller's field of an agreement dpa made",
            )
            continue
        problem = _binding_problem(doc, state)
        if problem is not None:
            state.add(AdESIndeterminate.SIG_CONSTRAINTS_FAILURE, f"{problem}; the controller has not signed this one")


def _binding_problem(doc: DocumentContext, state: SigState) -> str | None:
    """Why the signing-page certificate may not sign this file: the issued file is the revision before its own."""
    assert state.signer_cert is not None
    ends = revision_ends(doc.data)
    if not 0 < state.revision <= len(ends):
        return "the agreement this signature extends cannot be told apart in the file"
    end = ends[state.revision - 1][1]
    eol = 0
    while eol < 2 and doc.data[end + eol : end + eol + 1] in (b"\r", b"\n"):
        eol += 1
    cert = pyca_x509.load_der_x509_certificate(state.signer_cert.dump())
    problems = [
        binding_problem(cert, hashlib.sha256(doc.data[: end + n]).hexdigest(), required=True) for n in range(eol + 1)
    ]
    return None if None in problems else problems[0]


def charge_changes(doc: DocumentContext, states: Sequence[SigState]) -> None:
    """Changes refused after intact signatures become document problems naming the revision and who made it.

    The earlier signature stays intact in its own report (DESIGN.md §6, "a change is charged to the revision that
    made it"); the document fails on the change.
    """
    for change in doc.charged:
        made = [s for s in states if s.revision == change.revision and s is not change.after]
        who = ", ".join(_made_with(s) for s in made) if made else "an update no one signed"
        doc.problems.append(
            Finding(
                AdESFailure.FORMAT_FAILURE,
                f"{change.after.field}: the document was changed after this signature, which is itself intact, by "
                f"revision {change.revision + 1} of the file ({who}): {change.words}",
            )
        )


def _made_with(state: SigState) -> str:
    if state.kind == "document_timestamp":
        return "the update that adds a document timestamp"
    if state.role == CONTROLLER.role:
        return "the update that holds the customer's signature"
    if state.role == PROCESSOR.role:
        return "the update that holds ipcall.me's signature"
    return f"the update that holds the signature in '{state.field}'"


def is_complete(
    doc: DocumentContext, states: Sequence[SigState], reports: Sequence[SignatureReport], empty: Sequence[str]
) -> bool:
    """Both parties' signatures pass and were made by two different signers (DESIGN.md §6)."""
    by_state = dict(zip((id(s) for s in states), reports, strict=True))
    signed = [s for s in _signatures(states) if by_state[id(s)].passed]
    if doc.made_by_dpa:
        processors = [s for s in signed if s.role == PROCESSOR.role]
        controllers = [s for s in signed if s.role == CONTROLLER.role]
        return any(
            p.signer_cert is not None and c.signer_cert is not None and not same_key(p.signer_cert, c.signer_cert)
            for p in processors
            for c in controllers
        )
    all_signed = _signatures(states)
    if len(all_signed) < 2 or len(signed) != len(all_signed) or any(f in doc.allowed_fields for f in empty):
        return False
    keys = {s.signer_cert.public_key.dump() for s in signed if s.signer_cert is not None}
    return len(keys) >= 2


__all__ = ["assign_roles", "charge_changes", "check_roles", "check_signing_ca", "is_complete"]
