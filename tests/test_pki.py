"""The development PKI: `dpa pki init` and the reusable certificate API in dpa.devtools.devpki."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key, pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dpa.config import load_config
from dpa.devtools import devpki
from dpa.devtools.devpki import DEV_MARKER, DevPki, init_dev_pki, read_secrets_env
from dpa.errors import ConfigError
from tests.cli_support import invoke


def _subject_cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def test_pki_init_writes_marked_certificates_and_a_wired_config(dev_pki: DevPki) -> None:
    d = dev_pki.directory
    for name in devpki.PKI_FILES:
        assert (d / name).is_file(), name
    for part in (dev_pki.ca, dev_pki.processor, dev_pki.controller, dev_pki.tsa):
        assert DEV_MARKER in _subject_cn(part.cert)
        ou = part.cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value
        assert DEV_MARKER in str(ou)
    assert _subject_cn(dev_pki.processor.cert).startswith("ipcall.me")

    config = load_config(dev_pki.config_path)
    assert config.trust.roots == (d / "ca.pem",)
    assert config.trust.tsa_roots == (d / "tsa-ca.pem",)  # timestamp authorities under a CA of their own
    assert config.signers["processor"].pkcs12 == d / "processor.p12"
    assert config.signers["processor"].passphrase_env == devpki.PROCESSOR_PASSPHRASE_ENV
    assert config.signers["controller"].pkcs12 == d / "controller.p12"
    assert config.tsa.urls == (dev_pki.revocation_url,)  # the session's PKI: TSA and revocation on one port
    assert config.tsa.server is not None and config.tsa.server.key == d / "tsa-key.pem"
    assert config.tsa.password_env == config.tsa.server.password_env == devpki.TSA_PASSWORD_ENV

    # dev-secrets.env holds exactly the variables dpa.toml names, and they open the keys.
    secrets = read_secrets_env(dev_pki.secrets_path)
    assert secrets == dict(dev_pki.secrets)
    assert set(secrets) == {
        config.signers["processor"].passphrase_env,
        config.signers["controller"].passphrase_env,
        config.tsa.server.key_passphrase_env,
        config.tsa.server.password_env,
        config.tsa.server.revocation.ca_key_passphrase_env if config.tsa.server.revocation else None,
        config.signing_ca.passphrase_env if config.signing_ca else "",
        config.portal.secret_env,
    }
    assert all(line.startswith(("export ", "#")) for line in dev_pki.secrets_path.read_text().splitlines())
    key, cert, _ = pkcs12.load_key_and_certificates(
        (d / "processor.p12").read_bytes(), secrets[devpki.PROCESSOR_PASSPHRASE_ENV].encode()
    )
    assert cert == dev_pki.processor.cert and key is not None
    load_pem_private_key((d / "tsa-key.pem").read_bytes(), secrets[devpki.TSA_KEY_PASSPHRASE_ENV].encode())
    for key in ("ca-key.pem", "tsa-ca-key.pem"):
        load_pem_private_key((d / key).read_bytes(), secrets[devpki.CA_KEY_PASSPHRASE_ENV].encode())
    keys = ("processor.p12", "controller.p12", "tsa-key.pem", "ca-key.pem", "tsa-ca-key.pem")
    private_files = (*keys, "dev-secrets.env")
    for private in private_files:
        assert stat.S_IMODE((d / private).stat().st_mode) == 0o600, private


def test_pki_certificate_profiles(dev_pki: DevPki) -> None:
    ca = dev_pki.ca.cert
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    signer_ku = dev_pki.processor.cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert signer_ku.digital_signature and signer_ku.content_commitment
    eku = dev_pki.tsa.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    for leaf, issuer in ((dev_pki.processor, ca), (dev_pki.controller, ca), (dev_pki.tsa, dev_pki.tsa_ca.cert)):
        assert leaf.cert.issuer == issuer.subject
        leaf.cert.verify_directly_issued_by(issuer)
    assert dev_pki.tsa_ca.cert.subject != ca.subject  # the TSA's CA is not the signers' CA (issue 9)


def test_pki_init_refuses_to_overwrite(tmp_path: Path) -> None:
    made = init_dev_pki(tmp_path / "pki")
    before = {p.name: p.read_bytes() for p in made.directory.iterdir()}
    with pytest.raises(ConfigError, match="already contains a PKI"):
        init_dev_pki(tmp_path / "pki")
    assert {p.name: p.read_bytes() for p in made.directory.iterdir()} == before

    # one stray file of a PKI is enough to refuse
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "dpa.toml").write_text("# mine\n")
    with pytest.raises(ConfigError, match=r"dpa\.toml"):
        init_dev_pki(tmp_path / "other")
    assert (tmp_path / "other" / "dpa.toml").read_text() == "# mine\n"
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["dpa.toml"]


def test_cli_pki_init(tmp_path: Path) -> None:
    target = tmp_path / "dev"
    first = invoke("pki", "init", str(target), "--key-type", "ec")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == str(target / "dpa.toml")
    assert "NIET VOOR PRODUCTIE" in first.stderr
    cert = x509.load_pem_x509_certificate((target / "processor.pem").read_bytes())
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    second = invoke("pki", "init", str(target))
    assert second.returncode == 1
    assert second.stderr.startswith("dpa: error:") and "already contains a PKI" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1


def test_devpki_api_for_verification_tests() -> None:
    root = devpki.make_ca("Test Root", key_type="ec")
    intermediate = devpki.make_ca("Test Intermediate", issuer=root, path_length=0)
    leaf = devpki.issue_cert(intermediate, "Signer", key_type="ec384", email="a@example.org")
    assert leaf.chain == (intermediate.cert, root.cert)
    leaf.cert.verify_directly_issued_by(intermediate.cert)
    assert isinstance(leaf.key, ec.EllipticCurvePrivateKey) and leaf.key.curve.name == "secp384r1"

    expired = devpki.issue_cert(root, "Old signer", expired=True)
    assert expired.cert.not_valid_after_utc < dt.datetime.now(dt.UTC)

    custom = devpki.issue_cert(
        root,
        "Encryption only",
        key_usage={"key_encipherment"},
        not_before=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        valid_days=10,
    )
    ku = custom.cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_encipherment and not ku.digital_signature
    assert custom.cert.not_valid_after_utc == dt.datetime(2030, 1, 11, tzinfo=dt.UTC)

    fake = devpki.make_lookalike(root)
    assert fake.cert.subject == root.cert.subject and fake.cert.issuer == root.cert.subject
    assert fake.cert.public_key() != root.cert.public_key()
    fake.cert.verify_directly_issued_by(fake.cert)
    with pytest.raises(Exception):  # noqa: B017 - cryptography raises InvalidSignature or ValueError
        leaf.cert.verify_directly_issued_by(fake.cert)

    rsa_leaf = devpki.issue_cert(root, "RSA signer")
    assert isinstance(rsa_leaf.key, rsa.RSAPrivateKey) and rsa_leaf.key.key_size == 2048
    p12 = rsa_leaf.pkcs12("secret")
    key, cert, others = pkcs12.load_key_and_certificates(p12, b"secret")
    assert cert == rsa_leaf.cert and others == [root.cert] and key is not None
