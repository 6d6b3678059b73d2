"""Parameter types shared by the commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


class OutputPath(click.Path):
    """A :class:`click.Path` for something dpa writes: an empty (or blank) value is a usage error.

    Without this, ``-o ''`` becomes ``Path('')``, that is the current folder, and a command would write somewhere
    nobody asked for.
    """

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Refuse an empty or blank value, then convert as :class:`click.Path` does."""
        if isinstance(value, str) and not value.strip():
            self.fail("must not be empty: give the name of a file or folder to write", param, ctx)
        return super().convert(value, param, ctx)


def trust_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--trust PEM`` and ``--trust-tsa PEM`` (repeatable), as ``dpa verify`` and ``dpa ingest`` take them: extra
    roots for signers and, separately, for timestamp authorities, in this run only."""
    pem = click.Path(exists=True, dir_okay=False, path_type=Path)
    command = click.option(
        "--trust-tsa",
        "trust_tsa",
        multiple=True,
        metavar="PEM",
        type=pem,
        help="Also trust the CA certificate(s) in PEM for timestamp authorities, in addition to [trust] tsa_roots "
        "(repeatable). Signers' CAs (--trust) never count for timestamps.",
    )(command)
    return click.option(
        "--trust",
        "trust",
        multiple=True,
        metavar="PEM",
        type=pem,
        help="Also trust the CA certificate(s) in PEM for signers, in addition to [trust] roots (repeatable).",
    )(command)
