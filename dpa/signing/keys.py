"""Signing keys: PKCS#12 files, PEM key + certificate, and PKCS#11 tokens, each loaded (and parsed) once.

Passphrases and PINs come from the environment variables named in dpa.toml (``passphrase_env``, ``pin_env``) or,
when the caller passes a ``prompt`` (the CLI does so only when a terminal is attached), from an interactive
prompt. They never appear in a message, a log line or an exception.

pyHanko's :class:`~pyhanko.sign.signers.pdf_cms.SimpleSigner` re-parses its private key for every raw signature
(about 50 ms for RSA-2048); :class:`ParsedKeySigner` keeps the parsed key object instead.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from pyhanko.sign.attributes import CMSAttributeProvider, SignedAttributeProviderSpec
from pyhanko.sign.general import as_signing_certificate_v2
from pyhanko.sign.signers import Signer, SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash, process_pss_params

from dpa.config import Config, Pkcs11Config, SignerConfig
from dpa.errors import ConfigError, SigningError
from dpa.signing.trust import asn1_certificate, load_certificates

log = logging.getLogger(__name__)

SecretPrompt = Callable[[str], str]
"""Asks a person for a secret; receives a description such as ``"passphrase for processor.p12"``."""

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def read_secret(env_var: str, what: str, prompt: SecretPrompt | None) -> str | None:
    """The secret in ``env_var``; else ask ``prompt``; else ``None`` when no variable is configured.

    Raises :class:`ConfigError` when a variable is configured but unset and there is no prompt. The message names
    the variable, never a value.
    """
    if env_var:
        value = os.environ.get(env_var)
        if value is not None:
            return value
        if prompt is not None:
            return prompt(what)
        raise ConfigError(f"the {what} is expected in environment variable {env_var}, which is not set")
    if prompt is not None:
        return prompt(what)
    return None


class _FixedAttribute(CMSAttributeProvider):
    """A signed attribute whose value is computed once (and kept in its encoded form)."""

    def __init__(self, attribute_type: str, value: object) -> None:
        self.attribute_type = attribute_type
        self._value = value

    async def build_attr_value(self, dry_run: bool = False) -> object:
        return self._value


class PadesSignedAttributes(SignedAttributeProviderSpec):
    """The signed attributes of a PAdES signature beyond content-type and message-digest: signing-certificate-v2.

    pyHanko rebuilds that attribute for every signature, and asn1crypto re-encodes a freshly built
    ``SigningCertificateV2`` on every dump (about 2-12 ms each time, several times per signature); a parsed copy
    encodes for free. PAdES forbids the CMS signing-time attribute, so there is nothing else.
    """

    def __init__(self, signing_cert: asn1_x509.Certificate) -> None:
        value = as_signing_certificate_v2(signing_cert)
        self._attribute = _FixedAttribute("signing_certificate_v2", tsp.SigningCertificateV2.load(value.dump()))

    def signed_attr_providers(self, data_digest: bytes, digest_algorithm: str) -> Iterator[CMSAttributeProvider]:
        """Yield the cached signing-certificate-v2 provider."""
        yield self._attribute


def asn1_private_key(key: SigningKey) -> asn1_keys.PrivateKeyInfo:
    """A parsed private key as the asn1crypto PKCS#8 structure pyHanko's :class:`SimpleSigner` takes."""
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return asn1_keys.PrivateKeyInfo.load(der)


class ParsedKeySigner(SimpleSigner):
    """A :class:`SimpleSigner` that signs with a private key object parsed once, not once per signature."""

    def __init__(
        self,
        signing_cert: asn1_x509.Certificate,
        private_key: SigningKey,
        cert_registry: SimpleCertificateStore,
    ) -> None:
        super().__init__(
            signing_cert=signing_cert,
            signing_key=asn1_private_key(private_key),
            cert_registry=cert_registry,
        )
        self._private_key = private_key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        """Sign ``data`` with the already parsed key (RSA PKCS#1 v1.5 / PSS, ECDSA)."""
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        algo = mechanism.signature_algo
        key = self._private_key
        if algo == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))
        if algo == "rsassa_pss" and isinstance(key, rsa.RSAPrivateKey):
            pss, hash_algo = process_pss_params(mechanism["parameters"])
            return key.sign(data, pss, hash_algo)
        if algo == "ecdsa" and isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(get_pyca_cryptography_hash(digest_algorithm)))
        result: bytes = super().sign_raw(data, digest_algorithm)
        return result


