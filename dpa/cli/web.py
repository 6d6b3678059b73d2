"""``dpa serve`` and ``dpa users``: the web application and its accounts."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from dpa.cli.app import AppContext, cli, pass_app

if TYPE_CHECKING:
    from dpa.accounts import Accounts


@contextlib.contextmanager
def _accounts(app: AppContext) -> Iterator[Accounts]:
    from dpa.accounts import Accounts
    from dpa.register import Register

    with Register(app.config.paths.register) as register:
        yield Accounts(register, session_hours=app.config.web.session_hours)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="0 picks a free port.")
@click.option(
    "--dev",
    is_flag=True,
    help="Embedded defaults (make serve): the demo's development PKI under OUTPUT/dev-pki, an embedded TSA in "
    "this process, and a one-time password for the user 'admin'. Never for production.",
)
@pass_app
def serve(app: AppContext, host: str, port: int, dev: bool) -> None:
    """Run the web application for sales, legal and operations until SIGTERM or Ctrl-C.

    Pages in Dutch (English with ?lang=en) and a JSON API under /api (Bearer tokens from `dpa users token`),
    served by uvicorn. Prints "dpa serve: listening on URL" on stdout once it accepts connections. Put it
    behind a reverse proxy with TLS in production (see the README).

    \b
    Examples:
      make serve                                   # dpa serve --dev: development PKI, embedded TSA
      dpa --config /etc/dpa/dpa.toml serve --host 127.0.0.1 --port 8080
    """
    from dpa.web.server import serve_app

    def listening(url: str, admin_password: str | None) -> None:
        click.echo(f"dpa serve: listening on {url}")
        if admin_password is not None:
            click.echo(f"dpa serve: log in as admin with the one-time password {admin_password}")
        sys.stdout.flush()

    serve_app(app.config, host=host, port=port, dev=dev, on_listening=listening)
    app.info("dpa serve: stopped")


@cli.group()
def users() -> None:
    """Accounts of the web application (roles sales, legal, ops, admin)."""


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["sales", "legal", "ops", "admin"]), help="What they may do.")
@click.option(
    "--password-env",
    metavar="VAR",
    help="Take the password from this environment variable; without it a one-time password is printed, to be "
    "changed at the first login.",
)
@click.option(
    "--email",
    metavar="ADDR",
    help="Their e-mail address (optional): the signing page tells them there when a customer they invited signed.",
)
@pass_app
def users_add(app: AppContext, name: str, role: str, password_env: str | None, email: str | None) -> None:
    """Create an account of the web application with a role: sales, legal, ops or admin.

    The password comes from --password-env (at least 12 characters), or a one-time password is printed once and
    must be changed at the first login. Passwords are stored as argon2id hashes. With --email the user is told by
    mail when a customer they sent a signing link to has signed (without it, only the agreement page shows it).

    \b
    Examples:
      dpa users add anna --role sales --email anna@ipcall.me   # prints a one-time password
      ANNA_PW='…' dpa users add anna --role legal --password-env ANNA_PW
    """
    from dpa.accounts import new_password
    from dpa.errors import AccountError

    if password_env:
        password = os.environ.get(password_env)
        if not password:
            raise AccountError(f"the environment variable {password_env} is not set or empty")
    else:
        password = new_password()
    with _accounts(app) as accounts:
        accounts.add(name, role, password, must_change=not password_env, email=email)
    app.info(f"added {name} ({role})")
    if not password_env:
        click.echo(f"one-time password for {name}: {password}")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per user, one per line.")
@pass_app
def users_list(app: AppContext, as_json: bool) -> None:
    """List the accounts of the web application: name, role, state (active, locked or disabled) and e-mail.

    \b
    Example:
      dpa users list --json
    """
    with _accounts(app) as accounts:
        for user in accounts.users():
            state = "disabled" if user.disabled else ("locked" if user.locked_until else "active")
            if as_json:
                row = {
                    "name": user.name,
                    "role": user.role,
                    "state": state,
                    "created_at": user.created_at,
                    "email": user.email,
                }
                click.echo(json.dumps(row, ensure_ascii=False))
            else:
                click.echo(f"{user.name}\t{user.role}\t{state}\t{user.email or ''}")


@users.command("disable")
@click.argument("name")
@pass_app
def users_disable(app: AppContext, name: str) -> None:
    """Disable an account: it cannot log in, its open sessions end and its API tokens stop working.

    \b
    Example:
      dpa users disable anna
    """
    with _accounts(app) as accounts:
        accounts.disable(name)
    app.info(f"disabled {name}; their sessions and tokens ended")


@users.command("token")
@click.argument("name")
@click.option("--revoke", is_flag=True, help="Revoke the user's API token instead of making a new one.")
@pass_app
def users_token(app: AppContext, name: str, revoke: bool) -> None:
    """Make an API token for NAME (printed once, stored hashed; it replaces their previous one), or revoke it.

    Use it as `Authorization: Bearer TOKEN` on /api/….

    \b
    Examples:
      dpa users token anna > anna.token
      dpa users token anna --revoke
    """
    with _accounts(app) as accounts:
        if revoke:
            count = accounts.revoke_tokens(name)
            app.info(f"revoked {count} token(s) of {name}")
        else:
            click.echo(accounts.issue_token(name))
