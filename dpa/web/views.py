"""Rendering: the Jinja2 environment (autoescaped), the page context every template gets, downloads."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from dpa.verify.report import PROOF_OF_EXISTENCE
from dpa.web.auth import CSRF_COOKIE, LANG_COOKIE, PAGE_ROLES, runtime
from dpa.web.i18n import LANGUAGES, language, translator
from dpa.web.security import csrf_token

TEMPLATES = Path(__file__).with_name("templates")
ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
NAV = (
    ("/agreements", "agreements", "agreements"),
    ("/agreements/new", "new_agreement", "new"),
    ("/verify", "verify", "verify"),
    ("/ingest", "ingest", "ingest"),
    ("/batch", "batch", "batch"),
    ("/users", "users", "users"),
    ("/outbox", "outbox", "outbox"),
)


def days_since(iso: str | None) -> int | None:
    """Whole days from an ISO timestamp until now."""
    if not iso:
        return None
    return (datetime.now(UTC).date() - datetime.fromisoformat(iso).date()).days


def effective_text(day: date | str | None, basis: str | None, words: dict[str, str]) -> str:
    """An effective date as the pages show it: ``uiterlijk DATE`` (``no later than``) when it rests on a proof of
    existence (an archive timestamp over a counter-signature without a timestamp of its own), else the date."""
    if not day:
        return "—"
    text = day.isoformat() if isinstance(day, date) else day
    return words["no_later_than"].format(date=text) if basis == PROOF_OF_EXISTENCE else text


ENVIRONMENT.globals["days_since"] = days_since
ENVIRONMENT.globals["effective_text"] = effective_text
ENVIRONMENT.globals["today"] = lambda: date.today().isoformat()


def request_language(request: Request) -> str:
    """``?lang=`` first, then the language cookie, then Dutch."""
    return language(request.query_params.get("lang") or request.cookies.get(LANG_COOKIE))


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page: ``template`` with the words of the request's language, the user, the navigation and a CSRF token."""
    lang = request_language(request)
    context.setdefault("general", [])
    seed = request.cookies.get(CSRF_COOKIE)
    new_seed = seed is None
    if seed is None:
        seed = secrets.token_urlsafe(24)
    user = getattr(request.state, "user", None)
    rt = runtime(request)
    nav = [
        (href, key)
        for href, key, page in NAV
        if user is not None and user.role in PAGE_ROLES[page] and (page != "outbox" or rt.outbox is not None)
    ]
    html = ENVIRONMENT.get_template(template).render(
        t=translator(lang),
        lang=lang,
        languages=LANGUAGES,
        path=request.url.path,
        user=user,
        nav=nav,
        dev=runtime(request).dev,
        csrf_token=csrf_token(runtime(request).secret, seed),
        **context,
    )
    response = HTMLResponse(html, status_code=status_code, headers={"cache-control": "no-store"})
    secure = request.url.scheme == "https"
    if new_seed:
        response.set_cookie(CSRF_COOKIE, seed, httponly=True, samesite="strict", secure=secure)
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, httponly=True, samesite="strict", secure=secure, max_age=31536000)
    return response


def attachment(data: bytes, filename: str, media_type: str = "application/pdf") -> Response:
    """A download that the browser saves and never shows inline."""
    ascii_name = "".join(c if (c.isascii() and c.isalnum()) or c in "._-" else "_" for c in filename) or "download"
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
    return Response(
        data,
        media_type=media_type,
        headers={"content-disposition": disposition, "cache-control": "no-store"},
    )
