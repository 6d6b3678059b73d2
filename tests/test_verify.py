"""Verification end to end: the real agreement (LibreOffice) signed through SigningSession and the real TSA
subprocess, verified through the worker process; effective dates across time zones; certificates that expire
after their timestamp; PDFs made elsewhere; PAdES levels; the worker's time and memory limits; pdfsig agreeing
on the cryptography of every good file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyhanko.pdf_utils.generic import pdf_name, pdf_string
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import SigFieldSpec

from dpa.config import Config, VerifyConfig
from dpa.devtools.devpki import DevPki, issue_cert
from dpa.signing.timestamps import timestamper_from_config
from dpa.verify.effective_date import AMSTERDAM
from dpa.verify.report import (
    DOCUMENT_JSON_KEYS,
    INDETERMINATE,
    SIGNATURE_JSON_KEYS,
    TOTAL_FAILED,
    TOTAL_PASSED,
    DocumentReport,
)
from dpa.verify.verifier import Verifier
from tests import tamper
from tests.signing_support import build_test_agreement, make_nss_db, pdfsig

pytestmark = pytest.mark.libreoffice

UTC = dt.UTC


@pytest.fixture(scope="module")
def good(signing_config: Config, assembled_agreement: bytes) -> tamper.Signed:
    return tamper.sign_both(signing_config, assembled_agreement)


@pytest.fixture(scope="module")
def travel(tmp_path_factory: pytest.TempPathFactory) -> tuple[tamper.TimeTravelPki, Path]:
    pki = tamper.time_travel_pki()
    path = tmp_path_factory.mktemp("travel") / "travel-ca.pem"
    path.write_bytes(pki.ca.cert_pem())
    return pki, path


@pytest.fixture(scope="module")
def verifier(signing_config: Config, travel: tuple[tamper.TimeTravelPki, Path]) -> Iterator[Verifier]:
    config = tamper.accepting_processor(signing_config, travel[0].processor, travel[1].parent)
    with Verifier(config, extra_trust=[travel[1]], extra_tsa_trust=[travel[1]]) as v:
        yield v


@pytest.fixture(scope="module")
def nssdir(
    dev_pki: DevPki, travel: tuple[tamper.TimeTravelPki, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    directory = make_nss_db(tmp_path_factory.mktemp("nss"), dev_pki.ca_path)
    subprocess.run(
        ["certutil", "-A", "-n", "travel-ca", "-t", "CT,C,C", "-i", str(travel[1]), "-d", f"sql:{directory}"],
        check=True,
        capture_output=True,
    )
    return directory


def assert_pdfsig_agrees(data: bytes, report: DocumentReport, nssdir: Path, tmp: Path) -> None:
    """poppler's pdfsig (cryptography and trust only) says valid for every signature dpa passes."""
    path = tmp / f"pdfsig-{report.sha256}.pdf"
    path.write_bytes(data)
    found = pdfsig(path, nssdir)
    passed = {s.field for s in report.signatures if s.indication == TOTAL_PASSED}
    assert passed, report.problems
    by_field = {s.field: s for s in found}
    for field in passed:
        assert by_field[field].signature_valid, by_field[field].raw
        assert by_field[field].certificate_trusted, by_field[field].raw


# --- the agreement, as dpa makes it ------------------------------------------------------------------------------


def test_processor_then_controller(good: tamper.Signed, verifier: Verifier, nssdir: Path, tmp_path: Path) -> None:
    half = verifier.verify_bytes(good.half, "half.pdf")
    assert half.indication == TOTAL_PASSED, half.problems
    assert half.sub_indication is None and half.problems == ()
    assert not half.complete and half.effective_date is None
    assert [(s.field, s.role, s.certification) for s in half.signatures] == [("processor_signature", "processor", True)]
    assert half.signatures[0].coverage == "ENTIRE_FILE" and half.signatures[0].modification_level == "NONE"

    full = verifier.verify_bytes(good.full, "full.pdf")
    assert full.indication == TOTAL_PASSED, full.problems
    assert full.complete and full.made_by_dpa
    assert full.effective_date == good.controller_time.astimezone(AMSTERDAM).date()
    processor, controller = full.signatures
    assert (processor.role, controller.role) == ("processor", "controller")
    assert processor.timestamp == good.processor_time and controller.timestamp == good.controller_time
    assert processor.claimed_signing_time is not None
    assert (processor.coverage, processor.modification_level) == ("ENTIRE_REVISION", "FORM_FILLING")
    assert (controller.coverage, controller.modification_level) == ("ENTIRE_FILE", "NONE")
    assert processor.certification and not controller.certification
    assert "ipcall.me" in (processor.signer or "") and "Voorbeeldklant" in (controller.signer or "")
    assert full.pades_level == "B-LT"  # both signatures carry their validation data (issue 12)

    data = full.to_json()
    assert tuple(data) == DOCUMENT_JSON_KEYS
    assert all(tuple(s) == SIGNATURE_JSON_KEYS for s in data["signatures"])
    assert data["signatures"][1]["timestamp"].endswith("Z")
    assert data["effective_date"] == full.effective_date.isoformat()  # type: ignore[union-attr]
    assert data["effective_date_basis"] == "timestamp"  # both signatures carry their own timestamp (DESIGN §5)
    assert all(s["proof_of_existence"] is None for s in data["signatures"])
    assert DocumentReport.from_wire(full.to_wire()) == full

    for blob, report in ((good.half, half), (good.full, full)):
        assert_pdfsig_agrees(blob, report, nssdir, tmp_path)