@dataclass
class LoadedSigner:
    """A ready pyHanko signer with its certificate, and what to close when done (a PKCS#11 session)."""

    signer: Signer
    certificate: x509.Certificate
    source: str
    chain: tuple[asn1_x509.Certificate, ...] = ()
    _close: Callable[[], None] | None = field(default=None, repr=False)

    @property
    def common_name(self) -> str:
        """The certificate's subject common name (or organization when there is no CN)."""
        return _name_attr(self.certificate.subject, NameOID.COMMON_NAME) or _name_attr(
            self.certificate.subject, NameOID.ORGANIZATION_NAME
        )

    @property
    def organization(self) -> str:
        """The certificate's subject organization, or an empty string."""
        return _name_attr(self.certificate.subject, NameOID.ORGANIZATION_NAME)

    @property
    def asn1_certificate(self) -> asn1_x509.Certificate:
        """The certificate as an asn1crypto object (what pyHanko and certvalidator use)."""
        return asn1_certificate(self.certificate)

    def close(self) -> None:
        """Release the key's resources (logs out of a PKCS#11 token); safe to call twice."""
        if self._close is not None:
            closer, self._close = self._close, None
            try:
                closer()
            except Exception:  # pragma: no cover - best effort on shutdown
                log.debug("closing %s failed", self.source, exc_info=True)


def signer_from_config(
    config: Config,
    role: str,
    *,
    prompt: SecretPrompt | None = None,
    override: SignerConfig | None = None,
    now: dt.datetime | None = None,
) -> LoadedSigner:
    """Load the signer of ``role`` from ``[signers.<role>]`` (or ``override``), checked and ready to sign."""
    signer_config = override or config.signer(role)
    return load_signer(signer_config, where=f"[signers.{role}]", prompt=prompt, now=now)


def load_signer(
    signer_config: SignerConfig,
    *,
    where: str = "the signer",
    prompt: SecretPrompt | None = None,
    now: dt.datetime | None = None,
    check_certificate: bool = True,
) -> LoadedSigner:
    """Load one key source (PKCS#12, PEM or PKCS#11) and check its certificate can sign at ``now``.

    ``check_certificate=False`` skips that check, for a CA key whose certificate allows certificate and CRL signing
    rather than document signatures (the customer-signing CA checks its own certificate).
    """
    extra_chain = _load_chain(signer_config.chain)
    if signer_config.pkcs12 is not None:
        loaded = _load_pkcs12(signer_config.pkcs12, signer_config.passphrase_env, where, prompt, extra_chain)
    elif signer_config.pem_key is not None and signer_config.pem_cert is not None:
        loaded = _load_pem(
            signer_config.pem_key, signer_config.pem_cert, signer_config.passphrase_env, where, prompt, extra_chain
        )
    elif signer_config.pkcs11 is not None:
        loaded = _load_pkcs11(signer_config.pkcs11, where, prompt, extra_chain)
    else:  # pragma: no cover - SignerConfig.__post_init__ forbids this
        raise ConfigError(f"{where} names no key")
    try:
        if check_certificate:
            check_signing_certificate(loaded.certificate, where=f"{where} ({loaded.source})", now=now)
    except BaseException:
        loaded.close()
        raise
    return loaded


def check_signing_certificate(cert: x509.Certificate, *, where: str, now: dt.datetime | None = None) -> None:
    """Refuse a certificate that cannot make a signature dpa would accept: expired, not yet valid, or whose key
    usage allows neither digitalSignature nor nonRepudiation."""
    now = now or dt.datetime.now(dt.UTC)
    subject = cert.subject.rfc4514_string()
    if now > cert.not_valid_after_utc:
        raise SigningError(
            f"the certificate of {where} ({subject}) expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC; "
            "renew it before signing"
        )
    if now < cert.not_valid_before_utc:
        raise SigningError(
            f"the certificate of {where} ({subject}) is not valid before "
            f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC; check the computer's clock or wait"
        )
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not (ku.digital_signature or ku.content_commitment):
        raise SigningError(
            f"the certificate of {where} ({subject}) does not allow signing: its key usage has neither "
            "digitalSignature nor nonRepudiation; use a signing certificate"
        )


