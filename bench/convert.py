"""Benchmark: DOCX → PDF/A-2b with a new soffice per document versus the warm converter pool, in one run.

Renders N agreements (default 20; each with its Annex 1, one DOCX as dpa converts it) once, then converts them
  (a) naively: one ``soffice --headless --convert-to`` process per document (profile reused, as a user would), and
  (b) with dpa's warm :class:`~dpa.assembly.convert.Converter`, one worker and one worker per core,
and prints seconds per document, documents per minute, and the ratios against (a).

Usage: .venv/bin/python bench/convert.py [N]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from threading import Thread

from dpa.assembly.convert import Converter
from dpa.assembly.render import render_agreement
from dpa.assembly.templates import TemplateSet
from dpa.config import Config
from dpa.records import record_from_mapping

PDFA_FILTER = 'pdf:writer_pdf_Export:{"SelectPdfVersion":{"type":"long","value":"2"}}'


def rendered_bodies(count: int) -> list[bytes]:
    config = Config()
    templates = TemplateSet.load(config.paths.templates)
    bodies = []
    for i in range(count):
        record = record_from_mapping({"id": f"B-{i}", "name": f"Bench Klant {i} B.V.", "kvk": f"{10000000 + i}"})
        bodies.append(render_agreement(record, config.processor, templates))
    return bodies


def naive(bodies: list[bytes], work: Path) -> float:
    profile = work / "profile"
    started = time.perf_counter()
    for i, body in enumerate(bodies):
        source = work / f"naive-{i}.docx"
        source.write_bytes(body)
        subprocess.run(
            [
                "soffice",
                "--headless",
                f"-env:UserInstallation=file://{profile}",
                "--convert-to",
                PDFA_FILTER,
                "--outdir",
                str(work),
                str(source),
            ],
            check=True,
            capture_output=True,
        )
        if not (work / f"naive-{i}.pdf").exists():
            raise SystemExit("soffice produced no PDF")
    return time.perf_counter() - started


def warm(bodies: list[bytes], workers: int) -> tuple[float, float]:
    """Returns (start-up seconds, conversion seconds) for a pool of ``workers``."""
    started = time.perf_counter()
    with Converter(workers) as pool:
        pool.start()
        ready = time.perf_counter()
        chunks = [bodies[i::workers] for i in range(workers)]
        threads = [Thread(target=lambda c=c: [pool.convert(b) for b in c]) for c in chunks]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        done = time.perf_counter()
    return ready - started, done - ready


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    cores = os.cpu_count() or 1
    bodies = rendered_bodies(count)
    work = Path(tempfile.mkdtemp(prefix="dpa-bench-"))
    try:
        # warm up the naive profile once so that (a) measures steady-state starts, not first-run profile creation
        subprocess.run(
            ["soffice", "--headless", f"-env:UserInstallation=file://{work / 'profile'}", "--version"],
            check=True,
            capture_output=True,
        )
        naive_s = naive(bodies, work)
        start1, warm1 = warm(bodies, 1)
        start_n, warm_n = warm(bodies, cores)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def row(label: str, seconds: float, startup: float | None = None) -> str:
        per_doc = seconds / count
        extra = f"  (+{startup:.2f} s start-up)" if startup is not None else ""
        return f"{label:<34} {per_doc:7.3f} s/doc {60 / per_doc:8.0f} docs/min  ratio {naive_s / seconds:5.1f}x{extra}"

    print(f"DOCX → PDF/A-2b, {count} agreements, {cores} cores")
    print(row("naive: new soffice per document", naive_s))
    print(row("warm converter, 1 worker", warm1, start1))
    print(row(f"warm converter, {cores} workers", warm_n, start_n))


if __name__ == "__main__":
    main()
