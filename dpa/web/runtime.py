"""What the web application holds for its whole life: the register, the accounts, warm verifiers, the issue
resources (one warm LibreOffice, the processor's key loaded once), the batch runner and the customer's signing
page (:class:`~dpa.portal.flow.SigningPortal`, made on first use when ``[signing_ca]`` is configured).

Nothing here decides anything: it makes the library's objects once and hands them to the routes.
"""

from __future__ import annotations

import functools
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

from dpa.accounts import Accounts
from dpa.assembly.convert import Converter
from dpa.assembly.templates import TemplateSet
from dpa.config import Config
from dpa.errors import ConfigError
from dpa.portal.flow import SigningPortal
from dpa.portal.mail import Outbox, mailer_from_config
from dpa.register import Register
from dpa.roles import PROCESSOR
from dpa.signing.sign import SigningSession
from dpa.verify.pool import VerifierPool
from dpa.web.batches import BatchRunner
from dpa.workflows.issue import IssueRun


@dataclass
class WebRuntime:
    """The long-lived resources of one ``dpa serve`` process."""

    config: Config
    secret: str = field(repr=False)
    dev: bool = False
    register: Register = field(init=False)
    accounts: Accounts = field(init=False)
    verifiers: VerifierPool = field(init=False)
    batches: BatchRunner = field(init=False)
    _issue: IssueRun | None = field(init=False, default=None)
    _issue_lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _portal: SigningPortal | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.register = Register(self.config.paths.register)
        self.accounts = Accounts(self.register, session_hours=self.config.web.session_hours)
        self.verifiers = VerifierPool(self.config, jobs=self.config.web.verify_workers)
        self.batches = BatchRunner(self.config, self.work_dir / "batches", self.accounts, self.config.web.batch_jobs)

    @classmethod
    def start(cls, config: Config, secret: str | None = None, *, dev: bool = False) -> WebRuntime:
        """The runtime for ``config``; without ``secret`` a random one (sessions then end with the process)."""
        return cls(config, secret or secrets.token_urlsafe(32), dev)

    @property
    def work_dir(self) -> Path:
        """The web application's own files (uploaded batch CSVs, temporary uploads) under the output folder."""
        return self.config.paths.output / "web"

    @property
    def upload_dir(self) -> Path:
        """Where an upload waits while the library reads it (removed right after)."""
        return self.work_dir / "uploads"

    def issue_run(self) -> IssueRun:
        """The issue resources, made on first use: a warm LibreOffice and the processor's key, loaded once."""
        with self._issue_lock:
            if self._issue is None:
                session = SigningSession(self.config)
                try:
                    session.preload([PROCESSOR.role])
                    templates = TemplateSet.load(self.config.paths.templates)
                except BaseException:
                    session.close()
                    raise
                converter = Converter(1, soffice=self.config.paths.soffice)
                self._issue = IssueRun(self.config, templates, converter, session, self.register)
            return self._issue

    @property
    def signing_enabled(self) -> bool:
        """Whether the signing page is configured (``[signing_ca]``)."""
        return self.config.signing_ca is not None

    def portal(self) -> SigningPortal:
        """The signing page's library, made on first use: its mail goes through ``[smtp]`` (or, on the development
        PKI only, the embedded outbox), and the user who sent a link is told by mail at their account's address."""
        with self._issue_lock:
            if self._portal is None:
                if not self.signing_enabled:
                    raise ConfigError(
                        "the signing page is not configured: add [signing_ca] and [portal] (dpa pki init)"
                    )
                mailer = mailer_from_config(self.config)
                self._portal = SigningPortal(self.config, self.register, mailer, inviter_address=self.accounts.email_of)
            return self._portal

    @functools.cached_property
    def outbox(self) -> Outbox | None:
        """The embedded outbox, when the signing page's mail goes there (development PKI, no ``[smtp]``)."""
        if not self.signing_enabled or self.config.smtp is not None:
            return None
        try:
            mailer = mailer_from_config(self.config)
        except ConfigError:
            return None
        return mailer if isinstance(mailer, Outbox) else None

    def close(self) -> None:
        """Stop the batch, the workers, the signing page and LibreOffice, and close the register."""
        if self._portal is not None:
            self._portal.close()
        self.batches.close()
        self.verifiers.close()
        if self._issue is not None:
            self._issue.converter.close()
            self._issue.session.close()
        self.register.close()
