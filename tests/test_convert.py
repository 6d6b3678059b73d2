"""The warm LibreOffice pool under faults: a killed soffice is replaced, a hung one is timed out."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from dpa.assembly.convert import Converter
from dpa.errors import ConversionError
from tests.conftest import docx_bytes

pytestmark = pytest.mark.libreoffice


def gone(pid: int, timeout: float = 10.0) -> bool:
    """True once ``pid`` has exited (a zombie not yet reaped by its parent counts as exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_pdfa_output_and_reuse() -> None:
    with Converter(1) as pool:
        first = pool.convert(docx_bytes("een"))
        pid = pool.soffice_pids()
        second = pool.convert(docx_bytes("twee"))
        assert pool.soffice_pids() == pid, "the same soffice serves both conversions"
    assert first.startswith(b"%PDF-") and second.startswith(b"%PDF-")
    assert b"pdfaid:part" in first  # PDF/A-2b declared by LibreOffice's export


def test_killed_soffice_is_restarted_and_the_job_retried() -> None:
    with Converter(1) as pool:
        pool.convert(docx_bytes("warm"))
        (pid,) = pool.soffice_pids()
        os.kill(pid, signal.SIGKILL)
        assert gone(pid)
        pdf = pool.convert(docx_bytes("na de crash"))
        assert pdf.startswith(b"%PDF-")
        assert pool.soffice_pids() and pool.soffice_pids() != [pid]
        assert (pool.retries, pool.restarts) == (1, 1), "the job was retried once, on one fresh soffice"


def test_crash_during_a_conversion_is_retried_once() -> None:
    with Converter(1) as pool:
        pool.convert(docx_bytes("warm"))
        (pid,) = pool.soffice_pids()
        assert (pool.retries, pool.restarts) == (0, 0)
        os.kill(pid, signal.SIGSTOP)  # it cannot finish the conversion before the kill lands
        killer = threading.Timer(0.5, lambda: os.kill(pid, signal.SIGKILL))
        killer.start()
        pdf = pool.convert(docx_bytes("lang document " * 2000))
        killer.join()
        assert pdf.startswith(b"%PDF-") and gone(pid)
        assert (pool.retries, pool.restarts) == (1, 1), "the crashed conversion was retried on a fresh soffice"


def test_hung_soffice_is_replaced_and_the_job_retried() -> None:
    with Converter(1, timeout_s=2) as pool:
        pool.convert(docx_bytes("warm"))
        (pid,) = pool.soffice_pids()
        os.kill(pid, signal.SIGSTOP)
        started = time.monotonic()
        assert pool.convert(docx_bytes("hangt eerst")).startswith(b"%PDF-")
        assert 2 <= time.monotonic() - started < 30
        assert gone(pid), "the hung soffice was killed"
        assert pool.soffice_pids() != [pid]
        assert (pool.retries, pool.restarts) == (1, 1)


def test_hanging_twice_is_a_clear_error_and_the_pool_recovers() -> None:
    with Converter(1, timeout_s=2) as pool:
        pool.convert(docx_bytes("warm"))
        stop = threading.Event()
        frozen: set[int] = set()

        def freeze_every_soffice() -> None:
            while not stop.is_set():
                for pid in pool.soffice_pids():
                    if pid not in frozen:
                        os.kill(pid, signal.SIGSTOP)
                        frozen.add(pid)
                time.sleep(0.02)

        freezer = threading.Thread(target=freeze_every_soffice)
        freezer.start()
        try:
            with pytest.raises(ConversionError, match="within 2 s"):
                pool.convert(docx_bytes("hangt altijd"))
        finally:
            stop.set()
            freezer.join()
        assert len(frozen) == 2, "one retry on a fresh soffice, then the error"
        assert (pool.retries, pool.restarts) == (1, 1)
        assert all(gone(pid) for pid in frozen)
        pool.timeout_s = 60  # the recovery, not the 2 s limit, is under test (a cold soffice on a loaded machine)
        assert pool.convert(docx_bytes("weer goed")).startswith(b"%PDF-")
        assert (pool.retries, pool.restarts) == (1, 2), "the next job starts a fresh soffice without a retry"


def test_parallel_workers() -> None:
    with Converter(2) as pool:
        pool.start()
        assert len(pool.soffice_pids()) == 2
        results: list[bytes] = []
        threads = [
            threading.Thread(target=lambda i=i: results.append(pool.convert(docx_bytes(f"doc {i}")))) for i in range(6)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(results) == 6 and all(r.startswith(b"%PDF-") for r in results)
        assert (pool.retries, pool.restarts) == (0, 0)
