"""DOCX → PDF/A-2b with LibreOffice, through a pool of warm soffice processes.

Each worker is one headless soffice with its own user profile, driven over UNO by
:mod:`dpa.assembly.uno_bridge` (run by the system Python, which has LibreOffice's ``uno`` module). A worker that
crashes is restarted; a conversion that takes longer than the timeout kills that worker's whole process group
and raises :class:`ConversionError`; the next conversion on that slot starts a fresh soffice.

No LibreOffice outlives its owner: each bridge runs in a process group of its own that :meth:`_Worker.stop` kills
whole; a bridge ends itself (and its soffice) when this process is gone, and soffice.bin carries a parent-death
signal set by the bridge. (The bridge itself gets no ``PR_SET_PDEATHSIG``: workers are started from short-lived
threads, and the kernel sends that signal when the forking *thread* ends.)
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from types import TracebackType

from dpa.config import DEBIAN_SOFFICE
from dpa.errors import ConversionError

BRIDGE = Path(__file__).with_name("uno_bridge.py")
SOFFICE_BIN = DEBIAN_SOFFICE
START_TIMEOUT_S = 90.0
DEFAULT_TIMEOUT_S = 60.0


def _system_python() -> str:
    """The interpreter that has LibreOffice's ``uno`` module (Debian's python3-uno)."""
    return os.environ.get("DPA_UNO_PYTHON", "/usr/bin/python3")


class _Worker:
    """One soffice + bridge process pair; used by one thread at a time."""

    def __init__(self, index: int, root: Path, soffice: Path) -> None:
        self.index = index
        self.soffice = soffice
        self.root = root / f"worker-{index}"
        self.root.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[str] | None = None
        self.soffice_pid: int | None = None
        self.starts = 0

    def ensure_started(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        self.stop()
        profile = self.root / "profile"
        profile.mkdir(parents=True, exist_ok=True)
        if not self.soffice.exists():
            raise ConversionError(
                f"LibreOffice is not installed ({self.soffice} is missing): run scripts/bootstrap.sh or set "
                "[paths] soffice"
            )
        try:
            self.process = subprocess.Popen(
                [_system_python(), str(BRIDGE), str(profile)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                encoding="utf-8",
                start_new_session=True,
                env={**os.environ, "DPA_SOFFICE": str(self.soffice), "DPA_BRIDGE_OWNER": str(os.getpid())},
            )
        except OSError as exc:
            raise ConversionError(f"cannot start the LibreOffice bridge: {exc}") from None
        self.starts += 1
        reply = self._read_reply(START_TIMEOUT_S, "start")
        pid = reply.get("pid")
        if not reply.get("ready") or not isinstance(pid, int):
            self.stop()
            raise ConversionError(f"LibreOffice did not start: {reply.get('error', 'no answer')}")
        self.soffice_pid = pid

    def _read_reply(self, timeout: float, what: str) -> dict[str, object]:
        assert self.process is not None and self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            self.stop(kill=True)
            raise _WorkerLost(f"LibreOffice did not finish the {what} within {timeout:.0f} s and was stopped")
        line = self.process.stdout.readline()
        if not line:
            self.stop()
            raise _WorkerLost(f"LibreOffice stopped unexpectedly during the {what}")
        reply: dict[str, object] = json.loads(line)
        return reply

    def convert(self, source: Path, target: Path, timeout: float) -> None:
        self.ensure_started()
        assert self.process is not None and self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps({"input": str(source), "output": str(target)}) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            self.stop()
            raise _WorkerLost("LibreOffice stopped unexpectedly") from None
        reply = self._read_reply(timeout, "conversion")
        if not reply.get("ok"):
            raise ConversionError(f"LibreOffice could not convert the document: {reply.get('error')}")

    def stop(self, kill: bool = False) -> None:
        """End the bridge and its soffice: politely (end of input) unless ``kill``, then by SIGKILL."""
        process, self.process, self.soffice_pid = self.process, None, None
        if process is None:
            return
        if process.poll() is None and not kill:
            try:
                assert process.stdin is not None
                process.stdin.close()
                process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        with contextlib.suppress(ProcessLookupError):  # the bridge's child (soffice) shares its process group
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None and not stream.closed:
                with contextlib.suppress(OSError):
                    stream.close()


class _WorkerLost(ConversionError):
    """A worker's soffice crashed or hung and was stopped; the job is retried once on a fresh process."""


class Converter:
    """A pool of ``size`` warm LibreOffice processes; thread-safe; use as a context manager."""

    def __init__(self, size: int = 1, timeout_s: float = DEFAULT_TIMEOUT_S, soffice: Path = SOFFICE_BIN) -> None:
        if size < 1:
            raise ValueError("the converter needs at least one worker")
        self.timeout_s = timeout_s
        self._root = Path(tempfile.mkdtemp(prefix="dpa-lo-"))
        self._workers = [_Worker(i, self._root, soffice) for i in range(size)]
        self._idle: queue.Queue[_Worker] = queue.Queue()
        for worker in self._workers:
            self._idle.put(worker)
        self._closed = False
        self._lock = threading.Lock()
        self._retries = 0

    def __enter__(self) -> Converter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        """Start every worker now (in parallel) instead of on first use."""
        errors: list[ConversionError] = []

        def start_one(worker: _Worker) -> None:
            try:
                worker.ensure_started()
            except ConversionError as exc:
                errors.append(exc)

        threads = [threading.Thread(target=start_one, args=(w,)) for w in self._workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    @property
    def restarts(self) -> int:
        """How many times a soffice was started again after one had been running (crash, hang, stop)."""
        return sum(max(0, w.starts - 1) for w in self._workers)

    @property
    def retries(self) -> int:
        """How many conversions were retried on a fresh soffice because theirs crashed or hung."""
        return self._retries

    def soffice_pids(self) -> list[int]:
        """Process ids of the running soffice processes (for monitoring and fault tests)."""
        return [w.soffice_pid for w in self._workers if w.soffice_pid is not None]

    def convert(self, docx: bytes, name: str = "document") -> bytes:
        """Convert one DOCX (bytes) to PDF/A-2b (bytes).

        A worker whose soffice crashes or hangs (no answer within the timeout) is killed and restarted, and the
        job is retried once on the fresh process; a second failure raises :class:`ConversionError`.
        """
        if self._closed:
            raise ConversionError("the converter is closed")
        worker = self._idle.get()
        try:
            job = Path(tempfile.mkdtemp(prefix="job-", dir=worker.root))
            try:
                source = job / f"{name}.docx"
                target = job / f"{name}.pdf"
                source.write_bytes(docx)
                for attempt in (1, 2):
                    try:
                        worker.convert(source, target, self.timeout_s)
                        break
                    except _WorkerLost:
                        if attempt == 2:
                            raise
                        with self._lock:
                            self._retries += 1
                try:
                    return target.read_bytes()
                except OSError:
                    raise ConversionError("LibreOffice reported success but wrote no PDF") from None
            finally:
                shutil.rmtree(job, ignore_errors=True)
        finally:
            self._idle.put(worker)

    def close(self) -> None:
        """Stop every soffice process and remove the profiles."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for worker in self._workers:
            worker.stop()
        shutil.rmtree(self._root, ignore_errors=True)
