"""Helpers for the web tests: a real ``dpa serve`` on an ephemeral port, a Chromium driven by Playwright, and
logging in over HTTP."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx

from tests.signing_support import DPA

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class ServerProcess:
    """A running ``dpa serve`` subprocess; stdout and stderr go to files (the log under test)."""

    url: str
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    admin_password: str | None
    cwd: Path

    def stop(self) -> int:
        """SIGTERM, wait, and return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log_text(self) -> str:
        """Everything the server wrote so far (stdout and stderr)."""
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")


def start_server(
    cwd: Path, args: list[str], env: Mapping[str, str] | None = None, *, dev: bool = True, timeout: float = 120
) -> ServerProcess:
    """Start ``dpa ARGS serve --port 0`` (with ``--dev``: the embedded set-up of ``make serve``) in ``cwd`` and wait
    for its "listening on" line."""
    stdout, stderr = cwd / "serve.stdout", cwd / "serve.stderr"
    out_handle, err_handle = stdout.open("wb"), stderr.open("wb")
    process = subprocess.Popen(
        [*DPA, *args, "serve", "--host", "127.0.0.1", "--port", "0", *(["--dev"] if dev else [])],
        stdout=out_handle,
        stderr=err_handle,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
    out_handle.close()
    err_handle.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = stdout.read_text(errors="replace")
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+/)", text)
        if match:
            password = re.search(r"one-time password (\S+)", text)
            return ServerProcess(match.group(1), process, stdout, stderr, password.group(1) if password else None, cwd)
        if process.poll() is not None:
            break
        select.select([], [], [], 0.2)
    process.kill()
    process.wait()
    raise RuntimeError(f"dpa serve did not start: {stdout.read_text()} {stderr.read_text()}")


@contextmanager
def running_server(cwd: Path, args: list[str], env: Mapping[str, str] | None = None) -> Iterator[ServerProcess]:
    """:func:`start_server` as a context manager; the server must stop cleanly on SIGTERM."""
    server = start_server(cwd, args, env)
    try:
        yield server
    finally:
        code = server.stop()
        assert code == 0, f"dpa serve exited with {code}: {server.stderr.read_text()[-2000:]}"


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = CSRF_FIELD.search(html)
    assert match, "the page has a form with a CSRF token"
    return match.group(1)


def login(client: httpx.Client, name: str, password: str) -> httpx.Response:
    """Log in through the form (GET for the CSRF cookie and token, then POST)."""
    page = client.get("/login")
    return client.post("/login", data={"username": name, "password": password, "csrf_token": csrf_of(page.text)})


def post_form(client: httpx.Client, page: str, action: str, data: dict[str, Any], **kwargs: Any) -> httpx.Response:
    """POST ``data`` to ``action`` with the CSRF token of the form on ``page``."""
    token = csrf_of(client.get(page).text)
    return client.post(action, data={**data, "csrf_token": token}, **kwargs)


def launch_chromium(playwright: Any) -> Any:
    """Debian's chromium (never a downloaded browser), for a machine without network."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
