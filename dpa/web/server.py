"""``dpa serve``: uvicorn over the application, and the embedded development set-up of ``make serve``.

uvicorn's own access log is off: :mod:`dpa.web.security` writes one that never holds a query string, a header or
a cookie. With ``dev`` the server runs on the demo's development PKI (``OUTPUT/dev-pki``, NIET VOOR PRODUCTIE) and
an embedded TSA in this process, the signing page's links and CRL point at the server itself, mail goes to the
embedded outbox unless the configuration has ``[smtp]``, and the user ``admin`` gets a fresh one-time password.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType

import uvicorn

from dpa.accounts import Accounts, new_password
from dpa.config import Config, load_config
from dpa.devtools.tsa_server import tsa_server_from_config
from dpa.errors import AccountError, ConfigError
from dpa.register import Register
from dpa.web.app import create_app
from dpa.web.runtime import WebRuntime
from dpa.workflows.demo import development_pki, embedded_config, pki_port

LOG = logging.getLogger("dpa.web")
DEV_ADMIN = "admin"


def configure_logging() -> None:
    """Log lines on stderr: time, logger, message (the access log included)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger("dpa")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False


def web_secret(config: Config) -> str | None:
    """The cookie-signing secret from ``[web] secret_env``, or None (a random one per start)."""
    name = config.web.secret_env
    if not name:
        return None
    value = os.environ.get(name)
    if not value or len(value) < 16:
        raise ConfigError(f"[web] secret_env names {name}, which is not set or shorter than 16 characters")
    return value


@contextlib.contextmanager
def dev_setup(config: Config, url: str) -> Iterator[tuple[Config, str]]:
    """The embedded set-up for a server at ``url``: development PKI and TSA, the register at ``[paths] register``,
    the signing page's links and CRL at ``url`` itself, and ``config``'s ``[smtp]`` if it has one (else the
    outbox); yields the config and a one-time password for ``admin``."""
    output = config.paths.output.resolve()
    base = load_config(development_pki(output / "dev-pki"))
    with tsa_server_from_config(base, port=pki_port(base)) as tsa:  # its certificates name it
        tsa_url = tsa.start_in_thread()
        dev_config = embedded_config(base, output, tsa_url, register=config.paths.register.resolve())
        portal = dataclasses.replace(dev_config.portal, base_url=url.rstrip("/"))
        dev_config = dataclasses.replace(dev_config, portal=portal, smtp=config.smtp)
        password = new_password()
        with Register(dev_config.paths.register) as register:
            accounts = Accounts(register)
            try:
                accounts.set_password(DEV_ADMIN, password, actor="dpa serve --dev", must_change=True)
            except AccountError:
                accounts.add(DEV_ADMIN, "admin", password, must_change=True, actor="dpa serve --dev")
        yield dev_config, password


def serve_app(
    config: Config,
    *,
    host: str,
    port: int,
    dev: bool = False,
    on_listening: Callable[[str, str | None], None] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT (must run in the main thread)."""
    configure_logging()
    with contextlib.ExitStack() as stack:
        sock = _listening_socket(host, port)
        stack.callback(sock.close)
        bound_host, bound_port = sock.getsockname()[:2]
        url = f"http://{'[' + bound_host + ']' if ':' in bound_host else bound_host}:{bound_port}/"
        admin_password = None
        if dev:
            config, admin_password = stack.enter_context(dev_setup(config, url))
        secret = web_secret(config)
        if secret is None and not dev:
            LOG.warning("no [web] secret_env: sessions are signed with a random secret and end when the server stops")
        runtime = WebRuntime.start(config, secret, dev=dev)
        stack.callback(runtime.close)
        if not dev and not runtime.accounts.has_users():
            LOG.warning("no accounts yet: add one with `dpa users add NAME --role admin`")
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(runtime),
                log_config=None,
                access_log=False,
                proxy_headers=True,
                forwarded_allow_ips="127.0.0.1",
                timeout_graceful_shutdown=10,
            )
        )
        threading.Thread(target=_announce, args=(server, url, admin_password, on_listening), daemon=True).start()
        # uvicorn re-raises the signal that stopped it, after restoring the handlers it found: with these, a SIGTERM
        # ends the process normally (exit 0) once the graceful shutdown is done.
        previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            server.run(sockets=[sock])
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _listening_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _stopped(signum: int, frame: FrameType | None) -> None:
    """The signal uvicorn passes on after its graceful shutdown: nothing more to do."""


def _announce(
    server: uvicorn.Server, url: str, admin_password: str | None, on_listening: Callable[[str, str | None], None] | None
) -> None:
    """Tell the caller once uvicorn accepts connections."""
    while not server.started and not server.should_exit:
        threading.Event().wait(0.05)
    if server.started and on_listening is not None:
        on_listening(url, admin_password)
