"""``dpa pki init DIR``: a development PKI with real revocation services, clearly marked as not for production.

:func:`init_dev_pki` writes two CAs — one for signers (``ca.pem``), one for timestamp authorities
(``tsa-ca.pem``), kept apart as ``[trust] roots`` and ``[trust] tsa_roots`` — a processor (ipcall.me) certificate
and an example controller certificate (two years), a TSA certificate (ten years), ``DIR/dpa.toml`` wired to them
and ``DIR/dev-secrets.env`` with random passphrases. Every certificate carries the CRL, OCSP and caIssuers
addresses of its CA under one base URL (by default the TSA's own address), where ``dpa tsa serve`` answers them
(:mod:`dpa.devtools.revocation`) with CRLs and OCSP responses signed by the CA keys kept, encrypted, in DIR.

The revocation state is ``DIR/revoked.json``; :func:`revoke_certificate` (``dpa pki revoke``) adds to it, and the
next CRL or OCSP answer reflects it. The certificate API itself is :mod:`dpa.devtools.certs` (re-exported here).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets
import shlex
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from dpa.devtools import REVOCATION_REASONS
from dpa.devtools.certs import (
    DEV_MARKER,
    CertKey,
    KeyType,
    RevocationUrls,
    dev_name,
    generate_key,
    issue_cert,
    make_ca,
    make_lookalike,
    revocation_urls,
    write_new,
)
from dpa.errors import ConfigError
from dpa.files import write_atomic

__all__ = [
    "DEV_MARKER",
    "CertKey",
    "DevPki",
    "KeyType",
    "Revocation",
    "RevocationUrls",
    "dev_name",
    "generate_key",
    "init_dev_pki",
    "issue_cert",
    "make_ca",
    "make_lookalike",
    "read_revocations",
    "read_secrets_env",
    "revocation_urls",
    "revoke_certificate",
]

DEFAULT_TSA_URL = "http://127.0.0.1:3161/"
PROCESSOR_PASSPHRASE_ENV = "DPA_DEV_PROCESSOR_PASSPHRASE"  # noqa: S105 - the name of a variable, not a secret
CONTROLLER_PASSPHRASE_ENV = "DPA_DEV_CONTROLLER_PASSPHRASE"  # noqa: S105 - the name of a variable, not a secret
TSA_KEY_PASSPHRASE_ENV = "DPA_DEV_TSA_KEY_PASSPHRASE"  # noqa: S105 - the name of a variable, not a secret
TSA_PASSWORD_ENV = "DPA_DEV_TSA_PASSWORD"  # noqa: S105 - the name of a variable, not a secret
CA_KEY_PASSPHRASE_ENV = "DPA_DEV_CA_KEY_PASSPHRASE"  # noqa: S105 - the name of a variable, not a secret
TSA_USERNAME = "dpa-dev"
SIGNER_CA = "ca"
"""The name (file stem and URL part) of the signers' CA."""
TSA_CA = "tsa-ca"
"""The name (file stem and URL part) of the timestamp authorities' CA."""
CA_NAMES = (SIGNER_CA, TSA_CA)
REVOCATIONS_FILE = "revoked.json"

