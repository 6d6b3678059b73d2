"""Issue → counter-sign → ingest, against the real register, LibreOffice, TSA and verifier; and the demo."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dpa.archive.seal import Archiver
from dpa.config import Config
from dpa.register import Register
from dpa.signing.sign import SigningSession
from dpa.verify.verifier import Verifier
from dpa.workflows.batch import BatchOptions, run_batch
from dpa.workflows.ingest import ingest_file
from dpa.workflows.issue import Issued, issue
from tests.conftest import EXAMPLE_FIELDS, config_file_for, local_paths, make_record
from tests.customers import customer_row, write_customers
from tests.signing_support import DPA

pytestmark = pytest.mark.libreoffice
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


@pytest.fixture
def local_config(signing_config: Config, tmp_path: Path) -> Config:
    return local_paths(signing_config, tmp_path)


def issue_and_countersign(config: Config, tmp_path: Path, customer: str = "C-1") -> tuple[Issued, Path, date]:
    issued = issue(make_record(id=customer), config, tmp_path / f"{customer}.pdf")
    returned = tmp_path / "returned" / f"{customer}.pdf"
    returned.parent.mkdir(exist_ok=True)
    with SigningSession(config) as session:
        result = session.sign(issued.path, "controller", returned)
    assert result.timestamp is not None
    return issued, returned, result.timestamp.astimezone(AMSTERDAM).date()


def test_issue_countersign_ingest_becomes_effective(local_config: Config, tmp_path: Path) -> None:
    _issued, returned, expected = issue_and_countersign(local_config, tmp_path)
    with Register(local_config.paths.register) as register, Verifier(local_config) as verifier:
        assert register.agreements(customer_id="C-1")[0].status == "issued"
        result = ingest_file(returned, register, verifier)
        assert result.accepted, result.reason
        row = register.agreements(customer_id="C-1")[0]
        assert row.status == "effective" and row.effective_date == expected.isoformat()
        assert result.stored == tmp_path / "signed" / "C-1+1.pdf"
        assert result.stored.read_bytes() == returned.read_bytes()

        again = ingest_file(returned, register, verifier)  # harmless
        assert again.accepted
        assert [e.kind for e in register.events(row.id)] == ["issued", "effective", "ingested-again"]
        assert len(register.agreements()) == 1


def test_ingest_seals_the_accepted_agreement_b_lta(local_config: Config, tmp_path: Path) -> None:
    """With an archiver (as dpa ingest runs): the stored copy is the returned file plus validation data and an
    archive timestamp, verifies B-LTA with the same effective date, and the returned file again is harmless."""
    _issued, returned, expected = issue_and_countersign(local_config, tmp_path, "C-SEAL")
    data = returned.read_bytes()
    with (
        Register(local_config.paths.register) as register,
        Verifier(local_config) as verifier,
        Archiver(local_config) as archiver,
    ):
        result = ingest_file(returned, register, verifier, archiver=archiver)
        assert result.accepted and result.stored is not None, result.reason
        kept = result.stored.read_bytes()
        assert kept.startswith(data) and len(kept) > len(data)
        report = verifier.verify_file(result.stored)
        assert (report.indication, report.complete, report.pades_level) == ("TOTAL_PASSED", True, "B-LTA"), (
            report.problems
        )
        assert report.effective_date == expected
        row = register.agreements(customer_id="C-SEAL")[0]
        assert row.signed_sha256 == hashlib.sha256(kept).hexdigest() and row.effective_date == expected.isoformat()

        again = ingest_file(returned, register, verifier, archiver=archiver)  # the file that was sealed: harmless
        assert again.accepted and again.stored == result.stored, again.reason
        assert result.stored.read_bytes() == kept
        assert [e.kind for e in register.events(row.id)] == ["issued", "effective", "ingested-again"]


@pytest.mark.tampered("edited.pdf")  # one byte of the issued part changed on purpose
def test_regenerated_or_edited_file_is_refused(local_config: Config, tmp_path: Path) -> None:
    _issued, returned, _ = issue_and_countersign(local_config, tmp_path)
    edited = tmp_path / "edited.pdf"
    data = bytearray(returned.read_bytes())
    position = data.index(b"/DPACustomerId") - 20
    data[position] = ord(" ") if data[position] != ord(" ") else ord("\n")  # one byte inside the issued part
    edited.write_bytes(bytes(data))

    # the customer regenerated the agreement themselves and signed that (same id, other bytes)
    other = tmp_path / "other"
    other.mkdir()
    regenerated = issue(make_record(id="C-1"), local_paths(local_config, other), other / "C-1.pdf")
    with SigningSession(local_config) as session:
        session.sign(regenerated.path, "controller", other / "C-1.returned.pdf")

    with Register(local_config.paths.register) as register, Verifier(local_config) as verifier:
        for candidate in (edited, other / "C-1.returned.pdf"):
            result = ingest_file(candidate, register, verifier)
            assert not result.accepted
            assert "not an extension of the issued agreement" in result.reason
        row = register.agreements(customer_id="C-1")[0]
        assert row.status == "issued"
        refusals = [e for e in register.events(row.id) if e.kind == "ingest-refused"]
        assert len(refusals) == 2 and all(e.verdict == "NOT_AN_EXTENSION" for e in refusals)


def test_effective_customer_batched_into_a_new_folder_gets_no_new_file(local_config: Config, tmp_path: Path) -> None:
    _issued, returned, _ = issue_and_countersign(local_config, tmp_path, "C-1")
    with Register(local_config.paths.register) as register, Verifier(local_config) as verifier:
        assert ingest_file(returned, register, verifier).accepted
    csv_path = write_customers(
        tmp_path / "crm.csv", [{**EXAMPLE_FIELDS, "id": "C-1", "country": "NL", "language": "nl"}]
    )
    out = tmp_path / "second-batch"
    summary = run_batch(csv_path, out, local_config, BatchOptions(jobs=1))
    assert (summary.issued, summary.failed) == (0, 1)
    assert sorted(p.name for p in out.glob("*.pdf")) == []  # nothing certified that the register does not know
    with (out / "manifest.csv").open(encoding="utf-8", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["id"] == "C-1" and row["status"] == "error" and row["file"] == ""
    assert "already effective" in row["error"]
    with Register(local_config.paths.register) as register:
        (agreement,) = register.agreements(customer_id="C-1")
        assert agreement.status == "effective"


def test_unsigned_or_unverifiable_returns_are_not_effective(local_config: Config, tmp_path: Path) -> None:
    issued = issue(make_record(id="C-2"), local_config, tmp_path / "C-2.pdf")
    with Register(local_config.paths.register) as register, Verifier(local_config) as verifier:
        unchanged = ingest_file(issued.path, register, verifier)
        assert not unchanged.accepted and "has not signed it yet" in unchanged.reason
        appended = tmp_path / "appended.pdf"
        appended.write_bytes(issued.path.read_bytes() + b"% trailing junk\n")
        junk = ingest_file(appended, register, verifier)
        assert not junk.accepted and junk.report is not None and junk.report.indication != "TOTAL_PASSED"
        row = register.agreements(customer_id="C-2")[0]
        assert row.status == "issued"
        assert [e.kind for e in register.events(row.id)] == ["issued", "ingest-refused", "ingest-refused"]


def test_batch_and_ingest_at_the_same_time(local_config: Config, tmp_path: Path, signing_config: Config) -> None:
    _issued, returned, _ = issue_and_countersign(local_config, tmp_path, "C-9")
    config_file = config_file_for(signing_config, tmp_path)  # the same register as local_config
    csv_path = write_customers(tmp_path / "crm.csv", [customer_row(i) for i in range(8)])
    batch = subprocess.Popen(
        [*DPA, "-q", "--config", str(config_file), "batch", str(csv_path), "-o", str(tmp_path / "batch")]
        + ["--tsa", signing_config.tsa.urls[0]],
        env=os.environ.copy(),
    )
    ingests = 0
    with Register(local_config.paths.register) as register, Verifier(local_config) as verifier:
        while batch.poll() is None or ingests < 5:
            assert ingest_file(returned, register, verifier).accepted
            ingests += 1
        assert batch.wait() == 0
        agreement = register.agreements(customer_id="C-9")[0]
        assert len(register.events(agreement.id)) == 1 + ingests
        assert len(register.agreements()) == 9
        assert all(len(register.events(a.id)) >= 1 for a in register.agreements())


@pytest.mark.slow
def test_demo_runs_twice_and_verifies(tmp_path: Path) -> None:
    for _ in range(2):
        result = subprocess.run([*DPA, "demo", "-o", str(tmp_path / "demo")], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "effective date: " in result.stdout and "art. 12.1" in result.stdout
    signed = tmp_path / "demo" / "signed" / "C-10001+1.pdf"
    pdfsig = subprocess.run(["pdfsig", str(signed)], capture_output=True, text=True, check=True).stdout
    assert pdfsig.count("Signature Validation: Signature is Valid.") == 2, pdfsig
    verdict = subprocess.run(
        [*DPA, "--config", str(tmp_path / "demo" / "pki" / "dpa.toml"), "verify", "--json", str(signed)],
        capture_output=True,
        text=True,
    )
    assert verdict.returncode == 0, verdict.stderr
    report = json.loads(verdict.stdout)
    assert report["indication"] == "TOTAL_PASSED" and report["complete"] is True and report["effective_date"]
    assert report["pades_level"] == "B-LTA"  # sealed with an archive timestamp after ingest (issue 12)


def test_hostile_file_is_refused_without_stopping_the_run(local_config: Config, tmp_path: Path) -> None:
    nested = b"[" * 50_000 + b"]" * 50_000
    hostile = tmp_path / "hostile.pdf"
    hostile.write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R /Info " + nested)
    with Register(local_config.paths.register) as register, Verifier(local_config) as verifier:
        result = ingest_file(hostile, register, verifier)
        assert not result.accepted and "not an agreement made by dpa" in result.reason
        assert register.agreements() == []