def test_verify_file_and_one_worker_for_many(good: tamper.Signed, verifier: Verifier, tmp_path: Path) -> None:
    path = tmp_path / "agreement.signed.pdf"
    path.write_bytes(good.full)
    worker = verifier._worker
    for _ in range(5):
        assert verifier.verify_file(path).indication == TOTAL_PASSED
    assert verifier._worker is worker is not None, "the warm worker was replaced"
    missing = verifier.verify_file(tmp_path / "weg.pdf")
    assert (missing.indication, missing.sub_indication) == (INDETERMINATE, "GENERIC")


def test_certificate_expired_after_its_timestamp_still_passes(
    assembled_agreement: bytes,
    travel: tuple[tamper.TimeTravelPki, Path],
    verifier: Verifier,
    tmp_path: Path,
    nssdir: Path,
) -> None:
    """The certificate is judged at the trusted timestamp's time, not now: a TSA whose clock stands at fixed past
    moments stamps both signatures while the controller's certificate is valid; that certificate has expired since."""
    pki = travel[0]
    valid_until = dt.datetime(2026, 2, 1, tzinfo=UTC)
    short = issue_cert(
        pki.ca,
        "Kortstondige Klant",
        organization="Klant B.V.",
        not_before=dt.datetime(2026, 1, 1, tzinfo=UTC),
        not_after=valid_until,
    )
    with tamper.local_tsa(pki.tsa, fixed=dt.datetime(2026, 1, 20, 9, 0, tzinfo=UTC)) as stamper:
        half = tamper.pyhanko_sign(assembled_agreement, "processor_signature", pki.processor, stamper, certify=True)
    last_moment = valid_until - dt.timedelta(seconds=2)  # 2026-02-01 00:59:58 in Amsterdam
    with tamper.local_tsa(pki.tsa, fixed=last_moment) as stamper:
        signed = tamper.pyhanko_sign(half, "controller_signature", short, stamper)
    # the validation data B-LT signing adds, made while the certificate was valid
    signed = tamper.with_revocation_data(signed, pki.ca, issued=last_moment + dt.timedelta(minutes=5))
    assert dt.datetime.now(UTC) > valid_until
    report = verifier.verify_bytes(signed, "expired-since.pdf")
    assert report.indication == TOTAL_PASSED, report.problems
    assert report.signatures[1].timestamp == last_moment
    assert report.complete and report.effective_date == dt.date(2026, 2, 1)
    # pdfsig validates the certificate at the current time (and reports it expired), so only the digest is compared
    path = tmp_path / "expired-since.pdf"
    path.write_bytes(signed)
    assert all(s.signature_valid for s in pdfsig(path, nssdir))


