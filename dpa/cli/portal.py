"""``dpa invite``: mail the customer a link to the signing page."""

from __future__ import annotations

import getpass
import json

import click

from dpa.cli.app import AppContext, cli, pass_app, secret_prompt


@cli.command()
@click.argument("customer_id", metavar="ID")
@click.option(
    "--email",
    required=True,
    metavar="ADDR",
    help="The customer's e-mail address; it must be the one in the customer's record (the register).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the invitation as one JSON object (for scripts).")
@pass_app
def invite(app: AppContext, customer_id: str, email: str, as_json: bool) -> None:
    """Mail the customer a signing link for their newest issued agreement, and print the link.

    The link (/s/TOKEN under [portal] base_url) works for [portal] link_days days (default 30) and only for
    that agreement; the mail, with the issued agreement attached, goes only to the address in the customer's
    record. It is sent through [smtp]; with the development PKI and no [smtp] it lands in the embedded outbox
    (OUTPUT/outbox). A newer link replaces an older one. The register records who invited whom.

    \b
    Example:
      dpa --config dpa.toml invite C-10001 --email administratie@vechtdal-installatie.example.nl
    """
    from dpa.portal.flow import SigningPortal
    from dpa.portal.invitations import Actor
    from dpa.portal.mail import Outbox, mailer_from_config
    from dpa.register import Register

    config = app.config
    mailer = mailer_from_config(config, prompt=secret_prompt())
    actor = Actor(f"{getpass.getuser()} (command line)", "cli")
    with Register(config.paths.register, create=False) as register, SigningPortal(config, register, mailer) as portal:
        made = portal.invite(customer_id, email, actor)
    where = f"the outbox {mailer.folder}" if isinstance(mailer, Outbox) else "the mail server"
    app.info(f"invited {customer_id}: mailed to {made.invitation.email} through {where}")
    if as_json:
        record = {
            "customer_id": customer_id,
            "email": made.invitation.email,
            "link": made.link,
            "expires_at": made.invitation.expires_at,
        }
        click.echo(json.dumps(record, ensure_ascii=False, sort_keys=True))
    else:
        click.echo(made.link)
