"""The development PKI's revocation services: addresses in every certificate, CRL and OCSP answered by
`dpa tsa serve` and checked with openssl, and `dpa pki revoke`."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID

from dpa.devtools.devpki import DEV_MARKER, DevPki, init_dev_pki, issue_cert, make_ca, read_revocations
from tests.signing_support import TsaProcess, run_dpa


def _openssl_ocsp(issuer: Path, cert: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "ocsp", "-issuer", str(issuer), "-cert", str(cert), "-url", url, "-CAfile", str(issuer)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _openssl_crl(crl: bytes, ca: Path, workdir: Path) -> subprocess.CompletedProcess[str]:
    path = workdir / "answer.crl"
    path.write_bytes(crl)
    return subprocess.run(
        ["openssl", "crl", "-inform", "DER", "-in", str(path), "-CAfile", str(ca), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=False,
    )


def test_every_certificate_names_its_revocation_services(dev_pki: DevPki) -> None:
    base = dev_pki.revocation_url
    for leaf, ca_name in ((dev_pki.processor, "ca"), (dev_pki.controller, "ca"), (dev_pki.tsa, "tsa-ca")):
        points = leaf.cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        assert [name.value for point in points for name in point.full_name or ()] == [f"{base}crl/{ca_name}.crl"]
        access = leaf.cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        assert {a.access_method: a.access_location.value for a in access} == {
            AuthorityInformationAccessOID.OCSP: f"{base}ocsp/{ca_name}",
            AuthorityInformationAccessOID.CA_ISSUERS: f"{base}ca/{ca_name}.cer",
        }
    # real certificates' lifetimes: a TSA ten years, signers two; the CAs outlive what they issue
    days = {
        name: (c.cert.not_valid_after_utc - c.cert.not_valid_before_utc).days
        for name, c in (("tsa", dev_pki.tsa), ("processor", dev_pki.processor), ("controller", dev_pki.controller))
    }
    assert days == {"tsa": 3650, "processor": 730, "controller": 730}
    assert dev_pki.tsa_ca.cert.not_valid_after_utc > dev_pki.tsa.cert.not_valid_after_utc
    assert dev_pki.ca.cert.not_valid_after_utc > dev_pki.processor.cert.not_valid_after_utc
    for ca in (dev_pki.ca, dev_pki.tsa_ca):
        assert DEV_MARKER in ca.common_name


def test_crl_ocsp_and_revoke_with_openssl(dev_pki: DevPki, tsa_server: TsaProcess, tmp_path: Path) -> None:
    """`dpa tsa serve` answers the addresses in the certificates; openssl checks the answers; `dpa pki revoke`
    changes them at once."""
    base = dev_pki.revocation_url
    # a throwaway certificate of the session's PKI, so that revoking it changes no other test
    victim = issue_cert(dev_pki.ca, "Ingetrokken (test)")
    victim_pem = tmp_path / "victim.pem"
    victim_pem.write_bytes(victim.cert_pem())

    ca_answer = requests.get(f"{base}ca/ca.cer", timeout=10)
    assert ca_answer.headers["Content-Type"] == "application/pkix-cert"
    assert ca_answer.content == dev_pki.ca.cert.public_bytes(Encoding.DER)

    good = _openssl_ocsp(dev_pki.ca_path, victim_pem, f"{base}ocsp/ca")
    assert good.returncode == 0, good.stderr
    assert f"{victim_pem}: good" in good.stdout and "Response verify OK" in good.stderr
    tsa_pem = dev_pki.tsa_cert_path
    tsa_good = _openssl_ocsp(dev_pki.tsa_ca_path, tsa_pem, f"{base}ocsp/tsa-ca")
    assert f"{tsa_pem}: good" in tsa_good.stdout and "Response verify OK" in tsa_good.stderr, tsa_good.stderr

    crl = requests.get(f"{base}crl/ca.crl", timeout=10)
    assert crl.headers["Content-Type"] == "application/pkix-crl"
    serial = f"{victim.cert.serial_number:X}"
    before = _openssl_crl(crl.content, dev_pki.ca_path, tmp_path)
    assert before.returncode == 0 and "verify OK" in before.stderr, before.stderr
    assert serial not in before.stdout.replace(":", "").upper()

    revoked = run_dpa("pki", "revoke", str(dev_pki.directory), str(victim_pem), "--reason", "keyCompromise")
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.strip() == victim.cert.subject.rfc4514_string()

    now_revoked = _openssl_ocsp(dev_pki.ca_path, victim_pem, f"{base}ocsp/ca")
    assert f"{victim_pem}: revoked" in now_revoked.stdout, now_revoked.stdout + now_revoked.stderr
    assert "Reason: keyCompromise" in now_revoked.stdout and "Response verify OK" in now_revoked.stderr
    after = _openssl_crl(requests.get(f"{base}crl/ca.crl", timeout=10).content, dev_pki.ca_path, tmp_path)
    assert "verify OK" in after.stderr and serial in after.stdout.replace(":", "").upper()
    assert "Key Compromise" in after.stdout
    assert [r.serial for r in read_revocations(dev_pki.directory)].count(victim.cert.serial_number) == 1

    # unknown addresses and another CA's certificate are not answered as if they were ours
    assert requests.get(f"{base}crl/other.crl", timeout=10).status_code == 404
    stranger = issue_cert(make_ca("Vreemde CA"), "Vreemde")
    stranger_pem, stranger_ca = tmp_path / "stranger.pem", tmp_path / "stranger-ca.pem"
    stranger_pem.write_bytes(stranger.cert_pem())
    stranger_ca.write_bytes(stranger.chain[0].public_bytes(Encoding.PEM))
    refused = _openssl_ocsp(stranger_ca, stranger_pem, f"{base}ocsp/ca")
    assert "unauthorized" in (refused.stdout + refused.stderr).lower()


def test_pki_revoke_refuses_what_it_cannot_revoke(tmp_path: Path) -> None:
    pki = init_dev_pki(tmp_path / "pki")
    directory = str(pki.directory)
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(issue_cert(make_ca("Vreemde CA"), "Vreemde").cert_pem())
    processor = str(pki.directory / "processor.pem")

    not_ours = run_dpa("pki", "revoke", directory, str(stranger))
    assert not_ours.returncode == 1 and "not issued by the development PKI" in not_ours.stderr
    assert len(not_ours.stderr.strip().splitlines()) == 1
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    ahead = run_dpa("pki", "revoke", directory, processor, "--at", future)
    assert ahead.returncode == 1 and "must not lie in the future" in ahead.stderr
    assert run_dpa("pki", "revoke", directory, processor, "--at", "2026-01-01T10:00").returncode == 2  # no offset
    assert run_dpa("pki", "revoke", directory, processor, "--reason", "bored").returncode == 2
    assert read_revocations(pki.directory) == []

    earlier = "2026-01-01T10:00:00+01:00"
    first = run_dpa("pki", "revoke", directory, processor, "--at", earlier, "--reason", "superseded")
    assert first.returncode == 0, first.stderr
    again = run_dpa("pki", "revoke", directory, processor)
    assert again.returncode == 1 and "already revoked" in again.stderr
    (entry,) = json.loads((pki.directory / "revoked.json").read_text())["revoked"]
    assert entry["ca"] == "ca" and int(entry["serial"]) == pki.processor.cert.serial_number
    assert entry["reason"] == "superseded"
    assert dt.datetime.fromisoformat(entry["revoked_at"]) == dt.datetime.fromisoformat(earlier)
