"""A warm LibreOffice: run by the system Python (which has LibreOffice's ``uno`` module), not by dpa's venv.

Started by :mod:`dpa.assembly.convert` as ``python3 uno_bridge.py PROFILE_DIR``. It starts one headless soffice
with its own user profile, connects to it over a private pipe, prints ``{"ready": true}`` and then serves one
conversion per line of JSON on stdin (``{"input": DOCX, "output": PDF}``), answering one line of JSON on stdout
(``{"ok": true}`` or ``{"ok": false, "error": ...}``). On end of input it shuts soffice down. The parent kills the
whole process group when a conversion hangs; this script does no timing of its own.

Nothing outlives its owner: soffice.bin gets a parent-death signal (``PR_SET_PDEATHSIG``: killed when this bridge
ends, however it ends), and the bridge ends itself, soffice first, as soon as its own parent is gone (end of input
when idle; a watchdog thread when a conversion hangs).
"""

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import uno  # type: ignore[import-not-found]
from com.sun.star.beans import PropertyValue  # type: ignore[import-not-found]
from com.sun.star.connection import NoConnectException  # type: ignore[import-not-found]

# soffice.bin itself rather than the soffice shell script and oosplash: then the pid the parent monitors is the
# process that does the work, and killing it really stops LibreOffice.
SOFFICE = os.environ.get("DPA_SOFFICE", "/usr/lib/libreoffice/program/soffice.bin")
RESTART_REQUESTED = 81  # soffice.bin's exit status after creating a fresh user profile: "start me again"
CONNECT_TIMEOUT_S = 60.0
PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl
_BRIDGE_PID = os.getpid()
_current = {}  # "soffice": the running soffice.bin process, for the watchdog


def die_with_bridge():
    """``preexec_fn`` of soffice.bin: SIGKILL when the bridge ends (and at once if it already has)."""
    _prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != _BRIDGE_PID:
        os.kill(os.getpid(), signal.SIGKILL)


def watch_parent(parent):
    """Daemon thread: when the process that started the bridge is gone, kill soffice and end the bridge."""
    while os.getppid() == parent:
        time.sleep(0.5)
    soffice = _current.get("soffice")
    if soffice is not None:
        with contextlib.suppress(OSError):
            soffice.kill()
    os._exit(75)


def prop(name, value):
    """A UNO PropertyValue."""
    p = PropertyValue()
    p.Name = name
    p.Value = value
    return p


def launch(profile_dir, pipe):
    """Start soffice.bin headless with its own profile, listening on a private pipe."""
    process = subprocess.Popen(
        [
            SOFFICE,
            "--headless",
            "--invisible",
            "--nologo",
            "--norestore",
            "--nodefault",
            "--nolockcheck",
            "--nofirststartwizard",
            "-env:UserInstallation=" + uno.systemPathToFileUrl(profile_dir),
            "--accept=pipe,name=" + pipe + ";urp;StarOffice.ComponentContext",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_bridge,
    )
    _current["soffice"] = process
    return process


def start(profile_dir):
    """Start soffice and connect to it; returns (process, desktop). Restarts once after profile creation."""
    pipe = "dpa-" + uuid.uuid4().hex
    process = launch(profile_dir, pipe)
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while True:
        try:
            context = resolver.resolve("uno:pipe,name=" + pipe + ";urp;StarOffice.ComponentContext")
            break
        except NoConnectException:
            if process.poll() == RESTART_REQUESTED:
                process = launch(profile_dir, pipe)
            elif process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"soffice did not start (exit status {process.poll()})") from None
            time.sleep(0.1)
    desktop = context.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", context)
    return process, desktop


def convert(desktop, source, target):
    """Open ``source`` hidden and read-only and store it as PDF/A-2b at ``target``."""
    document = desktop.loadComponentFromURL(
        uno.systemPathToFileUrl(source),
        "_blank",
        0,
        (prop("Hidden", True), prop("ReadOnly", True), prop("UpdateDocMode", 0)),
    )
    if document is None:
        raise RuntimeError("LibreOffice could not open the document")
    try:
        filter_data = uno.Any(
            "[]com.sun.star.beans.PropertyValue",
            (prop("SelectPdfVersion", 2), prop("ExportFormFields", False), prop("ExportBookmarks", True)),
        )
        document.storeToURL(
            uno.systemPathToFileUrl(target),
            (prop("FilterName", "writer_pdf_Export"), prop("FilterData", filter_data)),
        )
    finally:
        document.close(True)


def soffice_died(process):
    """After a failed call: did soffice die? (Its exit can lag the broken connection by a moment.)"""
    try:
        process.wait(timeout=1.0)
    except subprocess.TimeoutExpired:
        return False
    return True


def main():
    """Serve conversion requests from stdin until end of input, then shut soffice down."""
    profile_dir = sys.argv[1]
    owner = int(os.environ.get("DPA_BRIDGE_OWNER") or os.getppid())
    threading.Thread(target=watch_parent, args=(owner,), daemon=True).start()
    process, desktop = start(profile_dir)
    out = sys.stdout
    out.write(json.dumps({"ready": True, "pid": process.pid}) + "\n")
    out.flush()
    for line in sys.stdin:
        request = json.loads(line)
        try:
            convert(desktop, request["input"], request["output"])
            reply = {"ok": True}
        except Exception as exc:
            if soffice_died(process):
                sys.exit(70)  # soffice is gone: end the bridge so that the parent restarts both and retries
            reply = {
                "ok": False,
                "error": f"{type(exc).__name__}: {getattr(exc, 'Message', '') or exc}",
            }
        out.write(json.dumps(reply) + "\n")
        out.flush()
    with contextlib.suppress(Exception):  # soffice may already be gone; it is killed below if not
        desktop.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


if __name__ == "__main__":
    main()