# --- PKCS#12 ---------------------------------------------------------------------------------------------------


def _load_pkcs12(
    path: Path,
    passphrase_env: str,
    where: str,
    prompt: SecretPrompt | None,
    extra_chain: list[asn1_x509.Certificate],
) -> LoadedSigner:
    data = _read_key_file(path, "PKCS#12 file", where)
    if not data.startswith(b"\x30"):
        raise SigningError(f"{path} (named in {where}) is not a PKCS#12 file")
    passphrase = read_secret(passphrase_env, f"passphrase for {path.name}", prompt)
    try:
        key, cert, others = pkcs12.load_key_and_certificates(
            data, passphrase.encode() if passphrase is not None else None
        )
    except ValueError:
        if passphrase is None:
            raise SigningError(
                f"the PKCS#12 file {path} (named in {where}) needs a passphrase: name the environment variable "
                "that holds it (passphrase_env in dpa.toml, or --passphrase-env)"
            ) from None
        hint = f"the passphrase in {passphrase_env}" if passphrase_env else "the passphrase given"
        raise SigningError(
            f"cannot open the PKCS#12 file {path} (named in {where}): wrong passphrase ({hint}) or a damaged file"
        ) from None
    except UnsupportedAlgorithm as exc:
        raise SigningError(f"the PKCS#12 file {path} uses an unsupported algorithm: {exc}") from None
    if key is None or cert is None:
        raise SigningError(f"the PKCS#12 file {path} (named in {where}) must hold one private key and its certificate")
    signing_key = _check_key_type(key, str(path))
    chain = [asn1_certificate(c) for c in others] + extra_chain
    return _simple(signing_key, cert, chain, f"PKCS#12 file {path}", where)


# --- PEM -------------------------------------------------------------------------------------------------------


def _load_pem(
    key_path: Path,
    cert_path: Path,
    passphrase_env: str,
    where: str,
    prompt: SecretPrompt | None,
    extra_chain: list[asn1_x509.Certificate],
) -> LoadedSigner:
    key_data = _read_key_file(key_path, "private key file", where)
    encrypted = b"ENCRYPTED" in key_data[:200] if key_data.lstrip().startswith(b"-----") else bool(passphrase_env)
    passphrase = read_secret(passphrase_env, f"passphrase for {key_path.name}", prompt) if encrypted else None
    try:
        if key_data.lstrip().startswith(b"-----"):
            key = serialization.load_pem_private_key(key_data, passphrase.encode() if passphrase is not None else None)
        else:
            key = serialization.load_der_private_key(key_data, passphrase.encode() if passphrase is not None else None)
    except (ValueError, TypeError) as exc:
        if encrypted:
            hint = f"the passphrase in {passphrase_env}" if passphrase_env else "the passphrase given"
            raise SigningError(
                f"cannot decrypt the private key {key_path} (named in {where}): wrong passphrase ({hint})"
            ) from None
        raise SigningError(f"{key_path} (named in {where}) is not a PEM or DER private key: {exc}") from None
    except UnsupportedAlgorithm as exc:
        raise SigningError(f"the private key {key_path} uses an unsupported algorithm: {exc}") from None
    signing_key = _check_key_type(key, str(key_path))
    certs = load_certificates(cert_path, f"certificate file (named in {where})")
    public = _spki(signing_key.public_key())
    own = [c for c in certs if c.public_key.dump() == public]
    if not own:
        raise SigningError(
            f"the certificate in {cert_path} does not belong to the private key {key_path} (named in {where})"
        )
    cert = x509.load_der_x509_certificate(own[0].dump())
    chain = [c for c in certs if c is not own[0]] + extra_chain
    return _simple(signing_key, cert, chain, f"PEM key {key_path}", where)


# --- PKCS#11 ---------------------------------------------------------------------------------------------------


