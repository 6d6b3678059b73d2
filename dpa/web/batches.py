"""Batches started from the web: the uploaded CSV is validated (``run_batch`` with ``dry_run``), then
:func:`~dpa.workflows.batch.run_batch` runs in a background thread that outlives the request; one at a time.

The progress the page follows is the library's own :class:`~dpa.workflows.batch.Progress`.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dpa.accounts import Accounts
from dpa.config import Config
from dpa.errors import DpaError, WebError
from dpa.files import write_atomic
from dpa.workflows.batch import MANIFEST_NAME, BatchOptions, BatchSummary, Progress, RowProblem, run_batch


@dataclass
class BatchJob:
    """One uploaded CSV: its validation, and once started its progress and outcome."""

    id: str
    csv_path: Path
    owner: str
    rows: int
    invalid: tuple[RowProblem, ...]
    state: str = "validated"
    """``validated``, ``running``, ``finished`` or ``failed``."""
    progress: Progress | None = None
    summary: BatchSummary | None = None
    error: str | None = None
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def valid(self) -> int:
        """Rows that passed validation."""
        return self.rows - len(self.invalid)

    def snapshot(self) -> dict[str, Any]:
        """The state for the progress page (JSON)."""
        progress = self.progress
        total = progress.total if progress else self.valid
        finished = progress.finished if progress else 0
        percent = 100 if self.state == "finished" and total == 0 else (100 * finished // total if total else 0)
        return {
            "id": self.id,
            "state": self.state,
            "total": total,
            "finished": finished,
            "issued": progress.done if progress else 0,
            "skipped": progress.skipped if progress else 0,
            "failed": progress.failed if progress else 0,
            "percent": percent,
            "rate_per_minute": round(progress.rate, 1) if progress else 0.0,
            "error": self.error,
            "stopped": self.summary.stopped if self.summary else None,
        }


class BatchRunner:
    """Validates uploaded CSVs and runs one batch at a time into ``OUTPUT/batch``."""

    def __init__(self, config: Config, folder: Path, accounts: Accounts, jobs: int = 1) -> None:
        self.config = config
        self.folder = folder
        self.accounts = accounts
        self.options = BatchOptions(jobs=jobs)
        self.out_dir = config.paths.output / "batch"
        self._jobs: dict[str, BatchJob] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def manifest(self) -> Path:
        """The batch folder's manifest (every row of every run, the latest outcome per id)."""
        return self.out_dir / MANIFEST_NAME

    def validate(self, data: bytes, owner: str) -> BatchJob:
        """Keep the CSV and check every row; nothing is issued yet."""
        job_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(4)
        csv_path = self.folder / f"{job_id}.csv"
        write_atomic(csv_path, data)
        summary = run_batch(csv_path, self.out_dir, self.config, BatchOptions(dry_run=True))
        job = BatchJob(job_id, csv_path, owner, summary.rows, summary.invalid)
        with self._lock:
            self._jobs[job_id] = job
        return job

    def job(self, job_id: str) -> BatchJob:
        """The job with this id (of this server's life)."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise WebError(f"no batch {job_id} (batches are kept while the server runs)")
        return job

    def latest(self) -> BatchJob | None:
        """The newest job, if any."""
        with self._lock:
            return max(self._jobs.values(), key=lambda j: j.id, default=None)

    def start(self, job_id: str, user: str) -> BatchJob:
        """Run the job in the background; refused while another batch runs."""
        job = self.job(job_id)
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise WebError("a batch is running already; wait until it has finished")
            if job.state != "validated":
                raise WebError(f"batch {job_id} has been started already")
            job.state = "running"
            job.progress = Progress(job.valid)
            self._thread = threading.Thread(target=self._run, args=(job, user), name="dpa-web-batch", daemon=True)
            self._thread.start()
        return job

    def _run(self, job: BatchJob, user: str) -> None:
        def on_progress(progress: Progress) -> None:
            job.progress = progress

        try:
            job.summary = run_batch(job.csv_path, self.out_dir, self.config, self.options, on_progress)
            job.state = "finished"
            detail = f"{job.summary.issued} issued, {job.summary.skipped} already done, {job.summary.failed} failed"
        except DpaError as exc:
            job.state, job.error = "failed", " ".join(str(exc).split())
            detail = job.error
        except Exception as exc:  # the thread must report, never die silently
            job.state, job.error = "failed", f"internal error: {type(exc).__name__}"
            detail = job.error
        self.accounts.record(user, "batch-finished", None, f"{job.id}: {detail}")

    def close(self, timeout: float = 60.0) -> None:
        """Wait (bounded) for a running batch; an unfinished one resumes on the next run of the same CSV."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
