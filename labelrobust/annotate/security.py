"""What keeps the annotation page safe to run in a lab: a body-size limit, security headers,
session cookies and CSRF checks.

- **Body size**: an ASGI middleware refuses a request whose ``Content-Length`` is over the
  limit (413) and stops reading a body that grows past it while it streams (chunked uploads
  state no length), so a huge request costs neither memory nor a database write.
- **Headers**: ``Content-Security-Policy: default-src 'self'`` (no inline script, nothing from
  another origin: the page's JS is a static file), ``frame-ancestors 'none'``, ``nosniff``,
  ``Referrer-Policy: same-origin``.
- **Sessions**: the cookie holds a random token (``secrets``); the store keeps its SHA-256 only.
  HttpOnly, SameSite=Strict, Path=/.
- **CSRF**: every POST of the page carries the session's token in ``X-CSRF-Token``; the login
  form carries a double-submit token (cookie = form field). A POST whose ``Origin`` is another
  site is refused outright.
"""

from __future__ import annotations

import hmac
import json
import secrets

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "lr_session"
LOGIN_COOKIE = "lr_login"
CSRF_HEADER = "x-csrf-token"

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" makes Chromium send "Origin: null" with a form
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class BodyTooLarge(Exception):
    """Raised from ``receive`` when a streamed body passes the limit."""


class BodyLimit:
    """ASGI middleware: 413 for bodies over ``max_bytes``, by header or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return await _too_large(send, self.max_bytes)
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        await self.app(scope, limited, send)


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"error": f"the request body is larger than {limit} bytes; nothing was saved"}).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def new_token() -> str:
    return secrets.token_urlsafe(32)


def same_token(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; missing tokens never match."""
    return bool(given) and bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def foreign_origin(request: Request) -> bool:
    """True when the request names an ``Origin`` that is not this server's (a cross-site POST)."""
    origin = request.headers.get("origin")
    if origin is None:
        return False
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    return origin != own


def cookie_options() -> dict:
    return {"httponly": True, "samesite": "strict", "path": "/"}
