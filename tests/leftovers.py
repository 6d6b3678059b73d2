"""No process outlives the test session that started it.

Each test process marks its environment with a token of its own (``DPA_TEST_SESSION``) when this plugin loads;
every process the suite starts inherits it — soffice.bin through the converter's bridge, the verification
worker, ``dpa tsa serve``, ``dpa`` subprocesses — and keeps it in ``/proc/PID/environ`` even after its parent is
gone and it has been re-parented. The session fixture :func:`no_leftover_processes` is set up before any other
fixture, so it is torn down after all of them; then it waits briefly for the suite's processes to end, kills any
that are still running and fails the session, naming them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

MARK = "DPA_TEST_SESSION"
GRACE_S = float(os.environ.get("DPA_TEST_LEFTOVER_GRACE_S", "10"))
"""How long processes get to end after the last teardown before they count as left over."""


@dataclass(frozen=True)
class Leftover:
    """A process that carries a session's token."""

    pid: int
    command: str


def mark_this_process() -> str:
    """Give this process (and so every child it starts from now on) a fresh session token; returns it."""
    token = uuid.uuid4().hex
    os.environ[MARK] = token
    return token


def processes_with(token: str) -> list[Leftover]:
    """Running processes (zombies excluded) other than this one whose start-up environment carries ``token``."""
    needle = f"{MARK}={token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, IndexError):
            continue  # gone meanwhile, or not ours to read
        if state != "Z":
            found.append(Leftover(int(entry.name), command))
    return found


def wait_for_none(token: str, grace_s: float) -> list[Leftover]:
    """The processes still carrying ``token`` after up to ``grace_s`` seconds."""
    deadline = time.monotonic() + grace_s
    while True:
        found = processes_with(token)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


_TOKEN = mark_this_process()


@pytest.fixture(scope="session", autouse=True)
def no_leftover_processes() -> Iterator[None]:
    """Fails the session when a process the suite started (soffice.bin, a verification worker, ``dpa tsa
    serve``, …) is still running after every fixture has been torn down; such processes are killed."""
    yield
    left = wait_for_none(_TOKEN, GRACE_S)
    for process in left:
        with contextlib.suppress(OSError):
            os.kill(process.pid, signal.SIGKILL)
    if left:
        names = "\n  ".join(f"{p.pid}: {p.command[:200]}" for p in left)
        pytest.fail(f"processes started by the test session outlived it (now killed):\n  {names}", pytrace=False)
