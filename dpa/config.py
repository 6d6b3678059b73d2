"""dpa.toml → frozen dataclasses.

Unknown keys are errors, missing required keys are reported together, relative paths are resolved against the
folder of the configuration file. Secrets never appear in the file: only the names of environment variables
that hold them (``*_env`` keys).
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from dpa.errors import ConfigError
from dpa.roles import ROLES

DEFAULT_CONFIG_NAME = "dpa.toml"
PACKAGE_TEMPLATES = Path(str(importlib.resources.files("dpa").joinpath("templates")))
"""The templates shipped with dpa (package data): ``nl/*.docx`` and the legal source text."""
DEBIAN_SOFFICE = Path("/usr/lib/libreoffice/program/soffice.bin")
DEBIAN_FONTS = Path("/usr/share/fonts/truetype/liberation")


@dataclass(frozen=True)
class ProcessorConfig:
    """ipcall.me's own party details, printed in the party block and on the signature page."""

    name: str = "ipcall.me"
    street: str = ""
    postcode: str = ""
    city: str = ""
    country: str = "NL"
    kvk: str = ""
    signatory_name: str = ""
    signatory_title: str = ""


EXAMPLE_PROCESSOR = ProcessorConfig(
    name="ipcall.me",
    street="Voorbeeldweg 1 (demo)",
    postcode="1000 AA",
    city="Amsterdam",
    kvk="00000000",
    signatory_name="A. Demo (NIET VOOR PRODUCTIE)",
    signatory_title="directeur",
)
"""Fictional party details for ipcall.me, used by the template lint and the demo; never for a real agreement."""


@dataclass(frozen=True)
class Pkcs11Config:
    """A key on a PKCS#11 token (an HSM, a smart card, SoftHSM2)."""

    module: Path
    token_label: str
    key_label: str
    pin_env: str = ""
    cert_label: str = ""


@dataclass(frozen=True)
class SignerConfig:
    """Where one party's signing key lives: exactly one of PKCS#12, PEM key + certificate, or PKCS#11."""

    pkcs12: Path | None = None
    pem_key: Path | None = None
    pem_cert: Path | None = None
    passphrase_env: str = ""
    chain: tuple[Path, ...] = ()
    pkcs11: Pkcs11Config | None = None

    def __post_init__(self) -> None:
        sources = [self.pkcs12 is not None, self.pem_key is not None, self.pkcs11 is not None]
        if sum(sources) != 1:
            raise ConfigError("a signer needs exactly one of 'pkcs12', 'pem_key' + 'pem_cert', or 'pkcs11'")
        if (self.pem_key is None) != (self.pem_cert is None):
            raise ConfigError("a PEM signer needs both 'pem_key' and 'pem_cert'")


@dataclass(frozen=True)
class RevocationServiceConfig:
    """The development PKI whose CRLs and OCSP responses ``dpa tsa serve`` also answers (``dpa pki init``)."""

    pki: Path
    """The PKI folder: its CA certificates and encrypted keys, and ``revoked.json``."""
    ca_key_passphrase_env: str = ""


@dataclass(frozen=True)
class TsaServerConfig:
    """The key and certificate with which ``dpa tsa serve`` signs time-stamp tokens."""

    cert: Path
    key: Path
    key_passphrase_env: str = ""
    chain: tuple[Path, ...] = ()
    username: str = ""
    password_env: str = ""
    policy_oid: str = "1.3.6.1.4.1.57264.1.1"
    max_request_bytes: int = 16384
    revocation: RevocationServiceConfig | None = None


@dataclass(frozen=True)
class TsaConfig:
    """RFC 3161 time-stamping authorities, tried in order, and optionally the embedded server's key."""

    urls: tuple[str, ...] = ()
    username: str = ""
    password_env: str = ""
    timeout_s: float = 10.0
    retries: int = 1
    server: TsaServerConfig | None = None


@dataclass(frozen=True)
class TrustConfig:
    """Trust roots (PEM files): ``roots`` for signers' CAs, ``tsa_roots`` for timestamp authorities, kept apart so
    that a CA trusted for signatures can never mint timestamps."""

    roots: tuple[Path, ...] = ()
    tsa_roots: tuple[Path, ...] = ()


@dataclass(frozen=True)
class SigningConfig:
    """How signing gathers validation data (PAdES B-LT)."""

    require_revocation_data: bool = True
    """Without OCSP responses or CRLs for the signer and the TSA, stop (true) or sign at B-T with a warning."""
    revocation_timeout_s: float = 10.0
    """Per request to a certificate's OCSP responder or CRL distribution point."""


INGEST_UNTIMESTAMPED = ("prove-existence", "refuse")


@dataclass(frozen=True)
class IngestConfig:
    """How ingest treats a counter-signature without a timestamp of its own."""

    untimestamped: str = "prove-existence"
    """``prove-existence``: timestamp it at ingest and judge it at that moment; ``refuse``: refuse it."""

    def __post_init__(self) -> None:
        if self.untimestamped not in INGEST_UNTIMESTAMPED:
            raise ConfigError(
                f"untimestamped must be one of {', '.join(INGEST_UNTIMESTAMPED)}, not '{self.untimestamped}'"
            )


@dataclass(frozen=True)
class PathsConfig:
    """Where templates are read, output is written, and the programs and fonts dpa uses are found."""

    templates: Path = PACKAGE_TEMPLATES
    output: Path = Path("output")
    register: Path = Path("output/register.sqlite3")
    soffice: Path = DEBIAN_SOFFICE
    """LibreOffice's ``soffice.bin`` (run directly, so that crashes and hangs are seen)."""
    fonts: Path = DEBIAN_FONTS
    """The folder with ``LiberationSans-Regular.ttf``, embedded in the visible signatures."""

    @property
    def appearance_font(self) -> Path:
        """The font file of the visible signature appearance."""
        return self.fonts / "LiberationSans-Regular.ttf"


@dataclass(frozen=True)
class VerifyConfig:
    """Limits that keep verification of hostile files bounded."""

    max_file_bytes: int = 50 * 1024 * 1024
    timeout_s: float = 60.0
    memory_mb: int = 1024
    processor_certificates: tuple[Path, ...] = ()
    """ipcall.me's signing certificates: an agreement dpa made must carry a certification signature by one of them."""
    max_revisions: int = 100
    """At most this many incremental updates; a file with more is refused before it is parsed."""


@dataclass(frozen=True)
class WebConfig:
    """``dpa serve``: the secret that signs session cookies (named by its environment variable) and limits."""

    secret_env: str = ""
    """The environment variable with the cookie-signing secret; without it a random one per start (sessions end
    when the server restarts)."""
    max_upload_mb: int = 20
    session_hours: int = 12
    verify_workers: int = 2
    """Verification worker processes for the web (each a warm pyHanko, about 100 MB)."""
    batch_jobs: int = 1
    """LibreOffice processes of a batch started from the web (the server keeps converting for sales meanwhile)."""

    def __post_init__(self) -> None:
        for name in ("max_upload_mb", "session_hours", "verify_workers", "batch_jobs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"'{name}' must be at least 1")


@dataclass(frozen=True)
class SmtpConfig:
    """The mail server through which the customer's signing link, one-time codes and signed copy are sent."""

    host: str
    sender: str = field(metadata={"key": "from"})
    """The From address (``from`` in dpa.toml)."""
    port: int = 587
    starttls: bool = True
    username: str = ""
    password_env: str = ""
    cafile: Path | None = None
    """CA certificates (PEM) to trust for the server's STARTTLS certificate instead of the system's."""
    timeout_s: float = 30.0


@dataclass(frozen=True)
class PortalConfig:
    """The customer's signing page: where its links point, how long they live, the one-time codes' secret."""

    base_url: str = "http://127.0.0.1:8080"
    link_days: int = 30
    secret_env: str = ""
    """The environment variable holding the server secret that one-time codes are keyed with (HMAC)."""

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("https://", "http://")):
            raise ConfigError("base_url must start with https:// (or http:// for a local test)")
        if not 1 <= self.link_days <= 365:
            raise ConfigError("link_days must be between 1 and 365")


@dataclass(frozen=True)
class SigningCaConfig:
    """The customer-signing CA: certificate, and its key in a (passphrase-protected) PEM file or on a token."""

    cert: Path
    key: Path | None = None
    passphrase_env: str = ""
    pkcs11: Pkcs11Config | None = None
    cert_minutes: int = 60

    def __post_init__(self) -> None:
        if (self.key is None) == (self.pkcs11 is None):
            raise ConfigError("the customer-signing CA needs exactly one of 'key' (a PEM file) or 'pkcs11'")
        if not 5 <= self.cert_minutes <= 24 * 60:
            raise ConfigError("cert_minutes must be between 5 and 1440")


@dataclass(frozen=True)
class Config:
    """The whole configuration; every section has defaults so that dpa runs without a dpa.toml."""

    processor: ProcessorConfig = field(default_factory=ProcessorConfig)
    signers: dict[str, SignerConfig] = field(default_factory=dict)
    tsa: TsaConfig = field(default_factory=TsaConfig)
    trust: TrustConfig = field(default_factory=TrustConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    signing: SigningConfig = field(default_factory=SigningConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    web: WebConfig = field(default_factory=WebConfig)
    smtp: SmtpConfig | None = None
    portal: PortalConfig = field(default_factory=PortalConfig)
    signing_ca: SigningCaConfig | None = None
    source: Path | None = None

    def signer(self, role: str) -> SignerConfig:
        """The signer configured for ``role`` (``processor`` or ``controller``)."""
        try:
            return self.signers[role]
        except KeyError:
            where = self.source or "the configuration"
            raise ConfigError(f"no [signers.{role}] section in {where}") from None


T = TypeVar("T")


def load_config(path: Path | None = None) -> Config:
    """Load ``path``, or ``./dpa.toml`` when it exists, or return the built-in defaults."""
    if path is None:
        candidate = Path.cwd() / DEFAULT_CONFIG_NAME
        if not candidate.is_file():
            return Config()
        path = candidate
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return config_from_dict(data, base=path.resolve().parent, source=path)


def config_from_dict(data: dict[str, Any], base: Path, source: Path | None = None) -> Config:
    """Build a :class:`Config` from parsed TOML; relative paths are taken relative to ``base``."""
    problems: list[str] = []
    data = dict(data)
    signers_raw = data.pop("signers", {})
    if not isinstance(signers_raw, dict):
        problems.append("[signers] must be a table")
        signers_raw = {}
    signers: dict[str, SignerConfig] = {}
    for role, raw in signers_raw.items():
        if role not in ROLES:
            problems.append(f"[signers.{role}]: unknown role (expected one of {', '.join(ROLES)})")
            continue
        signer = _build(SignerConfig, raw, f"signers.{role}", base, problems)
        if signer is not None:
            signers[role] = signer
    kwargs: dict[str, Any] = {"signers": signers, "source": source}
    hints = typing.get_type_hints(Config)
    for key, value in data.items():
        if key not in hints or key in ("signers", "source"):
            problems.append(f"unknown section [{key}]")
            continue
        built = _convert(hints[key], value, key, base, problems)
        if built is not _INVALID:
            kwargs[key] = built
    if problems:
        where = f"{source}: " if source else ""
        raise ConfigError(where + "; ".join(problems))
    return Config(**kwargs)


def _build(cls: type[T], raw: Any, where: str, base: Path, problems: list[str]) -> T | None:
    """Instantiate dataclass ``cls`` from ``raw``, collecting problems instead of raising."""
    if not isinstance(raw, dict):
        problems.append(f"[{where}] must be a table")
        return None
    before = len(problems)
    hints = typing.get_type_hints(cls)
    # a field's key in dpa.toml is its name, or metadata["key"] where the name would be a Python keyword
    fields = {f.metadata.get("key", f.name): f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            problems.append(f"[{where}] unknown key '{key}'")
            continue
        name = fields[key].name
        converted = _convert(hints[name], value, f"{where}.{key}", base, problems)
        if converted is not _INVALID:
            kwargs[name] = converted
    missing = [
        key
        for key, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name not in kwargs
    ]
    for name in missing:
        problems.append(f"[{where}] missing key '{name}'")
    if len(problems) > before:
        return None
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        problems.append(f"[{where}] {exc}")
        return None


_INVALID = object()


def _convert(hint: Any, value: Any, where: str, base: Path, problems: list[str]) -> Any:
    """Convert one TOML value to the annotated type, or record a problem and return ``_INVALID``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(options[0], value, where, base, problems)
    if dataclasses.is_dataclass(hint):
        built = _build(hint, value, where, base, problems)  # type: ignore[arg-type]
        return _INVALID if built is None else built
    if origin is tuple:
        if not isinstance(value, list):
            problems.append(f"'{where}' must be a list")
            return _INVALID
        (item_type, _ellipsis) = typing.get_args(hint)
        items = [_convert(item_type, item, where, base, problems) for item in value]
        return _INVALID if any(i is _INVALID for i in items) else tuple(items)
    if hint is Path:
        if not isinstance(value, str) or not value:
            problems.append(f"'{where}' must be a non-empty path")
            return _INVALID
        p = Path(os.path.expanduser(value))
        return p if p.is_absolute() else base / p
    if hint is bool:
        if not isinstance(value, bool):
            problems.append(f"'{where}' must be true or false")
            return _INVALID
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"'{where}' must be a number")
            return _INVALID
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"'{where}' must be an integer")
            return _INVALID
        return value
    if hint is str:
        if not isinstance(value, str):
            problems.append(f"'{where}' must be a string")
            return _INVALID
        return value
    raise TypeError(f"unsupported configuration type {hint!r}")  # a programming error, not a user error
