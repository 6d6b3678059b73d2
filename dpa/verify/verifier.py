"""``dpa verify``: a verdict legal can rely on, for every file, within a time and memory limit.

:class:`Verifier` is the library entry point (also used by ``dpa ingest`` and ``dpa demo``)::

    with Verifier(config, extra_trust=[Path("klant-ca.pem")]) as verifier:
        report = verifier.verify_file(Path("acme.signed.pdf"))
    report.indication, report.complete, report.effective_date

The rules (DESIGN.md §6) live in :mod:`dpa.verify.engine`; they run in a separate, warm worker process
(:mod:`dpa.verify.worker`) with its address space capped at ``[verify] memory_mb``. A file larger than
``[verify] max_file_bytes`` is not read at all; a file that takes longer than ``[verify] timeout_s`` gets its worker
killed (and a new one started for the next file). Either way the file gets a verdict — INDETERMINATE/GENERIC with
a sentence — never a traceback. The worker builds its validation context once, so a folder of files pays the
pyHanko start-up (about a second) once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from dpa.config import Config
from dpa.errors import ConfigError, VerificationError
from dpa.processes import die_with_parent
from dpa.verify.effective_date import to_utc, utc_iso
from dpa.verify.inputs import (
    NotChecked,
    TooLarge,
    der_base64,
    iter_pdf_paths,
    load_signing_cas,
    load_trust,
    read_regular_file,
)
from dpa.verify.report import (
    DOCUMENT_JSON_KEYS,
    EXIT_FAILED,
    EXIT_INCOMPLETE,
    EXIT_INDETERMINATE,
    EXIT_OK,
    INDETERMINATE,
    SIGNATURE_JSON_KEYS,
    TOTAL_FAILED,
    TOTAL_PASSED,
    DocumentReport,
    SignatureReport,
    SubIndication,
    exit_code,
    format_text,
    verdict_only,
)

if TYPE_CHECKING:
    from dpa.verify.engine import VerificationEngine

STARTUP_TIMEOUT_S = 60.0
"""How long a new worker may take to import pyHanko and answer the start-up message."""


class _Worker:
    """One ``python -m dpa.verify.worker`` process and its pipes."""

    def __init__(self) -> None:
        env = dict(os.environ)
        package_parent = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
        show_stderr = env.get("DPA_VERIFY_WORKER_STDERR") == "1"
        self.process = subprocess.Popen(
            # -P: never put the current folder on sys.path (a json.py in a folder of customer files would run).
            [sys.executable, "-P", "-m", "dpa.verify.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None if show_stderr else subprocess.DEVNULL,
            env=env,
            cwd=package_parent,
            start_new_session=True,  # a Ctrl-C in the terminal reaches the parent, which then ends the worker
            preexec_fn=die_with_parent(),  # and a parent killed outright takes the worker with it
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin: IO[bytes] = self.process.stdin
        self.stdout: IO[bytes] = self.process.stdout
        self._buffer = b""
        self.ready = False

    def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        self.stdin.write(json.dumps(header).encode("utf-8") + b"\n")
        if payload:
            self.stdin.write(payload)
        self.stdin.flush()

    def read_line(self, timeout: float) -> bytes | None:
        """One line from the worker, or ``None`` when it did not come within ``timeout`` seconds.

        Raises EOFError when the worker ended.
        """
        deadline = time.monotonic() + timeout
        fd = self.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise EOFError("the verification worker ended")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def stop(self, *, kill: bool = False) -> None:
        process = self.process
        with contextlib.suppress(OSError):
            self.stdin.close()
        if kill and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()
        with contextlib.suppress(OSError):
            self.stdout.close()

    def death_note(self) -> str:
        code = self.process.poll()
        if code is None:
            return "it stopped answering"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"it was ended by {name}"
        return f"it exited with status {code}"


class Verifier:
    """Verifies PDFs against DESIGN.md §6, with one warm worker process for many files.

    ``extra_trust``: PEM/DER files added to ``[trust] roots`` (``dpa verify --trust``); ``extra_tsa_trust``: added to
    ``[trust] tsa_roots`` (``--trust-tsa``), the only CAs whose timestamps count. ``at``: validate as of that
    moment instead of now (``--at``). ``isolate=False`` runs the rules in this process, without the time and memory
    limits (for callers that already run in a sandbox). Thread-safe (one file at a time); a context manager.
    """

    def __init__(
        self,
        config: Config,
        *,
        extra_trust: Sequence[Path] = (),
        extra_tsa_trust: Sequence[Path] = (),
        at: dt.datetime | None = None,
        isolate: bool = True,
    ) -> None:
        self.config = config
        self.limits = config.verify
        self.extra_trust, self.extra_tsa_trust = tuple(extra_trust), tuple(extra_tsa_trust)
        """The files added to ``[trust] roots`` and ``tsa_roots`` (ingest's archiver trusts the same)."""
        self.at = to_utc(at) if at is not None else None
        self._isolate = isolate
        self._lock = threading.Lock()
        self._worker: _Worker | None = None
        self._engine: VerificationEngine | None = None
        if self.limits.max_file_bytes <= 0 or self.limits.timeout_s <= 0:
            raise ConfigError("[verify] max_file_bytes and timeout_s must be positive")
        if isolate:
            self._worker = _Worker()  # starts importing pyHanko while the trust roots are read here
        try:
            roots, tsa_roots, processor_certs = load_trust(config, extra_trust, extra_tsa_trust)
            signing_cas = load_signing_cas(config)
        except BaseException:
            self.close()
            raise
        self._roots_der = der_base64(roots)
        self._tsa_roots_der = der_base64(tsa_roots)
        self._processor_der = der_base64(processor_certs)
        self._signing_cas_der = der_base64(signing_cas)
        if not isolate:
            from dpa.verify.engine import VerificationEngine

            self._engine = VerificationEngine(
                roots,
                tsa_roots=tsa_roots,
                at=self.at,
                processor_certs=processor_certs,
                signing_cas=signing_cas,
                max_revisions=self.limits.max_revisions,
                processor_name=config.processor.name,
            )

    # --- lifecycle ---------------------------------------------------------------------------------------------

    def __enter__(self) -> Verifier:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """End the worker process (it also ends by itself when this process exits)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop()

    # --- verification ------------------------------------------------------------------------------------------

    def verify_file(self, path: Path) -> DocumentReport:
        """The verdict on the file at ``path``; a FIFO, device or socket is never read, the size limit is checked
        before the file is read."""
        name = str(path)
        try:
            data = read_regular_file(Path(path), self.limits.max_file_bytes)
        except NotChecked as refusal:
            return verdict_only(name, None, INDETERMINATE, SubIndication.GENERIC, str(refusal))
        except TooLarge as too_large:
            return self._too_large(name, None, too_large.size)
        return self.verify_bytes(data, name)

    def verify_bytes(self, data: bytes, name: str) -> DocumentReport:
        """The verdict on the PDF ``data``, reported under ``name``."""
        if len(data) > self.limits.max_file_bytes:
            return self._too_large(name, hashlib.sha256(data).hexdigest(), len(data))
        with self._lock:
            if not self._isolate:
                assert self._engine is not None
                return self._engine.verify(data, name)
            return self._in_worker(data, name)

    def verify_paths(self, paths: Iterable[Path]) -> Iterator[DocumentReport]:
        """:meth:`verify_file` for every file in ``paths``, folders walked for ``*.pdf`` (:func:`iter_pdf_paths`)."""
        for path in iter_pdf_paths(paths):
            yield self.verify_file(path)

    def _too_large(self, name: str, digest: str | None, size: int) -> DocumentReport:
        return verdict_only(
            name,
            digest,
            INDETERMINATE,
            SubIndication.GENERIC,
            f"the file is {size} bytes, larger than the limit of {self.limits.max_file_bytes} bytes "
            "([verify] max_file_bytes); it was not checked",
        )

    # --- the worker --------------------------------------------------------------------------------------------

    def _ready_worker(self) -> _Worker:
        worker = self._worker
        if worker is None or worker.process.poll() is not None:
            if worker is not None:
                worker.stop(kill=True)
            worker = self._worker = _Worker()
        if not worker.ready:
            init = {
                "roots": self._roots_der,
                "tsa_roots": self._tsa_roots_der,
                "max_revisions": self.limits.max_revisions,
                "processor_name": self.config.processor.name,
                "processor_certs": self._processor_der,
                "signing_cas": self._signing_cas_der,
                "at": utc_iso(self.at),
                "memory_mb": self.limits.memory_mb,
                "timeout_s": self.limits.timeout_s,
            }
            try:
                worker.send(init)
                line = worker.read_line(STARTUP_TIMEOUT_S)
            except (OSError, EOFError):
                line = None
            answer = _json_or_none(line)
            if not answer or not answer.get("ok"):
                note = worker.death_note()
                worker.stop(kill=True)
                self._worker = None
                reason = answer.get("error") if answer else f"it did not start ({note})"
                raise VerificationError(f"the verification worker cannot run: {reason}")
            worker.ready = True
        return worker

    def _in_worker(self, data: bytes, name: str) -> DocumentReport:
        digest = hashlib.sha256(data).hexdigest()
        for attempt in (1, 2):
            worker = self._ready_worker()
            try:
                worker.send({"name": name, "size": len(data)}, data)
            except OSError as exc:  # the worker died between files: start a new one and try once more
                worker.stop(kill=True)
                self._worker = None
                if attempt == 2:
                    raise VerificationError(
                        "the verification worker keeps dying; run with DPA_VERIFY_WORKER_STDERR=1 to see why"
                    ) from exc
                continue
            try:
                line = worker.read_line(self.limits.timeout_s)
            except EOFError:
                note = worker.death_note()
                worker.stop(kill=True)
                self._worker = None
                return verdict_only(
                    name,
                    digest,
                    INDETERMINATE,
                    SubIndication.GENERIC,
                    f"the verifier process stopped while checking this file ({note}); it probably needed more than "
                    f"the {self.limits.memory_mb} MB allowed ([verify] memory_mb)",
                )
            if line is None:
                worker.stop(kill=True)
                self._worker = None
                return verdict_only(
                    name,
                    digest,
                    INDETERMINATE,
                    SubIndication.GENERIC,
                    f"checking the file took longer than {self.limits.timeout_s:g} s ([verify] timeout_s) and was "
                    "stopped",
                )
            answer = _json_or_none(line)
            if answer is None:
                worker.stop(kill=True)
                self._worker = None
                return verdict_only(
                    name,
                    digest,
                    INDETERMINATE,
                    SubIndication.GENERIC,
                    "the verifier process answered something unreadable",
                )
            report = DocumentReport.from_wire(answer)
            return report if report.sha256 else dataclasses.replace(report, sha256=digest)
        raise AssertionError("unreachable")  # pragma: no cover


def _json_or_none(line: bytes | None) -> dict[str, Any] | None:
    if line is None:
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def verify_paths(
    config: Config,
    paths: Sequence[Path],
    *,
    extra_trust: Sequence[Path] = (),
    extra_tsa_trust: Sequence[Path] = (),
    at: dt.datetime | None = None,
) -> list[DocumentReport]:
    """One-shot: verify ``paths`` (folders walked) with one :class:`Verifier`."""
    with Verifier(config, extra_trust=extra_trust, extra_tsa_trust=extra_tsa_trust, at=at) as verifier:
        return list(verifier.verify_paths(paths))


__all__ = [
    "DOCUMENT_JSON_KEYS",
    "EXIT_FAILED",
    "EXIT_INCOMPLETE",
    "EXIT_INDETERMINATE",
    "EXIT_OK",
    "INDETERMINATE",
    "SIGNATURE_JSON_KEYS",
    "TOTAL_FAILED",
    "TOTAL_PASSED",
    "DocumentReport",
    "SignatureReport",
    "Verifier",
    "exit_code",
    "format_text",
    "iter_pdf_paths",
    "verify_paths",
]
