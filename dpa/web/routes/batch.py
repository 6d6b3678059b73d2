"""``/batch`` (operations): upload a CSV, see the validation summary, start it, follow the progress, download
the manifest. The run is the library's ``run_batch`` in the :class:`~dpa.web.batches.BatchRunner`'s thread."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from dpa.accounts import User
from dpa.files import read_input
from dpa.web.auth import PAGE_ROLES, page_user, runtime
from dpa.web.errors import FormPage
from dpa.web.uploads import uploaded_files
from dpa.web.views import attachment, render

router = APIRouter()
BATCH = PAGE_ROLES["batch"]


@router.get("/batch", include_in_schema=False)
def batch_form(request: Request, user: Annotated[User, Depends(page_user(*BATCH))]) -> Response:
    """The upload form and the newest batch."""
    return render(request, "batch.html", latest=runtime(request).batches.latest(), general=[])


@router.post("/batch", include_in_schema=False)
async def batch_upload(request: Request, user: Annotated[User, Depends(page_user(*BATCH))]) -> Response:
    """Keep the CSV and validate every row (nothing is issued yet)."""
    rt = runtime(request)
    request.state.form = FormPage("batch.html", {}, {"latest": rt.batches.latest()})
    form = await request.form()
    (_name, data), *_ = await uploaded_files(form, "csv")
    job = await run_in_threadpool(rt.batches.validate, data, user.name)
    rt.accounts.record(user.name, "batch-uploaded", None, f"{job.id}: {job.rows} rows, {len(job.invalid)} invalid")
    return RedirectResponse(f"/batch/{job.id}", status_code=303)


@router.get("/batch/{job_id}", include_in_schema=False)
def batch_page(request: Request, job_id: str, user: Annotated[User, Depends(page_user(*BATCH))]) -> Response:
    """Validation summary, start button, and the progress (live with JavaScript, on reload without)."""
    job = runtime(request).batches.job(job_id)
    return render(request, "batch_job.html", job=job, snap=job.snapshot(), general=[])


@router.post("/batch/{job_id}/start", include_in_schema=False)
def batch_start(request: Request, job_id: str, user: Annotated[User, Depends(page_user(*BATCH))]) -> Response:
    """Start the batch in the background (one at a time)."""
    rt = runtime(request)
    job = rt.batches.job(job_id)
    request.state.form = FormPage("batch_job.html", {}, {"job": job, "snap": job.snapshot()})
    rt.batches.start(job_id, user.name)
    rt.accounts.record(user.name, "batch-started", None, f"{job_id}: {job.valid} rows")
    return RedirectResponse(f"/batch/{job_id}", status_code=303)


@router.get("/batch/{job_id}/progress", include_in_schema=False)
def batch_progress(request: Request, job_id: str, user: Annotated[User, Depends(page_user(*BATCH))]) -> JSONResponse:
    """The progress as JSON, for the page's script."""
    return JSONResponse(runtime(request).batches.job(job_id).snapshot(), headers={"cache-control": "no-store"})


@router.get("/batch/{job_id}/manifest.csv", include_in_schema=False)
def batch_manifest(request: Request, job_id: str, user: Annotated[User, Depends(page_user(*BATCH))]) -> Response:
    """The batch folder's manifest.csv."""
    batches = runtime(request).batches
    batches.job(job_id)
    if not batches.manifest.is_file():
        raise HTTPException(404)
    return attachment(read_input(batches.manifest, "manifest"), "manifest.csv", "text/csv; charset=utf-8")
