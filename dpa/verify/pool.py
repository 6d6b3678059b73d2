"""Several verification workers for a folder: one :class:`~dpa.verify.verifier.Verifier` (one worker process) per job.

Each worker process judges one file at a time and holds nothing from one file to the next that could carry a
verdict (DESIGN §6); running several only spreads the files over the cores. Reports come back in the order of the
paths, whatever order the workers finish in, and at most ``2 × jobs`` files are in flight, so memory stays flat on a
folder of any size.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import queue
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from dpa.config import Config
from dpa.errors import ConfigError
from dpa.verify.inputs import iter_pdf_paths
from dpa.verify.report import DocumentReport
from dpa.verify.verifier import Verifier


def default_jobs() -> int:
    """One worker per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class VerifierPool:
    """``jobs`` verifiers side by side; :meth:`verify_paths` yields the reports in the order of the paths.

    Takes the keywords of :class:`Verifier` (``extra_trust``, ``extra_tsa_trust``, ``at``). The workers start when
    the pool is made; a context manager. Threads of their own (the web's request threads) borrow a verifier with
    :meth:`verifier`.
    """

    def __init__(
        self,
        config: Config,
        *,
        jobs: int,
        extra_trust: Sequence[Path] = (),
        extra_tsa_trust: Sequence[Path] = (),
        at: dt.datetime | None = None,
    ) -> None:
        if jobs < 1:
            raise ConfigError(f"the number of verification jobs must be at least 1, not {jobs}")
        self.jobs = jobs
        self._idle: queue.SimpleQueue[Verifier] = queue.SimpleQueue()
        self._verifiers: list[Verifier] = []
        try:
            for _ in range(jobs):
                verifier = Verifier(config, extra_trust=extra_trust, extra_tsa_trust=extra_tsa_trust, at=at)
                self._verifiers.append(verifier)
                self._idle.put(verifier)
        except BaseException:
            self.close()
            raise
        self._threads = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="dpa-verify")

    def __enter__(self) -> VerifierPool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """End the threads and every worker process."""
        threads = getattr(self, "_threads", None)
        if threads is not None:
            threads.shutdown(wait=True, cancel_futures=True)
        for verifier in self._verifiers:
            verifier.close()

    @contextlib.contextmanager
    def verifier(self) -> Iterator[Verifier]:
        """Borrow an idle verifier (waits for one); it goes back to the pool afterwards."""
        verifier = self._idle.get()
        try:
            yield verifier
        finally:
            self._idle.put(verifier)

    def verify_file(self, path: Path) -> DocumentReport:
        """The verdict on one file, from whichever worker is free."""
        with self.verifier() as verifier:
            return verifier.verify_file(path)

    def verify_paths(self, paths: Iterable[Path]) -> Iterator[DocumentReport]:
        """:meth:`verify_file` for every file in ``paths`` (folders walked), in order, ``jobs`` at a time."""
        pending: deque[Future[DocumentReport]] = deque()
        for path in iter_pdf_paths(paths):
            pending.append(self._threads.submit(self.verify_file, path))
            if len(pending) >= 2 * self.jobs:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


__all__ = ["VerifierPool", "default_jobs"]
