"""Benchmark: how close `dpa batch` comes to LibreOffice's own ceiling, both measured in one process, one after
the other.

  (a) the ceiling: N rendered agreements (each with its Annex 1, one DOCX, as dpa converts them) through the warm
      converter with one worker per core, nothing else running — LibreOffice alone (as bench/convert.py);
  (b) `dpa batch` on M customers (default 200) at B-T: render, convert, merge, certify with a timestamp from the
      embedded TSA, write, register, manifest;
  (c) the same at B-LT (the CRLs of signer and TSA in every file, fetched once per run).

Prints docs/min for each and the share of (a) that (b) and (c) reach.

Usage: .venv/bin/python bench/limits.py [M] [N]        (defaults: M=200, N=100)
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.batch import batch_rows, start_tsa, stop  # noqa: E402
from bench.convert import rendered_bodies, warm  # noqa: E402
from dpa.devtools.devpki import init_dev_pki  # noqa: E402
from dpa.devtools.tsa_server import free_loopback_port  # noqa: E402


def ceiling(count: int, workers: int) -> float:
    """docs/min of LibreOffice alone: the warm converter with ``workers`` workers, start-up excluded."""
    _startup, seconds = warm(rendered_bodies(count), workers)
    return 60 * count / seconds


def main() -> None:
    batch_n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    ceiling_n = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    cores = os.cpu_count() or 1
    limit = ceiling(ceiling_n, cores)
    print(f"warm converter, {cores} workers, N={ceiling_n}: {limit:6.1f} docs/min (LibreOffice alone)")

    work = Path(tempfile.mkdtemp(prefix="dpa-bench-limits-"))
    port = free_loopback_port()
    pki = init_dev_pki(work / "pki", tsa_url=f"http://127.0.0.1:{port}/")
    env = {**os.environ, **pki.secrets}
    text = pki.config_path.read_text(encoding="utf-8") + f'\n[paths]\nregister = "{work / "register.sqlite3"}"\n'
    pki.config_path.write_text(text, encoding="utf-8")
    b_t = pki.config_path.with_name("dpa-b-t.toml")
    b_t.write_text(text.replace("require_revocation_data = true", "require_revocation_data = false"), encoding="utf-8")

    tsa, url = start_tsa(b_t, env)  # not where the certificates point: no CRL to be had, so B-T
    try:
        (b_t_rate,) = batch_rows([batch_n], work, b_t, url, env, "B-T")
    finally:
        stop(tsa)
    tsa, url = start_tsa(pki.config_path, env, port)  # TSA + CRL + OCSP where the certificates point: B-LT
    try:
        (b_lt_rate,) = batch_rows([batch_n], work, pki.config_path, url, env, "B-LT")
    finally:
        stop(tsa)
    print(f"dpa batch B-T  reaches {100 * b_t_rate / limit:5.1f} % of LibreOffice's ceiling")
    print(f"dpa batch B-LT reaches {100 * b_lt_rate / limit:5.1f} % of LibreOffice's ceiling")
    print(f"(work files in {work}; delete when done)")


if __name__ == "__main__":
    main()
