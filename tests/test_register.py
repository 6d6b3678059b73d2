"""The agreement register: lifecycle, idempotency, retention, and concurrent writers (real SQLite files)."""

from __future__ import annotations

import csv
import hashlib
import os
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from dpa.errors import EvidenceError, RegisterError
from dpa.records import CustomerRecord
from dpa.register import MIGRATIONS, Register
from tests.conftest import make_record

TEMPLATE = "t" * 64


def issue(
    register: Register,
    tmp_path: Path,
    customer: str,
    content: bytes = b"%PDF issued",
    record: CustomerRecord | None = None,
) -> int:
    path = tmp_path / f"{customer}.pdf"
    path.write_bytes(content)
    record = record or make_record(id=customer)
    return register.record_issued(record, TEMPLATE, path.resolve(), hashlib.sha256(content).hexdigest()).id


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


def rows_and_hashes(register: Register, folder: Path) -> tuple[list[object], dict[str, str]]:
    """Everything that must not change: the register's rows and the hash of every file under ``folder``."""
    files = {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "sqlite3" not in p.name
    }
    return list(register.agreements()), files


def test_an_effective_agreement_keeps_its_signed_copy_and_date(tmp_path: Path) -> None:
    with Register(tmp_path / "r.sqlite3") as register:
        agreement_id = issue(register, tmp_path, "C-1")
        first = tmp_path / "signed" / "C-1.pdf"
        register.record_ingest(agreement_id, first, "sha-first", "TOTAL_PASSED", date(2026, 12, 1), "ok")
        before = register.agreements()
        with pytest.raises(EvidenceError, match=r"already effective from 2026-12-01.*SHA-256 sha-first"):
            register.record_ingest(
                agreement_id, tmp_path / "other.pdf", "sha-second", "TOTAL_PASSED", date(2027, 1, 5), ""
            )
        again = register.record_ingest(agreement_id, first, "sha-first", "TOTAL_PASSED", date(2027, 1, 5), "ok")
        assert register.agreements() == before and again.effective_date == "2026-12-01"
        assert [e.kind for e in register.events(agreement_id)] == ["issued", "effective", "ingested-again"]


def test_signer_confirmations_are_per_agreement_and_certificate(tmp_path: Path) -> None:
    with Register(tmp_path / "r.sqlite3") as register:
        one, two = issue(register, tmp_path, "C-1"), issue(register, tmp_path, "C-2")
        assert not register.signer_confirmed(one, "cert-a")
        register.confirm_signer(one, "cert-a", "CN=Jan,O=Holding B.V.", "sha-file")
        register.confirm_signer(one, "cert-a", "CN=Jan,O=Holding B.V.", "sha-file")  # twice is harmless
        assert register.signer_confirmed(one, "cert-a")
        assert not register.signer_confirmed(one, "cert-b") and not register.signer_confirmed(two, "cert-a")
        confirmed = [e for e in register.events(one) if e.kind == "signer-confirmed"]
        assert len(confirmed) == 2 and "CN=Jan,O=Holding B.V." in (confirmed[0].detail or "")


def test_a_register_of_schema_version_1_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    for statement in MIGRATIONS[0]:
        db.execute(statement)
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    db.execute("INSERT INTO schema_version VALUES (1)")
    db.commit()
    db.close()
    with Register(path) as register:
        assert register.schema_version() == len(MIGRATIONS)
        agreement_id = issue(register, tmp_path, "C-1")
        register.confirm_signer(agreement_id, "cert", "CN=X", "sha")
        assert register.signer_confirmed(agreement_id, "cert")


def test_purge_deletes_moved_aside_copies_and_nothing_of_another_customer(tmp_path: Path) -> None:
    from dpa.files import move_aside

    with Register(tmp_path / "r.sqlite3") as register:
        old_id = issue(register, tmp_path, "C-1", b"%PDF C-1, first record")
        shared = tmp_path / "C-1.pdf"
        old_sha = hashlib.sha256(shared.read_bytes()).hexdigest()
        aside = move_aside(shared)
        register.relocate(shared.resolve(), old_sha, aside.resolve())
        issue(register, tmp_path, "C-1", b"%PDF C-1, second record", record=make_record(id="C-1", city="Zeist"))
        signed = tmp_path / "signed" / "C-1.pdf"
        signed.parent.mkdir()
        signed.write_bytes(b"%PDF C-1 signed")
        register.record_ingest(
            old_id, signed, hashlib.sha256(b"%PDF C-1 signed").hexdigest(), "TP", date(2024, 1, 2), ""
        )
        other_id = issue(register, tmp_path, "C-1.signed", b"%PDF C-1.signed")
        # a file put by hand where C-2's agreement was: not C-2's bytes any more, so purge leaves it
        c2 = issue(register, tmp_path, "C-2", b"%PDF C-2")
        (tmp_path / "C-2.pdf").write_bytes(b"%PDF something else, put here by hand")
        register.end("C-1", date(2023, 1, 1))
        register.end("C-2", date(2023, 1, 1))
        purged = register.purge(date(2026, 1, 2))
        assert sorted(a.customer_id for a in purged) == ["C-1", "C-1", "C-2"]
        assert not aside.exists() and not shared.exists() and not signed.exists()
        assert (tmp_path / "C-1.signed.pdf").read_bytes() == b"%PDF C-1.signed"
        assert (tmp_path / "C-2.pdf").read_bytes().startswith(b"%PDF something else")
        assert register.agreements(customer_id="C-1.signed")[0].id == other_id
        (event,) = [e for e in register.events(c2) if e.kind == "purged"]
        assert "left in place" in (event.detail or "") and "C-2.pdf" in (event.detail or "")


def test_export_never_writes_onto_the_register_or_evidence(tmp_path: Path) -> None:
    with Register(tmp_path / "r.sqlite3") as register:
        issue(register, tmp_path, "C-1")
        foreign = tmp_path / "notes.csv"
        foreign.write_text("my,own\nnotes,here\n", encoding="utf-8")
        link = tmp_path / "link.csv"
        link.symlink_to(tmp_path / "r.sqlite3")
        fifo = tmp_path / "pipe.csv"
        os.mkfifo(fifo)
        before = rows_and_hashes(register, tmp_path)
        for target, force in [
            (tmp_path / "r.sqlite3", True),
            (tmp_path / "r.sqlite3-wal", True),
            (tmp_path / "C-1.pdf", True),
            (foreign, False),
        ]:
            with pytest.raises(EvidenceError):
                register.export_csv(target, force=force)
        with pytest.raises(EvidenceError, match="the register itself"):
            register.export_csv(link, force=True)
        with pytest.raises(EvidenceError, match="not a regular file"):
            register.export_csv(fifo, force=True)
        assert rows_and_hashes(register, tmp_path) == before

        export = tmp_path / "export.csv"
        assert register.export_csv(export) == 1
        assert register.export_csv(export) == 1, "an earlier export is recognised by its header and replaced"
        assert register.export_csv(foreign, force=True) == 1
        assert foreign.read_text(encoding="utf-8") == export.read_text(encoding="utf-8")


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
