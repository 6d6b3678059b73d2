"""The customer-signing CA: what its certificates hold, proof of possession, key checks, the CRL — checked with
openssl, independently of the code that made them; and the development CA that `dpa pki init` writes."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from dpa.config import load_config
from dpa.devtools.devpki import DEV_MARKER, DevPki
from dpa.errors import ConfigError
from dpa.portal.binding import AGREEMENT_BINDING_OID, AgreementBinding, binding_problem, read_binding
from dpa.portal.ca import (
    CRL_PATH,
    POP_CONTEXT,
    CertificateRequest,
    SigningCa,
    browser_public_key,
    check_proof_of_possession,
    new_challenge,
    raw_to_der_signature,
)
from dpa.portal.errors import CertificateRequestRefused, SigningCaError
from tests.portal_support import Browser, browser

ISSUED_SHA = "5" * 64


@pytest.fixture(scope="module")
def ca(dev_pki: DevPki) -> SigningCa:
    return SigningCa.from_config(load_config(dev_pki.config_path))


def request_for(who: Browser, **changes: str) -> CertificateRequest:
    fields = {
        "signatory_name": "Marieke van den Berg-Öztürk",
        "signatory_title": "algemeen directeur",
        "organization": 'Vechtdal & "Zonen" <B.V.>',
        "email": "m.vandenberg@vechtdal.example",
        "country": "NL",
        **changes,
    }
    return CertificateRequest(
        public_key=who.key.public_key(), binding=AgreementBinding("C-10001", ISSUED_SHA), **fields
    )


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)


def write_pem(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_dev_pki_has_a_separate_marked_customer_signing_ca(dev_pki: DevPki) -> None:
    config = load_config(dev_pki.config_path)
    assert config.signing_ca is not None and config.signing_ca.cert == dev_pki.directory / "signing-ca.pem"
    assert dev_pki.signing_ca is not None
    cert = dev_pki.signing_ca.cert
    assert DEV_MARKER in cert.subject.rfc4514_string() and cert.issuer == cert.subject  # a root of its own
    assert cert.subject != dev_pki.ca.cert.subject
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert (dev_pki.directory / "signing-ca-key.pem").stat().st_mode & 0o077 == 0
    assert b"ENCRYPTED" in (dev_pki.directory / "signing-ca-key.pem").read_bytes()
    assert config.signing_ca.cert not in config.trust.roots  # never a general trust root: controller signatures only
    assert config.portal.secret_env and config.portal.base_url.startswith("http://127.0.0.1")


def test_certificate_names_the_signatory_and_its_agreement(ca: SigningCa, dev_pki: DevPki, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    who = browser("s")
    cert = ca.issue(request_for(who), now)
    subject = cert.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Marieke van den Berg-Öztürk"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == 'Vechtdal & "Zonen" <B.V.>'
    assert subject.get_attributes_for_oid(NameOID.TITLE)[0].value == "algemeen directeur"
    assert subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "NL"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.RFC822Name) == ["m.vandenberg@vechtdal.example"]
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign and not usage.value.key_encipherment
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [n.value for n in points[0].full_name or []] == ["http://127.0.0.1:8080" + CRL_PATH]
    binding = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(AGREEMENT_BINDING_OID))
    assert not binding.critical  # other validators must still accept the certificate
    assert read_binding(cert) == AgreementBinding("C-10001", ISSUED_SHA)
    assert binding_problem(cert, ISSUED_SHA, required=True) is None
    assert "another agreement" in (binding_problem(cert, "6" * 64, required=True) or "")
    assert cert.public_key() == who.key.public_key()
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(minutes=60)
    assert cert.not_valid_before_utc <= now <= cert.not_valid_after_utc

    leaf = write_pem(tmp_path / "leaf.pem", cert)
    assert openssl("verify", "-CAfile", str(dev_pki.directory / "signing-ca.pem"), str(leaf)).returncode == 0
    other_root = openssl("verify", "-CAfile", str(dev_pki.ca_path), str(leaf))
    assert other_root.returncode != 0  # not under the processor's development CA
    text = openssl("x509", "-in", str(leaf), "-noout", "-text").stdout
    assert "Digital Signature, Non Repudiation" in text and "email:m.vandenberg@vechtdal.example" in text


def test_crl_lists_revoked_certificates_and_openssl_checks_it(ca: SigningCa, dev_pki: DevPki, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    kept, revoked = ca.issue(request_for(browser("a")), now), ca.issue(request_for(browser("b")), now)
    empty = ca.crl([], now)
    der = ca.crl([(revoked.serial_number, now, "superseded")], now)
    parsed = x509.load_der_x509_crl(der)
    assert parsed.is_signature_valid(ca.certificate.public_key())  # type: ignore[arg-type]
    assert parsed.get_revoked_certificate_by_serial_number(revoked.serial_number) is not None
    assert parsed.get_revoked_certificate_by_serial_number(kept.serial_number) is None
    assert parsed.next_update_utc is not None and parsed.next_update_utc > now
    assert len(x509.load_der_x509_crl(empty)) == 0

    ca_pem = dev_pki.directory / "signing-ca.pem"
    (tmp_path / "crl.der").write_bytes(der)
    assert (
        openssl("crl", "-inform", "DER", "-in", str(tmp_path / "crl.der"), "-out", str(tmp_path / "crl.pem")).returncode
        == 0
    )
    assert "verify OK" in openssl("crl", "-in", str(tmp_path / "crl.pem"), "-CAfile", str(ca_pem), "-noout").stderr
    for cert, ok in ((kept, True), (revoked, False)):
        leaf = write_pem(tmp_path / f"{cert.serial_number}.pem", cert)
        result = openssl(
            "verify", "-crl_check", "-CRLfile", str(tmp_path / "crl.pem"), "-CAfile", str(ca_pem), str(leaf)
        )
        assert (result.returncode == 0) is ok, result.stderr
        assert ok or "certificate revoked" in result.stderr


@pytest.mark.parametrize(
    "make",
    [
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        lambda: ec.generate_private_key(ec.SECP384R1()),
        lambda: ed25519.Ed25519PrivateKey.generate(),
    ],
    ids=["rsa", "p384", "ed25519"],
)
def test_only_ecdsa_p256_browser_keys(make: object) -> None:
    key = make()  # type: ignore[operator]
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(CertificateRequestRefused, match="only ECDSA P-256"):
        browser_public_key(spki)
    with pytest.raises(CertificateRequestRefused, match="not a valid SubjectPublicKeyInfo"):
        browser_public_key(b"\x30\x03\x02\x01\x00")
    assert browser_public_key(browser("s").spki) is not None


def test_proof_of_possession() -> None:
    who, thief = browser("a"), browser("b")
    challenge = new_challenge()
    assert challenge.startswith(POP_CONTEXT) and new_challenge() != challenge
    check_proof_of_possession(who.key.public_key(), challenge, who.sign(challenge))
    for key, proof in (
        (who.key.public_key(), thief.sign(challenge)),  # signed with another key
        (who.key.public_key(), who.sign(new_challenge())),  # over another challenge
        (who.key.public_key(), b"\x00" * 64),
        (who.key.public_key(), b"short"),
    ):
        with pytest.raises(CertificateRequestRefused, match="proof of possession"):
            check_proof_of_possession(key, challenge, proof)
    bare = b"\x01" * 32  # a challenge that is not the CA's own
    with pytest.raises(CertificateRequestRefused):
        check_proof_of_possession(who.key.public_key(), bare, who.sign(bare))


def test_raw_webcrypto_signature_becomes_der() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.sign(b"data", ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert raw_to_der_signature(raw) == der
    key.public_key().verify(raw_to_der_signature(raw), b"data", ec.ECDSA(hashes.SHA256()))
    for bad in (raw[:63], raw + b"\x00", b"\x00" * 64, b"\xff" * 64):
        with pytest.raises(ValueError):
            raw_to_der_signature(bad)


def test_a_ca_certificate_that_is_not_a_ca_is_refused(dev_pki: DevPki, tmp_path: Path) -> None:
    from dpa.config import SigningCaConfig, config_from_dict

    leaf_cert = dev_pki.processor  # a signer, not a CA
    leaf_cert.write_pem(tmp_path / "leaf.pem", tmp_path / "leaf-key.pem")
    config = config_from_dict({"signing_ca": {"cert": "leaf.pem", "key": "leaf-key.pem"}}, base=tmp_path)
    assert isinstance(config.signing_ca, SigningCaConfig)
    with pytest.raises(SigningCaError, match="must be a CA certificate"):
        SigningCa.from_config(config)
    with pytest.raises(ConfigError, match="no \\[signing_ca\\]"):
        SigningCa.from_config(config_from_dict({}, base=tmp_path))
    mismatched = config_from_dict(
        {"signing_ca": {"cert": str(dev_pki.directory / "signing-ca.pem"), "key": "leaf-key.pem"}}, base=tmp_path
    )
    with pytest.raises(SigningCaError, match="does not belong"):
        SigningCa.from_config(mismatched)


_ON_TOKEN = """
import datetime as dt, sys
from pathlib import Path
import pkcs11
from pkcs11 import Attribute, CertificateType, ObjectClass
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from dpa.config import config_from_dict
from dpa.portal.binding import AgreementBinding
from dpa.portal.ca import CertificateRequest, SigningCa, browser_public_key

