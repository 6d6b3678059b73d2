"""The customer's signing flow as one object, :class:`SigningPortal`: the library the signing page is a face over.

One method per thing the page does, in order::

    portal = SigningPortal(config, register, mailer_from_config(config))
    link = portal.invite("C-10001", "jan@klant.nl", Actor("sales-anna", "sales")).link   # mailed, with the PDF
    portal.look(token)                       # GET /s/{token}: shows the agreement, changes nothing
    portal.open(token, client)               # the signer's first interaction: "page opened" (time, IP, browser)
    portal.request_code(token, client)       # a 6-digit code to the invited address
    portal.verify_code(token, client, code)  # binds the link to this browser session
    challenge = portal.challenge(token, client)
    portal.request_certificate(token, client, public_key=spki, proof=sig, signatory_name=…, agreed=True)
    to_sign = portal.prepare_signature(token, client)          # DER of the signed attributes
    outcome = portal.finish_signature(token, client, raw_sig)  # timestamp, ingest: effective from today
    portal.signed_copy(token, client)        # the page's last state: the effective agreement, for this session

or, instead of the browser's key, ``portal.upload(token, client, pdf_bytes, name)``: a PDF the customer signed
elsewhere (Acrobat), taken in through ingest. :class:`~dpa.portal.completion.Completion` handles what follows
(the signed copy to the signer, a notice to the user who sent the link).

Each step checks the link (:class:`~dpa.portal.errors.LinkGone` for used, expired, replaced or locked links), the
step before it and the browser session, and records its evidence in the register. Tokens, codes and session ids
are never logged, stored in clear or put into an error message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from dpa.files import write_atomic
from dpa.portal import codes
from dpa.portal.binding import AgreementBinding
from dpa.portal.ca import CertificateRequest, browser_public_key, check_proof_of_possession, key_fingerprint
from dpa.portal.certificates import (
    IssuedCertificate,
    certificate_by_serial,
    current_certificate,
    mark_used,
    record_certificate,
    revoked_certificates,
    serial_hex,
)
from dpa.portal.completion import SignedOutcome
from dpa.portal.errors import InvitationRefused, LinkGone, MailError, StepOutOfOrder
from dpa.portal.evidence import PortalEvidence, append_event, chain_head, portal_evidence
from dpa.portal.invitations import (
    Actor,
    Client,
    Invitation,
    clean_signatory_text,
    create_invitation,
    find_invitation,
    invitation_by_token,
    issued_file_bytes,
    locked_invitation,
    note_opened,
)
from dpa.portal.messages import code_message, invitation_message
from dpa.portal.remote_sign import clear_pending, finish_signature, load_pending, prepare_signature, save_pending
from dpa.portal.resources import PortalResources
from dpa.register import Agreement
from dpa.signing.trust import asn1_certificate
from dpa.verify.verifier import Verifier
from dpa.workflows.ingest import IngestResult, ingest_file
from dpa.workflows.sealing import ingest_archiver


@dataclass(frozen=True)
class NewInvitation:
    """A link just made: the invitation, its token (only here, once) and the full address."""

    invitation: Invitation
    token: str = field(repr=False)
    link: str = field(repr=False)


@dataclass(frozen=True)
class SigningView:
    """What the signing page shows for a link (nothing secret): the agreement, the parties, until when."""

    invitation: Invitation
    agreement: Agreement
    processor: str
    issued_file: Path


class SigningPortal(PortalResources):
    """The signing flow over one register, one mailer and (made on first use) the CA, the TSA client and the
    verifier (:class:`~dpa.portal.resources.PortalResources`). Thread-safe: the steps that use the TSA run one at
    a time."""

    # --- invitation ----------------------------------------------------------------------------------------------

    def invite(self, customer_id: str, email: str, actor: Actor) -> NewInvitation:
        """Make a link for the customer's newest agreement, to the record's address only, and mail it (with the
        issued agreement attached). A failed mail leaves no usable link."""
        agreement = self._agreement_for(customer_id)
        issued = issued_file_bytes(agreement)
        now = self._clock()
        invitation, token = create_invitation(self.register, agreement, email, actor, now, self.config.portal.link_days)
        link = self.link(token)
        message = invitation_message(
            invitation.email,
            link,
            agreement,
            dt.datetime.fromisoformat(invitation.expires_at),
            issued,
            self.processor_name,
        )
        try:
            self.mailer.send(message)
        except MailError:
            with self.register.transaction() as db:
                db.execute("UPDATE portal_invitations SET status = 'superseded' WHERE id = ?", (invitation.id,))
                append_event(
                    db, agreement.id, "invitation-superseded", {"invitation": invitation.id, "reason": "not sent"}, now
                )
            raise
        return NewInvitation(invitation, token, link)

    def link(self, token: str) -> str:
        """The signing page's address for ``token`` under ``[portal] base_url``."""
        return f"{self.config.portal.base_url.rstrip('/')}/s/{token}"

    def look(self, token: str) -> SigningView:
        """The page for a link, read only (mail scanners prefetch links: this consumes and records nothing)."""
        invitation, agreement = find_invitation(self.register, token, self._clock())
        return self._view(invitation, agreement)

    def open(self, token: str, client: Client) -> SigningView:
        """The signer's first interaction in a browser session: records "page opened" (once per session)."""
        note_opened(self.register, token, client, self._clock())
        return self.look(token)

    # --- one-time code ------------------------------------------------------------------------------------------

    def request_code(self, token: str, client: Client) -> Invitation:
        """Mail a fresh one-time code to the invited address (valid 10 minutes; replaces an earlier code)."""
        now = self._clock()
        self.open(token, client)
        invitation, _agreement = find_invitation(self.register, token, now)
        codes.check_can_send_code(invitation)
        secret = self._secret()
        code = codes.new_code()
        self.mailer.send(code_message(invitation.email, code, codes.CODE_MINUTES, self.processor_name))
        return codes.store_code(self.register, token, client, code, secret, now)

    def verify_code(self, token: str, client: Client, code: str) -> Invitation:
        """Confirm the code; the link is then bound to this browser session. Five wrong codes lock the link."""
        self.open(token, client)
        return codes.verify_code(self.register, token, client, code, self._secret(), self._clock())

    def check_signatory(self, name: str, title: str) -> None:
        """Refuse a signatory's name or title the certificate could not carry (control or bidi characters,
        blank-looking, too long) before a code is sent; the certificate request checks them again."""
        clean_signatory_text(name, "signatory_name", required=True)
        clean_signatory_text(title, "signatory_title", required=False)

    # --- certificate ----------------------------------------------------------------------------------------------

    def challenge(self, token: str, client: Client) -> bytes:
        """The bytes the browser signs with its new key to prove it holds it."""
        return codes.issue_challenge(self.register, token, client, self._clock())

    def request_certificate(
        self,
        token: str,
        client: Client,
        *,
        public_key: bytes,
        proof: bytes,
        signatory_name: str,
        signatory_title: str = "",
        agreed: bool,
    ) -> IssuedCertificate:
        """Certify the browser's key (SubjectPublicKeyInfo DER) after checking its proof of possession (``proof``:
        raw ``r ‖ s`` over :meth:`challenge`) and the signatory's statement (``agreed``)."""
        name = clean_signatory_text(signatory_name, "signatory_name", required=True)
        title = clean_signatory_text(signatory_title, "signatory_title", required=False)
        key = browser_public_key(public_key)
        ca = self.ca
        now = self._clock()
        with self.register.transaction() as db:
            invitation, agreement = locked_invitation(db, token, now)
            codes.require_session(invitation, client)
            if not agreed:
                raise StepOutOfOrder(f"confirm that you have read the agreement and may sign it for {agreement.name}")
            check_proof_of_possession(key, codes.take_challenge(db, invitation, now), proof)
            binding = AgreementBinding(agreement.customer_id, agreement.issued_sha256)
            organization = agreement.name or agreement.customer_id
            request = CertificateRequest(
                key, name, title, organization, invitation.email, agreement.country or "", binding
            )
            certificate = ca.issue(request, now)
            issued = IssuedCertificate(certificate, serial_hex(certificate), key_fingerprint(key))
            record_certificate(db, invitation, client, issued, name, now)
        return issued

    # --- signature ------------------------------------------------------------------------------------------------

    def prepare_signature(self, token: str, client: Client) -> bytes:
        """Prepare the controller's signature for the session's certificate; returns the DER of the signed
        attributes, which the browser signs with ECDSA P-256 / SHA-256."""
        now = self._clock()
        with self.register.transaction() as db:
            invitation, agreement = locked_invitation(db, token, now)
            codes.require_session(invitation, client)
            issued = current_certificate(db, invitation, client, now)
            head = chain_head(db, agreement.id)
        if issued is None:
            raise StepOutOfOrder("this browser has no valid signing certificate for the link yet; request one first")
        with self._lock:
            ca_cert = asn1_certificate(self.ca.certificate)
            plan = self.revocation.plan(
                asn1_certificate(issued.certificate), [ca_cert], self.timestamper, whose="the signing-page certificate"
            )
            pending = prepare_signature(
                issued_file_bytes(agreement),
                issued.certificate,
                [self.ca.certificate],
                self.timestamper,
                evidence_head=head,
                font_path=self.config.paths.appearance_font,
                now=now,
                validation_context=plan.context,
            )
        with self.register.transaction() as db:
            invitation, agreement = locked_invitation(db, token, now)
            codes.require_session(invitation, client)
            save_pending(db, invitation, client, issued.serial, pending, now)
            detail = {"invitation": invitation.id, "serial": issued.serial, "evidence_head": head, **client.facts()}
            append_event(db, agreement.id, "signature-prepared", detail, now)
        return pending.signed_attributes

    def finish_signature(self, token: str, client: Client, signature: bytes) -> SignedOutcome:
        """Embed the browser's signature (raw ``r ‖ s``), timestamp it and ingest the result (prefix check,
        verification, register): the agreement is then in force. Only the session that prepared it can finish."""
        now = self._clock()
        with self.register.transaction() as db:  # claim the prepared signature: a second finish finds none
            invitation, agreement = locked_invitation(db, token, now)
            codes.require_session(invitation, client)
            pending, serial = load_pending(db, invitation, client)
            issued, revoked_at = certificate_by_serial(db, serial)
            if revoked_at is not None or now >= issued.certificate.not_valid_after_utc:
                raise StepOutOfOrder("the signing certificate is no longer valid; request a new one")
            clear_pending(db, invitation)
        try:
            with self._lock:
                chain = [self.ca.certificate]
                signed, stamp = finish_signature(pending, issued.certificate, chain, signature, self.timestamper)
            returned = self._work_dir() / f"{agreement.customer_id}.{invitation.id}.pdf"
            write_atomic(returned, signed)
        except BaseException:  # a wrong signature, the TSA down: the prepared signature waits for another try
            with self.register.transaction() as db:
                save_pending(db, invitation, client, serial, pending, now)
            raise
        digest = hashlib.sha256(signed).hexdigest()
        with self.register.transaction() as db:
            mark_used(db, serial, now)
            detail = {
                "invitation": invitation.id,
                "serial": serial,
                "timestamp": stamp.gen_time.isoformat(),
                "evidence_head": pending.evidence_head,
                **client.facts(),
            }
            append_event(db, agreement.id, "signed", detail, now, file_sha256=digest)
        return self._ingest(invitation, agreement, returned, signed, stamp.gen_time)

    def _ingest(
        self, invitation: Invitation, agreement: Agreement, returned: Path, signed: bytes, timestamp: dt.datetime | None
    ) -> SignedOutcome:
        with self._lock, ingest_archiver(self.config) as archiver:  # accepted means sealed: PAdES B-LTA
            result = ingest_file(returned, self.register, self.verifier, archiver=archiver)
        if result.stored is not None:  # the copy on file (sealed) is the one the signer gets
            signed = result.stored.read_bytes()
        return self.completion.finish(invitation, agreement, result, signed, timestamp=timestamp, now=self._clock())

    # --- another way to sign: a PDF signed elsewhere ----------------------------------------------------------------

    def upload(self, token: str, client: Client, data: bytes, name: str) -> SignedOutcome:
        """Take in a PDF the customer signed elsewhere (Acrobat) through ingest, with ingest's own words for what
        is wrong. It must continue this link's issued agreement; a refused file leaves nothing stored."""
        self.open(token, client)
        now = self._clock()
        invitation, agreement = find_invitation(self.register, token, now)
        issued = issued_file_bytes(agreement)
        digest = hashlib.sha256(data).hexdigest()
        with self.register.transaction() as db:
            detail = {"invitation": invitation.id, "file": name[:100], **client.facts()}
            append_event(db, agreement.id, "signed-file-uploaded", detail, now, file_sha256=digest)
        if not data.startswith(issued):
            reason = (
                "the uploaded file is not an extension of the agreement of this link: it is not the agreement that "
                "was sent, signed in its prepared field and saved unchanged"
            )
            self.register.record_refusal(agreement.id, digest, "NOT_AN_EXTENSION", reason)
            refused = IngestResult(Path(name), False, reason, agreement)
            return self.completion.finish(invitation, agreement, refused, data, timestamp=None, now=now)
        holder = Path(tempfile.mkdtemp(prefix="upload-", dir=self._work_dir()))
        try:
            staged = holder / f"{agreement.customer_id}.pdf"
            staged.write_bytes(data)
            outcome = self._ingest(invitation, agreement, staged, data, None)
        finally:
            shutil.rmtree(holder, ignore_errors=True)
        if outcome.accepted:
            with self.register.transaction() as db:  # the session that completed the link may fetch the copy
                db.execute(
                    "UPDATE portal_invitations SET session_sha256 = COALESCE(session_sha256, ?) WHERE id = ?",
                    (client.session_hash, invitation.id),
                )
        return outcome

    def signed_copy(self, token: str, client: Client) -> Agreement:
        """The agreement of a link that this browser session completed (signed or uploaded), now effective: for
        the page's last state and its download. :class:`LinkGone` for anyone else."""
        invitation, agreement = invitation_by_token(self.register, token)
        if (
            invitation.status != "used"
            or invitation.session_sha256 != client.session_hash
            or agreement.status != "effective"
            or not agreement.signed_file
        ):
            raise LinkGone("this signing link has been used: the agreement is signed", "used")
        return agreement

    # --- evidence and CRL -----------------------------------------------------------------------------------------

    def evidence(self, agreement_id: int) -> PortalEvidence:
        """The signing page's events for an agreement, checked and in words (agreement page, verification report)."""
        return portal_evidence(self.register, agreement_id)

    def crl(self) -> bytes:
        """The customer-signing CA's current CRL (DER), for ``[portal] base_url`` + ``/ca/customer-signing.crl``."""
        now = self._clock()
        return self.ca.crl(revoked_certificates(self.register, now), now)

    # --- resources ------------------------------------------------------------------------------------------------

    @property
    def verifier(self) -> Verifier:
        """The verifier ingest uses: ``[trust] roots``, and ``[signing_ca]`` for the controller's signature only."""
        if self._verifier is None:
            self._verifier = Verifier(self.config)
            self._owned.append(self._verifier)
        return self._verifier

    def _agreement_for(self, customer_id: str) -> Agreement:
        live = [a for a in self.register.agreements(customer_id=customer_id) if a.status in ("issued", "effective")]
        if not live:
            raise InvitationRefused(f"no issued agreement for customer {customer_id} in the register")
        return live[-1]

    def _view(self, invitation: Invitation, agreement: Agreement) -> SigningView:
        return SigningView(invitation, agreement, self.processor_name, Path(agreement.issued_file or ""))


__all__ = ["Actor", "Client", "NewInvitation", "SignedOutcome", "SigningPortal", "SigningView"]
