"""``dpa archive seal`` and ``dpa archive extend``: PAdES B-LTA, so that agreements still verify in ten years."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dpa.cli.app import AppContext, cli, pass_app, secret_prompt

if TYPE_CHECKING:
    from dpa.archive.seal import ArchiveResult
    from dpa.register import Register

_TSA_HELP = "RFC 3161 TSA URL, tried in the order given (repeatable); replaces [tsa] urls for this run."
_JSON_HELP = "One JSON object per file, one per line (file, action, reason, timestamp, tsa_expires, sha256, …)."


@cli.group()
def archive() -> None:
    """Long-term validation: validation data and archive timestamps (PAdES B-LTA).

    An agreement lasts as long as the cooperation plus two years; signing and TSA certificates expire sooner.
    `seal` adds the validation data of every signature and a document timestamp over the whole file; `extend`
    renews it before the newest timestamp certificate expires. Both append an incremental update, written
    atomically: the earlier bytes of the file stay as they were. Updates of agreements in the register are
    recorded as events.
    """


@archive.command("seal")
@click.argument("paths", metavar="PATH...", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--tsa", "tsa_urls", multiple=True, metavar="URL", help=_TSA_HELP)
@click.option("--json", "as_json", is_flag=True, help=_JSON_HELP)
@pass_app
def archive_seal(app: AppContext, paths: tuple[Path, ...], tsa_urls: tuple[str, ...], as_json: bool) -> None:
    """Seal completed agreements: validation data and a document timestamp over the whole file.

    For agreements ingested before ingest sealed them itself. Folders are walked for *.pdf. A file that is not
    complete (both parties signed) or already sealed is skipped. Prints one line per file; exit 1 when any file
    failed (nothing is written to a file that failed).

    \b
    Examples:
      dpa archive seal output/signed/C-10001+1.pdf
      dpa archive seal output/ --tsa https://tsa.example/tsr --json
    """
    from dpa.archive.seal import Archiver, pdf_files

    with (
        _register(app) as register,
        Archiver(app.config, tsa_urls=tsa_urls, register=register, prompt=secret_prompt()) as archiver,
    ):
        results = [archiver.seal_file(path) for path in pdf_files(paths)]
    _report(results, as_json)


@archive.command("extend")
@click.argument("paths", metavar="PATH...", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--within",
    "within_days",
    type=click.IntRange(0, 3650),
    default=180,
    show_default=True,
    metavar="DAYS",
    help="Extend an agreement when its newest timestamp certificate expires within this many days.",
)
@click.option("--tsa", "tsa_urls", multiple=True, metavar="URL", help=_TSA_HELP)
@click.option("--json", "as_json", is_flag=True, help=_JSON_HELP)
@pass_app
def archive_extend(
    app: AppContext, paths: tuple[Path, ...], within_days: int, tsa_urls: tuple[str, ...], as_json: bool
) -> None:
    """Renew archive timestamps before they age out: run it regularly (e.g. monthly).

    For every agreement whose newest timestamp certificate expires within DAYS: fresh validation data for that
    timestamp and a new document timestamp. Agreements not yet due are left alone, so a second run changes
    nothing. The TSA's own certificate must outlive the window. Folders are walked for *.pdf; exit 1 when any
    file failed.

    \b
    Examples:
      dpa archive extend /srv/dpa/agreements
      dpa archive extend /srv/dpa/agreements --within 365 --tsa https://new-tsa.example/tsr --json
    """
    from dpa.archive.seal import Archiver, pdf_files

    with (
        _register(app) as register,
        Archiver(app.config, tsa_urls=tsa_urls, register=register, prompt=secret_prompt()) as archiver,
    ):
        results = [archiver.extend_file(path, within_days) for path in pdf_files(paths)]
    _report(results, as_json)


@contextlib.contextmanager
def _register(app: AppContext) -> Iterator[Register | None]:
    """The register of [paths] register when there is one (archiving never creates it), else None."""
    from dpa.register import Register

    if not app.config.paths.register.exists():
        yield None
        return
    with Register(app.config.paths.register, create=False) as register:
        yield register


def _report(results: list[ArchiveResult], as_json: bool) -> None:
    for result in results:
        if as_json:
            click.echo(json.dumps(result.as_dict(), ensure_ascii=False, sort_keys=True))
        else:
            click.echo(f"{result.file}: {result.action.replace('_', ' ')}: {result.reason}")
        if result.warning:
            click.echo(f"dpa: warning: {result.file}: {result.warning}", err=True)
    if any(r.action == "failed" for r in results):
        raise click.exceptions.Exit(1)