PKI_FILES = (
    "ca.pem",
    "ca-key.pem",
    "tsa-ca.pem",
    "tsa-ca-key.pem",
    "processor.p12",
    "processor.pem",
    "controller.p12",
    "controller.pem",
    "tsa.pem",
    "tsa-key.pem",
    REVOCATIONS_FILE,
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
    tsa_ca: CertKey
    processor: CertKey
    controller: CertKey
    tsa: CertKey
    revocation_url: str
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
        """The signers' CA certificate (PEM): ``[trust] roots``."""
        return self.directory / "ca.pem"

    @property
    def tsa_ca_path(self) -> Path:
        """The timestamp authorities' CA certificate (PEM): ``[trust] tsa_roots``."""
        return self.directory / "tsa-ca.pem"

    @property
    def tsa_cert_path(self) -> Path:
        """The TSA certificate (PEM)."""
        return self.directory / "tsa.pem"


def init_dev_pki(
    directory: Path,
    *,
    key_type: KeyType = "rsa",
    tsa_url: str = DEFAULT_TSA_URL,
    revocation_url: str | None = None,
    controller_name: str = "Voorbeeldklant B.V.",
    controller_email: str | None = None,
    tsa_valid_days: int = 3650,
) -> DevPki:
    """Create a development PKI in ``directory`` (created if missing) and return what was written.

    ``revocation_url`` is the base address of the CRL/OCSP services written into every certificate; by default
    the scheme, host and port of ``tsa_url`` (``dpa tsa serve`` answers both). Refuses with
    :class:`~dpa.errors.ConfigError` when any of the files it would write already exists, so an existing PKI is
    never overwritten. Files holding private keys are written with mode 0600.
    """
    from dpa.devtools.signing_ca import dev_signing_ca

    directory = Path(directory)
    base = revocation_url or _origin(tsa_url)
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

    signing = dev_signing_ca()
    made = _certificates(directory, key_type, base, (controller_name, controller_email), tsa_valid_days)
    made = dataclasses.replace(made, signing_ca=signing.ca, secrets={**made.secrets, **signing.secrets})
    files = {**_files(made, tsa_url), **signing.files}
    files["dpa.toml"] = ((_dev_config(tsa_url) + signing.config).encode(), False)
    try:
        for name, (data, private) in files.items():
            write_new(directory / name, data, private=private)
    except FileExistsError as exc:
        raise ConfigError(f"{exc.filename} appeared while the PKI was being written; not overwriting it") from None
    except OSError as exc:
        raise ConfigError(f"cannot write the development PKI in {directory}: {exc.strerror or exc}") from None
    return made


def _certificates(
    directory: Path, key_type: KeyType, base: str, controller: tuple[str, str | None], tsa_valid_days: int
) -> DevPki:
    """The CAs, certificates and fresh passphrases of a new PKI (nothing written yet)."""
    ca = make_ca(key_type=key_type, revocation=revocation_urls(base, SIGNER_CA))
    tsa_ca = make_ca(
        f"dpa development TSA CA ({DEV_MARKER})",
        key_type=key_type,
        valid_days=7300,
        revocation=revocation_urls(base, TSA_CA),
    )
    processor = issue_cert(
        ca, f"ipcall.me ({DEV_MARKER})", key_type=key_type, organization="ipcall.me", email="privacy@ipcall.me"
    )
    controller_name, controller_email = controller
    controller_cert = issue_cert(
        ca, f"{controller_name} ({DEV_MARKER})", key_type=key_type, organization=controller_name, email=controller_email
    )
    tsa = issue_cert(
        tsa_ca, f"dpa development TSA ({DEV_MARKER})", profile="tsa", key_type=key_type, valid_days=tsa_valid_days
    )
    names = (PROCESSOR_PASSPHRASE_ENV, CONTROLLER_PASSPHRASE_ENV, TSA_KEY_PASSPHRASE_ENV, TSA_PASSWORD_ENV)
    passphrases = {name: secrets.token_urlsafe(24) for name in (*names, CA_KEY_PASSPHRASE_ENV)}
    return DevPki(directory, ca, tsa_ca, processor, controller_cert, tsa, base, passphrases)


def _files(pki: DevPki, tsa_url: str) -> dict[str, tuple[bytes, bool]]:
    """Every file of the PKI folder: name -> (content, private?)."""
    secret = pki.secrets
    return {
        "ca.pem": (pki.ca.cert_pem(), False),
        "ca-key.pem": (pki.ca.key_pem(secret[CA_KEY_PASSPHRASE_ENV]), True),
        "tsa-ca.pem": (pki.tsa_ca.cert_pem(), False),
        "tsa-ca-key.pem": (pki.tsa_ca.key_pem(secret[CA_KEY_PASSPHRASE_ENV]), True),
        "processor.p12": (pki.processor.pkcs12(secret[PROCESSOR_PASSPHRASE_ENV]), True),
        "processor.pem": (pki.processor.cert_pem(), False),
        "controller.p12": (pki.controller.pkcs12(secret[CONTROLLER_PASSPHRASE_ENV]), True),
        "controller.pem": (pki.controller.cert_pem(), False),
        "tsa.pem": (pki.tsa.cert_pem(), False),
        "tsa-key.pem": (pki.tsa.key_pem(secret[TSA_KEY_PASSPHRASE_ENV]), True),
        REVOCATIONS_FILE: (b'{"revoked": []}\n', False),
        "dpa.toml": (_dev_config(tsa_url).encode(), False),
        "dev-secrets.env": (_secrets_env(secret).encode(), True),
        "README.txt": (_README.encode(), False),
    }


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


# --- revocation state ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Revocation:
    """One revoked certificate of the development PKI."""

    ca: str
    """Which of :data:`CA_NAMES` issued it."""
    serial: int
    revoked_at: dt.datetime
    reason: str
    subject: str


def read_revocations(directory: Path) -> list[Revocation]:
    """The revocations recorded in ``DIR/revoked.json`` (a :class:`ConfigError` when it is unreadable)."""
    path = Path(directory) / REVOCATIONS_FILE
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["revoked"]
        return [
            Revocation(
                ca=str(e["ca"]),
                serial=int(e["serial"]),
                revoked_at=dt.datetime.fromisoformat(e["revoked_at"]),
                reason=str(e["reason"]),
                subject=str(e["subject"]),
            )
            for e in entries
        ]
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist: {directory} is not a development PKI (`dpa pki init`)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot read the revocation state {path}: {exc}") from None


def revoke_certificate(
    directory: Path, cert: x509.Certificate, *, at: dt.datetime | None = None, reason: str = "unspecified"
) -> Revocation:
    """Record ``cert`` (issued by one of the PKI's CAs) as revoked since ``at`` (default: now; never later).

    The CRL and OCSP answers of ``dpa tsa serve`` show it from their next request on. A certificate the PKI did not
    issue, one already revoked, a future date or an unknown reason is refused with a :class:`ConfigError`.
    """
    directory = Path(directory)
    now = dt.datetime.now(dt.UTC)
    when = (at or now).astimezone(dt.UTC)
    if when > now + dt.timedelta(seconds=5):
        raise ConfigError(f"a revocation date must not lie in the future ({when:%Y-%m-%d %H:%M:%S} UTC)")
    if reason not in REVOCATION_REASONS:
        raise ConfigError(f"unknown revocation reason '{reason}' (one of {', '.join(REVOCATION_REASONS)})")
    ca_name = _issuing_ca(directory, cert)
    current = read_revocations(directory)
    if any(r.ca == ca_name and r.serial == cert.serial_number for r in current):
        raise ConfigError(f"{cert.subject.rfc4514_string()} is already revoked")
    entry = Revocation(ca_name, cert.serial_number, when, reason, cert.subject.rfc4514_string())
    records = [
        {
            "ca": r.ca,
            "serial": str(r.serial),
            "revoked_at": r.revoked_at.isoformat(),
            "reason": r.reason,
            "subject": r.subject,
        }
        for r in [*current, entry]
    ]
    write_atomic(directory / REVOCATIONS_FILE, (json.dumps({"revoked": records}, indent=1) + "\n").encode())
    return entry


def _issuing_ca(directory: Path, cert: x509.Certificate) -> str:
    for name in CA_NAMES:
        try:
            ca = x509.load_pem_x509_certificate((directory / f"{name}.pem").read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the CA certificate {directory / name}.pem: {exc}") from None
        if cert.issuer != ca.subject:
            continue
        try:
            cert.verify_directly_issued_by(ca)
        except (InvalidSignature, ValueError, TypeError):  # same name, another key: not this CA
            continue
        return name
    raise ConfigError(f"{cert.subject.rfc4514_string()} was not issued by the development PKI in {directory}")


# --- the files -------------------------------------------------------------------------------------------------


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"'{url}' is not an http:// or https:// URL")
    return f"{parts.scheme}://{parts.netloc}/"


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
username = "{TSA_USERNAME}"
password_env = "{TSA_PASSWORD_ENV}"

[tsa.server.revocation]          # `dpa tsa serve` also answers the CRLs and OCSP of this PKI
pki = "."
ca_key_passphrase_env = "{CA_KEY_PASSPHRASE_ENV}"

[trust]
roots = ["ca.pem"]               # signers' CA
tsa_roots = ["tsa-ca.pem"]       # timestamp authorities' CA, kept apart

[verify]
processor_certificates = ["processor.pem"]

[signing]
require_revocation_data = true
"""


def _secrets_env(values: Mapping[str, str]) -> str:
    lines = [f"# Development secrets written by `dpa pki init` -- {DEV_MARKER}. Load with: source dev-secrets.env"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in values.items()]
    return "\n".join(lines) + "\n"


_README = f"""\
Development PKI written by `dpa pki init` -- {DEV_MARKER} / NOT FOR PRODUCTION.

ca.pem, ca-key.pem         the signers' development CA ([trust] roots) and its encrypted key
tsa-ca.pem, tsa-ca-key.pem the timestamp authorities' development CA ([trust] tsa_roots) and its encrypted key
processor.p12/.pem         ipcall.me's development signing certificate (PKCS#12 + certificate), two years
controller.p12/.pem        an example customer's development signing certificate, two years
tsa.pem, tsa-key.pem       the certificate (ten years) and encrypted key of the embedded TSA (`dpa tsa serve`)
revoked.json               revoked certificates (`dpa pki revoke`), answered by the CRLs and OCSP of `dpa tsa serve`
dpa.toml                   a configuration wired to the files above
dev-secrets.env            random passphrases: `source dev-secrets.env` (never commit this file)
signing-ca*.pem            the customer-signing CA of the signing page (its own root; encrypted key)

Signatures made with these keys are worthless outside tests and demonstrations.
"""
