"""The development PKI's revocation services: CRLs and OCSP responses, answered over HTTP by ``dpa tsa serve``.

:class:`RevocationResponder` serves, for each CA of a ``dpa pki init`` folder (``ca`` and ``tsa-ca``), the
addresses its certificates carry (:func:`dpa.devtools.certs.revocation_urls`):

* ``GET /crl/NAME.crl`` — a full CRL (``application/pkix-crl``), signed by the CA, valid seven days;
* ``POST /ocsp/NAME`` — an OCSP response (RFC 6960) signed by the CA itself, valid one day, with the request's
  nonce: ``revoked`` (with date and reason) for a certificate in ``revoked.json``, ``good`` for any other serial
  number (RFC 6960 §2.2 allows that: "good" says that it is not revoked);
* ``GET /ca/NAME.cer`` — the CA certificate (``application/pkix-cert``, the caIssuers address).

The revocation state is read from ``DIR/revoked.json`` on every request, so ``dpa pki revoke`` takes effect at
once. Every request is counted per path (:attr:`RevocationResponder.requests`), for tests that check caching.
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp

from dpa.config import RevocationServiceConfig
from dpa.devtools.devpki import CA_NAMES, Revocation, read_revocations
from dpa.errors import ConfigError
from dpa.signing.keys import SecretPrompt, read_secret

CaKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
CRL_VALIDITY = dt.timedelta(days=7)
OCSP_VALIDITY = dt.timedelta(days=1)
ISSUED_BEFORE = dt.timedelta(minutes=1)
"""CRLs and OCSP responses are dated a minute before they are made, as a real CA's were issued before they are
fetched: a client whose "now" was taken a moment before the request must not find them "too recent"."""
CONTENT_TYPE_OCSP_REQUEST = "application/ocsp-request"


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, content type, body."""

    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class _Authority:
    cert: x509.Certificate
    key: CaKey
    name_hashes: Mapping[str, bytes]
    key_hashes: Mapping[str, bytes]


