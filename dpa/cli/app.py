"""What every ``dpa`` command shares: the group with its global options, the context, the secret prompt."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click

from dpa.config import Config, load_config


@dataclass
class AppContext:
    """What every command gets: the loaded configuration and the verbosity flags."""

    config_path: Path | None
    verbose: bool
    quiet: bool
    _config: Config | None = None

    @property
    def config(self) -> Config:
        """The configuration, loaded on first use so that ``--help`` never fails on a bad dpa.toml."""
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    def info(self, message: str) -> None:
        """A progress or result line for people, on stderr, unless ``-q``."""
        if not self.quiet:
            click.echo(message, err=True)


pass_app = click.make_pass_decorator(AppContext)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Configuration file (default: ./dpa.toml when present, else built-in defaults).",
)
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="Print only results and errors.")
@click.version_option(package_name="dpa")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, verbose: bool, quiet: bool) -> None:
    """Produce, sign and verify ipcall.me data processing agreements (verwerkersovereenkomsten).

    \b
    Typical flow:
      dpa generate customer.toml -o dpa.pdf     assemble the unsigned PDF/A
      dpa sign dpa.pdf --as processor           ipcall.me certifies it (with a timestamp)
      dpa sign dpa.pdf --as controller          the customer counter-signs
      dpa verify dpa.pdf                        the verdict and the effective date
    """
    ctx.obj = AppContext(config_path=config_path, verbose=verbose, quiet=quiet)
    configure_logging(verbose)


LIBRARY_LOGGERS = ("pyhanko", "pyhanko_certvalidator", "pypdf")


def configure_logging(verbose: bool) -> None:
    """Log records of dpa (and with ``-v`` of pyHanko and pypdf) to stderr; done once, here, for the whole command
    line.

    Nothing dpa logs carries a secret. The libraries' own records (pypdf's "invalid pdf header" for a file that is
    not a PDF, which dpa already reports in words) are shown only with ``-v``; without it they go nowhere, not to
    Python's last-resort handler.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("dpa: %(levelname)s: %(name)s: %(message)s"))
    logger = logging.getLogger("dpa")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logger.propagate = False
    for library in LIBRARY_LOGGERS:
        lib_logger = logging.getLogger(library)
        lib_logger.propagate = False
        if verbose:
            lib_logger.handlers[:] = [handler]
            lib_logger.setLevel(logging.INFO)
        else:
            lib_logger.handlers[:] = [logging.NullHandler()]


def secret_prompt() -> Callable[[str], str] | None:
    """Ask for passphrases and PINs on the terminal, but only when one is attached (never in scripts)."""
    if sys.stdin is None or not sys.stdin.isatty():  # None: file descriptor 0 was closed when dpa started
        return None

    def prompt(what: str) -> str:
        value: str = click.prompt(what[:1].upper() + what[1:], hide_input=True, err=True)
        return value

    return prompt
