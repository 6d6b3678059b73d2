"""``dpa issue``, ``dpa batch``, ``dpa ingest`` and ``dpa demo``: the workflows over the library."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dpa.cli.app import AppContext, cli, pass_app, secret_prompt
from dpa.cli.options import OutputPath, trust_options
from dpa.cli.verify import echo_report

if TYPE_CHECKING:
    from dpa.archive.seal import Archiver
    from dpa.verify.verifier import Verifier
    from dpa.workflows.batch import Progress as BatchProgress
    from dpa.workflows.batch import RowProblem


@cli.command()
@click.argument("record_path", metavar="RECORD", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=OutputPath(dir_okay=False, path_type=Path),
    help="Where to write the issued PDF (default: OUTPUT/<id>.pdf, OUTPUT from [paths] in dpa.toml).",
)
@click.option("--tsa", "tsa_urls", multiple=True, metavar="URL", help="TSA URL(s) for this run (repeatable).")
@click.option(
    "--contract",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A PDF/A services contract to put in front of the agreement.",
)
@pass_app
def issue(
    app: AppContext, record_path: Path, output: Path | None, tsa_urls: tuple[str, ...], contract: Path | None
) -> None:
    """Generate and certify one customer's agreement: what sales sends to the customer.

    Assembles the PDF/A (as `dpa generate`), signs the processor field with ipcall.me's key and a timestamp (as
    `dpa sign --as processor`), writes it atomically and enters it in the register. Prints the path.

    \b
    Example:
      dpa --config dev-pki/dpa.toml issue templates/examples/customer.toml -o C-10001.pdf
    """
    from dpa.records import load_record
    from dpa.workflows.issue import issue as issue_agreement

    record = load_record(record_path)
    target = output or app.config.paths.output / f"{record.id}.pdf"
    issued = issue_agreement(record, app.config, target, tsa_urls=tsa_urls, contract=contract, prompt=secret_prompt())
    signature = issued.signature
    assert signature is not None, "dpa issue never resumes"
    stamp = signature.timestamp
    app.info(
        f"issued {record.id}: certified by {signature.signer}"
        + (f", timestamp {stamp:%Y-%m-%d %H:%M:%S} UTC" if stamp else "")
    )
    click.echo(str(issued.path))


@cli.command()
@click.argument("csv_path", metavar="CSV", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=OutputPath(file_okay=False, path_type=Path),
    help="Output folder (default: OUTPUT/batch, OUTPUT from [paths] in dpa.toml).",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(1, 64),
    default=None,
    help="Parallel LibreOffice processes (default: one per core).",
)
@click.option("--no-sign", is_flag=True, help="Only assemble: write <id>.unsigned.pdf, no signature.")
@click.option("--dry-run", is_flag=True, help="Validate every row, report, and stop.")
@click.option("--tsa", "tsa_urls", multiple=True, metavar="URL", help="TSA URL(s) for this run (repeatable).")
@click.option(
    "--max-failures",
    type=click.IntRange(1),
    default=10,
    show_default=True,
    help="Stop after this many consecutive failed rows (e.g. the TSA is down); the rest is left for a rerun.",
)
@pass_app
def batch(
    app: AppContext,
    csv_path: Path,
    out_dir: Path | None,
    jobs: int | None,
    no_sign: bool,
    dry_run: bool,
    tsa_urls: tuple[str, ...],
    max_failures: int,
) -> None:
    """Issue one agreement per row of a CRM export (CSV), resumably.

    Every row is validated first; bad rows are reported with line and field and the good rows go ahead. Each
    agreement is written atomically as DIR/<id>.pdf and DIR/manifest.csv records every row (id, status, file,
    sha256, error). Rerunning skips rows whose agreement exists for the same record and template; a changed
    record or template moves the old file aside (<id>.~<hash>.pdf) and issues a new one. Exit 0 when every row
    succeeded, 1 otherwise.

    \b
    Example:
      dpa --config dev-pki/dpa.toml batch templates/examples/customers.csv -o output/batch
    """
    from dpa.workflows.batch import BatchOptions, run_batch

    options = BatchOptions(
        jobs=jobs or BatchOptions().jobs,
        sign=not no_sign,
        dry_run=dry_run,
        tsa_urls=tsa_urls,
        max_consecutive_failures=max_failures,
    )
    target = out_dir or app.config.paths.output / "batch"
    with _batch_progress(app) as on_progress:
        summary = run_batch(csv_path, target, app.config, options, on_progress)
    _echo_row_errors(app, summary.invalid, None if dry_run else target / "manifest.csv")
    if dry_run:
        app.info(f"{summary.rows} rows: {summary.rows - len(summary.invalid)} valid, {len(summary.invalid)} invalid")
    else:
        app.info(
            f"{summary.rows} rows: {summary.issued} issued, {summary.skipped} already done, "
            f"{summary.failed + len(summary.invalid)} failed; {summary.docs_per_minute:.0f} documents/minute; "
            f"manifest: {target / 'manifest.csv'}"
        )
    if summary.stopped:
        click.echo(f"dpa: {summary.stopped}", err=True)
    if not summary.ok:
        raise click.exceptions.Exit(1)


@cli.command()
@click.argument("pdfs", metavar="PDF...", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@trust_options
@click.option(
    "--tsa",
    "tsa_urls",
    multiple=True,
    metavar="URL",
    help="The RFC 3161 server for the archive timestamp, instead of [tsa] urls (repeatable: tried in order).",
)
@click.option(
    "--confirm-signer",
    is_flag=True,
    help="Legal confirms that the controller's signer of this one PDF signs for the customer, although the "
    "certificate names neither the customer's legal name nor its e-mail domain; recorded in the register.",
)
@pass_app
def ingest(
    app: AppContext,
    pdfs: tuple[Path, ...],
    trust: tuple[Path, ...],
    trust_tsa: tuple[Path, ...],
    tsa_urls: tuple[str, ...],
    confirm_signer: bool,
) -> None:
    """Take counter-signed agreements back into the register.

    Each PDF must extend the issued file byte for byte and keep ipcall.me's issued signature (the customer signed
    exactly what was issued), verify (both parties, trusted timestamps), and be signed for the customer: the
    controller's certificate must name the customer's legal name (O) or e-mail domain, or legal confirms that
    signer with --confirm-signer. It is then sealed (validation data and an archive timestamp: PAdES B-LTA, so that
    it stays verifiable after the certificates expire), stored beside the issued file as signed/<id>+<n>.pdf, and
    the agreement becomes effective from the date of the last signature. Refused, with the reason recorded: a
    rewritten or regenerated document, a signature made with ipcall.me's own certificate, and any second,
    different return of an agreement already effective (the signed copy on file is never replaced). Ingesting the
    same file twice is harmless. Exit 1 when any file was not accepted.

    \b
    Examples:
      dpa --config dpa.toml ingest returned/C-10001.pdf
      dpa ingest returned/C-10001.pdf --trust klant-ca.pem --trust-tsa klant-tsa-ca.pem
      dpa ingest returned/C-10001.pdf --confirm-signer     (after legal checked who signed)
    """
    from dpa.register import Register
    from dpa.workflows.ingest import ingest_file

    if confirm_signer and len(pdfs) != 1:
        raise click.UsageError("--confirm-signer confirms the signer of one PDF: give exactly one")
    refused = 0
    with (
        Register(app.config.paths.register) as register,
        _ingest_verifier(app, trust, trust_tsa) as verifier,
        _ingest_archiver(app, trust, trust_tsa, tsa_urls) as archiver,
    ):
        for pdf in pdfs:
            result = ingest_file(pdf, register, verifier, confirm_signer=confirm_signer, archiver=archiver)
            customer = result.agreement.customer_id if result.agreement else "?"
            verdict = "accepted" if result.accepted else ("WAITING" if result.waiting_for_legal else "REFUSED")
            click.echo(f"{pdf}: {verdict} ({customer}): {result.reason}")
            refused += not result.accepted
    if refused:
        raise click.exceptions.Exit(1)


def _ingest_verifier(app: AppContext, trust: tuple[Path, ...], trust_tsa: tuple[Path, ...]) -> Verifier:
    """The one place where ``dpa ingest`` builds its verifier from the command line's options."""
    from dpa.verify.verifier import Verifier

    return Verifier(app.config, extra_trust=list(trust), extra_tsa_trust=list(trust_tsa))