@pytest.mark.parametrize(
    ("processor_at", "controller_at", "expected"),
    [
        ("2026-01-15T23:20:00", "2026-01-15T23:30:00", dt.date(2026, 1, 16)),  # winter: 00:30 CET next day
        ("2026-07-15T22:20:00", "2026-07-15T22:30:00", dt.date(2026, 7, 16)),  # summer: 00:30 CEST next day
        ("2026-01-15T22:20:00", "2026-01-15T22:30:00", dt.date(2026, 1, 15)),  # 23:30 CET: same day
        ("2026-03-29T00:30:00", "2026-03-29T01:30:00", dt.date(2026, 3, 29)),  # the night clocks go forward
    ],
)
def test_effective_date_is_the_amsterdam_date_of_the_last_timestamp(
    assembled_agreement: bytes,
    travel: tuple[tamper.TimeTravelPki, Path],
    verifier: Verifier,
    processor_at: str,
    controller_at: str,
    expected: dt.date,
    nssdir: Path,
    tmp_path: Path,
) -> None:
    """End to end with a TSA whose clock stands at a chosen UTC moment (certificates valid since 2025)."""
    pki = travel[0]
    first = dt.datetime.fromisoformat(processor_at).replace(tzinfo=UTC)
    last = dt.datetime.fromisoformat(controller_at).replace(tzinfo=UTC)
    with tamper.local_tsa(pki.tsa, fixed=first) as stamper:
        half = tamper.pyhanko_sign(assembled_agreement, "processor_signature", pki.processor, stamper, certify=True)
    with tamper.local_tsa(pki.tsa, fixed=last) as stamper:
        full = tamper.pyhanko_sign(half, "controller_signature", pki.controller, stamper)
    full = tamper.with_revocation_data(full, pki.ca)
    report = verifier.verify_bytes(full, "travel.pdf")
    assert report.indication == TOTAL_PASSED, report.problems
    assert report.signatures[1].timestamp == last
    assert report.effective_date == expected
    assert_pdfsig_agrees(full, report, nssdir, tmp_path)


@pytest.mark.parametrize(
    ("revoked_at", "indication", "sub_indication"),
    [
        ("2026-06-01T12:00:00", TOTAL_PASSED, None),  # revoked months after it signed: the signature stands
        ("2026-01-10T12:00:00", TOTAL_FAILED, "REVOKED"),  # revoked before its timestamp: ETSI's TOTAL_FAILED
    ],
)
def test_revocation_counts_from_the_timestamp(
    assembled_agreement: bytes,
    travel: tuple[tamper.TimeTravelPki, Path],
    verifier: Verifier,
    revoked_at: str,
    indication: str,
    sub_indication: str | None,
) -> None:
    """A CRL embedded as validation data (DSS) is used; a revocation only counts when it precedes the timestamp."""
    pki = travel[0]
    with tamper.local_tsa(pki.tsa, fixed=dt.datetime(2026, 2, 1, 9, 0, tzinfo=UTC)) as stamper:
        half = tamper.pyhanko_sign(assembled_agreement, "processor_signature", pki.processor, stamper, certify=True)
        full = tamper.pyhanko_sign(half, "controller_signature", pki.controller, stamper)
    when = dt.datetime.fromisoformat(revoked_at).replace(tzinfo=UTC)
    with_crl = tamper.incremental(full, tamper.add_dss_crl(tamper.crl_revoking(pki.ca, pki.controller, when)))
    report = verifier.verify_bytes(with_crl, "revoked.pdf")
    assert (report.indication, report.sub_indication) == (indication, sub_indication), report.problems
    assert report.signatures[0].indication == TOTAL_PASSED  # the processor's certificate is on the CRL's issuer too
    assert report.pades_level == "B-LT"


def test_validate_at_another_moment(good: tamper.Signed, signing_config: Config) -> None:
    """--at before the signatures: their timestamps lie after the moment of validation."""
    before = good.processor_time - dt.timedelta(hours=1)
    with Verifier(signing_config, at=before) as early:
        report = early.verify_bytes(good.full, "early.pdf")
    assert (report.indication, report.sub_indication) == (INDETERMINATE, "SIG_CONSTRAINTS_FAILURE")
    assert "after the moment of validation" in " ".join(report.problems)
    with Verifier(signing_config, at=good.controller_time + dt.timedelta(minutes=5)) as later:
        assert later.verify_bytes(good.full, "later.pdf").indication == TOTAL_PASSED


# --- PAdES levels: validation data and document timestamps are allowed ------------------------------------------


def test_document_timestamp_after_validation_data_is_b_lta(
    good: tamper.Signed, signing_config: Config, dev_pki: DevPki, verifier: Verifier
) -> None:
    crl = tamper.crl_revoking(dev_pki.ca, issue_cert(dev_pki.ca, "Iemand anders"), dt.datetime.now(UTC))
    with_dss = tamper.incremental(good.full, tamper.add_dss_crl(crl))
    out = io.BytesIO()
    signers.PdfTimeStamper(timestamper_from_config(signing_config)).timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(with_dss)), "sha256", output=out
    )
    report = verifier.verify_bytes(out.getvalue(), "lta.pdf")
    assert report.indication == TOTAL_PASSED, report.problems
    assert report.pades_level == "B-LTA"
    assert report.complete
    assert report.effective_date == good.controller_time.astimezone(AMSTERDAM).date()
    kinds = [(s.kind, s.role) for s in report.signatures]
    assert kinds == [("signature", "processor"), ("signature", "controller"), ("document_timestamp", None)]


