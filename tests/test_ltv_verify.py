"""What long-term validation must give at verification, offline: with the revocation services stopped, `dpa verify
--at` years later. The cases the verify side of issue 12 (stage 2) still has to make hold are marked xfail."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import time
from pathlib import Path

import pytest
import requests
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers

from dpa.archive.seal import Archiver
from dpa.config import Config
from dpa.devtools.devpki import DEV_MARKER, DevPki, issue_cert, revoke_certificate
from dpa.register import Register
from dpa.signing.sign import SigningSession
from dpa.signing.timestamps import timestamper_from_config
from dpa.verify.effective_date import AMSTERDAM
from dpa.verify.verifier import Verifier
from dpa.workflows.ingest import ingest_file
from tests import tamper
from tests.conftest import config_file_for, local_paths, make_record
from tests.ltv_support import plain_tsa, served_pki
from tests.signing_support import run_dpa


def _verify_at(config: Path, path: Path, at: dt.datetime) -> dict[str, object]:
    result = run_dpa("--config", str(config), "verify", "--json", "--at", at.isoformat(), str(path))
    assert "Traceback" not in result.stderr, result.stderr
    report: dict[str, object] = json.loads(result.stdout)
    return report


def _sealed(config: Config, unsigned: bytes, folder: Path) -> tuple[Path, str]:
    """A completed agreement sealed with an archive timestamp, and its effective date as verified today."""
    with SigningSession(config) as session:
        half, _ = session.sign_bytes(unsigned, "processor")
        full, _ = session.sign_bytes(half, "controller")
    path = folder / "sealed.pdf"
    path.write_bytes(full)
    with Archiver(config) as archiver:
        assert archiver.seal_file(path).action == "sealed"
    with Verifier(config) as verifier:
        report = verifier.verify_file(path)
    assert report.indication == "TOTAL_PASSED" and report.effective_date is not None, report.problems
    return path, report.effective_date.isoformat()


def test_verify_at_after_the_signer_certificates_expired_offline(
    assembled_agreement: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three years on (the signer certificates are valid for two), with the revocation services stopped."""
    with served_pki(tmp_path / "pki", monkeypatch) as served:
        path, effective = _sealed(served.config, assembled_agreement, tmp_path)
        config = config_file_for(served.config, tmp_path)
        expiry = served.pki.processor.cert.not_valid_after_utc
    # the server (TSA, CRL, OCSP) is stopped here: verification may not need it
    report = _verify_at(config, path, expiry + dt.timedelta(days=365))
    assert (report["indication"], report["effective_date"], report["pades_level"]) == (
        "TOTAL_PASSED",
        effective,
        "B-LTA",
    ), report


