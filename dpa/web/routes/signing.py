"""The customer's signing page, ``/s/{token}``: a thin face over :class:`dpa.portal.flow.SigningPortal`.

The token in the path is the only credential (the access log masks it). A GET shows the agreement and changes
nothing (mail scanners prefetch links); the first POST records "page opened". The form (``signatory_name``,
``signatory_title``, ``agree``, button ``request_code``) works without JavaScript; signing itself needs the
browser's WebCrypto (``/static/sign.js``), which walks the steps below as JSON POSTs with the form's CSRF token:
``confirm`` (the code) → ``challenge`` → ``certificate`` (the key's SPKI and its proof of possession) →
``prepare`` (the signed attributes to sign) → ``finish`` (raw ``r ‖ s``). A PDF signed elsewhere is uploaded to
``upload``. The browser session is a random id in a signed cookie (SameSite=Lax, so that the link from the mail
keeps it), which the portal binds each step to.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.concurrency import run_in_threadpool

from dpa.files import read_input
from dpa.portal.completion import SignedOutcome
from dpa.portal.errors import PortalError
from dpa.portal.flow import SigningPortal, SigningView
from dpa.portal.invitations import Client, issued_file_bytes
from dpa.portal.pages import page_images
from dpa.register import Agreement
from dpa.web.auth import check_csrf, runtime
from dpa.web.errors import FormPage
from dpa.web.i18n import in_force_key, long_date, translator
from dpa.web.uploads import uploaded_files
from dpa.web.views import attachment, render, request_language

router = APIRouter()
SIGNER_COOKIE = "dpa_signer"
MAX_BLOB = 512
"""The longest base64 value a browser step sends (a P-256 SPKI is 91 bytes, a signature 64)."""


def portal(request: Request) -> SigningPortal:
    """The application's signing portal (a configuration error when the signing page is not set up)."""
    return runtime(request).portal()


def signer_client(request: Request) -> Client:
    """The signer's browser: the session id from its signed cookie (a new one when it has none), IP, user agent."""
    serializer = URLSafeSerializer(runtime(request).secret, salt="dpa-signer")
    cookie = request.cookies.get(SIGNER_COOKIE)
    session = None
    if cookie:
        try:
            value = serializer.loads(cookie)
            session = value if isinstance(value, str) else None
        except BadSignature:
            session = None
    if session is None:
        session = secrets.token_urlsafe(32)
        request.state.new_signer_cookie = serializer.dumps(session)
    host = request.client.host if request.client else ""
    return Client(session_id=session, ip=host, user_agent=request.headers.get("user-agent", ""))


def with_signer_cookie(request: Request, response: Response) -> Response:
    """Give a browser without a signer session its cookie (HttpOnly, SameSite=Lax, only for ``/s/``)."""
    cookie = getattr(request.state, "new_signer_cookie", None)
    if cookie:
        response.set_cookie(
            SIGNER_COOKIE, cookie, httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/s/"
        )
    return response


def masked(email: str) -> str:
    """An address as the page shows it: the first letter of the mailbox and the whole domain (j…@klant.nl); a word
    joiner (U+2060) keeps a line from breaking between the ellipsis and the domain."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}…\u2060@{domain}"


def agreement_pages(request: Request, agreement: Agreement) -> list[Path]:
    """The issued agreement's page images, cached under the web application's folder by the file's hash."""
    cache = runtime(request).work_dir / "pages"
    return page_images(lambda: issued_file_bytes(agreement), agreement.issued_sha256, cache)


def page_context(request: Request, view: SigningView, token: str, **extra: Any) -> dict[str, Any]:
    """What ``signing.html`` shows for a link: the agreement's pages, the parties, the form and its state."""
    agreement = view.agreement
    rt = runtime(request)
    images = agreement_pages(request, agreement)
    expires = date.fromisoformat(view.invitation.expires_at[:10])
    values = {"signatory_name": agreement.signatory_name or "", "signatory_title": agreement.signatory_title or ""}
    context: dict[str, Any] = {
        "token": token,
        "view": view,
        "a": agreement,
        "processor": rt.config.processor,
        "processor_name": view.processor,
        "pages": len(images),
        "until": long_date(expires, request_language(request)),
        "email": masked(view.invitation.email),
        "values": values,
        "errors": {},
        "code_sent": False,
        "agreed": False,
        "refusal": None,
    }
    context.update(extra)
    return context


