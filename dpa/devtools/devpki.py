"""A development PKI: throwaway CAs, signer and TSA certificates, clearly marked as not for production.

Two layers:

* a small reusable API for tests and demos — :func:`generate_key`, :func:`make_ca`, :func:`issue_cert`,
  :func:`make_lookalike` — returning :class:`CertKey` objects that can be written as PEM or PKCS#12;
* :func:`init_dev_pki`, behind ``dpa pki init DIR``: a CA, a processor (ipcall.me) certificate, an example
  controller certificate and a TSA certificate, plus ``DIR/dpa.toml`` wired to them and ``DIR/dev-secrets.env``
  with random passphrases.

Every subject name carries the :data:`DEV_MARKER`, so a development certificate can never be mistaken for a real
one.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dpa.errors import ConfigError

DEV_MARKER = "NIET VOOR PRODUCTIE"
"""Put into every development subject name (organizational unit and common name)."""

DEV_ORGANIZATIONAL_UNIT = f"development - {DEV_MARKER}"
DEFAULT_TSA_URL = "http://127.0.0.1:3161/"

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
class CertKey:
    """A certificate, its private key and the chain above it (issuer first, root last, root included)."""

    cert: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...] = ()

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
        _write_new(cert_path, self.cert_pem() + self.chain_pem())
        _write_new(key_path, self.key_pem(passphrase), private=True)

    def write_pkcs12(self, path: Path, passphrase: str | None) -> None:
        """Write a PKCS#12 file (mode 0600)."""
        _write_new(path, self.pkcs12(passphrase), private=True)


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
) -> CertKey:
    """A CA certificate: self-signed root, or an intermediate when ``issuer`` is given.

    ``subject`` overrides the name built from ``common_name``/``organization`` (e.g. to make a look-alike).
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
    cert = builder.sign(signing_key, _hash_for(signing_key))
    chain = (issuer.cert, *issuer.chain) if issuer else ()
    return CertKey(cert=cert, key=key, chain=chain)


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
    extension. ``expired=True`` makes a certificate that ended yesterday.
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


# --- dpa pki init ----------------------------------------------------------------------------------------------

PROCESSOR_PASSPHRASE_ENV = "DPA_DEV_PROCESSOR_PASSPHRASE"  # noqa: S105 - the name of a variable, not a secret
CONTROLLER_PASSPHRASE_ENV = "DPA_DEV_CONTROLLER_PASSPHRASE"  # noqa: S105 - the name of a variable, not a secret
TSA_KEY_PASSPHRASE_ENV = "DPA_DEV_TSA_KEY_PASSPHRASE"  # noqa: S105 - the name of a variable, not a secret
TSA_PASSWORD_ENV = "DPA_DEV_TSA_PASSWORD"  # noqa: S105 - the name of a variable, not a secret
TSA_USERNAME = "dpa-dev"

PKI_FILES = (
    "ca.pem",
    "processor.p12",
    "processor.pem",
    "controller.p12",
    "controller.pem",
    "tsa.pem",
    "tsa-key.pem",
    "signing-ca.pem",
    "signing-ca-key.pem",
    "dpa.toml",
    "dev-secrets.env",
    "README.txt",
)


@dataclass(frozen=True)
class DevPki:
    """What :func:`init_dev_pki` wrote, with the objects, so tests need not read the files back."""

    directory: Path
    ca: CertKey
    processor: CertKey
    controller: CertKey
    tsa: CertKey
    secrets: Mapping[str, str] = field(repr=False)
    signing_ca: CertKey | None = None
    """The customer-signing CA of the signing page (``signing-ca.pem``), a root of its own."""

    @property
    def config_path(self) -> Path:
        """``DIR/dpa.toml``."""
        return self.directory / "dpa.toml"

    @property
    def secrets_path(self) -> Path:
        """``DIR/dev-secrets.env`` (``export NAME=value`` lines)."""
        return self.directory / "dev-secrets.env"

    @property
    def ca_path(self) -> Path:
        """The CA certificate (PEM), the only trust root of the development PKI."""
        return self.directory / "ca.pem"

    @property
    def tsa_cert_path(self) -> Path:
        """The TSA certificate (PEM)."""
        return self.directory / "tsa.pem"


def init_dev_pki(
    directory: Path,
    *,
    key_type: KeyType = "rsa",
    tsa_url: str = DEFAULT_TSA_URL,
    controller_name: str = "Voorbeeldklant B.V.",
) -> DevPki:
    """Create a development PKI in ``directory`` (created if missing) and return what was written.

    Refuses with :class:`~dpa.errors.ConfigError` when any of the files it would write already exists, so an
    existing PKI is never overwritten. Files holding private keys are written with mode 0600.
    """
    from dpa.devtools.signing_ca import dev_signing_ca

    directory = Path(directory)
    existing = [name for name in PKI_FILES if (directory / name).exists()]
    if existing:
        raise ConfigError(
            f"{directory} already contains a PKI ({', '.join(existing)} exist); "
            "choose an empty folder or remove the old files first"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {directory}: {exc.strerror or exc}") from None

    ca = make_ca(key_type=key_type)
    processor = issue_cert(
        ca, f"ipcall.me ({DEV_MARKER})", key_type=key_type, organization="ipcall.me", email="privacy@ipcall.me"
    )
    controller = issue_cert(ca, f"{controller_name} ({DEV_MARKER})", key_type=key_type, organization=controller_name)
    tsa = issue_cert(ca, f"dpa development TSA ({DEV_MARKER})", profile="tsa", key_type=key_type)
    passphrases = {
        PROCESSOR_PASSPHRASE_ENV: secrets.token_urlsafe(24),
        CONTROLLER_PASSPHRASE_ENV: secrets.token_urlsafe(24),
        TSA_KEY_PASSPHRASE_ENV: secrets.token_urlsafe(24),
        TSA_PASSWORD_ENV: secrets.token_urlsafe(24),
    }
    signing_ca = dev_signing_ca()
    passphrases.update(signing_ca.secrets)
    try:
        _write_new(directory / "ca.pem", ca.cert_pem())
        processor.write_pkcs12(directory / "processor.p12", passphrases[PROCESSOR_PASSPHRASE_ENV])
        _write_new(directory / "processor.pem", processor.cert_pem())
        controller.write_pkcs12(directory / "controller.p12", passphrases[CONTROLLER_PASSPHRASE_ENV])
        _write_new(directory / "controller.pem", controller.cert_pem())
        _write_new(directory / "tsa.pem", tsa.cert_pem())
        _write_new(directory / "tsa-key.pem", tsa.key_pem(passphrases[TSA_KEY_PASSPHRASE_ENV]), private=True)
        for name, (content, private) in signing_ca.files.items():
            _write_new(directory / name, content, private=private)
        _write_new(directory / "dpa.toml", (_dev_config(tsa_url) + signing_ca.config).encode())
        _write_new(directory / "dev-secrets.env", _secrets_env(passphrases).encode(), private=True)
        _write_new(directory / "README.txt", _README.encode())
    except FileExistsError as exc:
        raise ConfigError(f"{exc.filename} appeared while the PKI was being written; not overwriting it") from None
    except OSError as exc:
        raise ConfigError(f"cannot write the development PKI in {directory}: {exc.strerror or exc}") from None
    return DevPki(
        directory=directory,
        ca=ca,
        processor=processor,
        controller=controller,
        tsa=tsa,
        secrets=passphrases,
        signing_ca=signing_ca.ca,
    )


def read_secrets_env(path: Path) -> dict[str, str]:
    """Parse a ``dev-secrets.env`` file (``export NAME=value`` lines, shell-quoted) into a dict."""
    result: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = shlex.split(line)
        if words and words[0] == "export":
            words = words[1:]
        for word in words:
            name, sep, value = word.partition("=")
            if sep:
                result[name] = value
    return result


def _dev_config(tsa_url: str) -> str:
    return f"""\