def _ingest_archiver(
    app: AppContext, trust: tuple[Path, ...], trust_tsa: tuple[Path, ...], tsa_urls: tuple[str, ...]
) -> Archiver:
    """The archiver that seals what ``dpa ingest`` accepts, under the same roots as its verifier."""
    from dpa.workflows.sealing import ingest_archiver

    return ingest_archiver(
        app.config, extra_trust=trust, extra_tsa_trust=trust_tsa, tsa_urls=tsa_urls, prompt=secret_prompt()
    )


@cli.command()
@click.option(
    "-o",
    "--output",
    "directory",
    type=OutputPath(file_okay=False, path_type=Path),
    default=Path("output/demo"),
    show_default=True,
    help="Folder for the demo's PKI, agreement, register.",
)
@pass_app
def demo(app: AppContext, directory: Path) -> None:
    """The whole flow on embedded defaults: issue, counter-sign, ingest, verify.

    Makes a development PKI (once, in DIR/pki, NIET VOOR PRODUCTIE), runs the embedded TSA with its CRL and OCSP
    services on a loopback port, issues the example customer's agreement certified by ipcall.me, counter-signs it
    as the example controller, ingests it into DIR/register.sqlite3, seals it with an archive timestamp (PAdES
    B-LTA) and verifies it. Prints the report, the effective date and
    where the files are. Exit 0 when the agreement verifies as complete and in force.
    """
    from dpa.workflows.demo import run_demo

    result = run_demo(directory)
    app.info(f"development PKI: {result.pki_config.parent} (NIET VOOR PRODUCTIE)")
    app.info(f"embedded TSA:    {result.tsa_url} (stopped)")
    app.info(f"issued:          {result.issued}")
    app.info(f"counter-signed:  {result.returned}")
    app.info(f"ingested:        {'accepted' if result.ingest.accepted else 'REFUSED'}: {result.ingest.reason}")
    if result.sealed is not None:
        app.info(f"archived:        {result.sealed.action}: {result.sealed.reason}")
    echo_report(result.report)
    if result.report.effective_date is None:
        raise click.exceptions.Exit(1)


