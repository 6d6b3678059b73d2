"""RFC 3161 time-stamp client: TSA URLs tried in order, bounded retries, basic auth, every token checked.

A token is accepted only when the response is ``granted``, its nonce and message imprint are the ones we sent,
its CMS signature is intact, and the TSA certificate chains to a configured trust root with extended key usage
timeStamping (checked once per certificate and remembered for the session). When no TSA returns such a token the
signing fails with :class:`~dpa.errors.TimestampError` — dpa never silently signs without a timestamp.

pyHanko does the protocol: :class:`DpaTimeStamper` is its :class:`~pyhanko.sign.timestamps.TimeStamper` (the
request with its nonce, the cached token for size estimates), and each URL is a transport-only ``TimeStamper``
(:class:`HttpTransport`, only ``async_request_tsa_response`` overridden) on one shared :class:`requests.Session`
for the whole run (pyHanko's own HTTP client opens a new connection and reloads the CA bundle per request).
Retries are urllib3's :class:`~urllib3.util.Retry` on that session (connection errors, time-outs, 429 and 5xx,
with backoff), run in a worker thread: nothing sleeps inside the event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass

import requests
from asn1crypto import cms, core, tsp, x509
from cryptography import x509 as pyca_x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.validation.generic_cms import validate_sig_integrity
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError, ValidationError
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ProtocolError, ReadTimeoutError
from urllib3.util import Retry

from dpa.config import Config
from dpa.errors import ConfigError, TimestampError
from dpa.signing.keys import SecretPrompt, read_secret
from dpa.signing.rfc3161 import CONTENT_TYPE_QUERY, CONTENT_TYPE_REPLY, TimeStampResponse
from dpa.signing.trust import load_trust_roots, validation_context

log = logging.getLogger(__name__)

MAX_REPLY_BYTES = 1024 * 1024
DEFAULT_MAX_CLOCK_SKEW = dt.timedelta(minutes=5)
SUPPORTED_DIGESTS = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class TimestampInfo:
    """What dpa knows about an accepted token."""

    url: str
    gen_time: dt.datetime
    serial_number: int
    tsa_subject: str
    token: cms.ContentInfo


class _TryNext(Exception):
    """This URL failed (after urllib3's retries, where retrying could help); go on with the next one."""


def http_session(retries: int, backoff_s: float = 0.2) -> requests.Session:
    """A session whose requests (POST included: a time-stamp request may be repeated) are retried by urllib3.

    ``retries`` more attempts after a connection error, a time-out, HTTP 429 or 5xx; ``backoff_s`` is urllib3's
    backoff factor. A ``Retry-After`` header is not obeyed, so that a TSA cannot stall a run.
    """
    retry = Retry(
        total=max(0, retries),
        allowed_methods=frozenset({"POST"}),
        status_forcelist=RETRIED_STATUSES,
        backoff_factor=backoff_s,
        raise_on_status=False,
        respect_retry_after_header=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class HttpTransport(TimeStamper):
    """pyHanko's ``TimeStamper`` for one URL with only the transport overridden: a shared session, basic auth,
    a time-out, content-type and size checks, rejections read (asn1crypto's ``TimeStampResp`` cannot)."""

    def __init__(
        self, url: str, session: requests.Session, *, timeout_s: float, auth: tuple[str, str] | None, retries: int
    ) -> None:
        super().__init__(include_nonce=True)  # type: ignore[no-untyped-call]
        self.url = url
        self._session = session
        self._timeout_s = timeout_s
        self._auth = auth
        self._attempts = max(0, retries) + 1

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        """POST ``req`` (urllib3 retries in a worker thread); the parsed reply, or :class:`_TryNext`."""
        body = await asyncio.to_thread(self._post, req.dump())
        try:
            return TimeStampResponse.load(body)
        except (ValueError, TypeError) as exc:
            raise _TryNext(f"answer is not an RFC 3161 reply ({exc})") from None

    def _post(self, request: bytes) -> bytes:
        try:
            response = self._session.post(
                self.url,
                data=request,
                headers={"Content-Type": CONTENT_TYPE_QUERY, "Accept": CONTENT_TYPE_REPLY},
                auth=self._auth,
                timeout=self._timeout_s,
                stream=True,
            )
        except requests.RequestException as exc:
            raise _TryNext(self._failure(exc)) from None
        with response:
            self._check_status(response)
            chunks: list[bytes] = []
            size = 0
            try:
                for chunk in response.iter_content(chunk_size=65536):
                    size += len(chunk)
                    if size > MAX_REPLY_BYTES:
                        raise _TryNext("answer larger than 1 MiB")
                    chunks.append(chunk)
            except (requests.RequestException, OSError) as exc:
                raise _TryNext(f"connection broke while reading the answer ({type(exc).__name__})") from None
        return b"".join(chunks)

    def _check_status(self, response: requests.Response) -> None:
        status = response.status_code
        if status in (401, 403):
            who = f"user '{self._auth[0]}'" if self._auth else "no credentials"
            raise _TryNext(
                f"HTTP {status}: the TSA refused {who}; check [tsa] username and the password environment "
                "variable ([tsa] password_env)"
            )
        if status != 200:
            retried = getattr(getattr(response.raw, "retries", None), "history", ())
            tries = f" (after {len(retried) + 1} attempts)" if retried else ""
            raise _TryNext(f"HTTP {status} {response.reason}{tries}")
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != CONTENT_TYPE_REPLY:
            raise _TryNext(f"answered with Content-Type '{content_type}', not {CONTENT_TYPE_REPLY}")

    def _failure(self, exc: requests.RequestException) -> str:
        """Why a request failed after urllib3's retries, in words."""
        reason = exc.args[0].reason if exc.args and isinstance(exc.args[0], MaxRetryError) else None
        tries = f" (after {self._attempts} attempts)" if self._attempts > 1 and reason is not None else ""
        if isinstance(exc, requests.Timeout) or isinstance(reason, ReadTimeoutError):
            return f"no answer within {self._timeout_s:g} s{tries}"
        if isinstance(reason, ProtocolError):
            return f"connection broke ({_root_cause(exc)}){tries}"
        if isinstance(exc, requests.ConnectionError):
            return f"cannot connect ({_root_cause(exc)}){tries}"
        return f"request failed ({type(exc).__name__})"


class DpaTimeStamper(TimeStamper):
    """An RFC 3161 client over HTTP(S) with failover, retries, basic auth and token validation.

    Use one instance for a whole run: it keeps the HTTP connection, pyHanko's cached size-estimation token and the
    TSA certificates already validated. Not thread-safe; use one per thread. Without a ``session`` it makes one
    with :func:`http_session` (``retries``, backoff factor ``retry_delay_s``); a given session is used as it is,
    with its own retry policy.
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        trust_roots: Sequence[x509.Certificate],
        timeout_s: float = 10.0,
        retries: int = 1,
        auth: tuple[str, str] | None = None,
        session: requests.Session | None = None,
        max_clock_skew: dt.timedelta = DEFAULT_MAX_CLOCK_SKEW,
        retry_delay_s: float = 0.2,
    ) -> None:
        super().__init__(include_nonce=True)  # type: ignore[no-untyped-call]
        if not urls:
            raise ConfigError("no time-stamping authority is configured: set [tsa] urls or pass --tsa URL")
        if not trust_roots:
            raise ConfigError(
                "timestamps cannot be checked without trust roots: add the TSA's CA certificate (PEM) to "
                "[trust] tsa_roots"
            )
        self.urls = tuple(urls)
        self.max_clock_skew = max_clock_skew
        self._own_session = session is None
        self.session = session or http_session(retries, retry_delay_s)
        self._transports = [
            HttpTransport(url, self.session, timeout_s=timeout_s, auth=auth, retries=retries) for url in self.urls
        ]
        self._validation_context: ValidationContext = validation_context(trust_roots)
        self._trusted_tsa_certs: set[bytes] = set()
        self.last: TimestampInfo | None = None

    def close(self) -> None:
        """Close the HTTP session (when this object created it)."""
        if self._own_session:
            self.session.close()

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        """pyHanko's hook: a checked token over ``message_digest`` (raises :class:`TimestampError`)."""
        return (await self.async_timestamp_info(message_digest, md_algorithm)).token

    def timestamp(self, message_digest: bytes, md_algorithm: str = "sha256") -> TimestampInfo:
        """Synchronous :meth:`async_timestamp_info`, for callers outside an event loop."""
        return asyncio.run(self.async_timestamp_info(message_digest, md_algorithm))

    async def async_timestamp_info(self, message_digest: bytes, md_algorithm: str) -> TimestampInfo:
        """Ask the TSAs in order for a token over ``message_digest``; the first valid token wins."""
        if md_algorithm not in SUPPORTED_DIGESTS:
            raise TimestampError(f"dpa does not request timestamps with digest algorithm {md_algorithm}")
        problems: list[str] = []
        for transport in self._transports:
            nonce, request = self.request_cms(message_digest, md_algorithm)  # type: ignore[no-untyped-call]
            try:
                reply = await transport.async_request_tsa_response(request)
                info = await self._check_reply(transport.url, reply, nonce, message_digest, md_algorithm)
            except _TryNext as exc:
                log.info("TSA %s failed: %s", transport.url, exc)
                problems.append(f"{transport.url}: {exc}")
                continue
            self.last = info
            return info
        raise TimestampError(
            "no time-stamping authority returned a valid timestamp, so nothing was signed: " + "; ".join(problems)
        )

    # --- checking the reply ------------------------------------------------------------------------------------

    async def _check_reply(
        self, url: str, reply: tsp.TimeStampResp, nonce: int, message_digest: bytes, md_algorithm: str
    ) -> TimestampInfo:
        try:
            status_info = reply["status"]
            status = status_info["status"].native
        except (ValueError, TypeError) as exc:
            raise _TryNext(f"answer is not an RFC 3161 reply ({exc})") from None
        if status not in ("granted", "granted_with_mods"):
            texts = "; ".join(status_info["status_string"].native or [])
            fail = ", ".join(sorted(status_info["fail_info"].native or []))
            raise _TryNext(f"request refused ({status}{': ' + texts if texts else ''}{', ' + fail if fail else ''})")
        token = reply["time_stamp_token"]
        if isinstance(token, core.Void):
            raise _TryNext("granted reply without a time-stamp token")
        try:
            info = await self._check_token(token, nonce, message_digest, md_algorithm)
        except (ValueError, TypeError, KeyError) as exc:
            raise _TryNext(f"malformed time-stamp token ({type(exc).__name__}: {exc})") from None
        return TimestampInfo(
            url=url,
            gen_time=info[0],
            serial_number=info[1],
            tsa_subject=info[2],
            token=token,
        )

    async def _check_token(
        self, token: cms.ContentInfo, nonce: int, message_digest: bytes, md_algorithm: str
    ) -> tuple[dt.datetime, int, str]:
        if token["content_type"].native != "signed_data":
            raise _TryNext("token is not CMS SignedData")
        signed_data: cms.SignedData = token["content"]
        encap = signed_data["encap_content_info"]
        if encap["content_type"].native != "tst_info":
            raise _TryNext("token does not contain TSTInfo")
        tst_info_bytes: bytes = encap["content"].contents
        tst_info = tsp.TSTInfo.load(tst_info_bytes)
        imprint = tst_info["message_imprint"]
        if (
            imprint["hash_algorithm"]["algorithm"].native != md_algorithm
            or imprint["hashed_message"].native != message_digest
        ):
            raise _TryNext("token stamps a different message imprint than requested")
        if tst_info["nonce"].native != nonce:
            raise _TryNext("token carries a different nonce than requested (replayed or mixed-up answer)")
        gen_time: dt.datetime = tst_info["gen_time"].native
        now = dt.datetime.now(dt.UTC)
        if abs(gen_time - now) > self.max_clock_skew:
            raise _TryNext(
                f"token time {gen_time:%Y-%m-%d %H:%M:%S} UTC differs from this computer's clock by more than "
                f"{int(self.max_clock_skew.total_seconds())} s"
            )
        signer_infos = signed_data["signer_infos"]
        if len(signer_infos) != 1:
            raise _TryNext("token must have exactly one signer")
        signer_info: cms.SignerInfo = signer_infos[0]
        certs = [c.chosen for c in signed_data["certificates"] if isinstance(c.chosen, x509.Certificate)]
        tsa_cert = _find_signer_cert(signer_info, certs)
        if tsa_cert is None:
            raise _TryNext("token does not include the TSA certificate")
        digest_algo = signer_info["digest_algorithm"]["algorithm"].native
        hasher = SUPPORTED_DIGESTS.get(digest_algo)
        if hasher is None:
            raise _TryNext(f"token signed with unsupported digest {digest_algo}")
        try:
            intact, valid = validate_sig_integrity(
                signer_info, tsa_cert, expected_content_type="tst_info", actual_digest=hasher(tst_info_bytes).digest()
            )
        except (ValueError, ValidationError) as exc:
            raise _TryNext(f"token signature cannot be checked ({exc})") from None
        except Exception as exc:  # pyHanko's SignatureValidationError and friends
            raise _TryNext(f"token signature cannot be checked ({type(exc).__name__}: {exc})") from None
        if not (intact and valid):
            raise _TryNext("token signature is invalid")
        if not (tsa_cert.not_valid_before <= gen_time <= tsa_cert.not_valid_after):
            raise _TryNext("token time lies outside the validity of the TSA certificate")
        await self._check_tsa_cert(tsa_cert, certs)
        return gen_time, int(tst_info["serial_number"].native), tsa_cert.subject.human_friendly

    async def _check_tsa_cert(self, tsa_cert: x509.Certificate, certs: list[x509.Certificate]) -> None:
        fingerprint = tsa_cert.sha256
        if fingerprint in self._trusted_tsa_certs:
            return
        pyca_cert = pyca_x509.load_der_x509_certificate(tsa_cert.dump())
        try:
            eku = pyca_cert.extensions.get_extension_for_class(pyca_x509.ExtendedKeyUsage)
        except pyca_x509.ExtensionNotFound:
            raise _TryNext("the TSA certificate has no extended key usage timeStamping") from None
        if ExtendedKeyUsageOID.TIME_STAMPING not in eku.value or not eku.critical:
            raise _TryNext("the TSA certificate lacks a critical extended key usage timeStamping (RFC 3161 §2.3)")
        validator = CertificateValidator(
            tsa_cert,
            intermediate_certs=[c for c in certs if c is not tsa_cert],
            validation_context=self._validation_context,
        )
        try:
            await validator.async_validate_usage(set(), extended_key_usage={"time_stamping"})  # type: ignore[no-untyped-call]
        except (PathBuildingError, PathValidationError, ValidationError) as exc:
            raise _TryNext(
                f"the TSA certificate ({tsa_cert.subject.human_friendly}) is not trusted: {exc}; add its CA to "
                "[trust] tsa_roots"
            ) from None
        self._trusted_tsa_certs.add(fingerprint)


def timestamper_from_config(
    config: Config,
    urls_override: Sequence[str] = (),
    *,
    prompt: SecretPrompt | None = None,
    session: requests.Session | None = None,
) -> DpaTimeStamper:
    """A :class:`DpaTimeStamper` for ``[tsa]`` (``urls_override``, e.g. from ``--tsa``, replaces its URLs); TSA
    certificates must chain to ``[trust] tsa_roots``.

    The TSA password is read here, once, from ``[tsa] password_env`` (or ``prompt``).
    """
    tsa = config.tsa
    urls = tuple(urls_override) or tsa.urls
    for url in urls:
        if not url.lower().startswith(("http://", "https://")):
            raise ConfigError(f"TSA URL '{url}' must start with http:// or https://")
    auth: tuple[str, str] | None = None
    if tsa.username:
        if not tsa.password_env and prompt is None:
            raise ConfigError("[tsa] username is set but password_env is not")
        password = read_secret(tsa.password_env, f"password of TSA user '{tsa.username}'", prompt)
        auth = (tsa.username, password or "")
    roots = load_trust_roots(config.trust.tsa_roots)
    return DpaTimeStamper(
        urls,
        trust_roots=roots,
        timeout_s=tsa.timeout_s,
        retries=tsa.retries,
        auth=auth,
        session=session,
    )


def token_gen_time(token: cms.ContentInfo) -> dt.datetime:
    """The ``genTime`` of a time-stamp token (no checks)."""
    tst_info = tsp.TSTInfo.load(token["content"]["encap_content_info"]["content"].contents)
    gen_time: dt.datetime = tst_info["gen_time"].native
    return gen_time


def tst_signer_certificate(signed_data: cms.SignedData) -> x509.Certificate | None:
    """The certificate that signed a time-stamp token (its SignedData), when the token includes it (no checks)."""
    certs = [c.chosen for c in signed_data["certificates"] if isinstance(c.chosen, x509.Certificate)]
    signer_infos = signed_data["signer_infos"]
    return _find_signer_cert(signer_infos[0], certs) if len(signer_infos) == 1 else None


def _find_signer_cert(signer_info: cms.SignerInfo, certs: list[x509.Certificate]) -> x509.Certificate | None:
    sid = signer_info["sid"]
    if sid.name == "issuer_and_serial_number":
        issuer = sid.chosen["issuer"]
        serial = sid.chosen["serial_number"].native
        for cert in certs:
            if cert.serial_number == serial and cert.issuer == issuer:
                return cert
    elif sid.name == "subject_key_identifier":
        ski = sid.chosen.native
        for cert in certs:
            if cert.key_identifier == ski:
                return cert
    return None


def _root_cause(exc: BaseException) -> str:
    """A short reason for a connection failure: the deepest OS-level error in the exception chain."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 20:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for item in chain:
        if isinstance(item, ConnectionRefusedError) or "Connection refused" in str(item):
            return "connection refused"
    for item in chain:
        if isinstance(item, socket.gaierror):
            return f"cannot resolve the host name ({item.strerror or item})"
    for item in reversed(chain):
        if isinstance(item, OSError) and item.strerror:
            return item.strerror
    return type(exc).__name__


__all__ = [
    "DpaTimeStamper",
    "HttpTransport",
    "TimestampInfo",
    "http_session",
    "timestamper_from_config",
    "token_gen_time",
    "tst_signer_certificate",
]
