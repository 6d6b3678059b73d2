"""Throwaway certificates for tests and demos, clearly marked as not for production.

A small reusable API — :func:`generate_key`, :func:`make_ca`, :func:`issue_cert`, :func:`make_lookalike` —
returning :class:`CertKey` objects that can be written as PEM or PKCS#12. A CA made with ``revocation=`` (see
:func:`revocation_urls`) puts its CRL distribution point, OCSP responder and caIssuers addresses into every
certificate it issues, as a real CA does; :mod:`dpa.devtools.revocation` answers at those addresses.
:mod:`dpa.devtools.devpki` builds ``dpa pki init`` on top of this.

Every subject name carries the :data:`DEV_MARKER`, so a development certificate can never be mistaken for a real
one.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

DEV_MARKER = "NIET VOOR PRODUCTIE"
"""Put into every development subject name (organizational unit and common name)."""

DEV_ORGANIZATIONAL_UNIT = f"development - {DEV_MARKER}"

KeyType = Literal["rsa", "rsa3072", "ec", "ec384"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
Profile = Literal["signer", "tsa"]

KEY_USAGE_NAMES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)
SIGNER_KEY_USAGE = frozenset({"digital_signature", "content_commitment"})
TSA_KEY_USAGE = frozenset({"digital_signature"})


def generate_key(key_type: KeyType = "rsa") -> PrivateKey:
    """A fresh private key: ``rsa`` (2048 bits), ``rsa3072``, ``ec`` (P-256) or ``ec384`` (P-384)."""
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "rsa3072":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ec384":
        return ec.generate_private_key(ec.SECP384R1())
    raise ValueError(f"unknown key type {key_type!r}")


@dataclass(frozen=True)
class RevocationUrls:
    """Where a CA publishes its CRL, answers OCSP and serves its own certificate (caIssuers)."""

    crl: str
    ocsp: str
    ca_issuers: str


def revocation_urls(base_url: str, ca_name: str) -> RevocationUrls:
    """The addresses under ``base_url`` at which :mod:`dpa.devtools.revocation` serves the CA ``ca_name``:
    ``crl/NAME.crl``, ``ocsp/NAME`` and ``ca/NAME.cer``."""
    if not base_url.endswith("/"):
        base_url += "/"
    return RevocationUrls(
        crl=f"{base_url}crl/{ca_name}.crl", ocsp=f"{base_url}ocsp/{ca_name}", ca_issuers=f"{base_url}ca/{ca_name}.cer"
    )


@dataclass(frozen=True)
class CertKey:
    """A certificate, its private key and the chain above it (issuer first, root last, root included).

    For a CA, ``revocation`` holds the addresses that every certificate it issues carries (None: none).
    """

    cert: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...] = ()
    revocation: RevocationUrls | None = None

    @property
    def common_name(self) -> str:
        """The subject's common name."""
        attrs = self.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(attrs[0].value) if attrs else ""

    def cert_pem(self) -> bytes:
        """The certificate as PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def chain_pem(self) -> bytes:
        """The chain above the certificate as concatenated PEM."""
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    def key_pem(self, passphrase: str | None = None) -> bytes:
        """The private key as PKCS#8 PEM, encrypted when ``passphrase`` is given."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
        )
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)

    def pkcs12(self, passphrase: str | None, friendly_name: str | None = None) -> bytes:
        """Key, certificate and chain as a PKCS#12 archive (AES-256, SHA-256 MAC) protected by ``passphrase``."""
        if passphrase:
            encryption = (
                serialization.PrivateFormat.PKCS12.encryption_builder()
                .kdf_rounds(50000)
                .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
                .hmac_hash(hashes.SHA256())
                .build(passphrase.encode())
            )
        else:
            encryption = serialization.NoEncryption()
        name = (friendly_name or self.common_name).encode()
        return pkcs12.serialize_key_and_certificates(name, self.key, self.cert, list(self.chain) or None, encryption)

    def write_pem(self, cert_path: Path, key_path: Path, passphrase: str | None = None) -> None:
        """Write the certificate (followed by its chain) and the key as PEM files; the key file is 0600."""
        write_new(cert_path, self.cert_pem() + self.chain_pem())
        write_new(key_path, self.key_pem(passphrase), private=True)

    def write_pkcs12(self, path: Path, passphrase: str | None) -> None:
        """Write a PKCS#12 file (mode 0600)."""
        write_new(path, self.pkcs12(passphrase), private=True)


def dev_name(common_name: str, organization: str = "ipcall.me", *, marked: bool = True) -> x509.Name:
    """A subject name: CN, OU carrying :data:`DEV_MARKER` (unless ``marked`` is false), O and C=NL."""
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "NL")]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if marked:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, DEV_ORGANIZATIONAL_UNIT))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def make_ca(
    common_name: str = f"dpa development CA ({DEV_MARKER})",
    *,
    key_type: KeyType = "rsa",
    organization: str = "ipcall.me",
    subject: x509.Name | None = None,
    issuer: CertKey | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    valid_days: int = 3650,
    path_length: int | None = None,
    revocation: RevocationUrls | None = None,
) -> CertKey:
    """A CA certificate: self-signed root, or an intermediate when ``issuer`` is given.

    ``subject`` overrides the name built from ``common_name``/``organization`` (e.g. to make a look-alike).
    ``revocation``: the addresses put into the certificates this CA issues. An intermediate itself carries its
    issuer's addresses.
    """
    key = generate_key(key_type)
    name = subject or dev_name(common_name, organization)
    start, end = _validity(not_before, not_after, valid_days)
    signing_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.cert.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage({"key_cert_sign", "crl_sign", "digital_signature"}), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
        builder = _with_revocation(builder, issuer.revocation)
    cert = builder.sign(signing_key, _hash_for(signing_key))
    chain = (issuer.cert, *issuer.chain) if issuer else ()
    return CertKey(cert=cert, key=key, chain=chain, revocation=revocation)


