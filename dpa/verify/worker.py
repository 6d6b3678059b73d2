"""The verification worker: a separate, warm process that applies :mod:`dpa.verify.engine` under limits.

Started by :class:`dpa.verify.verifier.Verifier` as ``python -m dpa.verify.worker``. It imports pyHanko
while the parent is still starting, builds the :class:`~dpa.verify.engine.VerificationEngine` once, caps its
own address space (``RLIMIT_AS`` = ``[verify] memory_mb``) and then answers requests until its stdin closes. The
parent enforces the wall-clock limit by killing it.

Protocol (binary pipes; JSON is used both ways so that nothing the worker sends can execute code in the parent):

* parent → worker, once: one JSON line
  ``{"roots": [base64 DER, …], "tsa_roots": [base64 DER, …], "processor_certs": [base64 DER, …], "signing_cas":
  [base64 DER, …], "at": ISO 8601 or null, "memory_mb": N, "timeout_s": S, "max_revisions": N, "processor_name": "…"}``;
  worker → parent: ``{"ok": true}`` or ``{"ok": false, "error": "…"}``;
* then per file: a JSON line ``{"name": "…", "size": N}`` followed by exactly N bytes of the file; the worker
  answers with one JSON line, :meth:`~dpa.verify.report.DocumentReport.to_wire`.

The protocol runs on a private copy of the original stdout; file descriptor 1 is pointed at stderr so that
nothing printed by a library can corrupt it.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import sys
import warnings
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dpa.verify.engine import VerificationEngine

MIB = 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024


def _send(out: IO[bytes], message: dict[str, Any]) -> None:
    out.write(json.dumps(message, ensure_ascii=False).encode("utf-8") + b"\n")
    out.flush()


def _read_into(stream: IO[bytes], size: int) -> bytearray:
    """Exactly ``size`` bytes from ``stream``, in one buffer allocated up front.

    When the buffer itself cannot be allocated (MemoryError under ``RLIMIT_AS``), the bytes are read and dropped so
    that the next request still starts at a header line, and the MemoryError is raised again.
    """
    try:
        buffer = bytearray(size)
    except MemoryError:
        _drain(stream, size)
        raise
    view = memoryview(buffer)
    done = 0
    while done < size:
        count = stream.readinto(view[done:])  # type: ignore[attr-defined]
        if not count:
            raise EOFError("the parent closed the pipe in the middle of a file")
        done += count
    return buffer


def _drain(stream: IO[bytes], size: int) -> None:
    remaining = size
    while remaining:
        chunk = stream.read(min(remaining, MIB))
        if not chunk:
            raise EOFError("the parent closed the pipe in the middle of a file")
        remaining -= len(chunk)


def _address_space_bytes() -> int:
    """Current virtual memory size of this process (Linux), 0 when unknown."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[0])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _limit_memory(memory_mb: int) -> str | None:
    """Cap the address space at ``memory_mb`` MiB; a sentence when that is below what the worker already uses."""
    import resource

    limit = memory_mb * MIB
    used = _address_space_bytes()
    if used and used >= limit:
        return (
            f"[verify] memory_mb = {memory_mb} is below what the verifier itself needs ({used // MIB + 1} MB of "
            "address space); raise it"
        )
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY and hard < limit:
        limit = hard
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return None


def _engine(init: dict[str, Any]) -> VerificationEngine:
    """The engine the start-up message describes (raises ValueError, KeyError or TypeError for a bad one)."""
    from asn1crypto import x509

    from dpa.verify.effective_date import parse_utc_iso
    from dpa.verify.engine import VerificationEngine

    def certs(key: str) -> list[x509.Certificate]:
        return [x509.Certificate.load(base64.b64decode(c)) for c in init.get(key, [])]

    return VerificationEngine(
        certs("roots"),
        tsa_roots=certs("tsa_roots"),
        at=parse_utc_iso(init["at"]) if init.get("at") else None,
        memory_mb=int(init["memory_mb"]),
        processor_certs=certs("processor_certs"),
        signing_cas=certs("signing_cas"),
        max_revisions=int(init["max_revisions"]),
        processor_name=str(init["processor_name"]),
    )


def _serve(inp: IO[bytes], out: IO[bytes], engine: VerificationEngine, memory_mb: int, backstop_s: int) -> int:
    """Answer one request after the other until stdin closes (0) or the parent is out of step (3)."""
    from dpa.verify.engine import internal_error
    from dpa.verify.report import INDETERMINATE, SubIndication, verdict_only

    while True:
        header = inp.readline(MAX_HEADER_BYTES)
        if not header:
            return 0
        try:
            request = json.loads(header)
            name = str(request["name"])
            size = int(request["size"])
        except (ValueError, KeyError, TypeError):
            return 3  # out of step with the parent: it will start a new worker
        try:
            data = _read_into(inp, size)
            signal.alarm(backstop_s)  # the parent kills a slow worker; this covers a parent that has gone
            report = engine.verify(data, name)
            signal.alarm(0)
            del data
        except EOFError:
            return 0
        except MemoryError:
            report = verdict_only(
                name,
                None,
                INDETERMINATE,
                SubIndication.GENERIC,
                f"checking the file needed more memory than the limit of {memory_mb} MB ([verify] memory_mb)",
            )
        except Exception as exc:  # a bug outside the engine's own guard: still a report, never a dead pipe
            report = internal_error(name, None, exc)
        _send(out, report.to_wire())


def main() -> int:
    """Serve verification requests on stdin/stdout until stdin closes; returns the exit status."""
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    inp = sys.stdin.buffer
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)  # pyHanko logs tracebacks at WARNING for every rejected file

    init_line = inp.readline()
    if not init_line:
        return 0
    try:
        init = json.loads(init_line)
        engine = _engine(init)
        memory_mb = int(init["memory_mb"])
        backstop_s = int(float(init.get("timeout_s", 60)) * 2) + 5
    except (ValueError, KeyError, TypeError) as exc:
        _send(out, {"ok": False, "error": f"bad start-up message: {exc}"})
        return 2
    problem = _limit_memory(memory_mb) if memory_mb > 0 else None
    if problem:
        _send(out, {"ok": False, "error": problem})
        return 2
    _send(out, {"ok": True})
    return _serve(inp, out, engine, memory_mb, backstop_s)


if __name__ == "__main__":
    sys.exit(main())
