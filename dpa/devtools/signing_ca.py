"""The development customer-signing CA that ``dpa pki init`` adds (NIET VOOR PRODUCTIE).

A root of its own, apart from the development CA of the processor and the TSA, because the customer-signing CA is
trusted for controller signatures only. Its EC P-256 key is written encrypted with a random passphrase; the
generated ``dpa.toml`` gets ``[signing_ca]`` and ``[portal]`` (with the signing page's one-time-code secret in
``dev-secrets.env``). Without ``[smtp]`` the development set-up mails into the embedded outbox.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from dpa.devtools.devpki import DEV_MARKER, CertKey, make_ca

SIGNING_CA_PASSPHRASE_ENV = "DPA_DEV_SIGNING_CA_PASSPHRASE"  # noqa: S105 - the name of a variable, not a secret
PORTAL_SECRET_ENV = "DPA_DEV_PORTAL_SECRET"  # noqa: S105 - the name of a variable, not a secret
SIGNING_CA_CERT = "signing-ca.pem"
SIGNING_CA_KEY = "signing-ca-key.pem"
DEV_BASE_URL = "http://127.0.0.1:8080"


@dataclass(frozen=True)
class DevSigningCa:
    """The development customer-signing CA and what ``dpa pki init`` writes for it."""

    ca: CertKey
    secrets: dict[str, str] = field(repr=False)
    files: dict[str, tuple[bytes, bool]] = field(repr=False)
    """File name → (content, holds a private key)."""
    config: str


def dev_signing_ca() -> DevSigningCa:
    """A fresh development customer-signing CA, its files, secrets and configuration sections."""
    ca = make_ca(f"dpa development customer-signing CA ({DEV_MARKER})", key_type="ec")
    values = {SIGNING_CA_PASSPHRASE_ENV: secrets.token_urlsafe(24), PORTAL_SECRET_ENV: secrets.token_urlsafe(32)}
    files = {
        SIGNING_CA_CERT: (ca.cert_pem(), False),
        SIGNING_CA_KEY: (ca.key_pem(values[SIGNING_CA_PASSPHRASE_ENV]), True),
    }
    config = f"""
[signing_ca]                     # the customer-signing CA of the signing page (trusted for controller signatures)
cert = "{SIGNING_CA_CERT}"
key = "{SIGNING_CA_KEY}"
passphrase_env = "{SIGNING_CA_PASSPHRASE_ENV}"
cert_minutes = 60

[portal]
base_url = "{DEV_BASE_URL}"
link_days = 30
secret_env = "{PORTAL_SECRET_ENV}"
"""
    return DevSigningCa(ca=ca, secrets=values, files=files, config=config)
