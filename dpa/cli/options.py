"""Parameter types shared by the commands."""

from __future__ import annotations

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
