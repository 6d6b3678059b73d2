"""The ``dpa`` command line: a thin layer over the library.

This is the only module that prints, and the only place where a :class:`dpa.errors.DpaError` becomes one line on
stderr and an exit code (DESIGN.md §4): 0 success, 1 failure, 2 usage error, 3 verify INDETERMINATE,
4 verify ``--require-complete`` with a party still to sign. ``-v`` adds the traceback.
"""

from __future__ import annotations

import contextlib
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dpa.config import Config, load_config
from dpa.errors import DpaError

if TYPE_CHECKING:
    from dpa.batch import Progress as BatchProgress
    from dpa.register import Register
    from dpa.signing.report import DocumentReport


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


# --- signing ----------------------------------------------------------------------------------------------------


def _secret_prompt() -> Callable[[str], str] | None:
    """Ask for passphrases and PINs on the terminal, but only when one is attached (never in scripts)."""
    if not sys.stdin.isatty():
        return None

    def prompt(what: str) -> str:
        value: str = click.prompt(what[:1].upper() + what[1:], hide_input=True, err=True)
        return value

    return prompt


@cli.command()
@click.argument("pdf", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--as",
    "role",
    required=True,
    type=click.Choice(["processor", "controller"]),
    help="Whose field to sign: processor (ipcall.me, certifies the document) or controller (the customer).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the signed PDF. Default: next to PDF, NAME.processor-signed.pdf after the processor, "
    "NAME.signed.pdf after the controller (a trailing .processor-signed/.signed in NAME is replaced).",
)
@click.option(
    "--tsa",
    "tsa_urls",
    multiple=True,
    metavar="URL",
    help="RFC 3161 TSA URL, tried in the order given (repeatable); replaces [tsa] urls for this run.",
)
@click.option(
    "--p12",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Sign with this PKCS#12 file instead of the key in [signers.ROLE].",
)
@click.option(
    "--passphrase-env",
    metavar="VAR",
    help="Name of the environment variable holding the --p12 passphrase (never the passphrase itself; "
    "without it dpa asks on the terminal).",
)
@click.option(
    "--no-timestamp",
    is_flag=True,
    help="Sign without an RFC 3161 timestamp. Only for tests: dpa verify reports such a signature as INDETERMINATE.",
)
@click.option("--in-place", is_flag=True, help="Replace PDF itself (atomically) instead of writing a copy.")
@pass_app
def sign(
    app: AppContext,
    pdf: Path,
    role: str,
    output: Path | None,
    tsa_urls: tuple[str, ...],
    p12: Path | None,
    passphrase_env: str | None,
    no_timestamp: bool,
    in_place: bool,
) -> None:
    """Sign one party's field of an agreement, with a trusted timestamp.

    The processor's signature certifies the document (later changes: only form filling and signing); the
    controller's signature is added later in an incremental update. Both are PAdES signatures with an RFC 3161
    timestamp from the TSAs in [tsa] urls (or --tsa). When no TSA answers, nothing is written.

    Passphrases and PINs come from the environment variables named in dpa.toml (passphrase_env, pin_env) or, on a
    terminal, from a prompt — never from the command line. Prints the path of the signed PDF.

    \b
    Examples:
      dpa sign acme.pdf --as processor                    -> acme.processor-signed.pdf
      dpa sign acme.processor-signed.pdf --as controller  -> acme.signed.pdf
      dpa sign acme.pdf --as controller --p12 klant.p12 --passphrase-env KLANT_P12_PASS
    """
    from dpa.config import SignerConfig
    from dpa.signing.sign import sign_pdf

    if passphrase_env and p12 is None:
        raise click.UsageError("--passphrase-env only goes with --p12")
    if in_place and output is not None:
        raise click.UsageError("--in-place and -o/--output exclude each other")
    if no_timestamp and tsa_urls:
        raise click.UsageError("--no-timestamp and --tsa exclude each other")
    override = SignerConfig(pkcs12=p12, passphrase_env=passphrase_env or "") if p12 is not None else None
    if no_timestamp:
        click.echo("dpa: warning: signing WITHOUT a timestamp (--no-timestamp); verification will not pass", err=True)
    result = sign_pdf(
        app.config,
        pdf,
        role,
        output,
        in_place=in_place,
        tsa_urls=tsa_urls,
        timestamp=not no_timestamp,
        prompt=_secret_prompt(),
        override=override,
    )
    when = (
        f"timestamp {result.timestamp:%Y-%m-%d %H:%M:%S} UTC from {result.tsa_url}"
        if result.timestamp
        else ("no timestamp")
    )
    kind = "certified" if result.certification else "signed"
    app.info(f"{kind} {result.field} as {result.signer}; {when}")
    click.echo(str(result.output))


