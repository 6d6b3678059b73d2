"""Every key source end to end — PKCS#12, PEM, a SoftHSM2 token (RSA-2048 and ECDSA P-256) — and key errors."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from dpa.config import Config, Pkcs11Config, SignerConfig
from dpa.devtools import devpki
from dpa.devtools.devpki import CertKey, DevPki
from dpa.errors import ConfigError, SigningError
from dpa.signing.keys import ParsedKeySigner, load_signer, read_secret
from dpa.signing.sign import SigningSession
from tests.signing_support import assert_signed_ok, embedded_signatures, have, make_nss_db, pdfsig

SOFTHSM_MODULE = next(
    (p for p in (Path("/usr/lib/softhsm/libsofthsm2.so"), Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"))
     if p.exists()),
    Path("/usr/lib/softhsm/libsofthsm2.so"),
)  # fmt: skip
TOKEN = "dpa-test"
PIN = "123456"


def _sign_both(config: Config, pdf: Path, overrides: dict[str, SignerConfig]) -> Path:
    with SigningSession(config, overrides=overrides) as session:
        first = session.sign(pdf, "processor")
        assert first.output is not None
        second = session.sign(first.output, "controller")
        assert second.output is not None
    return second.output


# --- PKCS#12 and PEM ---------------------------------------------------------------------------------------------


def test_pkcs12_signer(signing_config: Config, dev_pki: DevPki, unsigned_pdf: Path) -> None:
    loaded = load_signer(signing_config.signer("processor"))
    assert isinstance(loaded.signer, ParsedKeySigner)
    assert loaded.common_name.startswith("ipcall.me")
    signed = _sign_both(signing_config, unsigned_pdf, {})
    assert_signed_ok(signed, [dev_pki.ca_path], ["processor_signature", "controller_signature"])


@pytest.mark.parametrize("encrypted", [True, False])
def test_pem_signer(
    encrypted: bool, signing_config: Config, dev_pki: DevPki, unsigned_pdf: Path, tmp_path: Path
) -> None:
    leaf = devpki.issue_cert(dev_pki.ca, "PEM signer (test)", key_type="ec")
    passphrase = "pem-pass" if encrypted else None
    leaf.write_pem(tmp_path / "signer.pem", tmp_path / "signer-key.pem", passphrase)
    override = SignerConfig(
        pem_key=tmp_path / "signer-key.pem",
        pem_cert=tmp_path / "signer.pem",
        passphrase_env="PEM_PASS" if encrypted else "",
    )
    with pytest.MonkeyPatch.context() as mp:
        if encrypted:
            mp.setenv("PEM_PASS", "pem-pass")
        signed = _sign_both(signing_config, unsigned_pdf, {"processor": override})
    sigs = embedded_signatures(signed)
    assert sigs[0].signed_data["signer_infos"][0]["signature_algorithm"]["algorithm"].native == "sha256_ecdsa"
    assert_signed_ok(signed, [dev_pki.ca_path], ["processor_signature", "controller_signature"])


# --- PKCS#11 (SoftHSM2) ------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Token:
    """A SoftHSM2 token holding an RSA and an EC signing key with their certificates."""

    rsa: CertKey
    ec: CertKey


def _import_into_token(label: str, obj_id: bytes, leaf: CertKey, workdir: Path) -> None:
    import pkcs11
    from pkcs11 import Attribute, CertificateType, ObjectClass

    key_file = workdir / f"{label}.pem"
    key_file.write_bytes(leaf.key_pem())
    subprocess.run(
        [
            "softhsm2-util", "--import", str(key_file), "--token", TOKEN, "--label", label,
            "--id", obj_id.hex(), "--pin", PIN,
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    key_file.unlink()
    lib = pkcs11.lib(str(SOFTHSM_MODULE))
    token = lib.get_token(token_label=TOKEN)
    with token.open(rw=True, user_pin=PIN) as session:
        session.create_object(
            {
                Attribute.CLASS: ObjectClass.CERTIFICATE,
                Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                Attribute.TOKEN: True,
                Attribute.LABEL: label,
                Attribute.ID: obj_id,
                Attribute.SUBJECT: leaf.cert.subject.public_bytes(),
                Attribute.VALUE: leaf.cert.public_bytes(serialization.Encoding.DER),
            }
        )


@pytest.fixture(scope="session")
def softhsm_token(dev_pki: DevPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Token]:
    """One SoftHSM2 token in a temporary SOFTHSM2_CONF for the session (the library reads it once per process)."""
    if not (have("softhsm2-util") and SOFTHSM_MODULE.exists()):
        pytest.fail("SoftHSM2 is not installed (scripts/bootstrap.sh installs it)")
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOFTHSM2_CONF", str(conf))
        mp.setenv("DPA_TEST_PIN", PIN)
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--pin", PIN, "--so-pin", "654321"],
            check=True,
            capture_output=True,
            env={**os.environ},
        )
        rsa_leaf = devpki.issue_cert(dev_pki.ca, "HSM RSA signer (test)", key_type="rsa")
        ec_leaf = devpki.issue_cert(dev_pki.ca, "HSM EC signer (test)", key_type="ec")
        _import_into_token("rsa-signer", b"\x01", rsa_leaf, root)
        _import_into_token("ec-signer", b"\x02", ec_leaf, root)
        yield Token(rsa=rsa_leaf, ec=ec_leaf)


@pytest.mark.parametrize("label", ["rsa-signer", "ec-signer"])
def test_pkcs11_signer(
    label: str,
    softhsm_token: Token,
    signing_config: Config,
    dev_pki: DevPki,
    unsigned_pdf: Path,
    tmp_path: Path,
) -> None:
    override = SignerConfig(
        pkcs11=Pkcs11Config(module=SOFTHSM_MODULE, token_label=TOKEN, key_label=label, pin_env="DPA_TEST_PIN")
    )
    signed = _sign_both(signing_config, unsigned_pdf, {"processor": override})
    assert_signed_ok(signed, [dev_pki.ca_path], ["processor_signature", "controller_signature"])
    expected = softhsm_token.rsa if label == "rsa-signer" else softhsm_token.ec
    first = embedded_signatures(signed)[0]
    signer_certs = [c.chosen for c in first.signed_data["certificates"]]
    assert any(c.dump() == expected.cert.public_bytes(serialization.Encoding.DER) for c in signer_certs)
    report = pdfsig(signed, make_nss_db(tmp_path / "nss", dev_pki.ca_path))
    assert [r.signature_valid and r.certificate_trusted for r in report] == [True, True], report


def test_pkcs11_wrong_pin(softhsm_token: Token, signing_config: Config) -> None:
    override = SignerConfig(
        pkcs11=Pkcs11Config(module=SOFTHSM_MODULE, token_label=TOKEN, key_label="rsa-signer", pin_env="BAD_PIN")
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BAD_PIN", "000000")
        with pytest.raises(SigningError, match=r"PIN .* was refused") as excinfo:
            load_signer(override)
    assert "000000" not in str(excinfo.value)


def test_pkcs11_missing_key(softhsm_token: Token) -> None:
    override = SignerConfig(
        pkcs11=Pkcs11Config(module=SOFTHSM_MODULE, token_label=TOKEN, key_label="nope", pin_env="DPA_TEST_PIN")
    )
    with pytest.raises(SigningError, match="nope"):
        load_signer(override)
    unknown_token = SignerConfig(
        pkcs11=Pkcs11Config(module=SOFTHSM_MODULE, token_label="no-such-token", key_label="x", pin_env="DPA_TEST_PIN")
    )
    with pytest.raises(SigningError, match="no-such-token"):
        load_signer(unknown_token)


# --- key and certificate errors ---------------------------------------------------------------------------------


def test_wrong_passphrase(dev_pki: DevPki) -> None:
    config = SignerConfig(pkcs12=dev_pki.directory / "processor.p12", passphrase_env="WRONG_P12")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WRONG_P12", "hunter2-wrong")
        with pytest.raises(SigningError, match="wrong passphrase") as excinfo:
            load_signer(config, where="[signers.processor]")
    message = str(excinfo.value)
    assert "WRONG_P12" in message and "hunter2-wrong" not in message


def test_passphrase_variable_not_set(dev_pki: DevPki) -> None:
    config = SignerConfig(pkcs12=dev_pki.directory / "processor.p12", passphrase_env="NOT_SET_ANYWHERE")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("NOT_SET_ANYWHERE", raising=False)
        with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE, which is not set"):
            load_signer(config)
    # an interactive prompt (what the CLI offers on a terminal) is used instead of the variable
    asked: list[str] = []

    def prompt(what: str) -> str:
        asked.append(what)
        return dev_pki.secrets[devpki.PROCESSOR_PASSPHRASE_ENV]

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("NOT_SET_ANYWHERE", raising=False)
        loaded = load_signer(config, prompt=prompt)
    assert asked == ["passphrase for processor.p12"] and loaded.common_name.startswith("ipcall.me")


def test_missing_key_file(dev_pki: DevPki, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_signer(SignerConfig(pkcs12=tmp_path / "nope.p12"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_signer(SignerConfig(pem_key=tmp_path / "nope.pem", pem_cert=tmp_path / "cert.pem"))
    with pytest.raises(SigningError, match="needs a passphrase"):
        load_signer(SignerConfig(pkcs12=dev_pki.directory / "processor.p12"))
    (tmp_path / "garbage.p12").write_bytes(b"hello")
    with pytest.raises(SigningError, match="not a PKCS#12 file"):
        load_signer(SignerConfig(pkcs12=tmp_path / "garbage.p12"))


def _p12(leaf: CertKey, tmp_path: Path, name: str) -> SignerConfig:
    leaf.write_pkcs12(tmp_path / name, "pw")
    return SignerConfig(pkcs12=tmp_path / name, passphrase_env="P12_PW")


def test_certificate_without_signing_key_usage(dev_pki: DevPki, tmp_path: Path) -> None:
    leaf = devpki.issue_cert(dev_pki.ca, "Encryption only", key_usage={"key_encipherment"})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("P12_PW", "pw")
        with pytest.raises(SigningError, match=r"does not allow signing.*digitalSignature"):
            load_signer(_p12(leaf, tmp_path, "enc.p12"))


def test_expired_certificate(dev_pki: DevPki, tmp_path: Path) -> None:
    leaf = devpki.issue_cert(dev_pki.ca, "Expired signer", expired=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("P12_PW", "pw")
        with pytest.raises(SigningError, match="expired on"):
            load_signer(_p12(leaf, tmp_path, "old.p12"))


def test_certificate_not_from_a_trusted_ca(signing_config: Config, unsigned_pdf: Path, tmp_path: Path) -> None:
    stranger = devpki.issue_cert(devpki.make_ca("Stranger CA"), "Stranger")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("P12_PW", "pw")
        override = _p12(stranger, tmp_path, "stranger.p12")
        with (
            SigningSession(signing_config, overrides={"processor": override}) as session,
            pytest.raises(SigningError, match=r"does not chain to a configured trust root"),
        ):
            session.sign(unsigned_pdf, "processor", tmp_path / "out.pdf")
    assert not (tmp_path / "out.pdf").exists()


def test_pem_certificate_of_another_key(dev_pki: DevPki, tmp_path: Path) -> None:
    a = devpki.issue_cert(dev_pki.ca, "A")
    b = devpki.issue_cert(dev_pki.ca, "B")
    a.write_pem(tmp_path / "a.pem", tmp_path / "a-key.pem")
    b.write_pem(tmp_path / "b.pem", tmp_path / "b-key.pem")
    with pytest.raises(SigningError, match="does not belong"):
        load_signer(SignerConfig(pem_key=tmp_path / "a-key.pem", pem_cert=tmp_path / "b.pem"))


def test_read_secret_names_the_variable_never_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DPA_TEST_SECRET", "s3cret")
    assert read_secret("DPA_TEST_SECRET", "passphrase", None) == "s3cret"
    monkeypatch.delenv("DPA_TEST_SECRET")
    with pytest.raises(ConfigError, match="DPA_TEST_SECRET") as info:
        read_secret("DPA_TEST_SECRET", "passphrase", None)
    assert "s3cret" not in str(info.value)
    assert read_secret("DPA_TEST_SECRET", "passphrase", lambda what: f"typed {what}") == "typed passphrase"
    assert read_secret("", "passphrase", None) is None
