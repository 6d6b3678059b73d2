"""Benchmark: `dpa verify` over a folder of two-signature agreements against pdfsig, in one run.

Sets up a throwaway development PKI and its embedded TSA (with CRL/OCSP) on loopback, assembles ONE agreement
(the example customer, LibreOffice; a small stand-in when assembly is unavailable) and signs N copies of it (default
100), each certified by the processor and counter-signed by the controller, each with its own trusted timestamps
and validation data (B-LT). Then:

  (a) pdfsig (poppler) once per file, with an NSS database trusting the development CA (and, as it does by
      default, online OCSP against the development PKI's responder) — it checks only the
      cryptography and the certificate, so it is the floor;
  (b) one `dpa verify --json --jobs 1 FOLDER`: one process, one warm verification worker for all files, the full
      §6 rules (difference analysis, timestamps, certificate at the timestamp's time, order, trailing bytes, …);
  (b2) the same with one worker per core (`--jobs` = the cores this process may use);
  (c) `dpa verify FILE` as a separate process per file (what a naive shell loop does) — M runs (default 10),
      scaled to N;
  (d) pyHanko's own bare validation in this process, on one core: parse the file, then validate both signatures
      (`validate_pdf_signature`: its difference analysis, the signature timestamp, the certificate path with the
      revocation data of the file's DSS, offline) — the floor of the library dpa builds on; (d2) the same with
      dpa.verify.speedups installed (faster hex strings and name preparation), the like-for-like comparison.

Every file must pass in (a), (b), (b2) and (d). Prints seconds per document, the ratios against pdfsig ("N×
pdfsig") and of the one-worker folder run against the bare library ("N× pyHanko", per core).

Usage: .venv/bin/python bench/verify.py [N] [M]
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
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


def bare_pyhanko(files: list[Path], roots: Path, tsa_roots: Path) -> float:
    """Seconds for pyHanko alone to parse each file and validate both its signatures (asserted intact and trusted)."""
    from pyhanko.keys import load_certs_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.dss import DocumentSecurityStore
    from pyhanko_certvalidator import ValidationContext

    signer_roots = list(load_certs_from_pemder([str(roots)]))
    tsa_trust = list(load_certs_from_pemder([str(tsa_roots)]))
    started = time.perf_counter()
    for path in files:
        reader = PdfFileReader(io.BytesIO(path.read_bytes()))
        dss = DocumentSecurityStore.read_dss(reader)
        signatures = reader.embedded_signatures
        assert len(signatures) == 2, f"{path}: {len(signatures)} signatures"
        for embedded in signatures:
            status = validate_pdf_signature(
                embedded,
                signer_validation_context=dss.as_validation_context(
                    {"trust_roots": signer_roots, "allow_fetching": False, "revocation_mode": "hard-fail"}
                ),
                ts_validation_context=ValidationContext(trust_roots=tsa_trust, allow_fetching=False),
            )
            details = status.pretty_print_details()
            assert status.bottom_line and status.timestamp_validity is not None, f"{path}: {details}"
            assert status.timestamp_validity.trusted, f"{path}: the timestamp is not trusted"
    return time.perf_counter() - started


def folder_run(config: Path, folder: Path, jobs: int, n: int) -> float:
    """Seconds for one `dpa verify --json --require-complete --jobs N FOLDER`; every file must pass, complete."""
    started = time.perf_counter()
    result = subprocess.run(
        [*DPA, "--config", str(config), "verify", "--json", "--require-complete", "--jobs", str(jobs), str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    passed = sum(r["indication"] == "TOTAL_PASSED" and r["complete"] for r in reports)
    assert result.returncode == 0 and passed == n, f"dpa verify: {passed} of {n} passed; {result.stderr[-500:]}"
    return seconds


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

        cores = len(os.sched_getaffinity(0))
        t_folder = folder_run(pki.config_path, folder, 1, n)
        t_pool = folder_run(pki.config_path, folder, cores, n)
        t_bare = bare_pyhanko(files, pki.ca_path, pki.tsa_ca_path)
        from dpa.verify import speedups

        speedups.install()  # the same library with dpa's two faster internals, for the like-for-like ratio
        t_bare_fast = bare_pyhanko(files, pki.ca_path, pki.tsa_ca_path)

        env = {**os.environ}
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
        print(row("(b) dpa verify --jobs 1 FOLDER: one process, one warm worker", t_folder))
        print(row(f"(b2) dpa verify --jobs {cores} FOLDER: one worker per core", t_pool))
        print(row(f"(c) dpa verify FILE, a process per file ({runs} runs, scaled)", t_each))
        print(row("(d) pyHanko's bare validation, in-process, one core", t_bare))
        print(row("(d2) the same with dpa.verify.speedups installed", t_bare_fast))
        print(
            f"  dpa verify over the folder ({cores} workers) is {t_pool / t_pdfsig:.1f}× pdfsig and "
            f"{t_each / t_pool:.1f}× faster than a process per file; all {n} agreements TOTAL_PASSED and complete"
        )
        print(f"  dpa verify with one worker is {t_folder / t_bare:.2f}× pyHanko (its bare validation, per core)")
        print(f"  like for like (both with dpa.verify.speedups): {t_folder / t_bare_fast:.2f}× the bare library")


if __name__ == "__main__":
    main()
