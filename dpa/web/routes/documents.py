"""``/verify`` (upload PDFs, the report as ``dpa verify`` words it, a PDF/A report to download) and ``/ingest``
(returned agreements into the register, each accepted or refused with the reason)."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from dpa.accounts import User
from dpa.verify.report import DocumentReport, format_text
from dpa.verify.report_pdf import render_report_pdf
from dpa.web.auth import PAGE_ROLES, page_user, runtime
from dpa.web.errors import FormPage
from dpa.web.runtime import WebRuntime
from dpa.web.uploads import staged, uploaded_files
from dpa.web.views import attachment, render
from dpa.workflows.ingest import IngestResult, ingest_file
from dpa.workflows.sealing import ingest_archiver

router = APIRouter()


@dataclass(frozen=True)
class _Verified:
    user_id: int
    name: str
    data: bytes
    report: DocumentReport


class VerifiedUploads:
    """The last verified uploads, in memory, so that "download report (PDF)" needs no second upload."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._items: OrderedDict[str, _Verified] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, user: User, name: str, data: bytes, report: DocumentReport) -> str:
        """Remember one upload; returns the key of its report link."""
        key = secrets.token_urlsafe(16)
        with self._lock:
            self._items[key] = _Verified(user.id, name, data, report)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return key

    def get(self, key: str, user: User) -> _Verified:
        """The upload behind a report link, only for the user who uploaded it."""
        with self._lock:
            item = self._items.get(key)
        if item is None or item.user_id != user.id:
            raise HTTPException(404)
        return item


def verify_upload(rt: WebRuntime, name: str, data: bytes) -> DocumentReport:
    """One uploaded PDF through a warm verifier."""
    with rt.verifiers.verifier() as verifier:
        return verifier.verify_bytes(data, name)


def ingest_upload(rt: WebRuntime, name: str, data: bytes) -> IngestResult:
    """One returned PDF through ``ingest_file`` (staged in a temporary folder that is removed afterwards); what it
    accepts is sealed (PAdES B-LTA) before it is stored, as ``dpa ingest`` does."""
    with (
        staged(rt.upload_dir, name, data) as path,
        rt.verifiers.verifier() as verifier,
        ingest_archiver(rt.config) as archiver,
    ):
        return ingest_file(path, rt.register, verifier, archiver=archiver)


@router.get("/verify", include_in_schema=False)
def verify_form(request: Request, user: Annotated[User, Depends(page_user(*PAGE_ROLES["verify"]))]) -> Response:
    """The upload form."""
    return render(request, "verify.html", results=[], general=[])


@router.post("/verify", include_in_schema=False)
async def verify_files(request: Request, user: Annotated[User, Depends(page_user(*PAGE_ROLES["verify"]))]) -> Response:
    """Verify each uploaded PDF and show its report."""
    request.state.form = FormPage("verify.html", {}, {"results": []})
    form = await request.form()
    rt = runtime(request)
    cache: VerifiedUploads = request.app.state.verified
    results = []
    for name, data in await uploaded_files(form, "files"):
        report = await run_in_threadpool(verify_upload, rt, name, data)
        rt.accounts.record(user.name, "verified", None, f"{name}: {report.indication}")
        results.append((report, format_text(report), cache.keep(user, name, data, report)))
    return render(request, "verify.html", results=results, general=[])


@router.get("/verify/report/{key}.pdf", include_in_schema=False)
def verify_report_pdf(
    request: Request, key: str, user: Annotated[User, Depends(page_user(*PAGE_ROLES["verify"]))]
) -> Response:
    """The verification report of an upload as PDF/A."""
    item = request.app.state.verified.get(key, user)
    stem = item.name.removesuffix(".pdf")
    return attachment(render_report_pdf(item.report, item.data), f"{stem}.verification.pdf")


@router.get("/ingest", include_in_schema=False)
def ingest_form(request: Request, user: Annotated[User, Depends(page_user(*PAGE_ROLES["ingest"]))]) -> Response:
    """The upload form for returned agreements."""
    return render(request, "ingest.html", results=[], general=[])


@router.post("/ingest", include_in_schema=False)
async def ingest_files(request: Request, user: Annotated[User, Depends(page_user(*PAGE_ROLES["ingest"]))]) -> Response:
    """Ingest each uploaded file and say whether it was accepted, and why."""
    request.state.form = FormPage("ingest.html", {}, {"results": []})
    form = await request.form()
    rt = runtime(request)
    results = []
    for name, data in await uploaded_files(form, "files"):
        result = await run_in_threadpool(ingest_upload, rt, name, data)
        agreement_id = result.agreement.id if result.agreement else None
        verdict = "accepted" if result.accepted else "refused"
        rt.accounts.record(user.name, f"ingest-{verdict}", agreement_id, f"{name}: {result.reason}")
        results.append((name, result))
    return render(request, "ingest.html", results=results, general=[])
