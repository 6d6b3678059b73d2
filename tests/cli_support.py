"""The ``dpa`` command line in-process: click's test runner around :func:`dpa.cli.main`.

:func:`invoke` runs the real entry point — the same error translation and exit codes as the console script —
with stdout and stderr captured, the environment overridden and the working folder changed for the duration of
the call, and answers like :func:`subprocess.run` does. It saves the 1–2 s of a Python start-up with pyHanko per
call. The few tests about the process itself (exit status seen by the shell, stdin closed, the environment of a
real process, ``-P``: no module from the current folder) use :func:`tests.signing_support.run_dpa` instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from dpa.cli import main

LOGGERS = ("dpa", "pyhanko", "pyhanko_certvalidator", "pypdf")


@dataclass(frozen=True)
class Invoked:
    """What a ``dpa`` run left: exit status and the text on stdout and stderr (the fields of CompletedProcess)."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def _logging_restored() -> Iterator[None]:
    """The CLI configures logging for its process; undo that afterwards so that later tests see pytest's."""
    saved = [(lg, lg.handlers[:], lg.level, lg.propagate) for lg in map(logging.getLogger, LOGGERS)]
    try:
        yield
    finally:
        for logger, handlers, level, propagate in saved:
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate = propagate


@contextlib.contextmanager
def _working_folder(folder: Path | None) -> Iterator[None]:
    previous = Path.cwd()
    if folder is not None:
        os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def invoke(
    *args: str | Path,
    env: Mapping[str, str | None] | None = None,
    cwd: Path | None = None,
    input: str | None = None,
) -> Invoked:
    """Run ``dpa ARGS`` in this process. ``env`` overrides variables for the call (``None`` removes one)."""
    argv = tuple(str(a) for a in args)
    runner = CliRunner()
    with _logging_restored(), _working_folder(cwd), runner.isolation(input=input, env=env) as streams:
        try:
            main(list(argv))
        except SystemExit as exc:
            code = exc.code
        else:  # main always exits; reaching here would be a bug in the entry point
            raise AssertionError("dpa.cli.main returned instead of exiting")
        out, err = streams[0].getvalue(), streams[1].getvalue()
    returncode = code if isinstance(code, int) else (0 if code is None else 1)
    return Invoked(argv, returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