def issue_cert(
    ca: CertKey,
    common_name: str,
    *,
    profile: Profile = "signer",
    key_type: KeyType = "rsa",
    organization: str = "ipcall.me",
    subject: x509.Name | None = None,
    email: str | None = None,
    key_usage: Iterable[str] | None = None,
    extended_key_usage: Iterable[x509.ObjectIdentifier] | None = None,
    eku_critical: bool | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    valid_days: int = 730,
    expired: bool = False,
    key: PrivateKey | None = None,
) -> CertKey:
    """An end-entity certificate issued by ``ca``.

    ``profile="signer"``: key usage digitalSignature + nonRepudiation, no EKU. ``profile="tsa"``: key usage
    digitalSignature, EKU timeStamping marked critical (RFC 3161 §2.3). ``key_usage`` (names from
    :data:`KEY_USAGE_NAMES`) and ``extended_key_usage`` override the profile; an empty ``key_usage`` omits the
    extension. ``expired=True`` makes a certificate that ended yesterday. The certificate carries the CRL, OCSP
    and caIssuers addresses of ``ca.revocation`` when the CA has them.
    """
    key = key or generate_key(key_type)
    if expired:
        now = dt.datetime.now(dt.UTC)
        not_before = not_before or now - dt.timedelta(days=400)
        not_after = not_after or now - dt.timedelta(days=1)
    start, end = _validity(not_before, not_after, valid_days)
    usages = set(key_usage) if key_usage is not None else set(TSA_KEY_USAGE if profile == "tsa" else SIGNER_KEY_USAGE)
    ekus = (
        list(extended_key_usage)
        if extended_key_usage is not None
        else ([ExtendedKeyUsageOID.TIME_STAMPING] if profile == "tsa" else [])
    )
    name = subject or dev_name(common_name, organization)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    if usages:
        builder = builder.add_extension(_key_usage(usages), critical=True)
    if ekus:
        critical = eku_critical if eku_critical is not None else profile == "tsa"
        builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=critical)
    if email:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
    builder = _with_revocation(builder, ca.revocation)
    cert = builder.sign(ca.key, _hash_for(ca.key))
    return CertKey(cert=cert, key=key, chain=(ca.cert, *ca.chain))


def make_lookalike(original: CertKey, *, key_type: KeyType | None = None) -> CertKey:
    """A self-signed certificate with the same subject, validity and extensions as ``original`` but a new key.

    Useful to test that verification rejects a certificate that merely *looks* like a trusted one.
    """
    kt: KeyType = key_type or ("ec" if isinstance(original.key, ec.EllipticCurvePrivateKey) else "rsa")
    key = generate_key(kt)
    builder = (
        x509.CertificateBuilder()
        .subject_name(original.cert.subject)
        .issuer_name(original.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(original.cert.not_valid_before_utc)
        .not_valid_after(original.cert.not_valid_after_utc)
    )
    for ext in original.cert.extensions:
        if isinstance(ext.value, x509.SubjectKeyIdentifier | x509.AuthorityKeyIdentifier):
            continue
        builder = builder.add_extension(ext.value, critical=ext.critical)
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    cert = builder.sign(key, _hash_for(key))
    return CertKey(cert=cert, key=key, chain=())


def _with_revocation(builder: x509.CertificateBuilder, urls: RevocationUrls | None) -> x509.CertificateBuilder:
    """Add the CRL distribution point and the authority information access (OCSP, caIssuers) of ``urls``."""
    if urls is None:
        return builder
    point = x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(urls.crl)], relative_name=None, reasons=None, crl_issuer=None
    )
    access = [
        x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(urls.ocsp)),
        x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(urls.ca_issuers)
        ),
    ]
    return builder.add_extension(x509.CRLDistributionPoints([point]), critical=False).add_extension(
        x509.AuthorityInformationAccess(access), critical=False
    )


def _validity(
    not_before: dt.datetime | None, not_after: dt.datetime | None, valid_days: int
) -> tuple[dt.datetime, dt.datetime]:
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    end = not_after or start + dt.timedelta(days=valid_days)
    return start, end


def _key_usage(names: Iterable[str]) -> x509.KeyUsage:
    chosen = set(names)
    unknown = chosen - set(KEY_USAGE_NAMES)
    if unknown:
        raise ValueError(f"unknown key usage(s): {', '.join(sorted(unknown))}")
    flags = {name: name in chosen for name in KEY_USAGE_NAMES}
    return x509.KeyUsage(encipher_only=False, decipher_only=False, **flags)


def _hash_for(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


def write_new(path: Path, data: bytes, *, private: bool = False) -> None:
    """Create ``path`` exclusively (never overwrite) and write ``data``; ``private`` files get mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