class RevocationResponder:
    """CRLs and OCSP responses for the CAs of one development PKI (see the module docstring). Thread-safe."""

    def __init__(
        self,
        cas: Mapping[str, tuple[x509.Certificate, CaKey]],
        pki: Path,
        *,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self._cas = {name: _authority(cert, key) for name, (cert, key) in cas.items()}
        self._pki = Path(pki)
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._lock = threading.Lock()
        self.requests: collections.Counter[str] = collections.Counter()
        """How often each path was asked for."""

    def get(self, path: str) -> Answer | None:
        """The answer to ``GET path``, or None when ``path`` is not one of the revocation addresses."""
        route, _, name = path.lstrip("/").partition("/")
        if route not in ("crl", "ca"):
            return None
        self._count(path)
        suffix = ".crl" if route == "crl" else ".cer"
        authority = self._cas.get(name.removesuffix(suffix)) if name.endswith(suffix) else None
        if authority is None:
            return Answer(404, "text/plain; charset=utf-8", b"no such CA\n")
        if route == "ca":
            return Answer(200, "application/pkix-cert", authority.cert.public_bytes(serialization.Encoding.DER))
        return Answer(200, "application/pkix-crl", self._crl(name.removesuffix(suffix), authority))

    def is_ocsp(self, path: str) -> bool:
        """Whether ``POST path`` is an OCSP request for this responder."""
        return path.startswith("/ocsp/")

    def post_ocsp(self, path: str, content_type: str, body: bytes) -> Answer:
        """The answer to an OCSP request ``body`` POSTed to ``path``."""
        self._count(path)
        authority = self._cas.get(path.removeprefix("/ocsp/"))
        if authority is None:
            return Answer(404, "text/plain; charset=utf-8", b"no such CA\n")
        if content_type != CONTENT_TYPE_OCSP_REQUEST:
            return Answer(415, "text/plain; charset=utf-8", f"expected {CONTENT_TYPE_OCSP_REQUEST}\n".encode())
        return Answer(200, "application/ocsp-response", self._ocsp(path.removeprefix("/ocsp/"), authority, body))

    # --- building the answers ------------------------------------------------------------------------------------

    def _count(self, path: str) -> None:
        with self._lock:
            self.requests[path] += 1

    def _revoked(self, ca_name: str) -> dict[int, Revocation]:
        return {r.serial: r for r in read_revocations(self._pki) if r.ca == ca_name}

    def _crl(self, ca_name: str, authority: _Authority) -> bytes:
        now = self._clock().replace(microsecond=0)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(authority.cert.subject)
            .last_update(now - ISSUED_BEFORE)
            .next_update(now + CRL_VALIDITY)
            .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.key.public_key()), False)
        )
        for revocation in self._revoked(ca_name).values():
            entry = x509.RevokedCertificateBuilder().serial_number(revocation.serial)
            entry = entry.revocation_date(revocation.revoked_at)
            if revocation.reason != "unspecified":
                entry = entry.add_extension(x509.CRLReason(x509.ReasonFlags(revocation.reason)), critical=False)
            builder = builder.add_revoked_certificate(entry.build())
        crl = builder.sign(authority.key, hashes.SHA256())
        return crl.public_bytes(serialization.Encoding.DER)

    def _ocsp(self, ca_name: str, authority: _Authority, body: bytes) -> bytes:
        try:
            request = ocsp.load_der_ocsp_request(body)
            algorithm = request.hash_algorithm.name
        except (ValueError, TypeError):
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        if (
            authority.name_hashes.get(algorithm) != request.issuer_name_hash
            or authority.key_hashes.get(algorithm) != request.issuer_key_hash
        ):
            return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)  # not a certificate of this CA
        now = self._clock().replace(microsecond=0)
        revocation = self._revoked(ca_name).get(request.serial_number)
        reason = None if revocation is None or revocation.reason == "unspecified" else revocation.reason
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=request.issuer_name_hash,
            issuer_key_hash=request.issuer_key_hash,
            serial_number=request.serial_number,
            algorithm=request.hash_algorithm,
            cert_status=ocsp.OCSPCertStatus.GOOD if revocation is None else ocsp.OCSPCertStatus.REVOKED,
            this_update=now - ISSUED_BEFORE,
            next_update=now + OCSP_VALIDITY,
            revocation_time=revocation.revoked_at if revocation else None,
            revocation_reason=x509.ReasonFlags(reason) if reason else None,
        )
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, authority.cert)
        try:
            nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value
        except x509.ExtensionNotFound:
            pass
        else:
            builder = builder.add_extension(x509.OCSPNonce(nonce.nonce), critical=False)
        return builder.sign(authority.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def responder_from_config(
    service: RevocationServiceConfig, *, prompt: SecretPrompt | None = None
) -> RevocationResponder:
    """Load the CA certificates and keys of the ``[tsa.server.revocation]`` PKI (passphrase from the environment)."""
    passphrase = read_secret(service.ca_key_passphrase_env, "passphrase of the development CA keys", prompt)
    cas: dict[str, tuple[x509.Certificate, CaKey]] = {}
    for name in CA_NAMES:
        cert_path, key_path = service.pki / f"{name}.pem", service.pki / f"{name}-key.pem"
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            key = serialization.load_pem_private_key(
                key_path.read_bytes(), passphrase.encode() if passphrase is not None else None
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot read the development CA {name} in {service.pki} ([tsa.server.revocation] pki): "
                f"{exc.strerror or exc}"
            ) from None
        except (ValueError, TypeError):
            raise ConfigError(
                f"cannot load the development CA key {key_path}: wrong passphrase or not a PEM key (check "
                "[tsa.server.revocation] ca_key_passphrase_env)"
            ) from None
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ConfigError(f"the development CA key {key_path} must be an RSA or EC key")
        cas[name] = (cert, key)
    read_revocations(service.pki)  # a broken revoked.json fails now, not at the first request
    return RevocationResponder(cas, service.pki)


def _authority(cert: x509.Certificate, key: CaKey) -> _Authority:
    parsed = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    return _Authority(
        cert=cert,
        key=key,
        name_hashes={"sha1": parsed.subject.sha1, "sha256": parsed.subject.sha256},
        key_hashes={"sha1": parsed.public_key.sha1, "sha256": parsed.public_key.sha256},
    )


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)
