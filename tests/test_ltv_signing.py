"""PAdES B-LT at signing: validation data of signer and TSA in the DSS, fetched once per run, a revoked
certificate refused, and B-T with a warning when revocation data is not required and cannot be had."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.reader import PdfFileReader

from dpa.config import Config
from dpa.devtools.devpki import DevPki, revoke_certificate
from dpa.errors import SigningError
from dpa.signing.sign import SigningSession
from dpa.verify.verifier import Verifier
from tests.conftest import config_file_for
from tests.ltv_support import dss_crl_issuers, dss_of, served_pki
from tests.signing_support import make_nss_db, pdfsig, qpdf_check, run_dpa

TOTAL_PASSED = "TOTAL_PASSED"
INDETERMINATE = "INDETERMINATE"


def _subjects(certs: list[x509.Certificate]) -> set[str]:
    return {asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)).subject.human_friendly for c in certs}


def test_signatures_carry_the_crls_of_signer_and_tsa(
    signing_config: Config, dev_pki: DevPki, unsigned_pdf: Path, tmp_path: Path
) -> None:
    with SigningSession(signing_config) as session:
        first = session.sign(unsigned_pdf, "processor", tmp_path / "half.pdf")
        second = session.sign(tmp_path / "half.pdf", "controller", tmp_path / "full.pdf")
    assert (first.level, first.warning, second.level, second.warning) == ("B-LT", None, "B-LT", None)
    half, full = (tmp_path / "half.pdf").read_bytes(), (tmp_path / "full.pdf").read_bytes()

    # the processor's DSS is part of its own signed revision: one update after the unsigned file
    reader = PdfFileReader(io.BytesIO(half))
    assert (
        reader.xrefs.total_revisions == PdfFileReader(io.BytesIO(unsigned_pdf.read_bytes())).xrefs.total_revisions + 1
    )
    assert "/DSS" in reader.root
    # read back with pyHanko: the chains of both signers and of the TSA, and a CRL from each CA
    dss = dss_of(full)
    certs = _subjects([x509.load_der_x509_certificate(c.dump()) for c in dss.load_certs()])
    wanted = [dev_pki.processor.cert, dev_pki.controller.cert, dev_pki.tsa.cert, dev_pki.ca.cert, dev_pki.tsa_ca.cert]
    assert _subjects(wanted) <= certs
    assert dss_crl_issuers(full) == _subjects([dev_pki.ca.cert, dev_pki.tsa_ca.cert])

    # independent readers still accept both signatures and the file
    nss = make_nss_db(tmp_path / "nss", dev_pki.ca_path)
    reported = pdfsig(tmp_path / "full.pdf", nss)
    assert [(s.field, s.signature_valid, s.certificate_trusted) for s in reported] == [
        ("processor_signature", True, True),
        ("controller_signature", True, True),
    ]
    assert qpdf_check(tmp_path / "full.pdf").returncode == 0
    with Verifier(signing_config) as verifier:
        report = verifier.verify_bytes(full, "full.pdf")
    assert (report.indication, report.pades_level, report.complete) == (TOTAL_PASSED, "B-LT", True), report.problems


def test_one_fetch_per_crl_per_run(assembled_agreement: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Six agreements in one run ask each CRL once (counted by the real HTTP server); every file carries them."""
    with served_pki(tmp_path / "pki", monkeypatch) as served:
        with SigningSession(served.config) as session:
            signed = [session.sign_bytes(assembled_agreement, "processor")[0] for _ in range(6)]
        assert served.responder.requests == {"/crl/ca.crl": 1, "/crl/tsa-ca.crl": 1}
        with SigningSession(served.config) as session:  # a new run fetches afresh
            session.sign_bytes(signed[0], "controller")
        assert served.responder.requests == {"/crl/ca.crl": 2, "/crl/tsa-ca.crl": 2}
        with Verifier(served.config) as verifier:
            for data in signed:
                assert len(dss_crl_issuers(data)) == 2
                assert verifier.verify_bytes(data, "issued.pdf").signatures[0].indication == TOTAL_PASSED


