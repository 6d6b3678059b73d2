"""The HTTP face of the embedded services: one threading server for the RFC 3161 TSA and, optionally, the
development PKI's revocation addresses.

``POST`` with ``Content-Type: application/timestamp-query`` (to any other path than ``/ocsp/…``) is a timestamp
request, behind HTTP basic auth when credentials are set; ``GET /crl/…``, ``GET /ca/…`` and ``POST /ocsp/…`` go to
the :class:`~dpa.devtools.revocation.RevocationResponder`, without authentication. Sockets get TCP_NODELAY (an
``http.server`` service stalls about 40 ms per request without it) and HTTP/1.1 keep-alive; request bodies are
bounded.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import http.server
import logging
import socket
from collections.abc import Callable
from typing import Any

from dpa.devtools.revocation import Answer, RevocationResponder
from dpa.signing.rfc3161 import CONTENT_TYPE_QUERY, CONTENT_TYPE_REPLY

log = logging.getLogger(__name__)


class _Handler(http.server.BaseHTTPRequestHandler):
    """One HTTP connection to the TSA; keep-alive, TCP_NODELAY, bounded body."""

    protocol_version = "HTTP/1.1"
    server_version = "dpa-tsa"
    sys_version = ""
    timeout = 30
    server: ServiceHttpServer

    def setup(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()

    def do_POST(self) -> None:
        srv = self.server
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if srv.revocation is not None and srv.revocation.is_ocsp(self.path):
            ocsp_body = self._read_body()
            if ocsp_body is not None:
                self._answer(srv.revocation.post_ocsp(self.path, content_type, ocsp_body))
            return
        if srv.credentials is not None and not self._authorised(srv.credentials):
            self._plain(401, "authentication required\n", {"WWW-Authenticate": 'Basic realm="dpa-tsa"'})
            return
        if content_type != CONTENT_TYPE_QUERY:
            self._plain(415, f"expected Content-Type {CONTENT_TYPE_QUERY}\n")
            return
        body = self._read_body()
        if body is not None:
            self._answer(Answer(200, CONTENT_TYPE_REPLY, srv.respond(body)))

    def do_GET(self) -> None:
        answer = self.server.revocation.get(self.path) if self.server.revocation is not None else None
        if answer is None:
            self._plain(405, "POST an application/timestamp-query\n", {"Allow": "POST"})
        else:
            self._answer(answer)

    def do_OTHER(self) -> None:
        self._plain(405, "POST an application/timestamp-query\n", {"Allow": "POST"})

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OTHER

    def _read_body(self) -> bytes | None:
        """The request body within the size limit, or None after answering the error."""
        length_header = self.headers.get("Content-Length")
        if length_header is None or self.headers.get("Transfer-Encoding"):
            self._plain(411, "Content-Length required\n")
            return None
        try:
            length = int(length_header)
        except ValueError:
            self._plain(400, "bad Content-Length\n")
            return None
        if length < 0 or length > self.server.max_request_bytes:
            self._plain(413, f"request larger than {self.server.max_request_bytes} bytes\n")
            return None
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            return None
        return body

    def _answer(self, answer: Answer) -> None:
        if answer.status != 200:
            self._plain(answer.status, answer.body.decode("utf-8", "replace"))
            return
        self.send_response(200)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def _authorised(self, credentials: tuple[bytes, bytes]) -> bool:
        header = self.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user, sep, password = decoded.partition(b":")
        ok_user = hmac.compare_digest(user, credentials[0])
        ok_password = hmac.compare_digest(password, credentials[1])
        return bool(sep) and ok_user and ok_password

    def _plain(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        body = text.encode()
        self.close_connection = True  # the request body may be unread
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class ServiceHttpServer(http.server.ThreadingHTTPServer):
    """A threading HTTP server with the TSA's ``respond`` function, its credentials and limits, and optionally a
    revocation responder; every connection is a :class:`_Handler`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        respond: Callable[[bytes], bytes],
        credentials: tuple[bytes, bytes] | None,
        max_request_bytes: int,
        revocation: RevocationResponder | None,
    ) -> None:
        self.respond = respond
        self.credentials = credentials
        self.max_request_bytes = max_request_bytes
        self.revocation = revocation
        super().__init__(address, _Handler)
