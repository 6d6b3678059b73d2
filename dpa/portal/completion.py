"""What happens once the customer's signed agreement exists: ingest's verdict, and the people who must hear of it.

Both ways of signing on the page end here: the signature made in the browser (:meth:`SigningPortal.finish_signature
<dpa.portal.flow.SigningPortal.finish_signature>`) and a PDF the customer signed elsewhere and uploaded
(:meth:`~dpa.portal.flow.SigningPortal.upload`). The file goes through :func:`dpa.workflows.ingest.ingest_file`
like any returned agreement; :class:`Completion` then

* on acceptance: uses the link up, mails the signed copy to the signer and notifies the user who sent the
  invitation (by mail when their account has an e-mail address, ``dpa users add --email``), each recorded as an
  event of the agreement;
* on refusal: records the refusal (ingest's own words) and leaves the link open for another try.

A mail that cannot be sent never undoes a signature: it becomes a notice the page shows and the log keeps.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from dpa.portal.errors import MailError
from dpa.portal.evidence import append_event
from dpa.portal.invitations import Invitation
from dpa.portal.mail import Mailer
from dpa.portal.messages import inviter_notice_message, signed_copy_message
from dpa.register import Agreement, Register
from dpa.workflows.ingest import IngestResult

log = logging.getLogger(__name__)
InviterAddress = Callable[[str], str | None]
"""The e-mail address of the user who sent an invitation (by user name), or None when there is none."""


@dataclass(frozen=True)
class SignedOutcome:
    """How a signature made (or a signed file uploaded) on the page ended: ingested (effective from a date) or
    refused (with ingest's reason)."""

    accepted: bool
    reason: str
    timestamp: dt.datetime | None
    """The genTime of the browser signature's timestamp (None for an uploaded file)."""
    ingest: IngestResult
    notice: str | None = None
    """Something that did not stop the signature but should be looked at (a mail that could not be sent)."""

    @property
    def effective_date(self) -> dt.date | None:
        """The date the agreement is in force from (Europe/Amsterdam), when it was accepted."""
        return self.ingest.report.effective_date if self.accepted and self.ingest.report else None


Effective = tuple[dt.date, str | None]
"""The effective date and what it rests on (``effective_date_basis``)."""


class Completion:
    """The steps after ingest, over one register and one mailer."""

    def __init__(
        self,
        register: Register,
        mailer: Mailer,
        *,
        base_url: str,
        inviter_address: InviterAddress | None = None,
    ) -> None:
        self.register = register
        self.mailer = mailer
        self.base_url = base_url.rstrip("/")
        self.inviter_address = inviter_address

    def finish(
        self,
        invitation: Invitation,
        agreement: Agreement,
        result: IngestResult,
        signed: bytes,
        *,
        timestamp: dt.datetime | None,
        now: dt.datetime,
    ) -> SignedOutcome:
        """Record ingest's verdict on the customer's signed file; on acceptance tell the signer and the inviter."""
        if not result.accepted:
            with self.register.transaction() as db:
                detail = {"invitation": invitation.id, "reason": result.reason}
                append_event(db, agreement.id, "signature-refused", detail, now)
            return SignedOutcome(False, result.reason, timestamp, result)
        with self.register.transaction() as db:
            db.execute("UPDATE portal_invitations SET status = 'used' WHERE id = ?", (invitation.id,))
        effective = result.report.effective_date if result.report else None
        basis = result.report.effective_date_basis if result.report else None
        notices = []
        if effective is not None:
            notices.append(self._mail_signer(invitation, agreement, (effective, basis), signed))
            notices.append(self._notify_inviter(invitation, agreement, (effective, basis), now))
        notice = "; ".join(n for n in notices if n) or None
        return SignedOutcome(True, result.reason, timestamp, result, notice)

    def _mail_signer(self, invitation: Invitation, agreement: Agreement, effective: Effective, signed: bytes) -> str:
        try:
            self.mailer.send(signed_copy_message(invitation.email, agreement, effective[0], signed, effective[1]))
        except MailError as exc:
            notice = f"the signed copy could not be mailed to the signer: {exc}"
            log.warning("%s: %s", agreement.customer_id, notice)
            return notice
        return ""

    def _notify_inviter(
        self, invitation: Invitation, agreement: Agreement, effective: Effective, now: dt.datetime
    ) -> str:
        """Mail the user who sent the invitation; the event says whether they were told, and how."""
        address = self.inviter_address(invitation.invited_by) if self.inviter_address else None
        detail: dict[str, str | int] = {"invitation": invitation.id, "by": invitation.invited_by}
        notice = ""
        if address is None:
            detail["reason"] = "no e-mail address for this user: the agreement page shows the signature"
        else:
            page = f"{self.base_url}/agreements/{agreement.customer_id}?rid={agreement.id}"
            try:
                self.mailer.send(inviter_notice_message(address, agreement, effective[0], page, effective[1]))
                detail["to"] = address
            except MailError as exc:
                notice = f"{invitation.invited_by} could not be notified by mail: {exc}"
                detail["reason"] = notice
                log.warning("%s: %s", agreement.customer_id, notice)
        with self.register.transaction() as db:
            append_event(db, agreement.id, "inviter-notified", detail, now)
        return notice
