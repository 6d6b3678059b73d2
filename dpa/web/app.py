"""The FastAPI application: routes, error handlers, static files, hardening middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.staticfiles import StaticFiles

from dpa import __version__
from dpa.web.errors import install_error_handlers
from dpa.web.routes import agreements, api, batch, documents, outbox, session, signing, users
from dpa.web.routes.documents import VerifiedUploads
from dpa.web.runtime import WebRuntime
from dpa.web.security import MULTIPART_SLACK, HardeningMiddleware

STATIC = Path(__file__).with_name("static")


async def close_uploads(request: Request) -> AsyncIterator[None]:
    """After every route: close the parsed form's uploaded files (the routes read forms themselves)."""
    try:
        yield
    finally:
        await request.close()


def create_app(runtime: WebRuntime) -> FastAPI:
    """The web application over ``runtime`` (the caller closes the runtime)."""
    app = FastAPI(
        title="dpa",
        version=__version__,
        description="ipcall.me's data processing agreements: the JSON API (Authorization: Bearer <token>).",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(close_uploads)],
    )
    app.state.runtime = runtime
    app.state.verified = VerifiedUploads()
    for module in (session, agreements, documents, batch, users, outbox, signing, api):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    install_error_handlers(app)
    app.add_middleware(
        HardeningMiddleware, max_body_bytes=runtime.config.web.max_upload_mb * 1024 * 1024 + MULTIPART_SLACK
    )
    return app
