"""Benchmark: signing agreements in one process versus one `dpa sign` process per agreement, in one run.

Sets up a throwaway development PKI and a real `dpa tsa serve` subprocess on loopback, takes one unsigned agreement
(the real `dpa generate` output for the example customer when LibreOffice works, else a small stand-in), and signs
it as the processor N times (default 50):

  (a) `dpa sign` as a separate process per agreement (what a shell loop does) — M runs (default 10), scaled to N;
  (b) in one process, but a new SigningSession per agreement (keys parsed and TSA connection opened every time);
  (c) in one process with one SigningSession: key parsed once, one HTTP session to the TSA, font loaded once.

Prints seconds per signature and the ratios against (a), then where the time of (c) goes (from a profile).

Usage: .venv/bin/python bench/sign.py [N] [M]
"""

from __future__ import annotations

import cProfile
import os
import pstats
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.agreement import unsigned_agreement  # noqa: E402
from dpa.config import Config, load_config  # noqa: E402
from dpa.devtools.devpki import init_dev_pki  # noqa: E402
from dpa.devtools.tsa_server import free_loopback_port  # noqa: E402
from dpa.signing.sign import SigningSession, sign_pdf  # noqa: E402

DPA = (sys.executable, "-P", "-m", "dpa")  # -P: never import from the current folder, as the dpa script


def start_tsa(config_path: Path, env: dict[str, str], port: int) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(
        [*DPA, "--config", str(config_path), "tsa", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    line = proc.stdout.readline() if ready else b""
    match = re.search(rb"http://\S+/", line)
    if not match:
        proc.kill()
        raise SystemExit(f"dpa tsa serve did not start: {line!r}")
    return proc, match.group(0).decode()


def separate_processes(
    config_path: Path, source: Path, work: Path, runs: int, tsa_url: str, env: dict[str, str]
) -> float:
    started = time.perf_counter()
    for i in range(runs):
        subprocess.run(
            [*DPA, "--config", str(config_path), "-q", "sign", str(source), "--as", "processor",
             "--tsa", tsa_url, "-o", str(work / f"a-{i}.pdf")],
            check=True,
            capture_output=True,
            env=env,
        )  # fmt: skip
    return time.perf_counter() - started


def session_per_document(config: Config, source: Path, work: Path, count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        sign_pdf(config, source, "processor", work / f"b-{i}.pdf")
    return time.perf_counter() - started


def one_session(config: Config, source: Path, work: Path, count: int) -> tuple[float, float]:
    """Returns (set-up seconds, signing seconds)."""
    started = time.perf_counter()
    with SigningSession(config) as session:
        session.preload(["processor"])
        ready = time.perf_counter()
        for i in range(count):
            session.sign(source, "processor", work / f"c-{i}.pdf")
        done = time.perf_counter()
    return ready - started, done - ready


PHASES = [
    ("CMS signature, dry run + real (incl. the TSA round trip)", r"pdf_cms\.py.*\(async_sign\)"),
    # the HTTP request runs in a worker thread (urllib3 retries there), so the profiled loop thread waits in select()
    ("  of which: TSA round trip (the size estimate reuses a token)", r"selectors\.py.*\(select\)"),
    ("    of which: checking the token (signature, nonce, imprint)", r"timestamps\.py.*\(_check_reply\)"),
    ("  of which: raw RSA signatures (parsed key, 2 per signature)", r"keys\.py.*\(sign_raw\)"),
    ("writing the incremental update + hashing the byte ranges", r"pdf_signer\.py.*\(digest_tbs_document\)"),
    ("  of which: subsetting + embedding the appearance font", r"opentype\.py.*\(prepare_write\)"),
    ("appearance layout (text shaping, form XObject)", r"cms_embedder\.py.*\(apply\)"),
    ("reading + checking the input PDF", r"document\.py.*\(check_can_sign\)"),
    ("atomic write of the output (fsync + rename)", r"files\.py.*\(write_atomic\)"),
]


def where_the_time_goes(config: Config, source: Path, work: Path, count: int) -> list[tuple[str, float]]:
    with SigningSession(config) as session:
        session.preload(["processor"])
        session.sign(source, "processor", work / "warm.pdf")
        profile = cProfile.Profile()
        profile.enable()
        started = time.perf_counter()
        for i in range(count):
            session.sign(source, "processor", work / f"p-{i}.pdf")
        total = time.perf_counter() - started
        profile.disable()
    stats = pstats.Stats(profile)
    table = stats.stats  # type: ignore[attr-defined]
    rows = [("total per signature (under the profiler)", total / count)]
    for label, pattern in PHASES:
        seconds = sum(
            entry[3]
            for (filename, line, name), entry in table.items()
            if re.search(pattern, f"{filename}:{line}({name})")
        )
        rows.append((label, seconds / count))
    return rows


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    work = Path(tempfile.mkdtemp(prefix="dpa-bench-sign-"))
    tsa = None
    try:
        port = free_loopback_port()  # the PKI's certificates name it: TSA, CRL and OCSP are served there
        pki = init_dev_pki(work / "pki", tsa_url=f"http://127.0.0.1:{port}/")
        env = {**os.environ, **pki.secrets}
        os.environ.update(pki.secrets)
        tsa, url = start_tsa(pki.config_path, env, port)
        base = load_config(pki.config_path)
        config = replace(base, tsa=replace(base.tsa, urls=(url,)))
        data, what = unsigned_agreement()
        source = work / "agreement.pdf"
        source.write_bytes(data)
        out = work / "out"
        out.mkdir()

        separate_processes(pki.config_path, source, out, 1, url, env)  # warm the OS caches once
        a = separate_processes(pki.config_path, source, out, runs, url, env) / runs
        b = session_per_document(config, source, out, count) / count
        setup, c_total = one_session(config, source, out, count)
        c = c_total / count
        breakdown = where_the_time_goes(config, source, out, min(count, 20))
    finally:
        if tsa is not None:
            tsa.send_signal(signal.SIGTERM)
            tsa.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)

    print(f"dpa sign benchmark: {count} processor signatures, RSA-2048 PKCS#12 key, local `dpa tsa serve` ({url})")
    print(f"input: {what}, {len(data) / 1024:.0f} KiB; {os.cpu_count()} cores")
    print(f"(a) `dpa sign`, a new process per agreement: {runs} runs, scaled to {count}")

    def row(label: str, per_sig: float, note: str = "") -> str:
        return (
            f"{label:<48} {per_sig:7.3f} s/sig  {count * per_sig:7.1f} s for {count}  ratio {a / per_sig:6.1f}x{note}"
        )

    print(row("(a) dpa sign, one process per agreement", a))
    print(row("(b) in process, new SigningSession each time", b))
    print(row("(c) in process, one SigningSession", c, f"  (+{setup:.2f} s set-up once)"))
    verdict = "OK" if c < 0.1 else "TOO SLOW"
    print(f"in-process target < 0.100 s/sig: {c:.3f} s/sig -> {verdict}")
    print("where the time of (c) goes, per signature (cProfile adds overhead, so the parts are inflated):")
    for label, seconds in breakdown:
        print(f"  {label:<58} {seconds * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
