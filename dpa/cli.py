"""The ``dpa`` command line: a thin layer over the library.

This is the only module that prints, and the only place where a :class:`dpa.errors.DpaError` becomes one line on
stderr and an exit code (DESIGN.md §4): 0 success, 1 failure, 2 usage error, 3 verify INDETERMINATE,
4 verify ``--require-complete`` with a party still to sign. ``-v`` adds the traceback.
"""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import click

from dpa.config import Config, load_config
from dpa.errors import DpaError


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


# --- assembly ---------------------------------------------------------------------------------------------------


@cli.command()
@click.argument("record_path", metavar="RECORD", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the PDF (default: OUTPUT/<id>.unsigned.pdf, OUTPUT from [paths] in dpa.toml).",
)
@click.option(
    "--contract",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A PDF/A services contract to put in front of the agreement.",
)
@pass_app
def generate(app: AppContext, record_path: Path, output: Path | None, contract: Path | None) -> None:
    """Assemble the unsigned agreement for one customer.

    RECORD is a .toml or .json customer record (see templates/examples/customer.toml). The result is a PDF/A-2b
    with the agreement, Annex 1 and two empty signature fields (processor_signature, controller_signature).
    Prints the path of the PDF.

    \b
    Example:
      dpa generate templates/examples/customer.toml -o acme.pdf
    """
    from dpa.assembly.records import load_record
    from dpa.pipeline import generate as generate_pdf

    record = load_record(record_path)
    target = output or app.config.paths.output / f"{record.id}.unsigned.pdf"
    generate_pdf(record, app.config, target, contract)
    click.echo(str(target))


@cli.group()
def templates() -> None:
    """Work with the DOCX templates."""


@templates.command("check")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path), metavar="[DIR]")
@pass_app
def templates_check(app: AppContext, directory: Path | None) -> None:
    """Lint a template folder: Jinja syntax, undeclared variables, a sample render, signature anchors.

    DIR holds nl/verwerkersovereenkomst.docx and nl/bijlage-1.docx (default: [paths] templates). Prints each
    problem on its own line and exits 1 when there is any.

    \b
    Example:
      dpa templates check templates/
    """
    from dpa.assembly.templates import check_templates

    root = directory or app.config.paths.templates
    problems = check_templates(root)
    for problem in problems:
        click.echo(f"{root}: {problem}")
    if problems:
        raise click.exceptions.Exit(1)
    app.info(f"{root}: templates are fine")


def main() -> None:
    """Entry point of the ``dpa`` console script: runs the CLI and translates errors."""
    verbose = any(arg in ("-v", "--verbose") for arg in sys.argv[1:])
    try:
        code = cli.main(standalone_mode=False, prog_name="dpa")
    except click.exceptions.Abort:
        click.echo("dpa: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DpaError as exc:
        if verbose:
            traceback.print_exc()
        click.echo(f"dpa: error: {_one_line(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("dpa: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug, not a user error: still one line unless -v
        if verbose:
            traceback.print_exc()
        hint = "" if verbose else " (run with -v for the traceback)"
        click.echo(f"dpa: internal error: {type(exc).__name__}: {_one_line(str(exc))}{hint}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(message: str) -> str:
    return " ".join(message.split())
