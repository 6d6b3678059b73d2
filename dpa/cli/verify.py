"""``dpa verify``: legal's verdict per signature and per document, in words or as JSON Lines."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dpa.cli.app import AppContext, cli, pass_app
from dpa.cli.options import trust_options

if TYPE_CHECKING:
    from dpa.verify.report import DocumentReport


def echo_report(report: DocumentReport, *, separate: bool = False) -> None:
    """The readable verification report of one file on stdout (a blank line after it with ``separate``)."""
    from dpa.verify.verifier import format_text

    click.echo(format_text(report) + ("\n" if separate else ""))
    sys.stdout.flush()


def _verify_moment(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """``--at``: a date or time (Europe/Amsterdam unless it carries an offset) → an aware UTC datetime."""
    if value is None:
        return None
    from dpa.verify.effective_date import parse_moment

    try:
        return parse_moment(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command()
@click.argument("paths", metavar="PATH...", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file, one per line (JSON Lines).")
@trust_options
@click.option("--require-complete", is_flag=True, help="Exit 4 when a document passes but a party has not signed yet.")
@click.option(
    "--jobs",
    "jobs",
    type=click.IntRange(min=1),
    metavar="N",
    help="Verification workers side by side (default: one per core, never more than there are files); the "
    "reports keep the order of the files.",
)
@click.option(
    "--at",
    "at",
    metavar="DATETIME",
    callback=_verify_moment,
    help="Validate as of this moment instead of now: YYYY-MM-DD (end of that day) or YYYY-MM-DDTHH:MM[:SS], "
    "Europe/Amsterdam unless an offset (Z, +01:00) is given.",
)
@click.option(
    "--report",
    "report_pdf",
    metavar="FILE.pdf",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the verification report as PDF/A (exactly one PDF to verify): hashes, parties, signers with "
    "their certificate chains, trusted times, verdicts and reasons, revisions, template version, effective date.",
)
@pass_app
def verify(
    app: AppContext,
    paths: tuple[Path, ...],
    as_json: bool,
    trust: tuple[Path, ...],
    trust_tsa: tuple[Path, ...],
    require_complete: bool,
    at: datetime | None,
    report_pdf: Path | None,
    jobs: int | None,
) -> None:
    """Verify signed agreements: a verdict per signature and per document, completeness, effective date.

    Folders are walked for *.pdf. Each signature gets an ETSI EN 319 102-1 indication — TOTAL_PASSED,
    TOTAL_FAILED or INDETERMINATE with a sub-indication — and the reasons in words: the document must be intact
    and unchanged after each signature except for the other party's signature and validation data, every
    signer must chain to [trust] roots (or --trust), and every signature needs a trusted RFC 3161 timestamp from
    a TSA under [trust] tsa_roots (or --trust-tsa) at which the certificate was valid. The effective date
    (art. 12.1) is the Europe/Amsterdam date of the last signature's timestamp, given only for a passing
    document that both parties signed. Nothing is fetched from the network; a FIFO or device is never read.

    Exit status: 0 all TOTAL_PASSED; 1 any TOTAL_FAILED; 3 any INDETERMINATE (and none failed); 4 with
    --require-complete when a document passes but a party has not signed.

    \b
    Examples:
      dpa verify acme.signed.pdf
      dpa verify --require-complete --json returned/ > verdicts.jsonl
      dpa verify --jobs 1 returned/
      dpa verify klant.pdf --trust klant-ca.pem --at 2027-01-31
      dpa verify klant.pdf --trust klant-ca.pem --trust-tsa klant-tsa-ca.pem
      dpa verify C-10001.signed.pdf --report C-10001.verification.pdf
    """
    import json

    from dpa.verify.pool import VerifierPool, default_jobs
    from dpa.verify.verifier import TOTAL_FAILED, TOTAL_PASSED, exit_code, iter_pdf_paths

    files = list(iter_pdf_paths(paths))
    if not files:
        raise click.UsageError(f"no PDF files in {', '.join(str(p) for p in paths)}")
    if report_pdf is not None and len(files) != 1:
        raise click.UsageError(f"--report takes exactly one PDF to verify, not {len(files)}")
    reports = []
    workers = min(jobs or default_jobs(), len(files))
    with VerifierPool(app.config, jobs=workers, extra_trust=trust, extra_tsa_trust=trust_tsa, at=at) as pool:
        for report in pool.verify_paths(files):
            reports.append(report)
            if as_json:
                click.echo(json.dumps(report.to_json(), ensure_ascii=False))
                sys.stdout.flush()
            else:
                echo_report(report, separate=len(files) > 1)
    if report_pdf is not None:
        from dpa.files import read_input, write_atomic
        from dpa.verify.report_pdf import render_report_pdf

        write_atomic(report_pdf, render_report_pdf(reports[0], read_input(files[0], "PDF")))
        app.info(f"verification report: {report_pdf}")
    if len(reports) > 1:
        passed = sum(r.indication == TOTAL_PASSED for r in reports)
        failed = sum(r.indication == TOTAL_FAILED for r in reports)
        complete = sum(r.complete for r in reports)
        app.info(
            f"{len(reports)} files: {passed} passed ({complete} complete), {failed} failed, "
            f"{len(reports) - passed - failed} indeterminate"
        )
    code = exit_code(reports, require_complete=require_complete)
    if code:
        raise click.exceptions.Exit(code)