def _page(request: Request, context: dict[str, Any], status: int = 200) -> Response:
    return with_signer_cookie(request, render(request, "signing.html", status, **context))


def _form_page(request: Request, token: str, view: SigningView, values: dict[str, str] | None = None) -> None:
    """The page a failing form POST comes back to, with what was typed."""
    context = page_context(request, view, token)
    typed = values if values is not None else context.pop("values")
    context.pop("values", None)
    context.pop("errors")
    request.state.form = FormPage("signing.html", typed, context)


@router.get("/s/{token}", include_in_schema=False)
async def signing_page(request: Request, token: str) -> Response:
    """The agreement, the parties and the form; reading only (a prefetch changes nothing)."""
    p = portal(request)
    view = await run_in_threadpool(p.look, token)
    signer_client(request)  # a cookie for the session to come; nothing is recorded
    context = await run_in_threadpool(page_context, request, view, token)
    return _page(request, context)


@router.get("/s/{token}/agreement.pdf", include_in_schema=False)
def signing_download(request: Request, token: str) -> Response:
    """The issued agreement, as an attachment."""
    view = portal(request).look(token)
    return attachment(issued_file_bytes(view.agreement), f"{view.agreement.customer_id}.pdf")


@router.get("/s/{token}/page-{number}.png", include_in_schema=False)
def signing_page_image(request: Request, token: str, number: int) -> Response:
    """One page of the agreement as an image."""
    view = portal(request).look(token)
    agreement = view.agreement
    images = agreement_pages(request, agreement)
    if not 1 <= number <= len(images):
        return Response(status_code=404)
    return Response(images[number - 1].read_bytes(), media_type="image/png", headers={"cache-control": "private"})


@router.post("/s/{token}/code", include_in_schema=False)
async def signing_request_code(request: Request, token: str) -> Response:
    """``request_code``: the signer's name, title and statement, then a one-time code to the invited address."""
    await check_csrf(request)
    form = await request.form()
    values = {name: str(form.get(name, "")) for name in ("signatory_name", "signatory_title")}
    p = portal(request)
    client = signer_client(request)
    view = await run_in_threadpool(p.open, token, client)
    _form_page(request, token, view, values)
    customer = view.agreement.name or view.agreement.customer_id
    if form.get("agree") != "yes":
        raise PortalError(f"agree: confirm that you have read the agreement and may sign it for {customer}")
    p.check_signatory(values["signatory_name"], values["signatory_title"])
    await run_in_threadpool(p.request_code, token, client)
    context = page_context(request, view, token, code_sent=True, agreed=True)
    context["values"] = values
    return _page(request, context)


async def _step_form(request: Request) -> dict[str, str]:
    """A browser step's fields (JSON answers, CSRF checked)."""
    request.state.json = True
    await check_csrf(request)
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _blob(fields: dict[str, str], name: str) -> bytes:
    value = fields.get(name, "")
    try:
        data = base64.b64decode(value, validate=True) if len(value) <= MAX_BLOB else b""
    except (binascii.Error, ValueError):
        data = b""
    if not data:
        raise PortalError(f"{name}: missing or not base64")
    return data


def _json(request: Request, body: dict[str, Any]) -> Response:
    return with_signer_cookie(request, JSONResponse(body, headers={"cache-control": "no-store"}))


@router.post("/s/{token}/confirm", include_in_schema=False)
async def signing_confirm(request: Request, token: str) -> Response:
    """The one-time code; from now on only this browser session can go on."""
    fields = await _step_form(request)
    await run_in_threadpool(portal(request).verify_code, token, signer_client(request), fields.get("code", ""))
    return _json(request, {"confirmed": True})


@router.post("/s/{token}/challenge", include_in_schema=False)
async def signing_challenge(request: Request, token: str) -> Response:
    """The bytes the browser's new key signs to prove it holds it."""
    await _step_form(request)
    challenge = await run_in_threadpool(portal(request).challenge, token, signer_client(request))
    return _json(request, {"challenge": base64.b64encode(challenge).decode()})


