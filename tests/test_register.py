"""The agreement register: lifecycle, idempotency, retention, and concurrent writers (real SQLite files)."""

from __future__ import annotations

import csv
import hashlib
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from dpa.errors import RegisterError
from dpa.register import MIGRATIONS, Register
from tests.conftest import make_record

TEMPLATE = "t" * 64


def issue(register: Register, tmp_path: Path, customer: str, content: bytes = b"%PDF issued") -> int:
    path = tmp_path / f"{customer}.pdf"
    path.write_bytes(content)
    return register.record_issued(make_record(id=customer), TEMPLATE, path, hashlib.sha256(content).hexdigest()).id


def test_lifecycle_issue_effective_end(tmp_path: Path) -> None:
    with Register(tmp_path / "r.sqlite3") as register:
        assert register.schema_version() == len(MIGRATIONS)
        agreement_id = issue(register, tmp_path, "C-1")
        again = issue(register, tmp_path, "C-1")
        assert again == agreement_id and len(register.agreements()) == 1, "issuing twice does not duplicate"
        signed = tmp_path / "C-1.signed.pdf"
        signed.write_bytes(b"%PDF signed")
        row = register.record_ingest(agreement_id, signed, "sha-signed", "TOTAL_PASSED", date(2026, 12, 1), "ok")
        assert row.status == "effective" and row.effective_date == "2026-12-01"
        ended = register.end("C-1", date(2027, 1, 31))
        assert [a.status for a in ended] == ["ended"]
        kinds = [e.kind for e in register.events(agreement_id)]
        assert kinds == ["issued", "effective", "ended"]
        with pytest.raises(RegisterError, match="no issued or effective agreement"):
            register.end("C-1", date(2027, 2, 1))


def test_failed_ingest_keeps_status_and_records_reason(tmp_path: Path) -> None:
    with Register(tmp_path / "r.sqlite3") as register:
        agreement_id = issue(register, tmp_path, "C-2")
        row = register.record_ingest(agreement_id, None, "sha-x", "TOTAL_FAILED", None, "digest mismatch")
        assert row.status == "issued"
        (event,) = register.events(agreement_id)[1:]
        assert (event.kind, event.verdict, event.detail) == ("ingest-refused", "TOTAL_FAILED", "digest mismatch")


def test_events_are_append_only(tmp_path: Path) -> None:
    with Register(tmp_path / "r.sqlite3") as register:
        issue(register, tmp_path, "C-3")
    db = sqlite3.connect(tmp_path / "r.sqlite3")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM events")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE events SET kind = 'x'")
    db.close()


def test_purge_removes_exactly_what_is_due(tmp_path: Path) -> None:
    with Register(tmp_path / "r.sqlite3") as register:
        due_id = issue(register, tmp_path, "C-OLD")
        recent_id = issue(register, tmp_path, "C-RECENT")
        live_id = issue(register, tmp_path, "C-LIVE")
        register.end("C-OLD", date(2024, 3, 1))
        register.end("C-RECENT", date(2024, 12, 1))
        today = date(2026, 11, 29)

        planned = register.purge(today, dry_run=True)
        assert [a.customer_id for a in planned] == ["C-OLD"]
        assert (tmp_path / "C-OLD.pdf").exists(), "--dry-run changes nothing"
        assert register.agreements(customer_id="C-OLD")[0].name is not None

        purged = register.purge(today)
        assert [a.id for a in purged] == [due_id]
        assert not (tmp_path / "C-OLD.pdf").exists()
        assert (tmp_path / "C-RECENT.pdf").exists() and (tmp_path / "C-LIVE.pdf").exists()
        tombstone = register.agreements(customer_id="C-OLD")[0]
        assert tombstone.status == "purged" and tombstone.name is None and tombstone.signatory_name is None
        assert tombstone.issued_sha256 and tombstone.cooperation_end == "2024-03-01"
        assert {a.id: a.status for a in register.agreements()} == {
            due_id: "purged",
            recent_id: "ended",
            live_id: "issued",
        }
        assert register.purge(today) == []


def test_export_csv_is_complete_and_formula_safe(tmp_path: Path) -> None:
    with Register(tmp_path / "r.sqlite3") as register:
        issue(register, tmp_path, "C-1")
        path = tmp_path / "C-2.pdf"
        path.write_bytes(b"%PDF")
        hostile = make_record(id="C-2", name='=HYPERLINK("http://x")', signatory_name="@SUM(1+1)")
        register.record_issued(hostile, TEMPLATE, path, "sha-2")
        assert register.export_csv(tmp_path / "export.csv") == 2
    with (tmp_path / "export.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["customer_id"] for r in rows] == ["C-1", "C-2"]
    assert rows[0]["name"] == "Voorbeeld Telecom B.V." and rows[0]["status"] == "issued"
    assert rows[1]["name"] == '\'=HYPERLINK("http://x")' and rows[1]["signatory_name"] == "'@SUM(1+1)"
    assert rows[1]["issued_sha256"] == "sha-2" and rows[1]["issued_file"] == str(path)


def test_reissuing_the_same_agreement_is_refused_while_its_file_exists(tmp_path: Path) -> None:
    with Register(tmp_path / "r.sqlite3") as register:
        issue(register, tmp_path, "C-5", b"%PDF first")
        second = tmp_path / "second"
        second.mkdir()
        with pytest.raises(RegisterError, match="already issued as"):
            issue(register, second, "C-5", b"%PDF second, other bytes")
        (tmp_path / "C-5.pdf").unlink()  # the issued file was lost: issuing again is allowed
        again = issue(register, second, "C-5", b"%PDF second, other bytes")
        row = register.agreements(customer_id="C-5")[0]
        assert row.id == again and row.issued_file == str(second / "C-5.pdf") and len(register.agreements()) == 1


def test_the_cooperation_cannot_end_before_the_effective_date(tmp_path: Path) -> None:
    with Register(tmp_path / "r.sqlite3") as register:
        agreement_id = issue(register, tmp_path, "C-1")
        signed = tmp_path / "C-1.signed.pdf"
        signed.write_bytes(b"%PDF signed")
        register.record_ingest(agreement_id, signed, "sha-signed", "TOTAL_PASSED", date(2026, 12, 1), "ok")
        with pytest.raises(RegisterError, match="before the agreement's effective date 2026-12-01"):
            register.check_end_date("C-1", date(2026, 11, 30))
        register.check_end_date("C-1", date(2026, 12, 1))
        assert register.agreements(customer_id="C-1")[0].status == "effective"
