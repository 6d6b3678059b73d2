"""dpa.toml loading: frozen dataclasses, unknown keys rejected, problems reported together."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dpa.config import Config, load_config
from dpa.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dpa.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_full_config_resolves_relative_paths(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[processor]
name = "ipcall.me"
kvk = "12345678"

[signers.processor]
pkcs12 = "keys/processor.p12"
passphrase_env = "DPA_PROCESSOR_PASSPHRASE"

[signers.controller]
pem_key = "keys/c.key.pem"
pem_cert = "keys/c.cert.pem"

[tsa]
urls = ["http://127.0.0.1:3161/"]
timeout_s = 5

[trust]
roots = ["ca.pem"]
""",
    )
    config = load_config(path)
    assert config.signer("processor").pkcs12 == tmp_path / "keys/processor.p12"
    assert config.tsa.timeout_s == 5.0 and config.tsa.urls == ("http://127.0.0.1:3161/",)
    assert config.trust.roots == (tmp_path / "ca.pem",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.processor.name = "other"  # type: ignore[misc]


def test_unknown_and_missing_keys_reported_together(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[processor]
nmae = "typo"

[tsa]
urls = "not a list"

[tsa.server]
cert = "tsa.pem"

[colour]
x = 1
""",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    for expected in (
        "unknown key 'nmae'",
        "'tsa.urls' must be a list",
        "missing key 'key'",
        "unknown section",
    ):
        assert expected in message


def test_signer_needs_exactly_one_key_source(tmp_path: Path) -> None:
    path = write(tmp_path, '[signers.processor]\npkcs12 = "a.p12"\npem_key = "k.pem"\npem_cert = "c.pem"\n')
    with pytest.raises(ConfigError, match="exactly one"):
        load_config(path)
    with pytest.raises(ConfigError, match="unknown role"):
        load_config(write(tmp_path, '[signers.notary]\npkcs12 = "a.p12"\n'))


def test_missing_signer_section_is_clear() -> None:
    with pytest.raises(ConfigError, match=r"no \[signers.controller\]"):
        Config().signer("controller")


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[processor\n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.toml")


def test_long_term_validation_settings(tmp_path: Path) -> None:
    defaults = Config()
    assert defaults.signing.require_revocation_data is True
    assert defaults.ingest.untimestamped == "prove-existence"
    assert defaults.trust.tsa_roots == ()
    path = write(
        tmp_path,
        """
[trust]
roots = ["ca.pem"]
tsa_roots = ["tsa-ca.pem"]

[signing]
require_revocation_data = false
revocation_timeout_s = 3

[ingest]
untimestamped = "refuse"

[tsa.server]
cert = "tsa.pem"
key = "tsa-key.pem"

[tsa.server.revocation]
pki = "pki"
ca_key_passphrase_env = "CA_PASS"
""",
    )
    config = load_config(path)
    assert config.trust.tsa_roots == (tmp_path / "tsa-ca.pem",)
    assert config.signing.require_revocation_data is False and config.signing.revocation_timeout_s == 3.0
    assert config.ingest.untimestamped == "refuse"
    assert config.tsa.server is not None and config.tsa.server.revocation is not None
    assert config.tsa.server.revocation.pki == tmp_path / "pki"
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.signing.require_revocation_data = True  # type: ignore[misc]


def test_long_term_validation_settings_are_checked(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[signing]
require_revocation_data = "yes"
fetch_ocsp = true

[ingest]
untimestamped = "ignore"
""",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    for expected in (
        "'signing.require_revocation_data' must be true or false",
        "[signing] unknown key 'fetch_ocsp'",
        "untimestamped must be one of prove-existence, refuse",
    ):
        assert expected in message, message
