"""What can go wrong on the customer's signing page, as typed errors.

Each class says what happened in words a signer or a sales person can act on, and carries the HTTP status the web
face answers with (``http_status``); the words never contain the link's token or a one-time code.
"""

from __future__ import annotations

from dpa.errors import DpaError


class PortalError(DpaError):
    """Root of the signing page's errors."""

    http_status = 400


class InvitationRefused(PortalError):
    """An invitation cannot be made: no issued agreement, or not the e-mail address of the customer's record."""

    http_status = 409


class LinkNotFound(PortalError):
    """No invitation has this token (mistyped, or never issued)."""

    http_status = 404


class LinkGone(PortalError):
    """The link was used, has expired, was replaced by a newer one, or is locked: it can do nothing any more."""

    http_status = 410

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
        """``used``, ``expired``, ``superseded``, ``locked``, or ``withdrawn`` (the agreement ended or was rejected)."""


class CodeRejected(PortalError):
    """A one-time code was wrong, expired or not requested; ``attempts_left`` before the link locks."""

    http_status = 403

    def __init__(self, message: str, attempts_left: int) -> None:
        super().__init__(message)
        self.attempts_left = attempts_left


class TooManyCodes(PortalError):
    """More one-time codes were requested for one link than it allows."""

    http_status = 429


class StepOutOfOrder(PortalError):
    """A step of the signing flow was asked for before the one it depends on (e.g. a certificate before the code)."""

    http_status = 409


class SessionMismatch(PortalError):
    """The step belongs to another browser session than the one asking (the code was confirmed, or the signature
    started, elsewhere)."""

    http_status = 403


class CertificateRequestRefused(PortalError):
    """The browser's key or its proof of possession is not acceptable (not ECDSA P-256, signature does not verify)."""


class SignatureRefused(PortalError):
    """The browser's signature value does not belong to the prepared document, or the signed file was refused."""


class MailError(PortalError):
    """The mail could not be sent (server unreachable, login refused, no mail configuration)."""

    http_status = 503


class SigningCaError(PortalError):
    """The customer-signing CA cannot be loaded or cannot issue (bad certificate, key, token)."""

    http_status = 500


class PagesUnavailable(PortalError):
    """The agreement's pages could not be drawn as images (pdftoppm missing, failed or too slow)."""

    http_status = 503
