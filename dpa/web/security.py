"""The web application's outer layer, as plain ASGI middleware: upload cap (413), security headers, and an
access log that never holds a secret (no query strings, no headers, no cookies; signing-link tokens masked)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS_LOG = logging.getLogger("dpa.web.access")

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)
MULTIPART_SLACK = 64 * 1024
"""Room for the multipart framing and the other form fields on top of ``max_upload_mb``."""
_SECRET_PATH = re.compile(r"^(/s/)[^/]+")
"""Paths whose segment is a bearer secret (the customer's signing link): never logged."""


def loggable_path(path: str) -> str:
    """``path`` as it may appear in a log: a signing-link token masked, control characters escaped."""
    masked = _SECRET_PATH.sub(r"\1…", path)
    return masked.encode("unicode_escape").decode("ascii")[:300]


def csrf_token(secret: str, seed: str) -> str:
    """The form token for the browser's CSRF seed cookie (HMAC, so it cannot be made without the secret)."""
    return hmac.new(secret.encode(), b"csrf:" + seed.encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: str, seed: str | None, token: str | None) -> bool:
    """Whether ``token`` was made for ``seed``."""
    return bool(seed and token) and hmac.compare_digest(csrf_token(secret, seed or ""), token or "")


class _TooLarge(Exception):
    """The request body grew past the cap while it was being read."""


class HardeningMiddleware:
    """Caps request bodies, adds the security headers, and writes the access log line."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one connection's request through the cap, with the headers, and log it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        state: dict[str, Any] = {"status": 0, "started": False}
        https = scope.get("scheme") == "https"

        async def send_hardened(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"], state["started"] = message["status"], True
                headers = list(message.get("headers", []))
                headers += SECURITY_HEADERS
                if https:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            declared = _content_length(scope)
            if declared is not None and declared > self.max_body_bytes:
                await _too_large(send_hardened, self.max_body_bytes)
            else:
                await self.app(scope, self._capped(receive), send_hardened)
        except _TooLarge:
            if not state["started"]:
                await _too_large(send_hardened, self.max_body_bytes)
        finally:
            ACCESS_LOG.info(
                "%s %s %s %.0f ms",
                scope.get("method", "?"),
                loggable_path(scope.get("path", "")),
                state["status"] or "-",
                1000 * (time.monotonic() - started),
            )

    def _capped(self, receive: Receive) -> Receive:
        received = 0

        async def capped() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _TooLarge
            return message

        return capped


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(send: Send, limit: int) -> None:
    body = f"413 the upload is larger than the limit of {limit // (1024 * 1024)} MB ([web] max_upload_mb)\n".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})