def test_revoked_before_signing_is_refused(
    assembled_agreement: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with served_pki(tmp_path / "pki", monkeypatch) as served:
        pki, url = served.pki, served.config.tsa.urls[0]
        with SigningSession(served.config) as session:
            half, _ = session.sign_bytes(assembled_agreement, "processor")  # before the revocation: fine
        (tmp_path / "half.pdf").write_bytes(half)
        # pdfsig (NSS) checks certificates online against the OCSP address in them: an independent client
        nss = make_nss_db(tmp_path / "nss", pki.ca_path)
        trusted = pdfsig(tmp_path / "half.pdf", nss)[0]  # [1]: the customer's field, not signed yet
        assert trusted.signature_valid and trusted.certificate_trusted, trusted.raw
        assert served.responder.requests["/ocsp/ca"] >= 1

        revoke_certificate(pki.directory, pki.processor.cert, reason="keyCompromise")
        revoked = pdfsig(tmp_path / "half.pdf", nss)[0]
        assert revoked.signature_valid and "Certificate has been Revoked" in revoked.raw, revoked.raw
        with SigningSession(served.config) as session, pytest.raises(SigningError, match="revoked") as refused:
            session.sign_bytes(assembled_agreement, "processor")
        assert "[signers.processor]" in str(refused.value) and "nothing was signed" in str(refused.value)

        # the CLI: one line, exit 1, no file
        source = tmp_path / "agreement.pdf"
        source.write_bytes(assembled_agreement)
        config = config_file_for(served.config, tmp_path)
        result = run_dpa("--config", str(config), "sign", str(source), "--as", "processor", "--tsa", url)
        assert result.returncode == 1 and "revoked" in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "agreement.processor-signed.pdf").exists()

        # a revoked TSA certificate stops the counter-signature too
        revoke_certificate(pki.directory, pki.tsa.cert)
        with SigningSession(served.config) as session, pytest.raises(SigningError, match="TSA's certificate"):
            session.sign_bytes(half, "controller")
        with Verifier(served.config) as verifier:
            assert verifier.verify_bytes(half, "half.pdf").signatures[0].indication == TOTAL_PASSED


def test_without_revocation_services(
    assembled_agreement: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Services stopped: required (the default) stops with a clear error; not required signs at B-T, warning."""
    with served_pki(tmp_path / "pki", monkeypatch, revocation_up=False) as served:
        url = served.config.tsa.urls[0]
        with SigningSession(served.config) as session, pytest.raises(SigningError) as stopped:
            session.sign_bytes(assembled_agreement, "processor")
        message = str(stopped.value)
        assert "no revocation data" in message and served.pki.revocation_url + "crl/ca.crl" in message
        assert "nothing was signed" in message and "require_revocation_data = false" in message

        relaxed = served.with_changes(require_revocation_data=False)
        with caplog.at_level(logging.WARNING, logger="dpa"), SigningSession(relaxed) as session:
            data, result = session.sign_bytes(assembled_agreement, "processor")
            session.sign_bytes(assembled_agreement, "processor")
        assert result.level == "B-T" and result.warning and "B-T" in result.warning
        assert [r.levelname for r in caplog.records if "revocation data" in r.getMessage()] == ["WARNING"]  # once
        assert "/DSS" not in PdfFileReader(io.BytesIO(data)).root
        with Verifier(served.config) as verifier:
            report = verifier.verify_bytes(data, "b-t.pdf")
        # B-T without revocation data: missing data never counts as "not revoked" (issue 12 §1)
        first = report.signatures[0]
        assert (first.indication, first.sub_indication, report.pades_level) == (INDETERMINATE, "TRY_LATER", "B-T")
        assert any("revocation not checked" in p for p in first.problems), first.problems

        # the CLI: exit 1 and one line by default; with the setting off, a warning on stderr and a B-T file
        source = tmp_path / "agreement.pdf"
        source.write_bytes(assembled_agreement)
        strict = config_file_for(served.config, tmp_path / "strict")
        refused = run_dpa("--config", str(strict), "sign", str(source), "--as", "processor", "--tsa", url)
        assert refused.returncode == 1 and "require_revocation_data = false" in refused.stderr, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
        lenient = strict.with_name("lenient.toml")
        lenient.write_text(
            strict.read_text().replace("require_revocation_data = true", "require_revocation_data = false")
        )
        signed = run_dpa("--config", str(lenient), "sign", str(source), "--as", "processor", "--tsa", url)
        assert signed.returncode == 0, signed.stderr
        assert "WARNING" in signed.stderr and "B-T" in signed.stderr
        with Verifier(served.config) as verifier:
            cli_report = verifier.verify_file(Path(signed.stdout.strip()))
        cli_first = cli_report.signatures[0]
        assert (cli_first.indication, cli_first.sub_indication, cli_report.pades_level) == (
            INDETERMINATE,
            "TRY_LATER",
            "B-T",
        )


def test_missing_revocation_data_is_asked_once_per_run_and_keeps_nothing_alive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15, memory: at B-T (services down, not required) a batch plans every signature. pyHanko's fetchers cache
    the failed fetch and re-raise that one exception, whose traceback then grows by each caller's frames; the run's
    fetcher answers from its own memory instead, so 200 plans keep no frames alive."""
    import gc
    import types

    from dpa.signing.ltv import RevocationFetcher
    from dpa.signing.trust import asn1_certificate

    with served_pki(tmp_path / "pki", monkeypatch, revocation_up=False) as served:
        roots = [asn1_certificate(served.pki.ca.cert)]
        processor = asn1_certificate(served.pki.processor.cert)
        fetcher = RevocationFetcher(roots, required=False, timeout_s=5)
        first = fetcher.plan(processor, roots, None)
        assert first.level == "B-T" and first.warning and "no revocation data" in first.warning

        def frames() -> int:
            gc.collect()
            return sum(isinstance(o, types.FrameType) for o in gc.get_objects())

        before = frames()
        plans = [fetcher.plan(processor, roots, None) for _ in range(200)]
        assert {(p.level, p.warning) for p in plans} == {(first.level, first.warning)}
        assert frames() <= before + 5, "frames kept alive by repeated planning"
