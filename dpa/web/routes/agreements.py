"""``/agreements`` (the register), ``/agreements/new`` (issue through the form) and ``/agreements/{id}``
(details, history, files, verification, the signing page's links and evidence; sales and legal: invite the
customer to sign; legal: end the cooperation, purge with a second approval)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from dpa.accounts import User
from dpa.errors import ConfigError, WebError
from dpa.files import read_input
from dpa.portal.evidence import portal_evidence
from dpa.portal.invitations import Actor, invitations_for
from dpa.records import FIELDS, record_from_mapping
from dpa.register import STATUSES, Agreement
from dpa.verify.report import format_text
from dpa.verify.report_pdf import render_report_pdf
from dpa.verify.verifier import Verifier
from dpa.web.auth import PAGE_ROLES, page_user, runtime
from dpa.web.errors import FormPage
from dpa.web.runtime import WebRuntime
from dpa.web.uploads import uploaded_files
from dpa.web.views import attachment, render
from dpa.workflows.issue import issue_one

router = APIRouter()
FORM_FIELDS = tuple(f for f in FIELDS if f != "language")


def find_agreement(request: Request, customer_id: str) -> tuple[Agreement, list[Agreement]]:
    """The agreement a detail URL means (``?rid=`` or the customer's newest) and all of that customer's."""
    rows = runtime(request).register.agreements(customer_id=customer_id)
    if not rows:
        raise HTTPException(404)
    rid = request.query_params.get("rid")
    chosen = next((a for a in rows if str(a.id) == rid), None) if rid else rows[-1]
    if chosen is None:
        raise HTTPException(404)
    return chosen, rows


@contextlib.contextmanager
def agreement_verifier(rt: WebRuntime) -> Iterator[Verifier]:
    """The verifier of an agreement's own page: the one the signing page's ingest used (it also trusts the
    customer-signing CA for the signatures made there), else a warm one from the pool."""
    try:
        portal_verifier = rt.portal().verifier if rt.signing_enabled else None
    except ConfigError:  # the signing page is set up without its mail: the pool still verifies
        portal_verifier = None
    if portal_verifier is not None:
        yield portal_verifier
        return
    with rt.verifiers.verifier() as verifier:
        yield verifier


def matches(agreement: Agreement, query: str) -> bool:
    """The list's search: a case-insensitive part of the customer id or the name."""
    needle = query.casefold()
    return needle in agreement.customer_id.casefold() or needle in (agreement.name or "").casefold()


@router.get("/agreements", include_in_schema=False)
def agreement_list(request: Request, user: Annotated[User, Depends(page_user(*PAGE_ROLES["agreements"]))]) -> Response:
    """The register, filtered by status and searched by id or name, newest first."""
    status = request.query_params.get("status") or None
    query = (request.query_params.get("q") or "").strip()
    rows = runtime(request).register.agreements(status=status if status in STATUSES else None)
    rows = [a for a in reversed(rows) if not query or matches(a, query)]
    return render(request, "agreements.html", rows=rows, statuses=STATUSES, status=status, q=query)


@router.get("/agreements/new", include_in_schema=False)
def new_form(request: Request, user: Annotated[User, Depends(page_user(*PAGE_ROLES["new"]))]) -> Response:
    """The record form."""
    return render(request, "agreement_new.html", values={"country": "NL"}, errors={}, general=[], fields=FORM_FIELDS)


@router.post("/agreements/new", include_in_schema=False)
async def issue_from_form(request: Request, user: Annotated[User, Depends(page_user(*PAGE_ROLES["new"]))]) -> Response:
    """Validate the record as the CLI does, issue it through ``issue_one`` and show the agreement's page."""
    form = await request.form()
    values = {name: str(form.get(name, "")) for name in FORM_FIELDS}
    request.state.form = FormPage("agreement_new.html", values, {"fields": FORM_FIELDS})
    record = record_from_mapping({k: v for k, v in values.items() if v.strip()})
    contract = None
    if any(getattr(item, "filename", "") for item in form.getlist("contract")):
        contract = (await uploaded_files(form, "contract"))[0][1]
    rt = runtime(request)
    output = rt.config.paths.output / f"{record.id}.pdf"
    issued = await run_in_threadpool(lambda: issue_one(record, output, rt.issue_run(), contract=contract))
    rt.accounts.record(user.name, "issued", issued.register_id, f"{record.id} via the web")
    return RedirectResponse(f"/agreements/{record.id}?rid={issued.register_id}", status_code=303)


@router.get("/agreements/{customer_id}", include_in_schema=False)
def agreement_page(
    request: Request, customer_id: str, user: Annotated[User, Depends(page_user(*PAGE_ROLES["agreement"]))]
) -> Response:
    """Details, history (register events and users' actions), files, and the verification of the newest file."""
    agreement, versions = find_agreement(request, customer_id)
    rt = runtime(request)
    report = None
    source = agreement.signed_file or agreement.issued_file
    if source and Path(source).is_file():
        with agreement_verifier(rt) as verifier:
            report = verifier.verify_bytes(read_input(Path(source), "agreement"), Path(source).name)
    newest = versions[-1].id == agreement.id
    return render(
        request,
        "agreement.html",
        a=agreement,
        versions=[v for v in versions if v.id != agreement.id],
        events=rt.register.events(agreement.id),
        actions=rt.accounts.actions(agreement.id),
        report=report,
        report_text=format_text(report) if report else "",
        purge_requested_by=rt.accounts.purge_request(agreement.id),
        purge_due=bool(rt.register.purge(date.today(), dry_run=True, only=(agreement.id,))),
        can_end=user.role in PAGE_ROLES["end"],
        can_invite=rt.signing_enabled and newest and agreement.status == "issued" and bool(agreement.email),
        invitations=invitations_for(rt.register, agreement.id),
        evidence=portal_evidence(rt.register, agreement.id),
    )


@router.post("/agreements/{customer_id}/invite", include_in_schema=False)
def invite(
    request: Request, customer_id: str, user: Annotated[User, Depends(page_user(*PAGE_ROLES["invite"]))]
) -> Response:
    """Mail the customer a signing link for their newest issued agreement, to the address in the record."""
    agreement, _ = find_agreement(request, customer_id)
    rt = runtime(request)
    made = rt.portal().invite(customer_id, agreement.email or "", Actor(user.name, user.role))
    rt.accounts.record(user.name, "invited", made.invitation.agreement_id, f"signing link to {made.invitation.email}")
    return RedirectResponse(f"/agreements/{customer_id}?rid={made.invitation.agreement_id}", status_code=303)


def _file_of(request: Request, customer_id: str, kind: str) -> Path:
    agreement, _ = find_agreement(request, customer_id)
    name = agreement.signed_file if kind == "signed" else agreement.issued_file
    if not name or not Path(name).is_file():
        raise HTTPException(404)
    return Path(name)


@router.get("/agreements/{customer_id}/issued.pdf", include_in_schema=False)
def download_issued(
    request: Request, customer_id: str, user: Annotated[User, Depends(page_user(*PAGE_ROLES["agreement"]))]
) -> Response:
    """The issued agreement, as an attachment."""
    path = _file_of(request, customer_id, "issued")
    return attachment(read_input(path, "agreement"), path.name)


@router.get("/agreements/{customer_id}/signed.pdf", include_in_schema=False)
def download_signed(
    request: Request, customer_id: str, user: Annotated[User, Depends(page_user(*PAGE_ROLES["agreement"]))]
) -> Response:
    """The agreement both parties signed, as an attachment."""
    path = _file_of(request, customer_id, "signed")
    return attachment(read_input(path, "agreement"), path.name)


@router.get("/agreements/{customer_id}/report.pdf", include_in_schema=False)
def download_report(
    request: Request, customer_id: str, user: Annotated[User, Depends(page_user(*PAGE_ROLES["agreement"]))]
) -> Response:
    """The verification report of the newest file, as PDF/A."""
    agreement, _ = find_agreement(request, customer_id)
    path = _file_of(request, customer_id, "signed" if agreement.signed_file else "issued")
    data = read_input(path, "agreement")
    rt = runtime(request)
    with agreement_verifier(rt) as verifier:
        report = verifier.verify_bytes(data, path.name)
    evidence = portal_evidence(rt.register, agreement.id)
    lines = evidence.text("en") if evidence.lines else []  # the report is written in English, as dpa verify
    return attachment(render_report_pdf(report, data, evidence=lines), f"{path.stem}.verification.pdf")


@router.post("/agreements/{customer_id}/end", include_in_schema=False)
async def end_cooperation(
    request: Request, customer_id: str, user: Annotated[User, Depends(page_user(*PAGE_ROLES["end"]))]
) -> Response:
    """Legal records the end of the cooperation (never before the effective date); retention starts."""
    form = await request.form()
    raw = str(form.get("on", ""))
    try:
        on = date.fromisoformat(raw)
    except ValueError:
        raise WebError(f"'{raw}' is not a date (YYYY-MM-DD)") from None
    rt = runtime(request)
    rt.register.check_end_date(customer_id, on)
    for agreement in rt.register.end(customer_id, on):
        rt.accounts.record(user.name, "ended", agreement.id, f"cooperation ended on {on.isoformat()}")
    return RedirectResponse(f"/agreements/{customer_id}", status_code=303)


@router.post("/agreements/{customer_id}/purge", include_in_schema=False)
def purge(
    request: Request, customer_id: str, user: Annotated[User, Depends(page_user(*PAGE_ROLES["end"]))]
) -> Response:
    """Ask for, or (a second legal user) approve, the deletion of an agreement whose retention is over."""
    agreement, _ = find_agreement(request, customer_id)
    runtime(request).accounts.request_or_approve_purge(agreement, user, date.today())
    return RedirectResponse(f"/agreements/{customer_id}?rid={agreement.id}", status_code=303)
