"""``/login``, ``/logout``, ``/account/password``, ``/healthz`` and ``/``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from dpa.accounts import User
from dpa.errors import AccountError
from dpa.web.auth import (
    EVERYONE,
    PAGE_ROLES,
    SESSION_COOKIE,
    check_csrf,
    page_user,
    runtime,
    session_id,
    session_serializer,
)
from dpa.web.errors import FormPage
from dpa.web.views import render

router = APIRouter()


def _landing(user: User) -> str:
    for path, page in (("/agreements", "agreements"), ("/batch", "batch"), ("/users", "users")):
        if user.role in PAGE_ROLES[page]:
            return path
    return "/account/password"


def _safe_next(target: str | None) -> str | None:
    """Only a local path (never //host or a URL) may follow the login."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


@router.get("/healthz", include_in_schema=False)
def healthz() -> PlainTextResponse:
    """Liveness for the reverse proxy and the tests."""
    return PlainTextResponse("ok\n")


@router.get("/", include_in_schema=False)
def home(user: Annotated[User, Depends(page_user(*EVERYONE))]) -> RedirectResponse:
    """Each role's first page."""
    return RedirectResponse(_landing(user), status_code=303)


@router.get("/login", include_in_schema=False)
def login_form(request: Request) -> Response:
    """The login page."""
    return render(
        request, "login.html", values={}, errors={}, general=[], next=_safe_next(request.query_params.get("next"))
    )


@router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    """Check name and password (5 failures lock the account for 15 minutes) and start a session."""
    await check_csrf(request)
    form = await request.form()
    name, password = str(form.get("username", "")), str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "")))
    request.state.form = FormPage("login.html", {"username": name}, {"next": target})
    accounts = runtime(request).accounts
    user = await run_in_threadpool(accounts.authenticate, name, password)
    sid = await run_in_threadpool(accounts.start_session, user)
    response = RedirectResponse(target or _landing(user), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_serializer(request).dumps(sid),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=3600 * runtime(request).config.web.session_hours,
    )
    return response


@router.post("/logout", include_in_schema=False)
def logout(
    request: Request, user: Annotated[User, Depends(page_user(*EVERYONE, allow_password_change=True))]
) -> Response:
    """End the session."""
    sid = session_id(request)
    if sid:
        runtime(request).accounts.end_session(sid, user)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/account/password", include_in_schema=False)
def password_form(
    request: Request, user: Annotated[User, Depends(page_user(*EVERYONE, allow_password_change=True))]
) -> Response:
    """Change one's own password (forced after a one-time password)."""
    return render(request, "password.html", values={}, errors={}, general=[], changed=False)


@router.post("/account/password", include_in_schema=False)
async def change_password(
    request: Request, user: Annotated[User, Depends(page_user(*EVERYONE, allow_password_change=True))]
) -> Response:
    """Set a new password: the current one must be right, the new one given twice."""
    form = await request.form()
    request.state.form = FormPage("password.html", {}, {"changed": False})
    new = str(form.get("new_password", ""))
    if new != str(form.get("repeat_password", "")):
        raise AccountError("the two new passwords differ")
    await run_in_threadpool(runtime(request).accounts.change_password, user, str(form.get("current_password", "")), new)
    request.state.user = runtime(request).accounts.get(user.name)
    return render(request, "password.html", values={}, errors={}, general=[], changed=True)
