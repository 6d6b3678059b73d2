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

Each step checks the link (:class:`~dpa.portal.errors.LinkGone` for used, expired, replaced or locked links), the
step before it and the browser session, and records its evidence in the register. Tokens, codes and session ids
are never logged, stored in clear or put into an error message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dpa.config import Config
from dpa.errors import ConfigError
from dpa.files import write_atomic
from dpa.portal import codes
from dpa.portal.binding import AgreementBinding
from dpa.portal.ca import CertificateRequest, SigningCa, browser_public_key, check_proof_of_possession, key_fingerprint
from dpa.portal.certificates import (
    IssuedCertificate,
    certificate_by_serial,
    current_certificate,
    mark_used,
    record_certificate,
    revoked_certificates,
    serial_hex,
)
from dpa.portal.errors import InvitationRefused, MailError, StepOutOfOrder
from dpa.portal.evidence import PortalEvidence, append_event, chain_head, portal_evidence
from dpa.portal.invitations import (
    Actor,
    Client,
    Invitation,
    clean_signatory_text,
    create_invitation,
    find_invitation,
    issued_file_bytes,
    locked_invitation,
    note_opened,
)
from dpa.portal.mail import Mailer
from dpa.portal.messages import code_message, invitation_message, signed_copy_message
from dpa.portal.remote_sign import clear_pending, finish_signature, load_pending, prepare_signature, save_pending
from dpa.register import Agreement, Register
from dpa.signing.keys import SecretPrompt, read_secret
from dpa.signing.timestamps import DpaTimeStamper, timestamper_from_config
from dpa.verify.verifier import Verifier
from dpa.workflows.ingest import IngestResult, ingest_file

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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


@dataclass(frozen=True)
class SignedOutcome:
    """How a signature made on the page ended: ingested (effective from a date) or refused (with the reason)."""

    accepted: bool
    reason: str
    timestamp: dt.datetime
    ingest: IngestResult
    notice: str | None = None
    """Something that did not stop the signature but should be looked at (the signed copy could not be mailed)."""

    @property
    def effective_date(self) -> dt.date | None:
        """The date the agreement is in force from (Europe/Amsterdam), when it was accepted."""
        return self.ingest.report.effective_date if self.accepted and self.ingest.report else None


class SigningPortal:
    """The signing flow over one register, one mailer and (made on first use) the CA, the TSA client and the
    verifier. Thread-safe: the steps that use the TSA run one at a time."""

    def __init__(
        self,
        config: Config,
        register: Register,
        mailer: Mailer,
        *,
        ca: SigningCa | None = None,
        timestamper: DpaTimeStamper | None = None,
        verifier: Verifier | None = None,
        clock: Clock = _utc_now,
        prompt: SecretPrompt | None = None,
    ) -> None:
        self.config = config
        self.register = register
        self.mailer = mailer
        self._ca = ca
        self._timestamper = timestamper
        self._verifier = verifier
        self._owned: list[SigningCa | DpaTimeStamper | Verifier] = []
        self._clock = clock
        self._prompt = prompt
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close what the portal opened itself (CA key, TSA session, verification worker)."""
        for resource in reversed(self._owned):
            resource.close()
        self._owned.clear()

    def __enter__(self) -> SigningPortal:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

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
            invitation.email, link, agreement, dt.datetime.fromisoformat(invitation.expires_at), issued, self._processor
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
        self.mailer.send(code_message(invitation.email, code, codes.CODE_MINUTES, self._processor))
        return codes.store_code(self.register, token, client, code, secret, now)

    def verify_code(self, token: str, client: Client, code: str) -> Invitation:
        """Confirm the code; the link is then bound to this browser session. Five wrong codes lock the link."""
        self.open(token, client)
        return codes.verify_code(self.register, token, client, code, self._secret(), self._clock())

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
            pending = prepare_signature(
                issued_file_bytes(agreement),
                issued.certificate,
                [self.ca.certificate],
                self.timestamper,
                evidence_head=head,
                font_path=self.config.paths.appearance_font,
                now=now,
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
            returned = self.config.paths.output / "portal" / f"{agreement.customer_id}.{invitation.id}.pdf"
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
        self, invitation: Invitation, agreement: Agreement, returned: Path, signed: bytes, timestamp: dt.datetime
    ) -> SignedOutcome:
        with self._lock:
            result = ingest_file(returned, self.register, self.verifier)
        now = self._clock()
        if not result.accepted:
            with self.register.transaction() as db:
                detail = {"invitation": invitation.id, "reason": result.reason}
                append_event(db, agreement.id, "signature-refused", detail, now)
            return SignedOutcome(False, result.reason, timestamp, result)
        with self.register.transaction() as db:
            db.execute("UPDATE portal_invitations SET status = 'used' WHERE id = ?", (invitation.id,))
        notice = None
        effective = result.report.effective_date if result.report else None
        try:
            if effective is not None:
                self.mailer.send(signed_copy_message(invitation.email, agreement, effective, signed))
        except MailError as exc:
            notice = f"the signed copy could not be mailed to the signer: {exc}"
            log.warning("%s: %s", agreement.customer_id, notice)
        return SignedOutcome(True, result.reason, timestamp, result, notice)

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
    def ca(self) -> SigningCa:
        """The customer-signing CA (loaded on first use)."""
        if self._ca is None:
            self._ca = SigningCa.from_config(self.config, prompt=self._prompt)
            self._owned.append(self._ca)
        return self._ca

    @property
    def timestamper(self) -> DpaTimeStamper:
        """The RFC 3161 client for ``[tsa]`` (made on first use)."""
        if self._timestamper is None:
            self._timestamper = timestamper_from_config(self.config, prompt=self._prompt)
            self._owned.append(self._timestamper)
        return self._timestamper

    @property
    def verifier(self) -> Verifier:
        """The verifier ingest uses: ``[trust] roots``, and ``[signing_ca]`` for the controller's signature only."""
        if self._verifier is None:
            self._verifier = Verifier(self.config)
            self._owned.append(self._verifier)
        return self._verifier

    @property
    def _processor(self) -> str:
        return self.config.processor.name or "ipcall.me"

    def _secret(self) -> bytes:
        env = self.config.portal.secret_env
        if not env:
            raise ConfigError("[portal] secret_env is not set: one-time codes need a server secret (HMAC key)")
        secret = read_secret(env, "signing page secret", None) or ""
        if len(secret) < 16:
            raise ConfigError(f"the signing page secret in {env} must be at least 16 characters")
        return secret.encode("utf-8")

    def _agreement_for(self, customer_id: str) -> Agreement:
        live = [a for a in self.register.agreements(customer_id=customer_id) if a.status in ("issued", "effective")]
        if not live:
            raise InvitationRefused(f"no issued agreement for customer {customer_id} in the register")
        return live[-1]

    def _view(self, invitation: Invitation, agreement: Agreement) -> SigningView:
        return SigningView(invitation, agreement, self._processor, Path(agreement.issued_file or ""))


__all__ = ["Actor", "Client", "NewInvitation", "SignedOutcome", "SigningPortal", "SigningView"]
