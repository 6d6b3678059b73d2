"""Many customers: a CRM export (CSV) → one issued agreement per row, a manifest, per-row errors; resumable.

The run validates every row first (all bad rows are reported with line and field), then streams the good rows
through a thread pool: render and merge in Python, conversion in a pool of warm soffice processes (one per job),
signing with keys loaded once and one HTTP session to the TSA. LibreOffice runs outside the GIL, so while one
thread waits for soffice another renders, merges or signs: the stages overlap and both cores stay busy.

Resume and idempotency: ``DIR/<id>.pdf`` carries its idempotency key (customer id, template version, record hash)
in its metadata. A row whose output exists with the same key is skipped; a changed record or template moves the
old file aside as ``<id>.~<sha256 prefix>.pdf`` and issues a new one. Outputs are written atomically and the
manifest is appended and flushed row by row (fsynced in groups), then compacted at the end, so a run killed at any
moment leaves no half-written PDF under a final name and the next run finishes the job.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from dpa.assembly.convert import Converter
from dpa.assembly.templates import TemplateSet
from dpa.config import Config
from dpa.errors import BatchError, DpaError
from dpa.files import move_aside, spreadsheet_safe, write_atomic
from dpa.records import CustomerRecord, iter_csv
from dpa.register import Register
from dpa.signing.sign import SigningSession
from dpa.workflows.issue import IssueRun, agreement_key, assemble, issue_one

MANIFEST_NAME = "manifest.csv"
MANIFEST_COLUMNS = ("id", "status", "file", "sha256", "error")
LOCK_NAME = ".dpa-batch.lock"


@dataclass(frozen=True)
class BatchOptions:
    """How a batch runs."""

    jobs: int = max(1, os.cpu_count() or 1)
    sign: bool = True
    dry_run: bool = False
    tsa_urls: tuple[str, ...] = ()
    max_consecutive_failures: int = 10
    conversion_timeout_s: float = 60.0


@dataclass(frozen=True)
class RowProblem:
    """A row that cannot be processed: its CSV line, the id as written, and every problem found."""

    line: int
    raw_id: str
    message: str


@dataclass
class Progress:
    """Counts while a batch runs; ``rate`` and ``eta_s`` are for the progress display."""

    total: int
    done: int = 0
    skipped: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def finished(self) -> int:
        """Rows handled so far, whatever their outcome."""
        return self.done + self.skipped + self.failed

    @property
    def rate(self) -> float:
        """Rows per minute so far."""
        elapsed = time.monotonic() - self.started
        return 60.0 * self.finished / elapsed if elapsed > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds remaining at the current rate."""
        if not self.finished:
            return None
        elapsed = time.monotonic() - self.started
        return elapsed / self.finished * (self.total - self.finished)


@dataclass(frozen=True)
class BatchSummary:
    """The outcome of a run."""

    rows: int
    issued: int
    skipped: int
    failed: int
    invalid: tuple[RowProblem, ...]
    elapsed_s: float
    stopped: str | None = None
    conversion_retries: int = 0
    """Conversions retried on a fresh soffice after theirs crashed or hung (each still succeeded or failed)."""

    @property
    def docs_per_minute(self) -> float:
        """Agreements issued per minute of processing (skipped rows excluded)."""
        return 60.0 * self.issued / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def ok(self) -> bool:
        """True when every row succeeded (issued or already there)."""
        return not self.invalid and self.failed == 0 and self.stopped is None


@dataclass(frozen=True)
class _Validated:
    good_lines: frozenset[int]
    problems: tuple[RowProblem, ...]


@dataclass(frozen=True)
class _RowResult:
    record: CustomerRecord
    status: str
    path: Path | None
    sha256: str
    error: str = ""


def _validate(path: Path) -> _Validated:
    problems: list[RowProblem] = []
    lines_by_id: dict[str, list[int]] = {}
    good: set[int] = set()
    for row in iter_csv(path):
        if row.error is not None:
            problems.append(RowProblem(row.line, row.raw_id, str(row.error)))
        else:
            assert row.record is not None
            lines_by_id.setdefault(row.record.id, []).append(row.line)
            good.add(row.line)
    for customer_id, lines in lines_by_id.items():
        for line in lines[1:]:  # the first occurrence goes ahead; a later one would overwrite it
            good.discard(line)
            problems.append(
                RowProblem(
                    line,
                    customer_id,
                    f"{path}:{line}: id: '{customer_id}' was already used on line {lines[0]}; ids must be unique",
                )
            )
    problems.sort(key=lambda p: p.line)
    return _Validated(frozenset(good), tuple(problems))


