"""Benchmark: the naive path (one `dpa issue` process per customer) against `dpa batch`, side by side in one run.

Makes a throwaway development PKI, starts the embedded TSA on a free loopback port, generates N fictional
customers, then
  (a) runs `dpa issue` once per customer on a sample of them (default 6), and
  (b) runs `dpa batch` on all N,
and prints documents per minute for both, the ratio, and the peak memory (VmHWM) of the `dpa batch` process.

Usage: .venv/bin/python bench/batch.py [N ...]      (default: 100; e.g. `bench/batch.py 100 1000`)
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
from tests.customers import customer_row, write_customers  # noqa: E402

DPA = (sys.executable, "-P", "-m", "dpa")  # -P: never import from the current folder, as the dpa script
NAIVE_SAMPLE = 6


def start_tsa(config: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [*DPA, "--config", str(config), "tsa", "serve", "--port", "0"],
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


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [100]
    work = Path(tempfile.mkdtemp(prefix="dpa-bench-batch-"))
    pki = init_dev_pki(work / "pki")
    env = {**os.environ, **pki.secrets}
    config = pki.config_path
    config.write_text(
        config.read_text(encoding="utf-8") + f'\n[paths]\nregister = "{work / "register.sqlite3"}"\n', encoding="utf-8"
    )
    tsa, url = start_tsa(config, env)
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
        for n in sizes:
            # each size its own customers: the shared register rightly refuses to issue an agreement twice
            csv = write_customers(work / f"customers-{n}.csv", [customer_row(10 * n + i) for i in range(n)])
            seconds, peak = run_batch(csv, work / f"batch-{n}", config, url, env)
            per_min = 60 * n / seconds
            print(
                f"dpa batch, N={n:5d}: {per_min:6.1f} docs/min ({seconds:6.1f} s), "
                f"{per_min / naive_per_min:4.1f}x the naive path, peak RSS of dpa {peak:6.1f} MiB"
            )
    finally:
        tsa.send_signal(signal.SIGTERM)
        tsa.wait(10)
    print(f"(work files in {work}; delete when done)")


if __name__ == "__main__":
    main()