def _echo_report(report: DocumentReport, *, separate: bool = False) -> None:
    """The readable verification report of one file on stdout (a blank line after it with ``separate``)."""
    from dpa.signing.verify import format_text

    click.echo(format_text(report) + ("\n" if separate else ""))
    sys.stdout.flush()


def _verify_moment(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """``--at``: a date or time (Europe/Amsterdam unless it carries an offset) → an aware UTC datetime."""
    if value is None:
        return None
    from dpa.signing.effective_date import parse_moment

    try:
        return parse_moment(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command()
@click.argument("paths", metavar="PATH...", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file, one per line (JSON Lines).")
@click.option(
    "--trust",
    "trust",
    multiple=True,
    metavar="PEM",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Also trust the CA certificate(s) in PEM, in addition to [trust] roots (repeatable).",
)
@click.option("--require-complete", is_flag=True, help="Exit 4 when a document passes but a party has not signed yet.")
@click.option(
    "--at",
    "at",
    metavar="DATETIME",
    callback=_verify_moment,
    help="Validate as of this moment instead of now: YYYY-MM-DD (end of that day) or YYYY-MM-DDTHH:MM[:SS], "
    "Europe/Amsterdam unless an offset (Z, +01:00) is given.",
)
@pass_app
def verify(
    app: AppContext,
    paths: tuple[Path, ...],
    as_json: bool,
    trust: tuple[Path, ...],
    require_complete: bool,
    at: datetime | None,
) -> None:
    """Verify signed agreements: a verdict per signature and per document, completeness, effective date.

    Folders are walked for *.pdf. Each signature gets an ETSI EN 319 102-1 indication — TOTAL_PASSED,
    TOTAL_FAILED or INDETERMINATE with a sub-indication — and the reasons in words: the document must be intact
    and unchanged after each signature except for the other party's signature and validation data, every
    signer must chain to [trust] roots (or --trust), and every signature needs a trusted RFC 3161 timestamp at
    which the certificate was valid. The effective date (art. 12.1) is the Europe/Amsterdam date of the last
    signature's timestamp, given only for a passing document that both parties signed. Nothing is fetched
    from the network.

    Exit status: 0 all TOTAL_PASSED; 1 any TOTAL_FAILED; 3 any INDETERMINATE (and none failed); 4 with
    --require-complete when a document passes but a party has not signed.

    \b
    Examples:
      dpa verify acme.signed.pdf
      dpa verify --require-complete --json returned/ > verdicts.jsonl
      dpa verify klant.pdf --trust klant-ca.pem --at 2027-01-31
    """
    import json

    from dpa.signing.verify import TOTAL_FAILED, TOTAL_PASSED, Verifier, exit_code, iter_pdf_paths

    files = list(iter_pdf_paths(paths))
    if not files:
        raise click.UsageError(f"no PDF files in {', '.join(str(p) for p in paths)}")
    reports = []
    with Verifier(app.config, extra_trust=trust, at=at) as verifier:
        for path in files:
            report = verifier.verify_file(path)
            reports.append(report)
            if as_json:
                click.echo(json.dumps(report.to_json(), ensure_ascii=False))
                sys.stdout.flush()
            else:
                _echo_report(report, separate=len(files) > 1)
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


@cli.group()
def pki() -> None:
    """Development certificates (never for production)."""


@pki.command("init")
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--key-type",
    type=click.Choice(["rsa", "ec"]),
    default="rsa",
    show_default=True,
    help="RSA-2048 or ECDSA P-256 keys.",
)
@click.option(
    "--tsa-url",
    default="http://127.0.0.1:3161/",
    show_default=True,
    help="The TSA URL written into DIR/dpa.toml (where `dpa tsa serve` listens by default).",
)
@pass_app
def pki_init(app: AppContext, directory: Path, key_type: str, tsa_url: str) -> None:
    """Write a development PKI into DIR, marked NIET VOOR PRODUCTIE.

    A CA (ca.pem), a processor certificate for ipcall.me and an example controller certificate (PKCS#12 with
    random passphrases), a TSA certificate and key, DIR/dpa.toml wired to them, and DIR/dev-secrets.env with the
    passphrases as `export NAME=value` lines. Refuses to overwrite an existing PKI.

    \b
    Example:
      dpa pki init dev-pki && source dev-pki/dev-secrets.env
      dpa --config dev-pki/dpa.toml tsa serve &
      dpa --config dev-pki/dpa.toml sign acme.pdf --as processor
    """
    from dpa.signing.devpki import init_dev_pki

    made = init_dev_pki(directory, key_type="ec" if key_type == "ec" else "rsa", tsa_url=tsa_url)
    app.info(f"development PKI (NIET VOOR PRODUCTIE) written to {made.directory}")
    app.info(f"load its passphrases with: source {made.secrets_path}")
    click.echo(str(made.config_path))


@cli.group()
def tsa() -> None:
    """The embedded RFC 3161 time-stamping authority."""


@tsa.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=3161, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@pass_app
def tsa_serve(app: AppContext, host: str, port: int) -> None:
    """Serve RFC 3161 timestamps over HTTP with the key in [tsa.server] until SIGTERM or Ctrl-C.

    Clients POST an application/timestamp-query and get an application/timestamp-reply. With [tsa.server]
    username and password_env set, HTTP basic auth is required. Prints "dpa tsa: listening on URL" on stdout
    once ready.

    \b
    Example:
      dpa --config dev-pki/dpa.toml tsa serve --port 0
    """
    from dpa.signing.tsa_server import serve_until_signalled, tsa_server_from_config

    server = tsa_server_from_config(app.config, host=host, port=port, prompt=_secret_prompt())

    def listening(url: str) -> None:
        click.echo(f"dpa tsa: listening on {url}")
        sys.stdout.flush()

    serve_until_signalled(server, listening)
    app.info("dpa tsa: stopped")


# --- issue and batch --------------------------------------------------------------------------------------------


@cli.command()
@click.argument("record_path", metavar="RECORD", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
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
    from dpa.assembly.records import load_record
    from dpa.pipeline import issue as issue_agreement

    record = load_record(record_path)
    target = output or app.config.paths.output / f"{record.id}.pdf"
    issued = issue_agreement(record, app.config, target, tsa_urls=tsa_urls, contract=contract, prompt=_secret_prompt())
    stamp = issued.signature.timestamp
    app.info(
        f"issued {record.id}: certified by {issued.signature.signer}"
        + (f", timestamp {stamp:%Y-%m-%d %H:%M:%S} UTC" if stamp else "")
    )
    click.echo(str(issued.path))


@cli.command()
@click.argument("csv_path", metavar="CSV", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
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
    record or template moves the old file aside (<id>.<hash>.pdf) and issues a new one. Exit 0 when every row
    succeeded, 1 otherwise.

    \b
    Example:
      dpa --config dev-pki/dpa.toml batch templates/examples/customers.csv -o output/batch
    """
    from dpa.batch import BatchOptions, run_batch

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
    for problem in summary.invalid:
        click.echo(f"dpa: row error: {problem.message}", err=True)
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


# --- register, ingest, demo -------------------------------------------------------------------------------------


@cli.command()
@click.argument("pdfs", metavar="PDF...", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def ingest(app: AppContext, pdfs: tuple[Path, ...]) -> None:
    """Take counter-signed agreements back into the register.

    Each PDF must extend the issued file byte for byte (the customer signed exactly what was issued) and verify
    (both parties, trusted timestamps). It is then stored next to the issued file as <id>.signed.pdf and the
    agreement becomes effective from the date of the last signature. Otherwise the reason is recorded and the
    status stays. Ingesting the same file twice is harmless. Exit 1 when any file was not accepted.

    \b
    Example:
      dpa --config dpa.toml ingest returned/C-10001.pdf
    """
    from dpa.ingest import ingest_file
    from dpa.register import Register
    from dpa.signing.verify import Verifier

    refused = 0
    with Register(app.config.paths.register) as register, Verifier(app.config) as verifier:
        for pdf in pdfs:
            result = ingest_file(pdf, register, verifier)
            customer = result.agreement.customer_id if result.agreement else "?"
            click.echo(f"{pdf}: {'accepted' if result.accepted else 'REFUSED'} ({customer}): {result.reason}")
            refused += not result.accepted
    if refused:
        raise click.exceptions.Exit(1)


@cli.group()
def register() -> None:
    """The agreement register: who has an agreement, in force since when; retention (art. 10.2)."""


def _open_register(app: AppContext) -> Register:
    """The existing register (the register commands never create one)."""
    from dpa.register import Register

    return Register(app.config.paths.register, create=False)


@register.command("list")
@click.option(
    "--status", type=click.Choice(["issued", "effective", "rejected", "ended", "purged"]), help="Only this status."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_app
def register_list(app: AppContext, status: str | None, as_json: bool) -> None:
    """List agreements (oldest first).

    \b
    Example:
      dpa register list --status effective
    """
    from dpa.register import to_json

    with _open_register(app) as reg:
        for agreement in reg.agreements(status=status):
            if as_json:
                click.echo(to_json(agreement))
            else:
                since = f" since {agreement.effective_date}" if agreement.effective_date else ""
                click.echo(f"{agreement.customer_id:<20} {agreement.status:<10}{since:<18} {agreement.name or ''}")


@register.command("show")
@click.argument("customer_id", metavar="ID")
@pass_app
def register_show(app: AppContext, customer_id: str) -> None:
    """Show a customer's agreements and their history."""
    from dpa.errors import RegisterError

    with _open_register(app) as reg:
        agreements = reg.agreements(customer_id=customer_id)
        if not agreements:
            raise RegisterError(f"no agreement for customer {customer_id} in {reg.path}")
        for agreement in agreements:
            for key, value in agreement.as_dict().items():
                if value not in (None, ""):
                    click.echo(f"{key:>17}: {value}")
            click.echo("          history:")
            for event in reg.events(agreement.id):
                extra = " ".join(x for x in (event.verdict or "", event.detail or "") if x)
                click.echo(f"                   {event.at} {event.kind} {extra}".rstrip())
            click.echo("")


@register.command("export")
@click.argument("target", metavar="FILE.csv", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def register_export(app: AppContext, target: Path) -> None:
    """Write every agreement to a CSV file."""
    with _open_register(app) as reg:
        count = reg.export_csv(target)
    app.info(f"{count} agreements written to {target}")


@register.command("end")
@click.argument("customer_id", metavar="ID")
@click.option("--on", "on", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last day of the cooperation.")
@pass_app
def register_end(app: AppContext, customer_id: str, on: datetime) -> None:
    """Record that the cooperation with a customer ended (starts the two-year retention of art. 10.2).

    \b
    Example:
      dpa register end C-10001 --on 2026-12-31
    """
    with _open_register(app) as reg:
        ended = reg.end(customer_id, on.date())
    app.info(f"{customer_id}: {len(ended)} agreement(s) ended on {on.date().isoformat()}")


@register.command("purge")
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@pass_app
def register_purge(app: AppContext, dry_run: bool) -> None:
    """Delete files and personal data of agreements ended more than two years ago (art. 10.2).

    A tombstone with the hashes and dates stays. Prints what was (or, with --dry-run, would be) removed.
    """
    from datetime import date

    with _open_register(app) as reg:
        purged = reg.purge(date.today(), dry_run=dry_run)
    verb = "would purge" if dry_run else "purged"
    for agreement in purged:
        files = ", ".join(f for f in (agreement.issued_file, agreement.signed_file) if f) or "no files"
        click.echo(f"{verb} {agreement.customer_id} (ended {agreement.cooperation_end}): {files} and personal data")
    app.info(f"{len(purged)} agreement(s) {verb}")


@cli.command()
@click.option(
    "-o",
    "--output",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("output/demo"),
    show_default=True,
    help="Folder for the demo's PKI, agreement, register.",
)
@pass_app
def demo(app: AppContext, directory: Path) -> None:
    """The whole flow on embedded defaults: issue, counter-sign, ingest, verify.

    Makes a development PKI (once, in DIR/pki, NIET VOOR PRODUCTIE), runs the embedded TSA on a free loopback
    port, issues the example customer's agreement certified by ipcall.me, counter-signs it as the example
    controller, ingests it into DIR/register.sqlite3 and verifies it. Prints the report, the effective date and
    where the files are. Exit 0 when the agreement verifies as complete and in force.
    """
    from dpa.demo import run_demo

    result = run_demo(directory)
    app.info(f"development PKI: {result.pki_config.parent} (NIET VOOR PRODUCTIE)")
    app.info(f"embedded TSA:    {result.tsa_url} (stopped)")
    app.info(f"issued:          {result.issued}")
    app.info(f"counter-signed:  {result.returned}")
    app.info(f"ingested:        {'accepted' if result.ingest.accepted else 'REFUSED'}: {result.ingest.reason}")
    _echo_report(result.report)
    if result.report.effective_date is None:
        raise click.exceptions.Exit(1)


@contextlib.contextmanager
def _batch_progress(app: AppContext) -> Iterator[Callable[[BatchProgress], None]]:
    """A rich progress bar on a terminal; a plain line every 5 seconds otherwise; nothing with -q."""
    if app.quiet:
        yield lambda _progress: None
        return
    if sys.stderr.isatty():
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
