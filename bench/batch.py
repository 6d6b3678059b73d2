"""Benchmark: the naive path (one `dpa issue` process per customer) against `dpa batch`, side by side in one run,
and what PAdES B-LT (the CRLs of signer and TSA in every file, fetched once per run) costs against B-T.

Makes a throwaway development PKI whose certificates name CRL/OCSP addresses on a free loopback port, generates N
fictional customers, then
  (a) runs `dpa batch` at B-T on N: the revocation services down, `[signing] require_revocation_data = false`
      (the TSA runs elsewhere), so every signature goes on without validation data, as dpa does when allowed;
  (b) starts `dpa tsa serve` on the PKI's port (TSA + CRL + OCSP) and runs `dpa issue` once per customer on a
      sample of them (default 6), and
  (c) runs `dpa batch` on all N at B-LT (the default),
and prints documents per minute for each, the ratios, B-LT's cost per document, and the peak memory (VmHWM) of
the `dpa batch` process.

Usage: .venv/bin/python bench/batch.py [--only B-T] [N ...]      (default: 100; e.g. `bench/batch.py 100 1000`)

``--only B-T`` runs (a) alone, for a long run (`bench/batch.py --only B-T 10000`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dpa.devtools.devpki import init_dev_pki  # noqa: E402
from dpa.devtools.tsa_server import free_loopback_port  # noqa: E402
from tests.customers import customer_row, write_customers  # noqa: E402

DPA = (sys.executable, "-P", "-m", "dpa")  # -P: never import from the current folder, as the dpa script
NAIVE_SAMPLE = 6


def start_tsa(config: Path, env: dict[str, str], port: int = 0) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [*DPA, "--config", str(config), "tsa", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "listening on" not in line:
        raise SystemExit(f"the TSA did not start: {line!r}")
    return process, line.rsplit(" ", 1)[1].strip()


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_batch(csv: Path, out: Path, config: Path, url: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one `dpa batch` run."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [*DPA, "-q", "--config", str(config), "batch", str(csv), "-o", str(out), "--tsa", url],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    peak = 0.0
    while process.poll() is None:
        sample = peak_rss_mb(process.pid)
        peak = max(peak, sample or 0.0)
        time.sleep(0.1)
    if process.returncode != 0:
        raise SystemExit(f"dpa batch failed with exit status {process.returncode}")
    return time.perf_counter() - started, peak


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(10)


def batch_rows(sizes: list[int], work: Path, config: Path, url: str, env: dict[str, str], level: str) -> list[float]:
    """docs/min of `dpa batch` for each size, each size with customers of its own (the register refuses twice)."""
    rates = []
    for n in sizes:
        offset = 1_000_000 if level == "B-T" else 0
        rows = [customer_row(offset + 10 * n + i) for i in range(n)]
        csv = write_customers(work / f"customers-{level}-{n}.csv", rows)
        seconds, peak = run_batch(csv, work / f"batch-{level}-{n}", config, url, env)
        rates.append(60 * n / seconds)
        print(f"dpa batch {level:4}, N={n:5d}: {rates[-1]:6.1f} docs/min ({seconds:6.1f} s), peak RSS {peak:6.1f} MiB")
    return rates


def main() -> None:
    args = sys.argv[1:]
    only_b_t = args[:2] == ["--only", "B-T"]
    sizes = [int(a) for a in args[2 if only_b_t else 0 :]] or [100]
    work = Path(tempfile.mkdtemp(prefix="dpa-bench-batch-"))
    port = free_loopback_port()
    pki = init_dev_pki(work / "pki", tsa_url=f"http://127.0.0.1:{port}/")
    env = {**os.environ, **pki.secrets}
    config = pki.config_path
    text = config.read_text(encoding="utf-8") + f'\n[paths]\nregister = "{work / "register.sqlite3"}"\n'
    config.write_text(text, encoding="utf-8")
    b_t = config.with_name("dpa-b-t.toml")
    b_t.write_text(text.replace("require_revocation_data = true", "require_revocation_data = false"), encoding="utf-8")

    tsa, url = start_tsa(b_t, env)  # elsewhere than the port the certificates name: no CRL to be had
    try:
        b_t_rates = batch_rows(sizes, work, b_t, url, env, "B-T")
    finally:
        stop(tsa)
    if only_b_t:
        print(f"(work files in {work}; delete when done)")
        return
    tsa, url = start_tsa(config, env, port)  # TSA + CRL + OCSP where the certificates say
    try:
        records = work / "records"
        records.mkdir()
        started = time.perf_counter()
        for i in range(NAIVE_SAMPLE):
            row = customer_row(900000 + i)
            record = records / f"{row['id']}.toml"
            record.write_text("".join(f'{k} = "{v}"\n' for k, v in row.items()), encoding="utf-8")
            subprocess.run(
                [
                    *DPA,
                    "-q",
                    "--config",
                    str(config),
                    "issue",
                    str(record),
                    "-o",
                    str(work / "naive" / f"{i}.pdf"),
                    "--tsa",
                    url,
                ],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        naive_per_min = 60 * NAIVE_SAMPLE / (time.perf_counter() - started)
        print(f"naive: one `dpa issue` per customer, {NAIVE_SAMPLE} customers: {naive_per_min:6.1f} docs/min")
        b_lt_rates = batch_rows(sizes, work, config, url, env, "B-LT")
    finally:
        stop(tsa)
    for n, b_t_rate, b_lt_rate in zip(sizes, b_t_rates, b_lt_rates, strict=True):
        extra_ms = 60_000 / b_lt_rate - 60_000 / b_t_rate
        print(
            f"N={n}: B-LT {b_lt_rate / naive_per_min:4.1f}x the naive path; B-LT/B-T {b_lt_rate / b_t_rate:4.2f} "
            f"({extra_ms:+.0f} ms per document of wall time for the validation data)"
        )
    print(f"(work files in {work}; delete when done)")


if __name__ == "__main__":
    main()