def test_verify_at_after_the_old_tsa_certificate_expired_once_extended(
    assembled_agreement: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Extended with a fresh TSA certificate before the old one expired: still TOTAL_PASSED after that expiry,
    offline (a timestamp chain validated at the next archive timestamp)."""
    with served_pki(tmp_path / "pki", monkeypatch, tsa_valid_days=100) as served:
        path, effective = _sealed(served.config, assembled_agreement, tmp_path)
        fresh = issue_cert(served.pki.tsa_ca, f"dpa TSA 2 ({DEV_MARKER})", profile="tsa", valid_days=3650)
        with plain_tsa(fresh) as url, Archiver(served.config, tsa_urls=[url]) as archiver:
            assert archiver.extend_file(path).action == "extended"
        config = config_file_for(served.config, tmp_path)
        old_expiry = served.pki.tsa.cert.not_valid_after_utc
    report = _verify_at(config, path, old_expiry + dt.timedelta(days=30))
    assert (report["indication"], report["effective_date"]) == ("TOTAL_PASSED", effective), report


def test_revoked_after_the_timestamp_still_verifies(
    assembled_agreement: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The controller's certificate is revoked after it signed; the CRL that says so is added to the file."""
    with served_pki(tmp_path / "pki", monkeypatch) as served:
        path, effective = _sealed(served.config, assembled_agreement, tmp_path)
        revoke_certificate(served.pki.directory, served.pki.controller.cert, reason="keyCompromise")
        crl = requests.get(f"{served.pki.revocation_url}crl/ca.crl", timeout=10).content
        path.write_bytes(tamper.incremental(path.read_bytes(), tamper.add_dss_crl(crl)))
        config = config_file_for(served.config, tmp_path)
    report = _verify_at(config, path, dt.datetime.now(dt.UTC))
    assert (report["indication"], report["effective_date"]) == ("TOTAL_PASSED", effective), report


def test_signed_elsewhere_with_a_revoked_certificate_is_total_failed(
    assembled_agreement: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A customer's tool signs with a certificate revoked the day before; the file carries the CRL saying so."""
    with served_pki(tmp_path / "pki", monkeypatch) as served:
        pki = served.pki
        with SigningSession(served.config) as session:
            half, _ = session.sign_bytes(assembled_agreement, "processor")
        revoke_certificate(pki.directory, pki.controller.cert, at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
        with Archiver(served.config) as archiver:
            signed = tamper.pyhanko_sign(half, "controller_signature", pki.controller, archiver.timestamper)
        crl = requests.get(f"{pki.revocation_url}crl/ca.crl", timeout=10).content
        path = tmp_path / "revoked.pdf"
        path.write_bytes(tamper.incremental(signed, tamper.add_dss_crl(crl)))
        config = config_file_for(served.config, tmp_path)
    report = _verify_at(config, path, dt.datetime.now(dt.UTC))
    assert (report["indication"], report["sub_indication"]) == ("TOTAL_FAILED", "REVOKED"), report


def test_counter_signature_without_timestamp_is_ingested_no_later_than_today(
    signing_config: Config, dev_pki: DevPki, assembled_agreement: bytes, tmp_path: Path
) -> None:
    """[ingest] untimestamped = "prove-existence": ingest timestamps it and dates it to that moment."""
    config = local_paths(signing_config, tmp_path)
    with SigningSession(config) as session:
        half, _ = session.sign_bytes(assembled_agreement, "processor")
    issued = tmp_path / "C-1001.pdf"
    issued.write_bytes(half)
    returned = tmp_path / "returned.pdf"
    returned.write_bytes(tamper.pyhanko_sign(half, "controller_signature", dev_pki.controller, None))
    today = dt.datetime.now(AMSTERDAM).date()
    with Register(config.paths.register) as register, Verifier(config) as verifier:
        register.record_issued(make_record(), "template", issued, hashlib.sha256(half).hexdigest())
        before = verifier.verify_file(returned)
        result = ingest_file(returned, register, verifier)
        assert result.agreement is not None  # matched to the issued agreement: the refusal is about the time
        (row,) = register.agreements(customer_id=result.agreement.customer_id)
    assert result.accepted and "no later than" in result.reason, result.reason
    # before ingest: INDETERMINATE with the timestamp sentence, as legal sees it today
    assert (before.indication, before.effective_date, before.effective_date_basis) == ("INDETERMINATE", None, None)
    assert any("has no RFC 3161 timestamp" in p for p in before.problems), before.problems
    # after: the stored copy is TOTAL_PASSED, dated by its archive timestamp, "no later than" today
    assert result.stored is not None and result.stored.read_bytes().startswith(returned.read_bytes())
    assert returned.read_bytes() != result.stored.read_bytes()
    cli_config = config_file_for(config, tmp_path)
    out = run_dpa("--config", str(cli_config), "verify", "--json", str(result.stored))
    report = json.loads(out.stdout)
    assert (report["indication"], report["complete"]) == ("TOTAL_PASSED", True), report
    assert report["effective_date"] in {today.isoformat(), dt.datetime.now(AMSTERDAM).date().isoformat()}, report
    assert (report["effective_date_basis"], report["pades_level"]) == ("proof_of_existence", "B-LTA")
    processor, controller, archive = report["signatures"]
    assert processor["timestamp"] is not None and processor["proof_of_existence"] is None
    assert controller["timestamp"] is None and controller["proof_of_existence"] == archive["timestamp"] is not None
    assert f"effective no later than {report['effective_date']} " in result.reason, result.reason
    text = run_dpa("--config", str(cli_config), "verify", str(result.stored)).stdout
    assert f"effective date: no later than {report['effective_date']}" in text, text
    assert "no later than" in text.split("controller_signature", 1)[1].split("verdict", 1)[0], text
    # the register keeps the date and its basis
    assert (row.status, row.effective_date, row.effective_date_basis) == (
        "effective",
        report["effective_date"],
        "proof_of_existence",
    )


def _document_timestamp(config: Config, data: bytes) -> bytes:
    """``data`` plus a document timestamp from the session's TSA (pyHanko's own timestamper, no validation data)."""
    out = io.BytesIO()
    with contextlib.closing(timestamper_from_config(config)) as stamper:
        signers.PdfTimeStamper(stamper).timestamp_pdf(IncrementalPdfFileWriter(io.BytesIO(data)), "sha256", output=out)
    return out.getvalue()


def test_untimestamped_signature_is_judged_at_the_document_timestamp_covering_it(
    signing_config: Config, dev_pki: DevPki, assembled_agreement: bytes, tmp_path: Path
) -> None:
    """verify (no ingest): the proof of existence stands in for the signature's time; a certificate that had expired
    by then fails there (its own clock claims a time when it was valid), one valid then passes."""
    config = local_paths(signing_config, tmp_path)
    with SigningSession(config) as session:
        half, _ = session.sign_bytes(assembled_agreement, "processor")
    now = dt.datetime.now(dt.UTC)
    expired = issue_cert(
        dev_pki.ca,
        "Verlopen Klant",
        organization="Klant B.V.",
        not_before=now - dt.timedelta(minutes=5),
        not_after=now + dt.timedelta(seconds=2),
    )
    with tamper.claimed_signing_time(now + dt.timedelta(seconds=1)):  # after the processor's timestamp, still valid
        stale = tamper.pyhanko_sign(half, "controller_signature", expired, None)
    time.sleep(3)  # the certificate expires before the document timestamp is made
    fresh = tamper.pyhanko_sign(half, "controller_signature", dev_pki.controller, None)
    with Verifier(config) as verifier:
        failed = verifier.verify_bytes(_document_timestamp(config, stale), "stale.pdf")
        passed = verifier.verify_bytes(_document_timestamp(config, fresh), "fresh.pdf")
    (controller,) = [s for s in failed.signatures if s.field == "controller_signature"]
    assert (controller.indication, controller.sub_indication) == ("INDETERMINATE", "OUT_OF_BOUNDS_NO_POE"), failed
    assert any("had expired at its proof of existence" in p for p in controller.problems), controller.problems
    assert controller.proof_of_existence is not None and failed.effective_date is None
    assert (passed.indication, passed.complete, passed.effective_date_basis) == (
        "TOTAL_PASSED",
        True,
        "proof_of_existence",
    ), passed.problems
