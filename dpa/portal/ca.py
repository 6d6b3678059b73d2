"""The customer-signing CA: short-lived certificates for keys made in the signer's browser, and its CRL.

The browser makes an ECDSA P-256 key (WebCrypto, not extractable) and signs a server challenge with it; the CA
checks that proof of possession (:func:`check_proof_of_possession`) and issues a certificate (:meth:`SigningCa.issue`)
with the signatory's name as CN, the customer's legal name as O, the invited e-mail address as SAN rfc822Name, key
usage digitalSignature + nonRepudiation (critical), a CRL distribution point under ``[portal] base_url``, and the
agreement it may sign in dpa's private extension (:mod:`dpa.portal.binding`). It is valid ``[signing_ca]
cert_minutes`` (default 60) from a minute before issue.

Certificates and CRLs are built with asn1crypto and signed through pyHanko's raw signing, so the CA key can sit in
a PEM file (``key`` + ``passphrase_env``) or on a PKCS#11 token (``pkcs11``) alike. Nothing here ever sees a
private key of the customer: only the public key and two signatures made with it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from asn1crypto import core, crl, keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from dpa.config import Config, SignerConfig
from dpa.errors import ConfigError, SigningError
from dpa.portal.binding import AGREEMENT_BINDING_OID, AgreementBinding
from dpa.portal.errors import CertificateRequestRefused, SigningCaError
from dpa.signing.keys import LoadedSigner, SecretPrompt, load_signer
from dpa.signing.trust import load_certificates

CRL_PATH = "/ca/customer-signing.crl"
"""Where ``dpa serve`` publishes the CRL, below ``[portal] base_url``; every certificate names that address."""
CRL_HOURS = 24
BACKDATE = dt.timedelta(minutes=1)
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
POP_CONTEXT = b"dpa customer-signing CA - proof of possession - "
"""Every challenge starts with these bytes, so a proof of possession can never pass for a document signature."""


@dataclass(frozen=True)
class CertificateRequest:
    """What the signing page asks the CA to certify: the browser's public key and whom it belongs to."""

    public_key: ec.EllipticCurvePublicKey
    signatory_name: str
    signatory_title: str
    organization: str
    email: str
    country: str
    binding: AgreementBinding


def browser_public_key(spki_der: bytes) -> ec.EllipticCurvePublicKey:
    """The browser's public key from its SubjectPublicKeyInfo (WebCrypto ``exportKey("spki")``): ECDSA P-256 only."""
    try:
        key = serialization.load_der_public_key(spki_der)
    except (ValueError, TypeError):
        raise CertificateRequestRefused("the browser's public key is not a valid SubjectPublicKeyInfo") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        kind = f"an {key.curve.name} key" if isinstance(key, ec.EllipticCurvePublicKey) else type(key).__name__
        raise CertificateRequestRefused(f"the signing page accepts only ECDSA P-256 keys, not {kind}")
    return key


def key_fingerprint(public_key: ec.EllipticCurvePublicKey) -> str:
    """SHA-256 (hex) of the key's SubjectPublicKeyInfo: how the evidence names the browser's key."""
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def raw_to_der_signature(raw: bytes) -> bytes:
    """WebCrypto's ECDSA P-256 signature (r ‖ s, 32 bytes each) as the DER ``ECDSA-Sig-Value`` CMS needs."""
    if len(raw) != 64:
        raise ValueError(f"an ECDSA P-256 signature from the browser has 64 bytes, not {len(raw)}")
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    if not (0 < r < P256_ORDER and 0 < s < P256_ORDER):
        raise ValueError("the ECDSA signature's values are out of range")
    return encode_dss_signature(r, s)


def verify_browser_signature(public_key: ec.EllipticCurvePublicKey, data: bytes, raw: bytes) -> bool:
    """Whether ``raw`` (r ‖ s) is the browser key's ECDSA-SHA-256 signature over ``data``."""
    try:
        public_key.verify(raw_to_der_signature(raw), data, ec.ECDSA(hashes.SHA256()))
    except (ValueError, InvalidSignature):
        return False
    return True