SHOWN_ROW_ERRORS = 20
"""How many invalid rows ``dpa batch`` prints (all of them with -v); the manifest keeps every one."""


def _echo_row_errors(app: AppContext, invalid: Sequence[RowProblem], manifest: Path | None) -> None:
    """The first invalid rows on stderr, and how many more there are and where they all are."""
    shown = invalid if app.verbose else invalid[:SHOWN_ROW_ERRORS]
    for problem in shown:
        click.echo(f"dpa: row error: {problem.message}", err=True)
    more = len(invalid) - len(shown)
    if more:
        where = f"all are in {manifest}" if manifest else "a run without --dry-run lists all in the manifest"
        click.echo(f"dpa: ... and {more} more row errors ({len(invalid)} in all; {where}; -v shows them)", err=True)


@contextlib.contextmanager
def _batch_progress(app: AppContext) -> Iterator[Callable[[BatchProgress], None]]:
    """A rich progress bar on a terminal; a plain line every 5 seconds otherwise; nothing with -q."""
    if app.quiet:
        yield lambda _progress: None
        return
    if sys.stderr is not None and sys.stderr.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn("issuing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:.0f}/min, {task.fields[failed]} failed"),
            TimeRemainingColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task("batch", total=None, rate=0.0, failed=0)

            def update(progress: BatchProgress) -> None:
                bar.update(
                    task, total=progress.total, completed=progress.finished, rate=progress.rate, failed=progress.failed
                )

            yield update
        return
    last = 0.0

    def report(progress: BatchProgress) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= 5 or progress.finished == progress.total:
            last = now
            eta = f", about {progress.eta_s:.0f} s left" if progress.eta_s is not None else ""
            click.echo(
                f"dpa batch: {progress.finished}/{progress.total} rows ({progress.failed} failed), "
                f"{progress.rate:.0f}/min{eta}",
                err=True,
            )

    yield report
