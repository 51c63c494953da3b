"""The annotation web app (FastAPI + Jinja2): pages, the JSON API the page's script uses, images.

    GET  /              sign in with a name or code       POST /login    (form, double-submit token)
    GET  /annotate      the page (needs a session)        POST /logout
    GET  /api/task      the current image + progress      POST /api/answer {image_id, ratings, submission_id, duration_ms}
    GET  /api/back?before=ID  the previous image, answer filled in     POST /api/skip {image_id, submission_id}
    GET  /image/ID.png  an image given to this participant
    GET  /stats         rating matrix, pace, agreement (read-only, no session)
    GET  /healthz

Every refusal is a 4xx with ``{"error": "one line"}`` and changes nothing (``store.AnnotationRefused``
carries the status); no traceback reaches a browser. The store calls are synchronous and run in
the thread pool, one transaction each.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from sqlalchemy.engine import Engine

from labelrobust.annotate import store
from labelrobust.annotate.security import (
    CSRF_HEADER,
    LOGIN_COOKIE,
    SECURITY_HEADERS,
    SESSION_COOKIE,
    BodyLimit,
    BodyTooLarge,
    cookie_options,
    foreign_origin,
    new_token,
    same_token,
)
from labelrobust.annotate.sources import CampaignImages
from labelrobust.annotate.store import AnnotationRefused, Campaign, Participant

logger = logging.getLogger(__name__)
HERE = Path(__file__).parent
ANSWER_FIELDS = {"image_id", "ratings", "submission_id", "duration_ms"}
SKIP_FIELDS = {"image_id", "submission_id"}


def create_app(engine: Engine, campaign: Campaign, images: CampaignImages, *, max_body_bytes: int = 16384) -> FastAPI:
    """The app serving ``campaign`` from ``engine``'s store, showing ``images``."""
    app = FastAPI(title="labelrobust annotate", docs_url=None, redoc_url=None, openapi_url=None)
    templates = Jinja2Templates(directory=str(HERE / "templates"))  # autoescape is on for .html
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    _add_error_handlers(app, max_body_bytes)

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    def session(request: Request) -> tuple[Participant, str] | None:
        found = store.web_session(engine, request.cookies.get(SESSION_COOKIE, ""))
        return found if found is not None and found[0].campaign_id == campaign.id else None

    async def api_session(request: Request, post: bool) -> Participant:
        found = await run_in_threadpool(session, request)
        if found is None:
            raise AnnotationRefused(401, "not signed in (or the session has ended); open the start page and sign in again")
        if post and (foreign_origin(request) or not same_token(request.headers.get(CSRF_HEADER), found[1])):
            raise AnnotationRefused(403, "the request lacks this page's security token (X-CSRF-Token); reload the page")
        return found[0]

    @app.get("/", response_class=HTMLResponse)
    async def login_page(request: Request, error: str | None = None):
        token = request.cookies.get(LOGIN_COOKIE) or new_token()
        response = templates.TemplateResponse(request, "login.html", {"campaign": campaign, "login_token": token, "error": error})
        response.set_cookie(LOGIN_COOKIE, token, **cookie_options())
        return response

    @app.post("/login")
    async def login(request: Request):
        form = await request.form()
        if foreign_origin(request) or not same_token(str(form.get("login_token", "")), request.cookies.get(LOGIN_COOKIE)):
            raise AnnotationRefused(403, "the sign-in form is stale or came from another site; open the start page again")
        participant = await run_in_threadpool(store.join, engine, campaign, form.get("name", ""))
        token, _ = await run_in_threadpool(store.create_web_session, engine, participant)
        response = RedirectResponse("/annotate", status_code=303)
        response.set_cookie(SESSION_COOKIE, token, **cookie_options())
        return response

    @app.post("/logout")
    async def logout(request: Request):
        await api_session(request, post=True)
        response = JSONResponse({"ok": True})
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.get("/annotate", response_class=HTMLResponse)
    async def annotate_page(request: Request):
        found = await run_in_threadpool(session, request)
        if found is None:
            return RedirectResponse("/", status_code=303)
        context = {"campaign": campaign, "participant": found[0], "csrf": found[1], "scale": list(range(campaign.max_rating + 1))}
        return templates.TemplateResponse(request, "annotate.html", context)

    def task_payload(participant: Participant, task: store.Task | None) -> dict:
        done = store.progress(engine, participant)
        progress = {"answered": done.answered, "skipped": done.skipped, "remaining": done.remaining,
                    "campaign_answers": done.campaign_answers, "campaign_target": done.campaign_target}
        if task is None:
            return {"task": None, "progress": progress}
        return {"task": {"image_id": task.image_id, "position": task.position, "image": f"/image/{task.image_id}.png",
                         "ratings": None if task.ratings is None else list(task.ratings), "skipped": task.skipped},
                "progress": progress}

    @app.get("/api/task")
    async def current_task(request: Request):
        participant = await api_session(request, post=False)
        return await run_in_threadpool(lambda: task_payload(participant, store.next_task(engine, participant)))

    @app.get("/api/back")
    async def back(request: Request, before: int | None = None):
        participant = await api_session(request, post=False)
        task = await run_in_threadpool(store.previous_task, engine, participant, before)
        if task is None:
            raise AnnotationRefused(404, "there is no earlier image: this is the first one you were given")
        return await run_in_threadpool(task_payload, participant, task)

    @app.post("/api/answer")
    async def answer(request: Request):
        participant = await api_session(request, post=True)
        body = await _json_body(request, ANSWER_FIELDS, required={"image_id", "ratings", "submission_id"})
        await run_in_threadpool(store.submit, engine, participant, body["image_id"], body["ratings"], body["submission_id"], body.get("duration_ms"))
        return await run_in_threadpool(lambda: task_payload(participant, store.next_task(engine, participant)))

    @app.post("/api/skip")
    async def skip(request: Request):
        participant = await api_session(request, post=True)
        body = await _json_body(request, SKIP_FIELDS, required=SKIP_FIELDS)
        await run_in_threadpool(store.skip, engine, participant, body["image_id"], body["submission_id"])
        return await run_in_threadpool(lambda: task_payload(participant, store.next_task(engine, participant)))

    @app.get("/image/{image_id}.png")
    async def image(request: Request, image_id: int):
        participant = await api_session(request, post=False)
        index = await run_in_threadpool(store.assigned_image, engine, participant, image_id)
        data = await run_in_threadpool(images.png, index)
        return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/stats", response_class=HTMLResponse)
    async def stats_page(request: Request):
        from labelrobust.annotate.stats import campaign_stats_of
        from labelrobust.annotate.stats_report import heat_colour

        stats = await run_in_threadpool(campaign_stats_of, engine, campaign)
        top = float(campaign.max_rating)
        cells = [[(v, heat_colour(v, top)) for v in row] for row in stats.matrix]
        return templates.TemplateResponse(request, "stats.html", {"campaign": campaign, "stats": stats, "cells": cells, "dark": top / 2})

    @app.get("/healthz")
    async def healthz():
        return {"ok": True, "campaign": campaign.name}

    return app


