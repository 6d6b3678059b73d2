"""The error hierarchy of dpa.

Every error a user can cause or fix is a subclass of :class:`DpaError` carrying a message that says what is wrong
and what to do. ``dpa.cli`` is the only place where these become one line on stderr and an exit code.
"""

from __future__ import annotations


class DpaError(Exception):
    """Root of all errors dpa reports to a user."""

    exit_code = 1


class ConfigError(DpaError):
    """dpa.toml is missing, malformed, has unknown keys or names something that does not exist."""


class RecordError(DpaError):
    """A customer record is invalid; ``problems`` lists every problem found, each naming its field."""

    def __init__(self, problems: list[str], source: str = "") -> None:
        self.problems = list(problems)
        self.source = source
        prefix = f"{source}: " if source else ""
        super().__init__(prefix + "; ".join(self.problems))


class TemplateError(DpaError):
    """A DOCX template is missing, unreadable, or does not render."""


class ConversionError(DpaError):
    """LibreOffice could not turn a DOCX into a PDF/A (crash, timeout, missing installation)."""


class AssemblyError(DpaError):
    """The rendered PDF could not be merged or given its signature fields."""


class SigningError(DpaError):
    """A key, certificate or input PDF does not allow the requested signature."""


class TimestampError(SigningError):
    """No configured time-stamping authority returned a valid RFC 3161 token."""


class ArchiveError(DpaError):
    """An agreement cannot be sealed or extended (unreadable, incomplete, changed on disk, no validation data)."""


class VerificationError(DpaError):
    """Verification itself could not run (as opposed to a verdict on a file)."""


class BatchError(DpaError):
    """A batch run cannot start or cannot go on (the per-row errors go into the manifest)."""


class RegisterError(DpaError):
    """The agreement register cannot be read or written, or an operation on it is not allowed."""


class EvidenceError(DpaError):
    """Writing would replace evidence: an agreement the register knows, a stored signed copy, the register itself.

    Nothing was written; the message names the file and what is on record for it.
    """


class AccountError(DpaError):
    """A web account cannot be created, found or changed as asked (unknown user, bad role, weak password)."""


class LoginError(AccountError):
    """A login was refused: wrong name or password, a locked or a disabled account."""


class WebError(DpaError):
    """A web request cannot be served as asked (a batch already running, an upload that is not a PDF, …)."""