@router.post("/s/{token}/certificate", include_in_schema=False)
async def signing_certificate(request: Request, token: str) -> Response:
    """A short-lived certificate for the browser's key, in the signatory's name."""
    fields = await _step_form(request)
    issued = await run_in_threadpool(
        lambda: portal(request).request_certificate(
            token,
            signer_client(request),
            public_key=_blob(fields, "public_key"),
            proof=_blob(fields, "proof"),
            signatory_name=fields.get("signatory_name", ""),
            signatory_title=fields.get("signatory_title", ""),
            agreed=fields.get("agree") == "yes",
        )
    )
    subject = issued.certificate.subject.rfc4514_string()
    return _json(request, {"serial": issued.serial, "subject": subject, "key_sha256": issued.key_sha256})


@router.post("/s/{token}/prepare", include_in_schema=False)
async def signing_prepare(request: Request, token: str) -> Response:
    """The controller's signature prepared for that certificate: the signed attributes the browser signs."""
    await _step_form(request)
    to_sign = await run_in_threadpool(portal(request).prepare_signature, token, signer_client(request))
    return _json(request, {"to_sign": base64.b64encode(to_sign).decode()})


@router.post("/s/{token}/finish", include_in_schema=False)
async def signing_finish(request: Request, token: str) -> Response:
    """The browser's signature: embedded, timestamped and ingested; the agreement is then in force."""
    fields = await _step_form(request)
    signature = _blob(fields, "signature")
    outcome = await run_in_threadpool(portal(request).finish_signature, token, signer_client(request), signature)
    return _json(request, _outcome_json(token, outcome))


def _outcome_json(token: str, outcome: SignedOutcome) -> dict[str, Any]:
    effective = outcome.effective_date
    return {
        "accepted": outcome.accepted,
        "reason": outcome.reason,
        "effective_date": effective.isoformat() if effective else None,
        "next": f"/s/{token}/done" if outcome.accepted else None,
    }


@router.get("/s/{token}/done", include_in_schema=False)
def signing_done(request: Request, token: str) -> Response:
    """The page's last state, for the browser session that signed: in force from, and the signed agreement."""
    agreement = portal(request).signed_copy(token, signer_client(request))
    lang = request_language(request)
    effective = date.fromisoformat(agreement.effective_date or "")
    words = translator(lang)
    context: dict[str, Any] = {
        "token": token,
        "a": agreement,
        "effective": effective,
        "in_force": words[in_force_key(agreement.effective_date_basis)].format(date=long_date(effective, lang)),
        "email": masked(agreement.email or ""),
    }
    return with_signer_cookie(request, render(request, "signing_done.html", **context))


@router.get("/s/{token}/signed.pdf", include_in_schema=False)
def signing_signed_copy(request: Request, token: str) -> Response:
    """The agreement signed by both parties, for the browser session that signed."""
    agreement = portal(request).signed_copy(token, signer_client(request))
    data = read_input(Path(agreement.signed_file or ""), "the signed agreement")
    return attachment(data, f"{agreement.customer_id}.signed.pdf")


@router.post("/s/{token}/upload", include_in_schema=False)
async def signing_upload(request: Request, token: str) -> Response:
    """A PDF the customer signed elsewhere (Acrobat), through ingest; its words when it is refused."""
    await check_csrf(request)
    form = await request.form()
    p = portal(request)
    client = signer_client(request)
    view = await run_in_threadpool(p.look, token)
    _form_page(request, token, view)
    name, data = (await uploaded_files(form, "file"))[0]
    outcome = await run_in_threadpool(p.upload, token, client, data, name)
    if outcome.accepted:
        return with_signer_cookie(request, RedirectResponse(f"/s/{token}/done", status_code=303))
    context = page_context(request, view, token, refusal=outcome.reason)
    return _page(request, context, 422)


@router.get("/ca/customer-signing.crl", include_in_schema=False)
def customer_signing_crl(request: Request) -> Response:
    """The customer-signing CA's CRL, at the address its certificates name (DER, ``application/pkix-crl``)."""
    if not runtime(request).signing_enabled:
        return Response(status_code=404)
    return Response(portal(request).crl(), media_type="application/pkix-crl", headers={"cache-control": "max-age=300"})
