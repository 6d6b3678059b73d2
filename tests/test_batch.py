"""dpa batch end to end: real LibreOffice, a real TSA over HTTP, real files; bad rows, resume after SIGKILL, faults."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from dpa.config import Config
from dpa.register import Register
from dpa.workflows.batch import BatchOptions, run_batch
from tests.cli_support import invoke
from tests.conftest import REPO, config_file_for, local_paths
from tests.customers import BAD_ROWS, customer_row, write_customers
from tests.signing_support import DPA

pytestmark = pytest.mark.libreoffice


def manifest(out: Path) -> list[dict[str, str]]:
    with (out / "manifest.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def assert_processor_signed(pdf: Path) -> None:
    """pdfsig (poppler, independent of pyHanko): one valid signature in processor_signature, the other field empty."""
    out = subprocess.run(["pdfsig", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "Signature Field Name: processor_signature" in out, out
    assert out.count("Signature Validation: Signature is Valid.") == 1, out
    assert "The signature form field is not signed." in out, out


def assert_dpa_verify_processor_signed(config: Config, folder: Path, count: int) -> None:
    """`dpa verify --json` over the folder: every agreement TOTAL_PASSED, signed by the processor only."""
    result = invoke("--config", str(config.source), "verify", "--json", "--require-complete", str(folder))
    assert result.returncode == 4, result.stderr  # all pass, none complete yet
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(reports) == count
    for report in reports:
        assert (report["indication"], report["complete"], report["effective_date"]) == ("TOTAL_PASSED", False, None)
        assert [s["field"] for s in report["signatures"]] == ["processor_signature"]


@pytest.mark.slow
def test_sixty_rows_with_five_bad(tmp_path: Path, signing_config: Config) -> None:
    rows = [customer_row(i) for i in range(55)]
    bad = [{**customer_row(100 + n), **change} for n, change in enumerate(BAD_ROWS.values())]
    duplicate = {**customer_row(200), "id": rows[10]["id"]}
    all_rows = rows[:20] + bad[:2] + rows[20:40] + [duplicate] + bad[2:] + rows[40:]
    csv_path = write_customers(tmp_path / "crm.csv", all_rows)
    out = tmp_path / "out"
    config = local_paths(signing_config, tmp_path)

    summary = run_batch(csv_path, out, config, BatchOptions(jobs=2))

    assert (summary.issued, summary.failed, len(summary.invalid)) == (55, 0, 5)
    assert not summary.ok
    entries = manifest(out)
    errors = [e for e in entries if e["status"] == "error"]
    assert len(errors) == 5 and len([e for e in entries if e["status"] == "ok"]) == 55
    messages = " | ".join(e["error"] for e in errors)
    for expected in ("kvk:", "name: required", "name: contains a control character", "id: must be", "already used"):
        assert expected in messages, messages
    lines = sorted(int(e["error"].split(":")[1]) for e in errors)
    assert lines == [22, 23, 44, 45, 46]  # header is line 1
    pdfs = sorted(p.name for p in out.glob("*.pdf"))
    assert pdfs == sorted(f"{r['id']}.pdf" for r in rows)
    for pdf in out.glob("*.pdf"):
        assert_processor_signed(pdf)
    assert_dpa_verify_processor_signed(signing_config, out, 55)
    with Register(config.paths.register) as register:
        assert len(register.agreements(status="issued")) == 55
    # the CLI says the same and exits 1
    result = subprocess.run(
        [*DPA, "--config", str(signing_config.source), "batch", str(csv_path), "-o", str(out), "--dry-run"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and result.stderr.count("dpa: row error:") == 5, result.stderr


def test_rerun_skips_and_changed_record_moves_old_file_aside(tmp_path: Path, signing_config: Config) -> None:
    rows = [customer_row(i) for i in range(4)]
    csv_path = write_customers(tmp_path / "crm.csv", rows)
    out = tmp_path / "out"
    config = local_paths(signing_config, tmp_path)
    first = run_batch(csv_path, out, config, BatchOptions(jobs=1))
    assert first.ok and first.issued == 4
    hashes = {e["id"]: e["sha256"] for e in manifest(out)}

    again = run_batch(csv_path, out, config, BatchOptions(jobs=1))
    assert (again.issued, again.skipped) == (0, 4)
    assert {e["id"]: e["sha256"] for e in manifest(out)} == hashes

    rows[1]["city"] = "Zeist"
    write_customers(csv_path, rows)
    changed = run_batch(csv_path, out, config, BatchOptions(jobs=1))
    assert (changed.issued, changed.skipped) == (1, 3)
    aside = list(out.glob(f"{rows[1]['id']}.*.pdf"))
    assert len(aside) == 1, "the old agreement is kept under a name with its hash"
    assert (out / f"{rows[1]['id']}.pdf").exists()
    assert {e["id"] for e in manifest(out)} == {r["id"] for r in rows}
    with Register(config.paths.register) as register:
        old, new = register.agreements(customer_id=rows[1]["id"])
        assert old.issued_file == str(aside[0].resolve()), "the register follows the file that was moved aside"
        assert new.issued_file == str((out / f"{rows[1]['id']}.pdf").resolve())
        assert "moved" in [e.kind for e in register.events(old.id)]
        assert len(register.agreements()) == 5
    # a second batch on the same folder while one runs is refused, not interleaved
    from dpa.errors import BatchError
    from dpa.workflows.batch import LOCK_NAME

    with (out / LOCK_NAME).open("ab") as held:
        import fcntl

        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(BatchError, match="another dpa batch is writing"):
            run_batch(csv_path, out, config, BatchOptions(jobs=1))


@pytest.mark.slow
def test_resume_after_sigkill(tmp_path: Path, signing_config: Config) -> None:
    rows = [customer_row(i) for i in range(24)]
    csv_path = write_customers(tmp_path / "crm.csv", rows)
    out = tmp_path / "out"
    config_file = config_file_for(signing_config, tmp_path)
    command = [*DPA, "--config", str(config_file), "batch", str(csv_path), "-o", str(out), "--jobs", "2"]
    command += ["--tsa", signing_config.tsa.urls[0]]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (out / "manifest.csv").exists() and len(manifest(out)) >= 6:
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = len(manifest(out))
    assert 6 <= killed_at < 24, "the kill landed mid-run"

    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    entries = manifest(out)
    assert sorted(e["id"] for e in entries) == sorted(r["id"] for r in rows), "no row lost, none duplicated"
    assert {e["status"] for e in entries} <= {"ok", "skipped"}
    assert not list(out.glob(".*.part")) and not list(out.glob("*.*.pdf")), "no partial files, nothing moved aside"
    import hashlib

    for entry in entries:
        pdf = out / entry["file"]
        assert hashlib.sha256(pdf.read_bytes()).hexdigest() == entry["sha256"], "manifest matches the files"
        assert_processor_signed(pdf)
    assert_dpa_verify_processor_signed(signing_config, out, 24)
    with Register(tmp_path / "register.sqlite3") as register:
        assert sorted(a.customer_id for a in register.agreements()) == sorted(r["id"] for r in rows)


def soffice_descendants() -> list[int]:
    """soffice.bin processes started (through the converter's bridge) by this test process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            grandparent = int((Path("/proc") / str(ppid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if b"soffice.bin" in cmdline and grandparent == os.getpid():
            found.append(int(entry.name))
    return found


def test_soffice_crash_mid_run_loses_nothing(tmp_path: Path, signing_config: Config) -> None:
    rows = [customer_row(i) for i in range(12)]
    csv_path = write_customers(tmp_path / "crm.csv", rows)
    out = tmp_path / "out"
    killed: list[int] = []
    others = set(soffice_descendants())  # e.g. the session's converter: killing one of those proves nothing

    def on_progress(progress: object) -> None:
        if not killed and getattr(progress, "finished", 0) >= 3:
            victims = [pid for pid in soffice_descendants() if pid not in others]
            assert victims
            os.kill(victims[0], signal.SIGKILL)
            killed.append(victims[0])

    summary = run_batch(csv_path, out, local_paths(signing_config, tmp_path), BatchOptions(jobs=2), on_progress)
    assert killed
    assert summary.ok and summary.issued == 12
    assert summary.conversion_retries == 1, "the document whose soffice was killed was converted again"
    assert sorted(e["id"] for e in manifest(out)) == sorted(r["id"] for r in rows)
    for pdf in out.glob("*.pdf"):
        assert_processor_signed(pdf)


def test_tsa_outage_fails_rows_and_stops(tmp_path: Path, signing_config: Config) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    rows = [customer_row(i) for i in range(8)]
    csv_path = write_customers(tmp_path / "crm.csv", rows)
    out = tmp_path / "out"
    options = BatchOptions(jobs=1, tsa_urls=(dead_url,), max_consecutive_failures=3)
    summary = run_batch(csv_path, out, local_paths(signing_config, tmp_path), options)
    assert summary.issued == 0 and summary.failed >= 3 and summary.stopped and "consecutive" in summary.stopped
    assert not list(out.glob("*.pdf")), "no unsigned file is written, let alone marked ok"
    entries = manifest(out)
    assert entries and all(e["status"] == "error" and "TimestampError" in e["error"] for e in entries)
    # the TSA is back: the rerun finishes the job
    summary = run_batch(csv_path, out, local_paths(signing_config, tmp_path), BatchOptions(jobs=2))
    assert summary.ok and summary.issued == 8


def test_example_customers_run_clean(tmp_path: Path, signing_config: Config) -> None:
    out = tmp_path / "out"
    summary = run_batch(
        REPO / "templates" / "examples" / "customers.csv", out, local_paths(signing_config, tmp_path), BatchOptions()
    )
    assert summary.ok and summary.issued == 20 and not summary.invalid
    assert len(list(out.glob("*.pdf"))) == 20


def test_no_sign_writes_unsigned_files(tmp_path: Path, config: Config) -> None:
    csv_path = write_customers(tmp_path / "crm.csv", [customer_row(i) for i in range(2)])
    out = tmp_path / "out"
    summary = run_batch(csv_path, out, local_paths(config, tmp_path), BatchOptions(jobs=1, sign=False))
    assert summary.ok
    assert sorted(p.name for p in out.glob("*.pdf")) == ["T-00000.unsigned.pdf", "T-00001.unsigned.pdf"]


def test_cli_batch_bad_input(tmp_path: Path) -> None:
    missing = invoke("batch", str(tmp_path / "absent.csv"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr and "Traceback" not in missing.stderr
    (tmp_path / "bad.csv").write_text("naam,plaats\nX,Y\n", encoding="utf-8")
    bad = invoke("batch", str(tmp_path / "bad.csv"))
    assert bad.returncode == 1 and "unknown column" in bad.stderr
    zero = invoke("batch", str(tmp_path / "bad.csv"), "--jobs", "0")
    assert zero.returncode == 2


def test_one_valid_and_100000_invalid_rows_finish_in_seconds(tmp_path: Path, signing_config: Config) -> None:
    rows = [customer_row(0)] + [{**customer_row(i + 1), "kvk": "1"} for i in range(100_000)]
    csv_path = write_customers(tmp_path / "crm.csv", rows)
    out = tmp_path / "out"
    config_file = config_file_for(signing_config, tmp_path)
    command = [*DPA, "--config", str(config_file), "batch", str(csv_path), "-o", str(out), "--jobs", "1"]
    started = time.monotonic()
    result = subprocess.run(
        [*command, "--tsa", signing_config.tsa.urls[0]], capture_output=True, text=True, timeout=600
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr[-2000:]
    assert elapsed < 150, f"{elapsed:.0f} s for one agreement and 100,000 bad rows"  # generous: a loaded machine
    errors = [line for line in result.stderr.splitlines() if line.startswith("dpa: row error:")]
    assert len(errors) == 20 and "line 2" not in errors[0] and f"{csv_path}:3: kvk:" in errors[0]
    assert "... and 99980 more row errors (100000 in all; all are in" in result.stderr
    assert "100001 rows: 1 issued, 0 already done, 100000 failed" in result.stderr
    entries = manifest(out)
    assert len(entries) == 100_001
    assert [e["id"] for e in entries if e["status"] == "ok"] == ["T-00000"]
    assert sum(e["status"] == "error" and "kvk:" in e["error"] for e in entries) == 100_000
    assert_processor_signed(out / "T-00000.pdf")


def test_the_manifest_is_fsynced_in_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dpa.workflows import batch

    calls: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(batch.os, "fsync", lambda fd: (calls.append(fd), real_fsync(fd))[1])
    writer = batch._Manifest(tmp_path / "manifest.csv")
    for number in range(5000):
        writer.append(f"T-{number:05d}", "error", "", "", "kvk: must be exactly 8 digits")
    writer.compact()
    assert 1 <= len(calls) <= 5000 // batch._Manifest.SYNC_ROWS + 10, len(calls)  # + one per second of a slow run
    assert len(manifest(tmp_path)) == 5000
