"""``dpa generate`` and ``dpa templates check``: a record becomes an unsigned PDF/A."""

from __future__ import annotations

from pathlib import Path

import click

from dpa.cli.app import AppContext, cli, pass_app
from dpa.cli.options import OutputPath


@cli.command()
@click.argument("record_path", metavar="RECORD", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=OutputPath(dir_okay=False, path_type=Path),
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
    from dpa.records import load_record
    from dpa.workflows.issue import generate as generate_pdf

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
      dpa templates check dpa/templates/
    """
    from dpa.assembly.lint import check_templates

    root = directory or app.config.paths.templates
    problems = check_templates(root)
    for problem in problems:
        click.echo(f"{root}: {problem}")
    if problems:
        raise click.exceptions.Exit(1)
    app.info(f"{root}: templates are fine")
