"""``dpa sign``, ``dpa pki init|revoke`` and ``dpa tsa serve``: signatures, development certificates and
revocation, timestamps."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dpa.cli.app import AppContext, cli, pass_app, secret_prompt
from dpa.cli.options import OutputPath
from dpa.devtools import REVOCATION_REASONS


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
    type=OutputPath(dir_okay=False, path_type=Path),
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
@click.option(
    "--in-place",
    is_flag=True,
    help="Replace PDF itself (atomically) instead of writing a copy; refused for an agreement the register knows.",
)
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
    from dpa.signing.output import default_output_path
    from dpa.signing.sign import sign_pdf
    from dpa.workflows.issue import refuse_evidence_target

    if passphrase_env and p12 is None:
        raise click.UsageError("--passphrase-env only goes with --p12")
    if in_place and output is not None:
        raise click.UsageError("--in-place and -o/--output exclude each other")
    if no_timestamp and tsa_urls:
        raise click.UsageError("--no-timestamp and --tsa exclude each other")
    target = pdf if in_place else (output or default_output_path(pdf, role))
    refuse_evidence_target(app.config, target, "dpa sign --in-place" if in_place else "dpa sign")
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
        prompt=secret_prompt(),
        override=override,
    )
    when = (
        f"timestamp {result.timestamp:%Y-%m-%d %H:%M:%S} UTC from {result.tsa_url}"
        if result.timestamp
        else ("no timestamp")
    )
    kind = "certified" if result.certification else "signed"
    app.info(f"{kind} {result.field} as {result.signer}; {when}; PAdES {result.level}")
    click.echo(str(result.output))


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
@click.option(
    "--revocation-url",
    metavar="URL",
    help="Base address of the CRL and OCSP services written into every certificate (default: the TSA URL's "
    "scheme, host and port, where `dpa tsa serve` answers them).",
)
@pass_app
def pki_init(app: AppContext, directory: Path, key_type: str, tsa_url: str, revocation_url: str | None) -> None:
    """Write a development PKI into DIR, marked NIET VOOR PRODUCTIE.

    Two CAs: one for signers (ca.pem, [trust] roots) and one for timestamp authorities (tsa-ca.pem, [trust]
    tsa_roots), and a third, the customer-signing CA of the signing page (signing-ca.pem, a root of its own). A
    processor certificate for ipcall.me and an example controller certificate (two years; PKCS#12 with random
    passphrases), a TSA certificate and key (ten years), DIR/dpa.toml wired to them, and DIR/dev-secrets.env with
    the passphrases as `export NAME=value` lines. Every certificate carries the CRL and OCSP addresses of its CA,
    answered by `dpa tsa serve`. Refuses to overwrite an existing PKI.

    \b
    Example:
      dpa pki init dev-pki && source dev-pki/dev-secrets.env
      dpa --config dev-pki/dpa.toml tsa serve &
      dpa --config dev-pki/dpa.toml sign acme.pdf --as processor
    """
    from dpa.devtools.devpki import init_dev_pki

    made = init_dev_pki(
        directory, key_type="ec" if key_type == "ec" else "rsa", tsa_url=tsa_url, revocation_url=revocation_url
    )
    app.info(f"development PKI (NIET VOOR PRODUCTIE) written to {made.directory}")
    app.info(f"load its passphrases with: source {made.secrets_path}")
    click.echo(str(made.config_path))


@pki.command("revoke")
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("cert_path", metavar="CERT", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--reason",
    type=click.Choice(REVOCATION_REASONS),
    default="unspecified",
    show_default=True,
    help="The RFC 5280 revocation reason.",
)
@click.option(
    "--at",
    "at",
    metavar="DATETIME",
    help="Revoked since this moment (ISO 8601, e.g. 2026-03-01T09:00:00+01:00; default now; never in the future).",
)
@pass_app
def pki_revoke(app: AppContext, directory: Path, cert_path: Path, reason: str, at: str | None) -> None:
    """Revoke a certificate of the development PKI in DIR (CERT: its PEM file).

    Recorded in DIR/revoked.json; from the next request on, the CRL and the OCSP responder of `dpa tsa serve`
    report it as revoked. Signing with a revoked certificate then fails. Prints the revoked subject.

    \b
    Example:
      dpa pki revoke dev-pki dev-pki/controller.pem --reason keyCompromise
    """
    import datetime as dt

    from cryptography import x509

    from dpa.devtools.devpki import revoke_certificate

    when = None
    if at is not None:
        try:
            when = dt.datetime.fromisoformat(at)
        except ValueError:
            raise click.BadParameter(f"'{at}' is not an ISO 8601 date and time", param_hint="--at") from None
        if when.utcoffset() is None:
            raise click.BadParameter("give a time zone offset, e.g. +01:00 or Z", param_hint="--at")
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except ValueError:
        raise click.BadParameter(f"{cert_path} is not a PEM certificate", param_hint="CERT") from None
    entry = revoke_certificate(directory, cert, at=when, reason=reason)
    app.info(f"revoked since {entry.revoked_at:%Y-%m-%d %H:%M:%S} UTC ({entry.reason}), serial {entry.serial}")
    click.echo(entry.subject)


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
    username and password_env set, HTTP basic auth is required. With [tsa.server.revocation] (as `dpa pki init`
    writes it), the same server answers the development PKI's CRLs (GET /crl/NAME.crl), OCSP requests (POST
    /ocsp/NAME) and CA certificates (GET /ca/NAME.cer), without authentication. Prints "dpa tsa: listening on
    URL" on stdout once ready.

    \b
    Example:
      dpa --config dev-pki/dpa.toml tsa serve --port 0
    """
    from dpa.devtools.tsa_server import serve_until_signalled, tsa_server_from_config

    server = tsa_server_from_config(app.config, host=host, port=port, prompt=secret_prompt())

    def listening(url: str) -> None:
        click.echo(f"dpa tsa: listening on {url}")
        sys.stdout.flush()

    serve_until_signalled(server, listening)
    app.info("dpa tsa: stopped")
