"""Trust roots: the PEM files named in ``[trust] roots``, loaded once, and validation contexts built from them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from asn1crypto import pem, x509
from cryptography import x509 as pyca_x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko_certvalidator import ValidationContext

from dpa.errors import ConfigError


def load_certificates(path: Path, what: str = "certificate file") -> list[x509.Certificate]:
    """All certificates in a PEM (one or more blocks) or DER file; a clear ConfigError when there are none."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"the {what} {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None
    certs: list[x509.Certificate] = []
    try:
        if pem.detect(data):
            for type_name, _headers, der in pem.unarmor(data, multiple=True):
                if type_name == "CERTIFICATE":
                    certs.append(x509.Certificate.load(der))
        else:
            certs.append(x509.Certificate.load(data))
        for cert in certs:
            _ = cert.subject.human_friendly  # force a parse so garbage fails here, not later
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"the {what} {path} is not a PEM or DER certificate: {exc}") from None
    if not certs:
        raise ConfigError(f"the {what} {path} contains no certificate")
    return certs


def asn1_certificate(cert: pyca_x509.Certificate) -> x509.Certificate:
    """A ``cryptography`` certificate as the asn1crypto object pyHanko and certvalidator use (same DER)."""
    return x509.Certificate.load(cert.public_bytes(Encoding.DER))


def load_trust_roots(paths: Iterable[Path]) -> list[x509.Certificate]:
    """The certificates of every ``[trust] roots`` file, in order."""
    roots: list[x509.Certificate] = []
    for path in paths:
        roots.extend(load_certificates(path, "trust root file"))
    return roots


def validation_context(
    roots: Sequence[x509.Certificate], other_certs: Iterable[x509.Certificate] = ()
) -> ValidationContext:
    """An offline validation context over ``roots`` (no fetching, revocation soft-fail)."""
    return ValidationContext(
        trust_roots=list(roots),
        other_certs=list(other_certs),
        allow_fetching=False,
        revocation_mode="soft-fail",
    )