# Development configuration written by `dpa pki init` -- {DEV_MARKER} / NOT FOR PRODUCTION.
# The passphrases are in dev-secrets.env next to this file: `source dev-secrets.env` before using it.
# Relative paths are relative to this file.

[signers.processor]
pkcs12 = "processor.p12"
passphrase_env = "{PROCESSOR_PASSPHRASE_ENV}"

[signers.controller]
pkcs12 = "controller.p12"
passphrase_env = "{CONTROLLER_PASSPHRASE_ENV}"

[tsa]
urls = ["{tsa_url}"]
username = "{TSA_USERNAME}"
password_env = "{TSA_PASSWORD_ENV}"
timeout_s = 10
retries = 1

[tsa.server]
cert = "tsa.pem"
key = "tsa-key.pem"
key_passphrase_env = "{TSA_KEY_PASSPHRASE_ENV}"
chain = ["ca.pem"]
username = "{TSA_USERNAME}"
password_env = "{TSA_PASSWORD_ENV}"

[trust]
roots = ["ca.pem"]

[verify]
processor_certificates = ["processor.pem"]
"""


def _secrets_env(values: Mapping[str, str]) -> str:
    lines = [f"# Development secrets written by `dpa pki init` -- {DEV_MARKER}. Load with: source dev-secrets.env"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in values.items()]
    return "\n".join(lines) + "\n"


_README = f"""\
Development PKI written by `dpa pki init` -- {DEV_MARKER} / NOT FOR PRODUCTION.

ca.pem                 the development CA (the only trust root in dpa.toml; its private key was not kept)
processor.p12/.pem     ipcall.me's development signing certificate (PKCS#12 + certificate)
controller.p12/.pem    an example customer's development signing certificate
tsa.pem, tsa-key.pem   the certificate and encrypted key of the embedded TSA (`dpa tsa serve`)
signing-ca*.pem        the customer-signing CA of the signing page (its own root; encrypted key)
dpa.toml               a configuration wired to the files above
dev-secrets.env        random passphrases: `source dev-secrets.env` (never commit this file)

Signatures made with these keys are worthless outside tests and demonstrations.
"""


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


def _write_new(path: Path, data: bytes, *, private: bool = False) -> None:
    """Create ``path`` exclusively (never overwrite) and write ``data``; ``private`` files get mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
