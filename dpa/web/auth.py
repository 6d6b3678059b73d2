"""Who is asking: the session cookie (pages), the Bearer token (API), the role check and the CSRF check.

Every route declares its roles through :func:`page_user` or :func:`api_user`; nothing is allowed by default.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from itsdangerous import BadSignature, URLSafeSerializer

from dpa.accounts import User
from dpa.web.runtime import WebRuntime
from dpa.web.security import csrf_ok

SESSION_COOKIE = "dpa_session"
CSRF_COOKIE = "dpa_csrf"
LANG_COOKIE = "dpa_lang"

SALES, LEGAL, OPS, ADMIN = "sales", "legal", "ops", "admin"
EVERYONE = (SALES, LEGAL, OPS, ADMIN)
PAGE_ROLES = {
    "agreements": (SALES, LEGAL, OPS),
    "agreement": (SALES, LEGAL),
    "new": (SALES, LEGAL),
    "verify": (SALES, LEGAL),
    "ingest": (LEGAL,),
    "batch": (OPS, LEGAL),
    "end": (LEGAL,),
    "invite": (SALES, LEGAL),
    "users": (ADMIN,),
    "outbox": (ADMIN,),
}
"""DESIGN.md §10: sales (agreements, verify, invite), legal (everything but accounts), ops (batch, list), admin
(accounts, the development outbox); everyone may change their own password. The customer's signing page has no
account: its link's token is the credential."""


class NeedLogin(Exception):
    """No live session (pages: redirect to /login) or no valid token (API: 401)."""


class MustChangePassword(Exception):
    """The user logged in with a one-time password: /account/password first."""


class Forbidden(Exception):
    """The user's role may not use this route (403)."""


class BadCsrf(Exception):
    """A form POST without the right CSRF token (403)."""


def runtime(request: Request) -> WebRuntime:
    """The application's :class:`WebRuntime`."""
    value: WebRuntime = request.app.state.runtime
    return value


def session_serializer(request: Request) -> URLSafeSerializer:
    """Signs and checks the session cookie with the server's secret."""
    return URLSafeSerializer(runtime(request).secret, salt="dpa-session")


def session_id(request: Request) -> str | None:
    """The session id from the signed cookie, or None."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        value = session_serializer(request).loads(cookie)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


def session_user(request: Request) -> User | None:
    """The user of the request's live session (checked in the register on every request), or None."""
    sid = session_id(request)
    return runtime(request).accounts.session_user(sid) if sid else None


def page_user(*roles: str, allow_password_change: bool = False) -> Callable[[Request], Awaitable[User]]:
    """A dependency: the session's user, who must have one of ``roles``; a form POST must carry the CSRF token."""

    async def dependency(request: Request) -> User:
        if request.method == "POST":
            await check_csrf(request)
        user = session_user(request)
        if user is None:
            raise NeedLogin
        if user.must_change_password and not allow_password_change:
            raise MustChangePassword
        if user.role not in roles:
            raise Forbidden
        request.state.user = user
        return user

    return dependency


def api_user(*roles: str) -> Callable[[Request], User]:
    """A dependency: the user of the ``Authorization: Bearer`` token, who must have one of ``roles``."""

    def dependency(request: Request) -> User:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NeedLogin
        user = runtime(request).accounts.token_user(token.strip())
        if user is None:
            raise NeedLogin
        if user.role not in roles:
            raise Forbidden
        request.state.user = user
        return user

    return dependency


async def check_csrf(request: Request) -> None:
    """A POST form must carry ``csrf_token`` made for the browser's CSRF cookie."""
    form = await request.form()
    token = form.get("csrf_token")
    if not csrf_ok(
        runtime(request).secret, request.cookies.get(CSRF_COOKIE), token if isinstance(token, str) else None
    ):
        raise BadCsrf