# --- PDFs made elsewhere ------------------------------------------------------------------------------------------


def foreign_pdf(*, text_field: bool = False) -> bytes:
    """A PDF dpa did not make, with two signature fields of its own names (and optionally a text field)."""

    def edit(writer: IncrementalPdfFileWriter) -> None:
        fields.append_signature_field(writer, SigFieldSpec("Handtekening_A", on_page=-1, box=(60, 120, 280, 200)))
        fields.append_signature_field(writer, SigFieldSpec("Handtekening_B", on_page=-1, box=(315, 120, 535, 200)))
        if text_field:
            tamper.add_text_field(writer)

    return tamper.incremental(build_test_agreement(fields=False), edit)


def test_pdf_made_elsewhere_is_judged_by_the_same_rules(
    dev_pki: DevPki, signing_config: Config, verifier: Verifier, nssdir: Path, tmp_path: Path
) -> None:
    stamper = timestamper_from_config(signing_config)
    base = foreign_pdf()
    bare = tamper.pyhanko_sign(base, "Handtekening_A", dev_pki.processor, stamper, certify=True)
    unknown = verifier.verify_bytes(bare, "elders-0.pdf")  # pyHanko's defaults embed no revocation data
    assert (unknown.indication, unknown.sub_indication) == (INDETERMINATE, "TRY_LATER"), unknown.problems
    assert "revocation not checked" in " ".join(unknown.problems)
    first = tamper.with_revocation_data(bare, dev_pki.ca)
    one = verifier.verify_bytes(first, "elders-1.pdf")
    assert one.indication == TOTAL_PASSED, one.problems
    assert not one.complete and not one.made_by_dpa and one.effective_date is None
    assert [(s.field, s.role) for s in one.signatures] == [("Handtekening_A", None)]

    both = tamper.pyhanko_sign(first, "Handtekening_B", dev_pki.controller, stamper)
    report = verifier.verify_bytes(both, "elders.pdf")
    assert report.indication == TOTAL_PASSED, report.problems
    assert [(s.field, s.role) for s in report.signatures] == [("Handtekening_A", None), ("Handtekening_B", None)]
    assert report.complete and report.effective_date is not None
    assert_pdfsig_agrees(both, report, nssdir, tmp_path)


def test_pdf_made_elsewhere_new_field_after_first_signature(
    dev_pki: DevPki, signing_config: Config, verifier: Verifier
) -> None:
    """The second signer creates its own field: not a field that existed at the first signature."""
    stamper = timestamper_from_config(signing_config)
    first = tamper.pyhanko_sign(foreign_pdf(), "Handtekening_A", dev_pki.processor, stamper)
    spec = SigFieldSpec("Nieuw_veld", on_page=0, box=(60, 40, 280, 100))
    second = tamper.pyhanko_sign(first, "Nieuw_veld", dev_pki.controller, stamper, new_field=spec)
    report = verifier.verify_bytes(second, "elders-nieuw.pdf")
    assert (report.indication, report.sub_indication) == (TOTAL_FAILED, "FORMAT_FAILURE")
    problems = " ".join(report.problems)
    assert "Nieuw_veld" in problems
    by_field = {s.field: s for s in report.signatures}
    assert by_field["Nieuw_veld"].sub_indication == "SIG_CONSTRAINTS_FAILURE"
    assert "did not exist when the first signature was made" in problems


def test_pdf_made_elsewhere_text_field_changed_after_signing(
    dev_pki: DevPki, signing_config: Config, verifier: Verifier
) -> None:
    stamper = timestamper_from_config(signing_config)
    signed = tamper.pyhanko_sign(foreign_pdf(text_field=True), "Handtekening_A", dev_pki.processor, stamper)
    signed = tamper.with_revocation_data(signed, dev_pki.ca)
    assert verifier.verify_bytes(signed, "elders-tekst.pdf").indication == TOTAL_PASSED

    def change(writer: IncrementalPdfFileWriter) -> None:
        tamper.field_dict(writer, "opmerking")[pdf_name("/V")] = pdf_string("Artikel 10 geldt wel.")

    report = verifier.verify_bytes(tamper.incremental(signed, change), "elders-gewijzigd.pdf")
    assert (report.indication, report.sub_indication) == (TOTAL_FAILED, "FORMAT_FAILURE")
    assert "opmerking" in " ".join(report.problems)


