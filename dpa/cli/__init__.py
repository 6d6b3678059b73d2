"""The ``dpa`` command line: a thin layer over the library.

The commands live by stage in :mod:`dpa.cli.assembly`, :mod:`~dpa.cli.signing`, :mod:`~dpa.cli.verify`,
:mod:`~dpa.cli.workflows`, :mod:`~dpa.cli.register`, :mod:`~dpa.cli.archive`, :mod:`~dpa.cli.web` and
:mod:`~dpa.cli.portal`, on the group of
:mod:`dpa.cli.app`. This package and :mod:`dpa.web` are the only places that print, and :func:`main` is the only
place where a :class:`dpa.errors.DpaError` becomes one line on stderr and an exit code (DESIGN.md §4): 0 success,
1 failure, 2 usage error, 3 verify INDETERMINATE, 4 verify ``--require-complete`` with a party still to sign.
``-v`` adds the traceback.
"""

from __future__ import annotations

import sys
import traceback

import click

from dpa.cli import archive, assembly, portal, register, signing, verify, web, workflows  # noqa: F401 - registers the commands
from dpa.cli.app import AppContext, cli
from dpa.errors import DpaError

__all__ = ["cli", "main"]


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``dpa`` console script: runs the CLI and translates errors."""
    ctx: click.Context | None = None
    try:
        with cli.make_context("dpa", list(sys.argv[1:] if args is None else args)) as ctx:
            code = cli.invoke(ctx)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("dpa: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DpaError as exc:
        if _verbose(ctx):
            traceback.print_exc()
        click.echo(f"dpa: error: {_one_line(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("dpa: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug, not a user error: still one line unless -v
        verbose = _verbose(ctx)
        if verbose:
            traceback.print_exc()
        hint = "" if verbose else " (run with -v for the traceback)"
        click.echo(f"dpa: internal error: {type(exc).__name__}: {_one_line(str(exc))}{hint}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _verbose(ctx: click.Context | None) -> bool:
    """``-v`` as click parsed it (the group's callback stored it in the context)."""
    return ctx is not None and isinstance(ctx.obj, AppContext) and ctx.obj.verbose


def _one_line(message: str) -> str:
    return " ".join(message.split())
