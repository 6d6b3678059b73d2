"""The one place in the web face where errors become messages (as :func:`dpa.cli.main` is for the CLI).

A route that shows a form sets ``request.state.form`` (:class:`FormPage`) before it calls the library; a
:class:`~dpa.errors.DpaError` then re-renders that form with the message, and a
:class:`~dpa.errors.RecordError` puts each problem next to its field (``aria-invalid="true"``). Without a form the
message gets a page of its own; under ``/api`` it is JSON. A bug is logged (type only, never request data) and
shown as "internal error". The signing page's errors (:mod:`dpa.portal.errors`) answer with their own HTTP status
(410 Gone for a link that can do nothing any more), in the page's language, as JSON for its browser steps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from dpa.errors import AccountError, DpaError, LoginError, RecordError, RegisterError, WebError
from dpa.portal.errors import CodeRejected, LinkGone, LinkNotFound, PortalError
from dpa.records import FIELDS
from dpa.web.auth import BadCsrf, Forbidden, MustChangePassword, NeedLogin, runtime
from dpa.web.i18n import translator
from dpa.web.views import render, request_language

LOG = logging.getLogger("dpa.web")


@dataclass(frozen=True)
class FormPage:
    """The form a POST came from: re-rendered with the submitted values when the library refuses them."""

    template: str
    values: dict[str, str] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)


def field_problems(exc: RecordError) -> tuple[dict[str, list[str]], list[str]]:
    """The record's problems by field name (``kvk: must be …`` → ``{"kvk": ["must be …"]}``), and the rest."""
    by_field: dict[str, list[str]] = {}
    other: list[str] = []
    for problem in exc.problems:
        name, sep, message = problem.partition(": ")
        if sep and name in FIELDS:
            by_field.setdefault(name, []).append(message)
        else:
            other.append(problem)
    return by_field, other


SIGNER_FIELDS = ("signatory_name", "signatory_title", "agree", "code")
"""The signing page's form fields: a portal error that names one (``agree: …``) is shown next to it."""


def portal_message(exc: PortalError, lang: str) -> tuple[str | None, str]:
    """A signing-page error in the page's language: (the field it concerns or None, the words). Dutch words come
    from the page's dictionary; English, and anything without Dutch words, is the library's own sentence."""
    text = " ".join(str(exc).split())
    name, sep, rest = text.partition(": ")
    field = name if sep and name in SIGNER_FIELDS else None
    if lang == "en":
        return field, rest if field else text
    words = translator(lang)
    dutch = words[f"err_{field}"] if field else words[f"err_{type(exc).__name__}"]
    if dutch.startswith("err_") or not dutch:
        return field, rest if field else text
    if isinstance(exc, CodeRejected):
        dutch = dutch.format(left=exc.attempts_left)
    return field, dutch


def _portal_error(request: Request, exc: PortalError) -> Response:
    lang = request_language(request)
    if isinstance(exc, LinkGone | LinkNotFound) and not _is_api(request):
        key = f"gone_{exc.reason}" if isinstance(exc, LinkGone) else "link_not_found"
        processor = runtime(request).config.processor.name or "ipcall.me"
        return render(request, "signing_gone.html", exc.http_status, key=key, processor_name=processor)
    field, message = portal_message(exc, lang)
    if _is_api(request):
        body: dict[str, Any] = {"error": message, "kind": type(exc).__name__}
        if isinstance(exc, CodeRejected):
            body["attempts_left"] = exc.attempts_left
        if isinstance(exc, LinkGone):
            body["reason"] = exc.reason
        return JSONResponse(body, status_code=exc.http_status)
    form: FormPage | None = getattr(request.state, "form", None)
    if form is None:
        return render(request, "error.html", exc.http_status, message=message)
    errors = {field: [message]} if field else {}
    general = [] if field else [message]
    return render(
        request, form.template, exc.http_status, values=form.values, errors=errors, general=general, **form.context
    )


def _status(exc: DpaError) -> int:
    if isinstance(exc, RecordError):
        return 422
    if isinstance(exc, LoginError):
        return 401
    if isinstance(exc, AccountError):
        return 400
    if isinstance(exc, RegisterError | WebError):
        return 409
    return 400


def _is_api(request: Request) -> bool:
    """The JSON API, or a route that answers JSON (the signing page's browser steps set ``request.state.json``)."""
    return request.url.path.startswith("/api/") or bool(getattr(request.state, "json", False))


def _dpa_error(request: Request, exc: DpaError) -> Response:
    message = " ".join(str(exc).split())
    status = _status(exc)
    if _is_api(request):
        body: dict[str, Any] = {"error": message}
        if isinstance(exc, RecordError):
            body["problems"] = list(exc.problems)
        return JSONResponse(body, status_code=status)
    form: FormPage | None = getattr(request.state, "form", None)
    if form is None:
        return render(request, "error.html", status, message=message)
    errors: dict[str, list[str]] = {}
    general = [message]
    if isinstance(exc, RecordError):
        errors, general = field_problems(exc)
    return render(request, form.template, status, values=form.values, errors=errors, general=general, **form.context)


def _plain(request: Request, status: int, key: str) -> Response:
    if _is_api(request):
        return JSONResponse({"error": key.replace("_", " ")}, status_code=status)
    return render(request, "error.html", status, message=None, key=key)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(NeedLogin)
    async def need_login(request: Request, exc: NeedLogin) -> Response:
        if _is_api(request):
            return JSONResponse(
                {"error": "authentication required: Authorization: Bearer <token from dpa users token>"},
                status_code=401,
                headers={"www-authenticate": "Bearer"},
            )
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    @app.exception_handler(MustChangePassword)
    async def must_change(request: Request, exc: MustChangePassword) -> Response:
        return RedirectResponse("/account/password", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return _plain(request, 403, "forbidden")

    @app.exception_handler(BadCsrf)
    async def bad_csrf(request: Request, exc: BadCsrf) -> Response:
        return _plain(request, 403, "bad_csrf")

    @app.exception_handler(DpaError)
    async def dpa_error(request: Request, exc: DpaError) -> Response:
        if isinstance(exc, PortalError):
            return _portal_error(request, exc)
        return _dpa_error(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request):
            return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)
        key = "not_found" if exc.status_code == 404 else "error"
        return render(
            request, "error.html", exc.status_code, message=None if key == "not_found" else exc.detail, key=key
        )

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> Response:
        LOG.error("internal error on %s: %s", request.method, type(exc).__name__)
        if _is_api(request):
            return JSONResponse({"error": f"internal error: {type(exc).__name__}"}, status_code=500)
        return render(request, "error.html", 500, message=f"internal error: {type(exc).__name__}")
