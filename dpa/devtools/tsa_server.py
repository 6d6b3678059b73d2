"""The embedded RFC 3161 time-stamping authority behind ``dpa tsa serve``.

:class:`TimestampAuthority` turns a DER ``TimeStampReq`` into a DER ``TimeStampResp`` (the key is parsed once);
:class:`TsaServer` serves it over HTTP: ``POST`` with ``Content-Type: application/timestamp-query`` answered with
``application/timestamp-reply``, optionally behind HTTP basic auth, with a bounded request size. Sockets get
TCP_NODELAY (an ``http.server`` TSA stalls about 40 ms per request without it) and HTTP/1.1 keep-alive, so one
client session costs one connection.

Tokens carry the TSA certificate's ESS signing-certificate-v2 attribute (RFC 5816), the request's nonce and
message imprint, the configured policy OID, and a random 127-bit serial number.

With a development PKI (``[tsa.server.revocation]``), the same server also answers its CRLs and OCSP requests
(:class:`dpa.devtools.revocation.RevocationResponder`): ``GET /crl/…``, ``GET /ca/…`` and ``POST /ocsp/…``, without
authentication, as the addresses in the certificates require.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import signal
import socket
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from dpa.config import Config, TsaServerConfig
from dpa.devtools.http_service import ServiceHttpServer
from dpa.devtools.revocation import RevocationResponder, responder_from_config
from dpa.errors import ConfigError
from dpa.signing.keys import SecretPrompt, read_secret
from dpa.signing.rfc3161 import TimeStampResponse
from dpa.signing.trust import asn1_certificate, load_certificates

log = logging.getLogger(__name__)

ACCEPTED_DIGESTS = {"sha256": 32, "sha384": 48, "sha512": 64}
TsaKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class TimestampAuthority:
    """Issues RFC 3161 time-stamp tokens with one certificate and an already parsed private key."""

    def __init__(
        self,
        cert: x509.Certificate,
        key: TsaKey,
        chain: Sequence[x509.Certificate] = (),
        policy_oid: str = "1.3.6.1.4.1.57264.1.1",
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        check_tsa_certificate(cert, key)
        self._key = key
        self._cert = asn1_certificate(cert)
        self._certs = [self._cert, *(asn1_certificate(c) for c in chain)]
        self._policy = policy_oid
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        issuer_serial = {
            "issuer": [asn1_x509.GeneralName(name="directory_name", value=self._cert.issuer)],
            "serial_number": self._cert.serial_number,
        }
        ess_attr = cms.CMSAttribute(
            {
                "type": "signing_certificate_v2",
                "values": [
                    tsp.SigningCertificateV2(
                        {
                            "certs": [
                                {
                                    "hash_algorithm": {"algorithm": "sha256"},
                                    "cert_hash": hashlib.sha256(self._cert.dump()).digest(),
                                    "issuer_serial": issuer_serial,
                                }
                            ]
                        }
                    )
                ],
            }
        )
        # Constructed asn1crypto values re-encode on every dump; loaded ones reuse their bytes (7 ms → 0).
        self._ess_attr = cms.CMSAttribute.load(ess_attr.dump())
        self._sid = cms.SignerIdentifier(
            name="issuer_and_serial_number",
            value={"issuer": self._cert.issuer, "serial_number": self._cert.serial_number},
        )
        self._sig_algo = "sha256_ecdsa" if isinstance(key, ec.EllipticCurvePrivateKey) else "sha256_rsa"
        self._tsa_name = asn1_x509.GeneralName(name="directory_name", value=self._cert.subject)

    @property
    def certificate(self) -> asn1_x509.Certificate:
        """The TSA certificate."""
        return self._cert

    def respond(self, request_der: bytes) -> bytes:
        """Answer one DER ``TimeStampReq`` with a DER ``TimeStampResp`` (a rejection for a bad request)."""
        try:
            request = tsp.TimeStampReq.load(request_der)
            version = request["version"].native
            imprint = request["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].native
            digest = imprint["hashed_message"].native
            req_policy = request["req_policy"].native
            extensions = request["extensions"].native
            nonce = request["nonce"].native
            cert_req = bool(request["cert_req"].native)
        except (ValueError, TypeError, KeyError) as exc:
            return _rejection("bad_data_format", f"not a TimeStampReq: {exc}")
        if version != "v1":
            return _rejection("bad_request", "only version 1 requests are supported")
        if algorithm not in ACCEPTED_DIGESTS:
            return _rejection("bad_alg", f"digest algorithm {algorithm} is not accepted; use SHA-256/384/512")
        if not isinstance(digest, bytes) or len(digest) != ACCEPTED_DIGESTS[algorithm]:
            return _rejection("bad_data_format", "message imprint has the wrong length for its algorithm")
        if req_policy is not None and req_policy != self._policy:
            return _rejection("unaccepted_policy", f"this TSA issues tokens under policy {self._policy} only")
        if extensions:
            return _rejection("unaccepted_extension", "request extensions are not supported")
        token = self.issue(imprint, nonce=nonce, include_certs=cert_req)
        reply: bytes = TimeStampResponse({"status": {"status": "granted"}, "time_stamp_token": token}).dump()
        return reply

    def issue(
        self, imprint: tsp.MessageImprint, *, nonce: int | None = None, include_certs: bool = True
    ) -> cms.ContentInfo:
        """A signed time-stamp token over ``imprint``."""
        now = self._clock().astimezone(dt.UTC)
        gen_time = now.replace(microsecond=now.microsecond // 1000 * 1000)  # millisecond precision
        tst_fields: dict[str, Any] = {
            "version": "v1",
            "policy": self._policy,
            "message_imprint": imprint,
            "serial_number": secrets.randbits(127) | 1,
            "gen_time": gen_time,
            "accuracy": {"seconds": 1},
            "ordering": False,
            "tsa": self._tsa_name,
        }
        if nonce is not None:
            tst_fields["nonce"] = nonce
        tst_der = tsp.TSTInfo(tst_fields).dump()
        attrs = [
            cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
            cms.CMSAttribute(
                {"type": "signing_time", "values": [cms.Time(name="utc_time", value=gen_time.replace(microsecond=0))]}
            ),
            cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(tst_der).digest()]}),
            self._ess_attr,
        ]
        # DER: a SET OF is sorted by encoding (OpenSSL re-encodes before it verifies).
        signed_attrs = cms.CMSAttributes(sorted(attrs, key=lambda a: a.dump()))
        signature = self._sign(signed_attrs.dump())
        signer_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": self._sid,
                "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "signed_attrs": signed_attrs,
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": self._sig_algo}),
                "signature": signature,
            }
        )
        signed_data = cms.SignedData(
            {
                "version": "v3",
                "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
                "encap_content_info": {
                    "content_type": "tst_info",
                    "content": core.ParsableOctetString(tst_der),
                },
                "certificates": list(self._certs) if include_certs else None,
                "signer_infos": [signer_info],
            }
        )
        return cms.ContentInfo({"content_type": "signed_data", "content": signed_data})

    def _sign(self, data: bytes) -> bytes:
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(hashes.SHA256()))
        return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def check_tsa_certificate(cert: x509.Certificate, key: TsaKey | None = None) -> None:
    """Refuse a TSA certificate without a critical extended key usage timeStamping, or not matching ``key``."""
    subject = cert.subject.rfc4514_string()
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        eku = None
    if eku is None or ExtendedKeyUsageOID.TIME_STAMPING not in eku.value or not eku.critical:
        raise ConfigError(
            f"the TSA certificate ({subject}) needs extended key usage timeStamping marked critical "
            "(RFC 3161 §2.3); use a certificate made for time-stamping"
        )
    if key is not None:
        spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
            raise ConfigError(f"the TSA key does not belong to the TSA certificate ({subject})")


def authority_from_config(server: TsaServerConfig, *, prompt: SecretPrompt | None = None) -> TimestampAuthority:
    """Load the ``[tsa.server]`` certificate, key (passphrase from ``key_passphrase_env``) and chain."""
    certs = _read_certs(server.cert, "TSA certificate ([tsa.server] cert)")
    chain = list(certs[1:])
    for path in server.chain:
        chain.extend(_read_certs(path, "TSA chain file ([tsa.server] chain)"))
    try:
        key_data = server.key.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"the TSA key {server.key} ([tsa.server] key) does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the TSA key {server.key}: {exc.strerror or exc}") from None
    encrypted = b"ENCRYPTED" in key_data[:200]
    passphrase = (
        read_secret(server.key_passphrase_env, f"passphrase for {server.key.name}", prompt) if encrypted else None
    )
    if encrypted and passphrase is None:
        raise ConfigError(f"the TSA key {server.key} is encrypted: set [tsa.server] key_passphrase_env")
    try:
        key = serialization.load_pem_private_key(key_data, passphrase.encode() if passphrase is not None else None)
    except (ValueError, TypeError):
        what = "wrong passphrase (check [tsa.server] key_passphrase_env)" if encrypted else "not a PEM private key"
        raise ConfigError(f"cannot load the TSA key {server.key}: {what}") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ConfigError(f"the TSA key {server.key} must be an RSA or EC key")
    return TimestampAuthority(certs[0], key, chain, policy_oid=server.policy_oid)


class TsaServer:
    """An HTTP RFC 3161 server bound on construction (``port=0`` picks a free port; see :attr:`url`); with
    ``revocation``, also the CRLs and OCSP responder of a development PKI."""

    def __init__(
        self,
        authority: TimestampAuthority,
        *,
        host: str = "127.0.0.1",
        port: int = 3161,
        username: str = "",
        password: str | None = None,
        max_request_bytes: int = 16384,
        revocation: RevocationResponder | None = None,
    ) -> None:
        if username and password is None:
            raise ConfigError("the TSA server has a username but no password")
        credentials = (username.encode(), (password or "").encode()) if username else None
        try:
            self._http = ServiceHttpServer((host, port), authority.respond, credentials, max_request_bytes, revocation)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://HOST:PORT/`` as actually bound."""
        host, port = self._http.server_address[:2]
        host_text = host.decode() if isinstance(host, bytes) else str(host)
        if ":" in host_text:
            host_text = f"[{host_text}]"
        return f"http://{host_text}:{port}/"

    @property
    def revocation(self) -> RevocationResponder | None:
        """The revocation responder this server answers with (its ``requests`` count what was asked), if any."""
        return self._http.revocation

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`shutdown` is called from another thread."""
        self._http.serve_forever(poll_interval=0.2)

    def start_in_thread(self) -> str:
        """Serve in a daemon thread (for in-process demos, tests and benchmarks); returns :attr:`url`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.serve_forever, name="dpa-tsa", daemon=True)
            self._thread.start()
        return self.url

    def shutdown(self) -> None:
        """Stop serving and close the listening socket."""
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._http.server_close()

    def __enter__(self) -> TsaServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def tsa_server_from_config(
    config: Config,
    *,
    host: str = "127.0.0.1",
    port: int = 3161,
    prompt: SecretPrompt | None = None,
) -> TsaServer:
    """A :class:`TsaServer` for ``[tsa.server]`` (key parsed once; password from ``password_env``), answering the
    development PKI's CRLs and OCSP too when ``[tsa.server.revocation]`` is set."""
    server_config = config.tsa.server
    if server_config is None:
        where = config.source or "the configuration"
        raise ConfigError(f"no [tsa.server] section in {where}: run `dpa pki init DIR` for a development TSA")
    authority = authority_from_config(server_config, prompt=prompt)
    password = None
    if server_config.username:
        if not server_config.password_env:
            raise ConfigError("[tsa.server] username is set but password_env is not")
        password = read_secret(server_config.password_env, "TSA server password", prompt)
    revocation = responder_from_config(server_config.revocation, prompt=prompt) if server_config.revocation else None
    return TsaServer(
        authority,
        host=host,
        port=port,
        username=server_config.username,
        password=password,
        max_request_bytes=server_config.max_request_bytes,
        revocation=revocation,
    )


def serve_until_signalled(server: TsaServer, on_listening: Callable[[str], None] | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then shut down cleanly. Must run in the main thread.

    ``on_listening`` receives the URL once the socket is ready (the CLI prints it).
    """
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.start_in_thread()
        if on_listening is not None:
            on_listening(server.url)
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        for sig, old in previous.items():
            signal.signal(sig, old)


def free_loopback_port() -> int:
    """A loopback TCP port nobody listens on now (bound and released): for a development PKI whose certificates
    must name the port its services will listen on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _rejection(fail_info: str, text: str) -> bytes:
    status = {"status": "rejection", "status_string": [text], "fail_info": {fail_info}}
    reply: bytes = TimeStampResponse({"status": status}).dump()
    return reply


def _read_certs(path: Path, what: str) -> list[x509.Certificate]:
    """The certificates of a PEM or DER file, as ``cryptography`` objects (see :func:`load_certificates`)."""
    return [x509.load_der_x509_certificate(cert.dump()) for cert in load_certificates(path, what)]