async def _json_body(request: Request, fields: set[str], required: set[str]) -> dict:
    """The request's JSON object, with only ``fields`` and every ``required`` one (400 otherwise)."""
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise AnnotationRefused(400, f"the request body is not valid JSON ({err.__class__.__name__}: {str(err)[:80]})") from None
    if not isinstance(body, dict):
        raise AnnotationRefused(400, f"the request body must be a JSON object with {', '.join(sorted(required))}")
    unknown, missing = sorted(set(body) - fields), sorted(required - set(body))
    if unknown:
        raise AnnotationRefused(400, f"unknown field {unknown[0]!r:.40}; the fields are {', '.join(sorted(fields))}")
    if missing:
        raise AnnotationRefused(400, f"missing field {missing[0]!r}")
    return body


def _add_error_handlers(app: FastAPI, max_body_bytes: int) -> None:
    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(AnnotationRefused)
    async def refused(request: Request, exc: AnnotationRefused):
        if exc.status == 403 and request.url.path == "/login":
            return RedirectResponse("/?error=stale", status_code=303)
        if exc.status == 400 and request.url.path == "/login":
            return RedirectResponse("/?error=name", status_code=303)
        return error(exc.status, exc.message)

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, exc: BodyTooLarge):
        return error(413, f"the request body is larger than {max_body_bytes} bytes; nothing was saved")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body")) or "request"
        return error(400, f"{where}: {first.get('msg', 'invalid value')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        return error(exc.status_code, f"{message}: {request.method} {request.url.path}")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        logger.exception("annotate: %s %s failed", request.method, request.url.path)
        return error(500, "internal error; the answer was not saved")
