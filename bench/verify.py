"""Benchmark: `dpa verify` over a folder of two-signature agreements against pdfsig, in one run.

Sets up a throwaway development PKI and its embedded TSA (with CRL/OCSP) on loopback, assembles ONE agreement
(the example customer, LibreOffice; a small stand-in when assembly is unavailable) and signs N copies of it (default
100), each certified by the processor and counter-signed by the controller, each with its own trusted timestamps
and validation data (B-LT). Then:

  (a) pdfsig (poppler) once per file, with an NSS database trusting the development CA (and, as it does by
      default, online OCSP against the development PKI's responder) — it checks only the
      cryptography and the certificate, so it is the floor;
  (b) one `dpa verify --json FOLDER`: one process, one warm verification worker for all files, the full §6 rules
      (difference analysis, timestamps, certificate at the timestamp's time, order, trailing bytes, …);
  (c) `dpa verify FILE` as a separate process per file (what a naive shell loop does) — M runs (default 10),
      scaled to N.

Every file must pass in (a) and (b). Prints seconds per document and the ratios against pdfsig.

Usage: .venv/bin/python bench/verify.py [N] [M]
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.agreement import unsigned_agreement  # noqa: E402
from dpa.config import load_config  # noqa: E402
from dpa.devtools.devpki import init_dev_pki  # noqa: E402
from dpa.devtools.tsa_server import free_loopback_port, tsa_server_from_config  # noqa: E402
from dpa.signing.sign import SigningSession  # noqa: E402
from tests.signing_support import make_nss_db  # noqa: E402

DPA = (sys.executable, "-P", "-m", "dpa")  # -P: never import from the current folder, as the dpa script


def pdfsig_ok(path: Path, nssdir: Path) -> bool:
    """pdfsig exits 0 even on "Digest Mismatch": read its report."""
    out = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{nssdir}", str(path)], capture_output=True, text=True, check=False
    ).stdout
    return out.count("Signature is Valid.") == 2 and out.count("Certificate is Trusted.") == 2


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    m = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    with tempfile.TemporaryDirectory(prefix="dpa-bench-verify-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        port = free_loopback_port()  # the PKI's certificates name it: TSA, CRL and OCSP are served there
        pki = init_dev_pki(work / "pki", tsa_url=f"http://127.0.0.1:{port}/")
        os.environ.update(pki.secrets)
        unsigned, what = unsigned_agreement()
        folder = work / "agreements"
        folder.mkdir()
        base = load_config(pki.config_path)
        # served to the end: pdfsig asks the OCSP responder named in the certificates (dpa verify asks nothing)
        server = stack.enter_context(tsa_server_from_config(base, port=port))
        url = server.start_in_thread()
        config = dataclasses.replace(base, tsa=dataclasses.replace(base.tsa, urls=(url,)))
        started = time.perf_counter()
        with SigningSession(config) as session:
            for i in range(n):
                half, _ = session.sign_bytes(unsigned, "processor", name=f"copy {i}")
                full, _ = session.sign_bytes(half, "controller", name=f"copy {i}")
                (folder / f"C-{i:04d}.signed.pdf").write_bytes(full)
        signing = time.perf_counter() - started
        files = sorted(folder.glob("*.pdf"))
        size = files[0].stat().st_size
        print(
            f"verify {n} two-signature agreements ({what}, {size // 1024} KB each; signing them took {signing:.1f} s)"
        )

        nssdir = make_nss_db(work / "nss", pki.ca_path)
        started = time.perf_counter()
        pdfsig_good = sum(pdfsig_ok(path, nssdir) for path in files)
        t_pdfsig = time.perf_counter() - started
        assert pdfsig_good == n, f"pdfsig: only {pdfsig_good} of {n} files valid"

        env = {**os.environ}
        started = time.perf_counter()
        result = subprocess.run(
            [*DPA, "--config", str(pki.config_path), "verify", "--json", "--require-complete", str(folder)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        t_folder = time.perf_counter() - started
        reports = [json.loads(line) for line in result.stdout.splitlines()]
        passed = sum(r["indication"] == "TOTAL_PASSED" and r["complete"] for r in reports)
        assert result.returncode == 0 and passed == n, f"dpa verify: {passed} of {n} passed; {result.stderr[-500:]}"

        runs = min(m, n)
        started = time.perf_counter()
        for path in files[:runs]:
            one = subprocess.run(
                [*DPA, "--config", str(pki.config_path), "verify", "--json", str(path)],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            assert one.returncode == 0, one.stdout + one.stderr
        t_each = (time.perf_counter() - started) / runs * n

        def row(label: str, seconds: float) -> str:
            return f"  {label:<60} {seconds:7.2f} s  {seconds / n:6.3f} s/doc  {seconds / t_pdfsig:5.1f}× pdfsig"

        print(row("(a) pdfsig, one process per file (cryptography only)", t_pdfsig))
        print(row("(b) dpa verify FOLDER: one process, one warm worker", t_folder))
        print(row(f"(c) dpa verify FILE, a process per file ({runs} runs, scaled)", t_each))
        print(
            f"  dpa verify over the folder is {t_folder / t_pdfsig:.1f}× the pdfsig floor and "
            f"{t_each / t_folder:.1f}× faster than a process per file; all {n} agreements TOTAL_PASSED and complete"
        )


if __name__ == "__main__":
    main()
