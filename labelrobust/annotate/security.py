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
  site is refused outright. Tokens are compared with ``hmac.compare_digest``.
- **Last resort**: an exception nothing else handled is logged here with its traceback and
  answered with a one-line 500 that carries the same headers; no traceback reaches a browser.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "lr_session"
LOGIN_COOKIE = "lr_login"
CSRF_HEADER = "x-csrf-token"
INTERNAL_ERROR = "internal error; the answer was not saved"
logger = logging.getLogger("labelrobust.annotate")

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
    await _json_error(send, 413, f"the request body is larger than {limit} bytes; nothing was saved")


async def _json_error(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """ASGI middleware: ``SECURITY_HEADERS`` on every response (a route's own value wins, e.g.
    an image's Cache-Control), and the one-line 500 for an exception nothing handled.

    Pure ASGI rather than ``@app.middleware("http")`` so that the 500 it writes gets the
    headers too (Starlette's own last-resort handler sits outside every user middleware).
    """

    def __init__(self, app: ASGIApp):
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                own = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in self.headers if h[0] not in own)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            logger.exception("annotate: %s %s failed", scope.get("method"), scope.get("path"))
            if not started:  # once a response has begun, all that can be done is to stop it
                await _json_error(send_with_headers, 500, INTERNAL_ERROR)


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
