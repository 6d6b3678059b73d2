"""The JSON API (DESIGN.md §10), with ``Authorization: Bearer <token>`` from ``dpa users token``.

``POST /api/verify`` answers exactly the object ``dpa verify --json`` prints for the same file (named by the
upload's file name). The OpenAPI description is at ``/api/openapi.json`` (with a token).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, File, Request, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from dpa.accounts import User
from dpa.errors import WebError
from dpa.records import record_from_mapping
from dpa.web.auth import PAGE_ROLES, api_user, runtime
from dpa.web.routes.agreements import find_agreement
from dpa.web.routes.documents import ingest_upload, verify_upload
from dpa.web.uploads import safe_name
from dpa.workflows.issue import issue_one

router = APIRouter(prefix="/api", tags=["api"])


async def _read_upload(file: UploadFile) -> tuple[str, bytes]:
    data = await file.read()
    if not data:
        raise WebError("the uploaded file is empty")
    return safe_name(file.filename), data


@router.get("/agreements")
def list_agreements(
    request: Request, user: Annotated[User, Depends(api_user(*PAGE_ROLES["agreements"]))]
) -> list[dict[str, Any]]:
    """Every agreement in the register, oldest first (``status`` filters)."""
    status = request.query_params.get("status") or None
    return [a.as_dict() for a in runtime(request).register.agreements(status=status)]


@router.get("/agreements/{customer_id}")
def get_agreement(
    request: Request, customer_id: str, user: Annotated[User, Depends(api_user(*PAGE_ROLES["agreement"]))]
) -> dict[str, Any]:
    """The customer's newest agreement (or ``?rid=``) with its events."""
    agreement, _ = find_agreement(request, customer_id)
    events = [e.__dict__ for e in runtime(request).register.events(agreement.id)]
    return {**agreement.as_dict(), "events": events}


@router.post("/agreements", status_code=201)
def create_agreement(
    request: Request,
    record: Annotated[dict[str, Any], Body(description="a customer record: the flat keys of DESIGN.md §5")],
    user: Annotated[User, Depends(api_user(*PAGE_ROLES["new"]))],
) -> JSONResponse:
    """Issue an agreement for the record (as ``dpa issue``); 422 with every problem when the record is invalid."""
    rt = runtime(request)
    parsed = record_from_mapping(record, "the record")
    issued = issue_one(parsed, rt.config.paths.output / f"{parsed.id}.pdf", rt.issue_run())
    rt.accounts.record(user.name, "issued", issued.register_id, f"{parsed.id} via the API")
    row = next(a for a in rt.register.agreements(customer_id=parsed.id) if a.id == issued.register_id)
    return JSONResponse(row.as_dict(), status_code=201)


@router.post("/verify")
async def verify(
    request: Request,
    file: Annotated[UploadFile, File(description="the PDF to verify")],
    user: Annotated[User, Depends(api_user(*PAGE_ROLES["verify"]))],
) -> dict[str, Any]:
    """The ``dpa verify --json`` object for the uploaded PDF."""
    name, data = await _read_upload(file)
    rt = runtime(request)
    report = await run_in_threadpool(verify_upload, rt, name, data)
    rt.accounts.record(user.name, "verified", None, f"{name}: {report.indication} (API)")
    return report.to_json()


@router.post("/ingest")
async def ingest(
    request: Request,
    file: Annotated[UploadFile, File(description="a counter-signed agreement")],
    user: Annotated[User, Depends(api_user(*PAGE_ROLES["ingest"]))],
) -> JSONResponse:
    """Ingest a returned agreement: the ``verify --json`` object with ``accepted`` and ``reason`` added (422 with
    only those two when the file was refused before verification)."""
    name, data = await _read_upload(file)
    rt = runtime(request)
    result = await run_in_threadpool(ingest_upload, rt, name, data)
    agreement_id = result.agreement.id if result.agreement else None
    rt.accounts.record(
        user.name, "ingest-accepted" if result.accepted else "ingest-refused", agreement_id, f"{name} (API)"
    )
    body: dict[str, Any] = result.report.to_json() if result.report else {}
    body.update(accepted=result.accepted, reason=result.reason)
    return JSONResponse(body, status_code=200 if result.report else 422)


@router.get("/openapi.json", include_in_schema=False)
def openapi(
    request: Request, user: Annotated[User, Depends(api_user("sales", "legal", "ops", "admin"))]
) -> dict[str, Any]:
    """The OpenAPI description of this API."""
    schema: dict[str, Any] = request.app.openapi()
    return schema