folder, module = Path(sys.argv[1]), sys.argv[2]
cert = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
token = pkcs11.lib(module).get_token(token_label="portal-ca")
with token.open(rw=True, user_pin="123456") as session:
    session.create_object({
        Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
        Attribute.TOKEN: True, Attribute.LABEL: "signing-ca", Attribute.ID: b"\\x03",
        Attribute.SUBJECT: cert.subject.public_bytes(), Attribute.VALUE: cert.public_bytes(serialization.Encoding.DER),
    })
config = config_from_dict({"signing_ca": {"cert": "ca.pem", "pkcs11": {
    "module": module, "token_label": "portal-ca", "key_label": "signing-ca", "pin_env": "DPA_TEST_CA_PIN"}}},
    base=folder)
ca = SigningCa.from_config(config)
now = dt.datetime.now(dt.UTC)
request = CertificateRequest(browser_public_key((folder / "browser.der").read_bytes()), "J. de Vries", "",
                             "Klant B.V.", "j@klant.example", "NL", AgreementBinding("C-1", "7" * 64))
leaf = ca.issue(request, now)
(folder / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
(folder / "crl.der").write_bytes(ca.crl([(leaf.serial_number, now, "superseded")], now))
ca.close()
"""


def test_the_ca_key_can_live_on_a_pkcs11_token(tmp_path: Path) -> None:
    """SoftHSM2 in a process of its own (the library reads its configuration once per process)."""
    import os
    import shutil
    import sys

    from dpa.devtools.devpki import make_ca
    from tests.test_signing_keys import SOFTHSM_MODULE

    if not (shutil.which("softhsm2-util") and SOFTHSM_MODULE.exists()):
        pytest.fail("SoftHSM2 is not installed (scripts/bootstrap.sh installs it)")
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf), "DPA_TEST_CA_PIN": "123456"}
    hsm = ["softhsm2-util", "--pin", "123456"]
    subprocess.run([*hsm, "--init-token", "--free", "--label", "portal-ca", "--so-pin", "654321"], env=env, check=True,
                   capture_output=True)  # fmt: skip
    ca = make_ca("customer-signing CA on a token (test)", key_type="ec")
    ca.write_pem(tmp_path / "ca.pem", tmp_path / "ca-key.pem")
    subprocess.run([*hsm, "--import", str(tmp_path / "ca-key.pem"), "--token", "portal-ca", "--label", "signing-ca",
                    "--id", "03"], env=env, check=True, capture_output=True)  # fmt: skip
    (tmp_path / "ca-key.pem").unlink()  # from now on the key exists only on the token
    who = browser("s")
    (tmp_path / "browser.der").write_bytes(who.spki)
    result = subprocess.run([sys.executable, "-P", "-c", _ON_TOKEN, str(tmp_path), str(SOFTHSM_MODULE)], env=env,
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    leaf = x509.load_pem_x509_certificate((tmp_path / "leaf.pem").read_bytes())
    assert leaf.public_key() == who.key.public_key() and read_binding(leaf) == AgreementBinding("C-1", "7" * 64)
    assert openssl("verify", "-CAfile", str(tmp_path / "ca.pem"), str(tmp_path / "leaf.pem")).returncode == 0
    crl = x509.load_der_x509_crl((tmp_path / "crl.der").read_bytes())
    assert crl.is_signature_valid(ca.cert.public_key())  # type: ignore[arg-type]
    assert crl.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None
