"""``dpa register``: the agreement register and retention (art. 10.2)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dpa.cli.app import AppContext, cli, pass_app
from dpa.cli.options import OutputPath

if TYPE_CHECKING:
    from dpa.register import Register


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
            shown = {key: value for key, value in agreement.as_dict().items() if value not in (None, "")}
            width = max(len("history"), *(len(key) for key in shown))
            for key, value in shown.items():
                click.echo(f"{key:>{width}}: {value}")
            click.echo(f"{'history':>{width}}:")
            for event in reg.events(agreement.id):
                extra = " ".join(x for x in (event.verdict or "", event.detail or "") if x)
                click.echo(f"{'':>{width + 2}}{event.at} {event.kind} {extra}".rstrip())
            click.echo("")


@register.command("export")
@click.argument("target", metavar="FILE.csv", type=OutputPath(dir_okay=False, path_type=Path))
@click.option(
    "--force", is_flag=True, help="Replace an existing file that is not an earlier export (never the register itself)."
)
@pass_app
def register_export(app: AppContext, target: Path, force: bool) -> None:
    """Write every agreement to a CSV file (formulas neutralised for spreadsheets).

    An earlier export at FILE.csv (recognised by its header line) is replaced; any other existing file only with
    --force. The register itself and the agreements it keeps are never written onto.

    \b
    Example:
      dpa register export register-2026-12.csv
    """
    with _open_register(app) as reg:
        count = reg.export_csv(target, force=force)
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

    Exactly the agreement's own files go: the issued file (also where it was moved aside to) and the stored signed
    copy, each only while it still holds the bytes the register recorded. A tombstone with the hashes and dates
    stays. Prints what was (or, with --dry-run, would be) removed.

    \b
    Example:
      dpa register purge --dry-run
    """
    from datetime import date

    with _open_register(app) as reg:
        purged = reg.purge(date.today(), dry_run=dry_run)
    verb = "would purge" if dry_run else "purged"
    for agreement in purged:
        names = [name for name, _sha256 in agreement.files()]
        left = [name for name in names if not dry_run and Path(name).exists()]
        files = ", ".join(name for name in names if name not in left) or "no files"
        click.echo(f"{verb} {agreement.customer_id} (ended {agreement.cooperation_end}): {files} and personal data")
        for name in left:
            click.echo(f"  left {name} in place: it no longer holds this agreement's bytes", err=True)
    app.info(f"{len(purged)} agreement(s) {verb}")