def run_batch(
    csv_path: Path,
    out_dir: Path,
    config: Config,
    options: BatchOptions,
    on_progress: Callable[[Progress], None] | None = None,
) -> BatchSummary:
    """Issue one agreement per valid row of ``csv_path`` into ``out_dir``; see the module docstring."""
    if options.jobs < 1:
        raise BatchError("--jobs must be at least 1")
    validated = _validate(csv_path)
    total = len(validated.good_lines)
    if options.dry_run:
        return BatchSummary(total + len(validated.problems), 0, 0, 0, validated.problems, 0.0)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BatchError(f"cannot create the output folder {out_dir}: {exc.strerror or exc}") from None
    lock = _lock_folder(out_dir)
    try:
        return _run_locked(csv_path, out_dir, config, options, on_progress, validated)
    finally:
        lock.close()


def _run_locked(
    csv_path: Path,
    out_dir: Path,
    config: Config,
    options: BatchOptions,
    on_progress: Callable[[Progress], None] | None,
    validated: _Validated,
) -> BatchSummary:
    total = len(validated.good_lines)
    _remove_stale_parts(out_dir)
    templates = TemplateSet.load(config.paths.templates)
    manifest = _Manifest(out_dir / MANIFEST_NAME)
    for problem in validated.problems:
        manifest.append(problem.raw_id, "error", "", "", problem.message)
    manifest.sync()
    progress = Progress(total)
    retries = 0
    session = SigningSession(config, tsa_urls=options.tsa_urls) if options.sign else None
    try:
        if session is not None:
            session.preload(["processor"])
        with (
            Converter(options.jobs, timeout_s=options.conversion_timeout_s, soffice=config.paths.soffice) as converter,
            Register(config.paths.register) as register,
        ):
            progress.started = time.monotonic()
            stopped = _process(
                csv_path,
                out_dir,
                config,
                options,
                validated,
                templates,
                converter,
                session,
                register,
                manifest,
                progress,
                on_progress,
            )
            retries = converter.retries
    finally:
        if session is not None:
            session.close()
        manifest.compact()
    return BatchSummary(
        rows=total + len(validated.problems),
        issued=progress.done,
        skipped=progress.skipped,
        failed=progress.failed,
        invalid=validated.problems,
        elapsed_s=time.monotonic() - progress.started,
        stopped=stopped,
        conversion_retries=retries,
    )


def _process(
    csv_path: Path,
    out_dir: Path,
    config: Config,
    options: BatchOptions,
    validated: _Validated,
    templates: TemplateSet,
    converter: Converter,
    session: SigningSession | None,
    register: Register,
    manifest: _Manifest,
    progress: Progress,
    on_progress: Callable[[Progress], None] | None,
) -> str | None:
    """Stream good rows through the pool; completions are handled here, in the calling thread."""
    in_flight_limit = options.jobs * 3
    consecutive_failures = 0
    stop = threading.Event()
    stopped: str | None = None

    def work(record: CustomerRecord) -> _RowResult:
        if stop.is_set():
            raise _Cancelled
        return _issue_row(record, out_dir, config, options, templates, converter, session, register)

    def handle(done: set[Future[_RowResult]]) -> None:
        nonlocal consecutive_failures, stopped
        for future in done:
            try:
                result = future.result()
            except _Cancelled:
                continue
            if result.status == "error":
                progress.failed += 1
                consecutive_failures += 1
                manifest.append(result.record.id, "error", "", "", result.error)
            else:
                consecutive_failures = 0
                if result.status == "ok":
                    progress.done += 1
                else:
                    progress.skipped += 1
                assert result.path is not None
                manifest.append(result.record.id, result.status, result.path.name, result.sha256, "")
            if consecutive_failures >= options.max_consecutive_failures and stopped is None:
                stopped = (
                    f"stopped after {consecutive_failures} consecutive failures (last: {result.error}); "
                    "rows not yet processed are left for the next run"
                )
                stop.set()
            if on_progress is not None:
                on_progress(progress)

    pending: set[Future[_RowResult]] = set()
    with ThreadPoolExecutor(max_workers=options.jobs * 2, thread_name_prefix="dpa-batch") as pool:
        for record in _good_records(csv_path, validated.good_lines):
            if stop.is_set():
                break
            pending.add(pool.submit(work, record))
            if len(pending) >= in_flight_limit:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                handle(done)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            handle(done)
    return stopped


class _Cancelled(Exception):
    """A queued row not started because the run is stopping."""


def _good_records(csv_path: Path, good_lines: frozenset[int]) -> Iterator[CustomerRecord]:
    for row in iter_csv(csv_path, only_lines=good_lines):
        if row.record is not None:
            yield row.record


def _issue_row(
    record: CustomerRecord,
    out_dir: Path,
    config: Config,
    options: BatchOptions,
    templates: TemplateSet,
    converter: Converter,
    session: SigningSession | None,
    register: Register,
) -> _RowResult:
    """One row: :func:`~dpa.workflows.issue.issue_one` (or, with ``--no-sign``, only the assembly)."""
    try:
        if session is None:
            return _assemble_row(record, out_dir / f"{record.id}.unsigned.pdf", config, templates, converter)
        run = IssueRun(config, templates, converter, session, register)
        issued = issue_one(record, out_dir / f"{record.id}.pdf", run, resume=True)
        return _RowResult(record, "skipped" if issued.skipped else "ok", issued.path, issued.sha256)
    except DpaError as exc:
        return _RowResult(record, "error", None, "", _describe(exc))
    except Exception as exc:  # one broken row must not end the run; the message says what happened
        return _RowResult(record, "error", None, "", f"internal error: {type(exc).__name__}: {exc}")


