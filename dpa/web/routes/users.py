"""``/users`` (admin): the accounts; add (a one-time password, shown once), disable, API tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from dpa.accounts import ACCOUNT_ROLES, User, new_password
from dpa.web.auth import PAGE_ROLES, page_user, runtime
from dpa.web.errors import FormPage
from dpa.web.views import render

router = APIRouter()
ADMIN = PAGE_ROLES["users"]


def _page(request: Request, **context: Any) -> Response:
    accounts = runtime(request).accounts
    context.setdefault("shown", None)
    return render(
        request, "users.html", users=accounts.users(), roles=ACCOUNT_ROLES, values={}, errors={}, general=[], **context
    )


@router.get("/users", include_in_schema=False)
def users_page(request: Request, user: Annotated[User, Depends(page_user(*ADMIN))]) -> Response:
    """The accounts."""
    return _page(request)


@router.post("/users", include_in_schema=False)
async def add_user(request: Request, user: Annotated[User, Depends(page_user(*ADMIN))]) -> Response:
    """Add an account with a one-time password (to be changed at the first login) and, optionally, an e-mail
    address (where the signing page tells them that a customer they invited signed)."""
    form = await request.form()
    name, role = str(form.get("name", "")).strip(), str(form.get("role", ""))
    email = str(form.get("email", "")).strip() or None
    rt = runtime(request)
    request.state.form = FormPage(
        "users.html",
        {"name": name, "email": email or ""},
        {"users": rt.accounts.users(), "roles": ACCOUNT_ROLES, "shown": None},
    )
    password = new_password()
    await run_in_threadpool(
        lambda: rt.accounts.add(name, role, password, must_change=True, actor=user.name, email=email)
    )
    return _page(request, shown=(name, password))


@router.post("/users/{name}/disable", include_in_schema=False)
def disable_user(request: Request, name: str, user: Annotated[User, Depends(page_user(*ADMIN))]) -> Response:
    """Disable an account: its sessions end and its tokens stop working at once."""
    runtime(request).accounts.disable(name, actor=user.name)
    return _page(request)


@router.post("/users/{name}/token", include_in_schema=False)
def new_token(request: Request, name: str, user: Annotated[User, Depends(page_user(*ADMIN))]) -> Response:
    """A new API token for ``name`` (replacing the previous), shown once."""
    token = runtime(request).accounts.issue_token(name, actor=user.name)
    return _page(request, shown=(name, token))


@router.post("/users/{name}/revoke", include_in_schema=False)
def revoke_token(request: Request, name: str, user: Annotated[User, Depends(page_user(*ADMIN))]) -> Response:
    """Revoke ``name``'s API token."""
    runtime(request).accounts.revoke_tokens(name, actor=user.name)
    return _page(request)
