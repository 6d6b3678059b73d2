"""What the signing flow holds for its whole life, made on first use: the customer-signing CA, the TSA client, the
revocation fetcher of the controller's signature, the one-time-code secret. :class:`~dpa.portal.flow.SigningPortal`
builds on :class:`PortalResources`; nothing here decides a step of the flow."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Self

from dpa.config import Config
from dpa.errors import ConfigError
from dpa.portal.ca import SigningCa
from dpa.portal.completion import Completion, InviterAddress
from dpa.portal.mail import Mailer
from dpa.register import Register
from dpa.signing.keys import SecretPrompt, read_secret
from dpa.signing.ltv import RevocationFetcher
from dpa.signing.timestamps import DpaTimeStamper, timestamper_from_config
from dpa.signing.trust import asn1_certificate, load_trust_roots
from dpa.verify.verifier import Verifier

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The current moment in UTC (the portal's default clock)."""
    return dt.datetime.now(dt.UTC)


class PortalResources:
    """The signing flow's long-lived objects over one register and one mailer; a context manager that closes what
    it opened itself (CA key, TSA session, verification worker)."""

    def __init__(
        self,
        config: Config,
        register: Register,
        mailer: Mailer,
        *,
        ca: SigningCa | None = None,
        timestamper: DpaTimeStamper | None = None,
        verifier: Verifier | None = None,
        clock: Clock = utc_now,
        prompt: SecretPrompt | None = None,
        inviter_address: InviterAddress | None = None,
    ) -> None:
        self.config = config
        self.register = register
        self.mailer = mailer
        self._ca = ca
        self._timestamper = timestamper
        self._verifier = verifier
        self._revocation: RevocationFetcher | None = None
        self._owned: list[SigningCa | DpaTimeStamper | Verifier] = []
        self._clock = clock
        self._prompt = prompt
        self._lock = threading.Lock()
        self.completion = Completion(register, mailer, base_url=config.portal.base_url, inviter_address=inviter_address)
        """Ingest's verdict and the mails after it (the signed copy, the inviter's notice)."""

    def close(self) -> None:
        """Close what the portal opened itself (CA key, TSA session, verification worker)."""
        for resource in reversed(self._owned):
            resource.close()
        self._owned.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

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
    def revocation(self) -> RevocationFetcher:
        """The validation data of the controller's signature: the customer-signing CA's CRL (from the address its
        certificates name, ``[portal] base_url`` + ``/ca/customer-signing.crl``) and the TSA's."""
        if self._revocation is None:
            roots = [asn1_certificate(self.ca.certificate), *load_trust_roots(self.config.trust.tsa_roots)]
            signing = self.config.signing
            self._revocation = RevocationFetcher(
                roots, required=signing.require_revocation_data, timeout_s=signing.revocation_timeout_s
            )
        return self._revocation

    @property
    def processor_name(self) -> str:
        """ipcall.me's name as the page and the mails show it."""
        return self.config.processor.name or "ipcall.me"

    def _secret(self) -> bytes:
        env = self.config.portal.secret_env
        if not env:
            raise ConfigError("[portal] secret_env is not set: one-time codes need a server secret (HMAC key)")
        secret = read_secret(env, "signing page secret", None) or ""
        if len(secret) < 16:
            raise ConfigError(f"the signing page secret in {env} must be at least 16 characters")
        return secret.encode("utf-8")

    def _work_dir(self) -> Path:
        folder = self.config.paths.output / "portal"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