# --- limits: size, time, memory; a dead worker -------------------------------------------------------------------


def with_limits(config: Config, **limits: float) -> Config:
    return dataclasses.replace(config, verify=dataclasses.replace(config.verify, **limits))  # type: ignore[arg-type]


def test_file_over_the_size_limit_is_not_read(signing_config: Config, good: tamper.Signed, tmp_path: Path) -> None:
    path = tmp_path / "groot.pdf"
    path.write_bytes(good.full)
    with Verifier(with_limits(signing_config, max_file_bytes=1000)) as small:
        report = small.verify_file(path)
        assert (report.indication, report.sub_indication, report.sha256) == (INDETERMINATE, "GENERIC", None)
        assert "max_file_bytes" in report.problems[0]
        assert small._worker is not None and small._worker.ready is False, "the file went to the worker"


def test_slow_file_gets_a_verdict_and_a_new_worker(signing_config: Config, good: tamper.Signed) -> None:
    with Verifier(with_limits(signing_config, timeout_s=0.001)) as hurried:
        hurried.verify_bytes(b"%PDF-1.7\n", "warm-up.pdf")  # start-up is not part of the limit
        report = hurried.verify_bytes(good.full, "traag.pdf")
        assert (report.indication, report.sub_indication) == (INDETERMINATE, "GENERIC")
        assert "longer than 0.001 s" in report.problems[0]
        assert hurried._worker is None, "the slow worker was not stopped"
        hurried.limits = VerifyConfig(timeout_s=60)
        assert hurried.verify_bytes(good.full, "daarna.pdf").indication == TOTAL_PASSED


def test_memory_limit(signing_config: Config, tmp_path: Path) -> None:
    """A file that needs more memory than [verify] memory_mb gets INDETERMINATE, and the worker lives on."""
    with Verifier(signing_config) as probe:
        probe.verify_bytes(b"%PDF-1.7\n", "probe.pdf")
        assert probe._worker is not None
        pid = probe._worker.process.pid
        with open(f"/proc/{pid}/statm", encoding="ascii") as fh:
            used_mb = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE") // 2**20
    limits = {"memory_mb": used_mb + 60, "max_file_bytes": 200 * 2**20}
    big = b"%PDF-1.7\n" + b"0" * (120 * 2**20)
    with Verifier(with_limits(signing_config, **limits)) as tight:
        report = tight.verify_bytes(big, "zwaar.pdf")
        assert (report.indication, report.sub_indication) == (INDETERMINATE, "GENERIC"), report.problems
        assert "memory" in report.problems[0]
        assert tight.verify_bytes(b"not a pdf", "klein.txt").sub_indication == "FORMAT_FAILURE"


def test_memory_limit_below_what_the_worker_needs(signing_config: Config) -> None:
    from dpa.errors import VerificationError

    with (
        Verifier(with_limits(signing_config, memory_mb=1)) as starved,
        pytest.raises(VerificationError, match="memory_mb"),
    ):
        starved.verify_bytes(b"%PDF-1.7\n", "x.pdf")


def test_dead_worker_is_replaced(verifier: Verifier, good: tamper.Signed) -> None:
    verifier.verify_bytes(good.half, "voor.pdf")
    assert verifier._worker is not None
    process = verifier._worker.process
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    report = verifier.verify_bytes(good.full, "na.pdf")
    assert report.indication == TOTAL_PASSED, report.problems


def test_no_trust_roots_is_an_error(good: tamper.Signed) -> None:
    from dpa.errors import VerificationError

    with pytest.raises(VerificationError, match="trust roots"):
        Verifier(Config())


def test_in_process_mode_gives_the_same_verdicts(signing_config: Config, good: tamper.Signed) -> None:
    samples = {"good": good.full, "bytes-after-eof": good.full + b"x", "half": good.half, "unsigned": good.unsigned}
    with Verifier(signing_config, isolate=False) as inline, Verifier(signing_config) as isolated:
        for name, data in samples.items():
            a = inline.verify_bytes(data, f"{name}.pdf").to_json()
            b = isolated.verify_bytes(data, f"{name}.pdf").to_json()
            assert a == b, name
    assert a["indication"] == TOTAL_FAILED  # the samples do differ: the last one has no signature
