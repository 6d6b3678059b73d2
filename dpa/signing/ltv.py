"""Validation data at signing time (PAdES B-LT): certificates and CRLs fetched from the certificates' own
addresses, with a timeout, cached for the run.

:class:`RevocationFetcher` holds one set of pyHanko fetchers for a whole run: their caches make a batch fetch a
CRL once per distribution point, not once per document. Every signature
still gets a validation context of its own (its own moment, its own list of what to embed); the fetchers are
renewed after :data:`CACHE_MAX_AGE`, so a long-running process (``dpa serve``) never embeds stale answers.

:meth:`RevocationFetcher.plan` checks, before anything is signed, that the signer's chain and the TSA's chain
are valid now, not revoked, and that revocation data for both could be had. A revoked certificate always stops
the signature. Missing data stops it too, unless ``[signing] require_revocation_data`` is false: then the plan
says to sign at B-T, with a warning. Missing data never counts as "not revoked".
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from asn1crypto import x509
from pyhanko.sign.timestamps import TimeStamper
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    InsufficientRevinfoError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
    ValidationError,
)
from pyhanko_certvalidator.fetchers import Fetchers
from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend
from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy, RevocationCheckingRule

from dpa.errors import SigningError
from dpa.signing.timestamps import tst_signer_certificate

log = logging.getLogger(__name__)

CACHE_MAX_AGE = dt.timedelta(minutes=10)
LEVEL_LT = "B-LT"
CRL_POLICY = RevocationCheckingPolicy(RevocationCheckingRule.CRL_REQUIRED, RevocationCheckingRule.CRL_REQUIRED)
"""What is fetched and embedded: a CRL for every certificate below a trust root. A full CRL answers for every
certificate of its CA (a counter-signer's from the same CA included), and the verifier takes the OCSP responses
in a file as if they concerned every signer, so that a counter-signature made elsewhere, without validation
data, would fail next to one; OCSP (which the development PKI also serves) waits until the verifier judges
revocation data per certificate (issue 12, stage 2)."""
LEVEL_T = "B-T"


class MissingRevocationData(SigningError):
    """No revocation data (a CRL) could be had for a certificate that needs it."""


@dataclass(frozen=True)
class LtvPlan:
    """How one signature is made: with ``context`` (fetched validation data to embed), or at B-T without."""

    level: str
    context: ValidationContext | None
    warning: str | None = None


class RevocationFetcher:
    """Revocation data for one run (see the module docstring). Thread-safe; the fetchers are shared."""

    def __init__(
        self,
        trust_roots: Sequence[x509.Certificate],
        *,
        required: bool = True,
        timeout_s: float = 10.0,
        max_age: dt.timedelta = CACHE_MAX_AGE,
    ) -> None:
        self._roots = list(trust_roots)
        self.required = required
        self._backend = RequestsFetcherBackend(per_request_timeout=timeout_s)
        self._max_age = max_age
        self._fetchers: Fetchers | None = None
        self._made: dt.datetime | None = None
        self._lock = threading.Lock()
        self._warned = False
        self._missing: dict[bytes, str] = {}
        """Certificate SHA-256 → the warning, for data this run's fetchers could not have (see _known_missing)."""

    def context(self, other_certs: Iterable[x509.Certificate] = ()) -> ValidationContext:
        """A fresh validation context (moment: now) that fetches through the run's shared, caching fetchers and
        requires a CRL for every certificate below a trust root (:data:`CRL_POLICY`)."""
        return ValidationContext(
            trust_roots=self._roots,
            other_certs=list(other_certs),
            allow_fetching=True,
            fetchers=self._shared_fetchers(),
            revinfo_policy=CertRevTrustPolicy(CRL_POLICY),
        )

    def plan(
        self,
        cert: x509.Certificate,
        chain: Sequence[x509.Certificate],
        timestamper: TimeStamper | None,
        *,
        whose: str = "the signer's certificate",
    ) -> LtvPlan:
        """Check ``cert`` (and the TSA's certificate, via ``timestamper``) now, fetching their revocation data.

        Raises :class:`~dpa.errors.SigningError` for a revoked, expired or untrusted certificate, and
        :class:`MissingRevocationData` when data is missing and required; otherwise returns the plan.
        """
        known = self._known_missing(cert)
        if known is not None:
            return LtvPlan(LEVEL_T, None, known)
        context = self.context(chain)
        try:
            asyncio.run(self._probe(context, cert, chain, timestamper, whose))
        except MissingRevocationData as exc:
            if self.required:
                raise MissingRevocationData(
                    f"{exc}; nothing was signed: make the CRL reachable, or set [signing] "
                    "require_revocation_data = false to sign at PAdES B-T"
                ) from None
            warning = f"{exc}; signing at PAdES B-T, without validation data ([signing] require_revocation_data)"
            self._warn_once(warning)
            with self._lock:
                self._missing[cert.sha256] = warning
            return LtvPlan(LEVEL_T, None, warning)
        return LtvPlan(LEVEL_LT, context)

    def _known_missing(self, cert: x509.Certificate) -> str | None:
        """The warning of this run's earlier attempt for ``cert`` when its data could not be had and is not required:
        not asked again until the fetchers are renewed. Asking again would re-raise pyHanko's cached fetch error,
        whose traceback then grows by every caller's frames (and keeps them alive): memory that grew with every
        document of a batch at B-T."""
        if self.required:
            return None
        self._shared_fetchers()  # renews the fetchers (and forgets the failures) after max_age
        with self._lock:
            return self._missing.get(cert.sha256)

    async def _probe(
        self,
        context: ValidationContext,
        cert: x509.Certificate,
        chain: Sequence[x509.Certificate],
        timestamper: TimeStamper | None,
        whose: str,
    ) -> None:
        validator = CertificateValidator(cert, intermediate_certs=list(chain), validation_context=context)
        try:
            await validator.async_validate_usage(set())  # type: ignore[no-untyped-call]
        except VALIDATION_ERRORS as exc:
            raise validation_failure(exc, cert, whose) from None
        if timestamper is None:
            return
        dummy = await timestamper.async_dummy_response("sha256")
        try:
            async for _path in timestamper.validation_paths(context):  # type: ignore[no-untyped-call]
                pass
        except VALIDATION_ERRORS as exc:
            raise validation_failure(exc, tst_signer_certificate(dummy["content"]), "the TSA's certificate") from None

    def _shared_fetchers(self) -> Fetchers:
        now = dt.datetime.now(dt.UTC)
        with self._lock:
            if self._fetchers is None or self._made is None or now - self._made > self._max_age:
                self._fetchers = self._backend.get_fetchers()
                self._made = now
                self._missing.clear()
            return self._fetchers

    def _warn_once(self, warning: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning("%s", warning)


VALIDATION_ERRORS = (PathBuildingError, PathValidationError, ValidationError)


def validation_failure(exc: BaseException, cert: x509.Certificate | None, whose: str) -> SigningError:
    """dpa's error for a failed validation of ``cert`` (``whose`` says which one, in words)."""
    subject = f" ({cert.subject.human_friendly})" if cert is not None else ""
    if isinstance(exc, RevokedError):
        return SigningError(f"{whose}{subject} is revoked: {exc}; nothing was signed")
    if isinstance(exc, InsufficientRevinfoError):
        where = ", ".join(_revocation_addresses(cert)) if cert is not None else ""
        source = f" from {where}" if where else ", which names no CRL distribution point"
        return MissingRevocationData(f"no revocation data (CRL) could be had for {whose}{subject}{source} ({exc})")
    return SigningError(f"{whose}{subject} cannot be validated now: {exc}; nothing was signed")


def _revocation_addresses(cert: x509.Certificate) -> list[str]:
    """The CRL distribution point URLs of ``cert``."""
    urls: list[str] = []
    for point in cert.crl_distribution_points:
        where = point["distribution_point"]
        if where.name == "full_name":
            urls.extend(name.native for name in where.chosen if name.name == "uniform_resource_identifier")
    return urls