def _load_pkcs11(
    p11: Pkcs11Config, where: str, prompt: SecretPrompt | None, extra_chain: list[asn1_x509.Certificate]
) -> LoadedSigner:
    import pkcs11.exceptions as p11_errors
    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.sign.general import SigningError as HankoSigningError
    from pyhanko.sign.pkcs11 import PKCS11Signer, open_pkcs11_session

    if not p11.module.exists():
        raise ConfigError(f"the PKCS#11 module {p11.module} (named in {where}) does not exist")
    pin = read_secret(p11.pin_env, f"PIN for token '{p11.token_label}'", prompt)
    source = f"PKCS#11 token '{p11.token_label}', key '{p11.key_label}'"
    try:
        session = open_pkcs11_session(
            str(p11.module), token_criteria=TokenCriteria(label=p11.token_label), user_pin=pin
        )
    except (p11_errors.PinIncorrect, p11_errors.PinInvalid, p11_errors.PinLenRange):
        raise SigningError(
            f"the PIN for PKCS#11 token '{p11.token_label}' (named in {where}) was refused"
            + (f"; check {p11.pin_env}" if p11.pin_env else "")
        ) from None
    except p11_errors.PinLocked:
        raise SigningError(f"PKCS#11 token '{p11.token_label}' is locked (too many wrong PINs)") from None
    except (p11_errors.PKCS11Error, OSError, RuntimeError) as exc:
        raise SigningError(
            f"cannot open PKCS#11 token '{p11.token_label}' with module {p11.module} (named in {where}): "
            f"{type(exc).__name__} {exc}".rstrip()
        ) from None

    def close() -> None:
        session.close()

    try:
        signer = PKCS11Signer(
            session,
            key_label=p11.key_label,
            cert_label=p11.cert_label or p11.key_label,
            ca_chain=extra_chain or None,
        )
        asn1_cert = signer.signing_cert
        if asn1_cert is None:
            raise SigningError(f"no certificate found on token '{p11.token_label}' for key '{p11.key_label}'")
        signer.signed_attr_prov_spec = PadesSignedAttributes(asn1_cert)
        if asn1_cert.public_key.algorithm == "ec":
            # SoftHSM2 2.6 and many tokens offer only raw ECDSA (CKM_ECDSA): hash on the host.
            signer.use_raw_mechanism = True
    except (HankoSigningError, p11_errors.PKCS11Error) as exc:
        close()
        raise SigningError(f"{source} (named in {where}): {exc}") from None
    except BaseException:
        close()
        raise
    cert = x509.load_der_x509_certificate(asn1_cert.dump())
    return LoadedSigner(signer=signer, certificate=cert, source=source, chain=tuple(extra_chain), _close=close)


# --- shared ----------------------------------------------------------------------------------------------------


def _simple(
    key: SigningKey, cert: x509.Certificate, chain: Iterable[asn1_x509.Certificate], source: str, where: str
) -> LoadedSigner:
    if _spki(key.public_key()) != cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise SigningError(f"the certificate of {where} does not belong to its private key ({source})")
    asn1_cert = asn1_certificate(cert)
    chain = list(chain)
    registry = SimpleCertificateStore()  # type: ignore[no-untyped-call]
    registry.register_multiple([asn1_cert, *chain])
    signer = ParsedKeySigner(asn1_cert, key, registry)
    signer.signed_attr_prov_spec = PadesSignedAttributes(asn1_cert)
    return LoadedSigner(signer=signer, certificate=cert, source=source, chain=tuple(chain))


def _check_key_type(key: Any, where: str) -> SigningKey:
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return key
    raise SigningError(f"the key in {where} is a {type(key).__name__}; dpa signs with RSA or ECDSA keys")


def _spki(public_key: Any) -> bytes:
    data: bytes = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return data


def _read_key_file(path: Path, what: str, where: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"the {what} {path} (named in {where}) does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"the {what} {path} (named in {where}) is a folder, not a file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {path} (named in {where}): {exc.strerror or exc}") from None


def _load_chain(paths: Iterable[Path]) -> list[asn1_x509.Certificate]:
    chain: list[asn1_x509.Certificate] = []
    for path in paths:
        chain.extend(load_certificates(path, "chain certificate file"))
    return chain


def _name_attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    attrs = name.get_attributes_for_oid(oid)
    return str(attrs[0].value) if attrs else ""