def new_challenge() -> bytes:
    """A fresh challenge for a proof of possession: :data:`POP_CONTEXT` and 32 random bytes."""
    return POP_CONTEXT + secrets.token_bytes(32)


def check_proof_of_possession(public_key: ec.EllipticCurvePublicKey, challenge: bytes, raw: bytes) -> None:
    """Refuse unless ``raw`` is the key's signature over ``challenge`` (so the requester holds the private key)."""
    if not challenge.startswith(POP_CONTEXT) or not verify_browser_signature(public_key, challenge, raw):
        raise CertificateRequestRefused(
            "the browser's proof of possession does not verify: its signature over the challenge was not made with "
            "this key"
        )


class SigningCa:
    """The customer-signing CA with its key loaded once (a PEM file or a PKCS#11 token)."""

    def __init__(self, loaded: LoadedSigner, *, cert_minutes: int, crl_url: str) -> None:
        self._loaded = loaded
        self.certificate = loaded.certificate
        self._asn1 = loaded.asn1_certificate
        self.cert_minutes = cert_minutes
        self.crl_url = crl_url
        self._mechanism = loaded.signer.get_signature_mechanism_for_digest("sha256")
        _check_ca_certificate(self.certificate)

    @classmethod
    def from_config(cls, config: Config, *, prompt: SecretPrompt | None = None) -> SigningCa:
        """The CA of ``[signing_ca]``; its CRL address comes from ``[portal] base_url``."""
        ca = config.signing_ca
        if ca is None:
            raise ConfigError("no [signing_ca] section: the signing page needs a customer-signing CA (dpa pki init)")
        if ca.key is not None:
            source = SignerConfig(pem_key=ca.key, pem_cert=ca.cert, passphrase_env=ca.passphrase_env)
        else:
            source = SignerConfig(pkcs11=ca.pkcs11)
        try:
            loaded = load_signer(source, where="[signing_ca]", prompt=prompt, check_certificate=False)
        except SigningError as exc:
            raise SigningCaError(str(exc)) from None
        try:
            configured = load_certificates(ca.cert, "customer-signing CA certificate ([signing_ca] cert)")[0]
            if configured.dump() != loaded.asn1_certificate.dump():
                raise SigningCaError(f"the key of [signing_ca] does not belong to the certificate {ca.cert}")
            return cls(loaded, cert_minutes=ca.cert_minutes, crl_url=config.portal.base_url.rstrip("/") + CRL_PATH)
        except BaseException:
            loaded.close()
            raise

    def close(self) -> None:
        """Release the key (logs out of a PKCS#11 token)."""
        self._loaded.close()

    def issue(self, request: CertificateRequest, now: dt.datetime) -> x509.Certificate:
        """A certificate for ``request``'s key, valid ``cert_minutes`` from a minute before ``now``."""
        spki = keys.PublicKeyInfo.load(
            request.public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        subject = {"common_name": request.signatory_name, "organization_name": request.organization}
        if request.signatory_title:
            subject["title"] = request.signatory_title
        if request.country:
            subject["country_name"] = request.country
        start = now - BACKDATE
        tbs = asn1_x509.TbsCertificate(
            {
                "version": "v3",
                "serial_number": x509.random_serial_number(),
                "signature": self._mechanism,
                "issuer": self._asn1.subject,
                "validity": {
                    "not_before": _time(start),
                    "not_after": _time(start + dt.timedelta(minutes=self.cert_minutes)),
                },
                "subject": asn1_x509.Name.build(subject),
                "subject_public_key_info": spki,
                "extensions": self._extensions(spki, request),
            }
        )
        der = asn1_x509.Certificate(
            {"tbs_certificate": tbs, "signature_algorithm": self._mechanism, "signature_value": self._sign(tbs.dump())}
        ).dump()
        return x509.load_der_x509_certificate(der)

    def crl(self, revoked: Iterable[tuple[int, dt.datetime, str]], now: dt.datetime) -> bytes:
        """The current CRL (DER): ``revoked`` is (serial, revocation time, asn1crypto reason name) per certificate."""
        entries = [
            {
                "user_certificate": serial,
                "revocation_date": _time(when),
                "crl_entry_extensions": [{"extn_id": "crl_reason", "critical": False, "extn_value": reason}],
            }
            for serial, when, reason in revoked
        ]
        fields: dict[str, object] = {
            "version": "v2",
            "signature": self._mechanism,
            "issuer": self._asn1.subject,
            "this_update": _time(now),
            "next_update": _time(now + dt.timedelta(hours=CRL_HOURS)),
            "crl_extensions": [
                {"extn_id": "crl_number", "critical": False, "extn_value": int(now.timestamp())},
                {
                    "extn_id": "authority_key_identifier",
                    "critical": False,
                    "extn_value": {"key_identifier": self._key_identifier()},
                },
            ],
        }
        if entries:
            fields["revoked_certificates"] = entries
        tbs = crl.TbsCertList(fields)
        signed = crl.CertificateList(
            {"tbs_cert_list": tbs, "signature_algorithm": self._mechanism, "signature": self._sign(tbs.dump())}
        )
        return bytes(signed.dump())

    def _extensions(self, spki: keys.PublicKeyInfo, request: CertificateRequest) -> list[dict[str, object]]:
        crl_point = asn1_x509.DistributionPointName(
            name="full_name", value=[asn1_x509.GeneralName(name="uniform_resource_identifier", value=self.crl_url)]
        )
        return [
            {"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": False}},
            {
                "extn_id": "key_usage",
                "critical": True,
                "extn_value": asn1_x509.KeyUsage({"digital_signature", "non_repudiation"}),
            },
            {
                "extn_id": "subject_alt_name",
                "critical": False,
                "extn_value": [asn1_x509.GeneralName(name="rfc822_name", value=request.email)],
            },
            {"extn_id": "key_identifier", "critical": False, "extn_value": spki.sha1},
            {
                "extn_id": "authority_key_identifier",
                "critical": False,
                "extn_value": {"key_identifier": self._key_identifier()},
            },
            {
                "extn_id": "crl_distribution_points",
                "critical": False,
                "extn_value": [{"distribution_point": crl_point}],
            },
            {
                "extn_id": AGREEMENT_BINDING_OID,
                "critical": False,
                "extn_value": core.ParsableOctetString(request.binding.der()),
            },
        ]

    def _key_identifier(self) -> bytes:
        identifier = self._asn1.key_identifier
        return bytes(identifier) if identifier else bytes(self._asn1.public_key.sha1)

    def _sign(self, data: bytes) -> bytes:
        try:
            return asyncio.run(self._loaded.signer.async_sign_raw(data, "sha256"))
        except Exception as exc:  # the key's own failures (a token that went away): never a certificate
            raise SigningCaError(f"the customer-signing CA could not sign: {type(exc).__name__} {exc}") from None


def _check_ca_certificate(cert: x509.Certificate) -> None:
    subject = cert.subject.rfc4514_string()
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise SigningCaError(f"[signing_ca] cert ({subject}) is not a CA certificate with a key usage") from None
    if not constraints.ca or not (usage.key_cert_sign and usage.crl_sign):
        raise SigningCaError(
            f"[signing_ca] cert ({subject}) must be a CA certificate allowing certificate and CRL signing"
        )
    now = dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise SigningCaError(f"[signing_ca] cert ({subject}) is not valid now")


def _time(moment: dt.datetime) -> asn1_x509.Time:
    moment = moment.astimezone(dt.UTC).replace(microsecond=0)
    return asn1_x509.Time(name="utc_time" if moment.year < 2050 else "general_time", value=moment)
