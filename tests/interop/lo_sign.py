"""Counter-sign a PDF with LibreOffice's own PDF signing over UNO, as a customer who signs in LibreOffice does.

Run by the system Python (Debian's python3-uno), like ``dpa/assembly/uno_bridge.py``, whose way of starting
soffice it reuses::

    /usr/bin/python3 lo_sign.py PROFILE_DIR NSS_DIR PDF SUBJECT

LibreOffice finds the signer's key in the NSS database ``NSS_DIR`` (``MOZILLA_CERTIFICATE_FOLDER``) and signs
``PDF`` in place with the first personal certificate whose subject contains ``SUBJECT``: an incremental update with
a new, invisible signature field (LibreOffice never fills an existing field) and no timestamp. Exit 0 when signed;
otherwise one line on stderr and exit 1. soffice is always shut down (killed if it does not stop).
"""

import contextlib
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "dpa" / "assembly"))

import uno  # type: ignore[import-not-found]
import uno_bridge  # type: ignore[import-not-found]
from com.sun.star.connection import NoConnectException  # type: ignore[import-not-found]


def connect(profile_dir):
    """Start soffice with its own profile and return (process, remote component context)."""
    pipe = "dpa-interop-" + uuid.uuid4().hex
    process = uno_bridge.launch(profile_dir, pipe)
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
    deadline = time.monotonic() + uno_bridge.CONNECT_TIMEOUT_S
    while True:
        try:
            return process, resolver.resolve("uno:pipe,name=" + pipe + ";urp;StarOffice.ComponentContext")
        except NoConnectException:
            if process.poll() == uno_bridge.RESTART_REQUESTED:
                process = uno_bridge.launch(profile_dir, pipe)
            elif process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"soffice did not start (exit status {process.poll()})") from None
            time.sleep(0.1)


def sign(context, pdf, subject):
    """Sign ``pdf`` in place with LibreOffice's DocumentDigitalSignatures (its PDF path: no storage, a stream)."""
    services = context.ServiceManager
    initializer = services.createInstanceWithContext("com.sun.star.xml.crypto.SEInitializer", context)
    environment = initializer.createSecurityContext("").getSecurityEnvironment()
    certificates = [c for c in environment.getPersonalCertificates() if subject in c.SubjectName]
    if not certificates:
        raise RuntimeError(f"no personal certificate with {subject!r} in the NSS database")
    files = services.createInstanceWithContext("com.sun.star.ucb.SimpleFileAccess", context)
    stream = files.openFileReadWrite(uno.systemPathToFileUrl(pdf))
    try:
        signatures = services.createInstanceWithContext("com.sun.star.security.DocumentDigitalSignatures", context)
        if not signatures.signDocumentWithCertificate(certificates[0], None, stream):
            raise RuntimeError("LibreOffice did not sign the PDF")
    finally:
        stream.getOutputStream().closeOutput()


def main():
    """Sign, then shut soffice down whatever happened."""
    profile_dir, nss_dir, pdf, subject = sys.argv[1:5]
    os.environ["MOZILLA_CERTIFICATE_FOLDER"] = "sql:" + nss_dir
    process, context = connect(profile_dir)
    try:
        sign(context, pdf, subject)
    except Exception as exc:
        print(f"lo_sign: {type(exc).__name__}: {getattr(exc, 'Message', '') or exc}", file=sys.stderr)
        return 1
    finally:
        # soffice may already be gone (DisposedException); it is killed below if it does not stop
        with contextlib.suppress(Exception):
            context.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", context).terminate()
        try:
            process.wait(timeout=15)
        except Exception:
            process.kill()
            process.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