def _assemble_row(
    record: CustomerRecord, target: Path, config: Config, templates: TemplateSet, converter: Converter
) -> _RowResult:
    """``--no-sign``: the unsigned PDF only (nothing is issued, so nothing goes into the register)."""
    if target.exists():
        existing = target.read_bytes()
        if agreement_key(existing, signed=False) == (record.id, templates.version, record.sha256()):
            return _RowResult(record, "skipped", target, hashlib.sha256(existing).hexdigest())
        move_aside(target)
    pdf = assemble(record, config, converter, templates)
    write_atomic(target, pdf)
    return _RowResult(record, "ok", target, hashlib.sha256(pdf).hexdigest())


def _describe(exc: DpaError) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _lock_folder(out_dir: Path) -> IO[bytes]:
    """Hold an exclusive lock on the output folder for the run: two batches must not write the same folder."""
    handle = (out_dir / LOCK_NAME).open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise BatchError(f"another dpa batch is writing to {out_dir}; wait for it or choose another folder") from None
    return handle


def _remove_stale_parts(out_dir: Path) -> None:
    """Temporary files of an interrupted run (never under a final name) are removed."""
    for stale in out_dir.glob(".*.part"):
        stale.unlink(missing_ok=True)


class _Manifest:
    """``manifest.csv``: appended and flushed row by row, fsynced in groups; compacted (latest entry per id) at the
    end.

    Each row reaches the operating system at once (a killed run loses none); the disk gets them every
    ``SYNC_ROWS`` rows or ``SYNC_SECONDS`` seconds, and at the end, so 100,000 bad rows cost a few syncs, not
    100,000.
    """

    SYNC_ROWS = 500
    SYNC_SECONDS = 1.0

    def __init__(self, path: Path) -> None:
        self.path = path
        self._unsynced = 0
        self._synced_at = time.monotonic()
        self.previous = _read_manifest(path)
        self.current: list[dict[str, str]] = []
        new = not path.exists() or path.stat().st_size == 0
        try:
            self._handle = path.open("a", encoding="utf-8", newline="")
        except OSError as exc:
            raise BatchError(f"cannot write the manifest {path}: {exc.strerror or exc}") from None
        self._writer = csv.DictWriter(self._handle, fieldnames=MANIFEST_COLUMNS)
        if new:
            self._writer.writeheader()
        elif not _ends_with_newline(path):
            self._handle.write("\n")  # a line cut off by a kill: start the next one on its own line

    def append(self, customer_id: str, status: str, file: str, sha256: str, error: str) -> None:
        """Record one row's outcome (flushed now, fsynced with its group)."""
        entry = {"id": customer_id, "status": status, "file": file, "sha256": sha256, "error": error}
        self.current.append(entry)
        self._writer.writerow({k: spreadsheet_safe(v) for k, v in entry.items()})
        self._handle.flush()
        self._unsynced += 1
        if self._unsynced >= self.SYNC_ROWS or time.monotonic() - self._synced_at >= self.SYNC_SECONDS:
            self.sync()

    def sync(self) -> None:
        """Make every row appended so far durable."""
        if self._unsynced:
            os.fsync(self._handle.fileno())
        self._unsynced = 0
        self._synced_at = time.monotonic()

    def compact(self) -> None:
        """Rewrite the manifest atomically: this run's rows, plus earlier rows of ids this run did not touch."""
        self.sync()
        self._handle.close()
        touched = {e["id"] for e in self.current}
        rows = [e for e in self.previous.values() if e["id"] not in touched]
        latest: dict[str, dict[str, str]] = {}
        errors: list[dict[str, str]] = []
        for entry in self.current:
            if entry["status"] == "error":
                errors.append(entry)
                latest.pop(entry["id"], None)
            else:
                latest[entry["id"]] = entry
        rows.extend(latest.values())
        rows.extend(errors)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows({k: spreadsheet_safe(v) for k, v in entry.items()} for entry in rows)
        write_atomic(self.path, out.getvalue().encode("utf-8"))


def _read_manifest(path: Path) -> dict[str, dict[str, str]]:
    """Latest non-error entry per id of an existing manifest (a line cut off by a kill is ignored)."""
    if not path.exists():
        return {}
    entries: dict[str, dict[str, str]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if None in row or any(row.get(c) is None for c in MANIFEST_COLUMNS):
                continue
            if row["status"] in ("ok", "skipped"):
                entries[row["id"]] = {c: row[c] for c in MANIFEST_COLUMNS}
    return entries


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"
