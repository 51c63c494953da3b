"""The annotation web app (FastAPI + Jinja2): pages, the JSON API the page's script uses, images.

    GET  /              sign in with a name or code       POST /login    (form, double-submit token)
    GET  /annotate      the page (needs a session)        POST /logout
    GET  /api/task      the current image + progress      POST /api/answer {image_id, ratings, submission_id, duration_ms}
    GET  /api/back?before=ID  the previous image, answer filled in     POST /api/skip {image_id, submission_id}
    GET  /image/ID.png  an image given to this participant
    GET  /stats         rating matrix, pace, agreement (read-only, no session)
    GET  /healthz

Every refusal is a 4xx with ``{"error": "one line"}`` and changes nothing (``store.AnnotationRefused``
carries the status); the sign-in form, a plain HTML form, answers a refusal with the sign-in page
and the message, under the same 4xx status. No traceback reaches a browser: an unexpected error is
logged and answered ``500 {"error": "internal error; the answer was not saved"}``
(``security.SecurityHeaders``). The store calls are synchronous and run in the thread pool, one
transaction each.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import jinja2
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
    SESSION_COOKIE,
    BodyLimit,
    BodyTooLarge,
    SecurityHeaders,
    cookie_options,
    foreign_origin,
    new_token,
    same_token,
)
from labelrobust.annotate.sources import CampaignImages
from labelrobust.annotate.store import AnnotationRefused, Campaign, Participant
from labelrobust.errors import LabelRobustError

logger = logging.getLogger(__name__)
HERE = Path(__file__).parent
ANSWER_FIELDS = {"image_id", "ratings", "submission_id", "duration_ms"}
SKIP_FIELDS = {"image_id", "submission_id"}


def create_app(engine: Engine, campaign: Campaign, images: CampaignImages, *, max_body_bytes: int = 16384) -> FastAPI:
    """The app serving ``campaign`` from ``engine``'s store, showing ``images``."""
    app = FastAPI(title="labelrobust annotate", docs_url=None, redoc_url=None, openapi_url=None)
    # autoescape on for every template whatever its name: names come from participants and folders
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True)
    templates = Jinja2Templates(env=env)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(SecurityHeaders)  # added last = outermost: its headers reach every response
    _add_error_handlers(app, max_body_bytes)

    def login_page_response(request: Request, status: int = 200, error: str | None = None):
        token = request.cookies.get(LOGIN_COOKIE) or new_token()
        context = {"campaign": campaign, "login_token": token, "error": error}
        response = templates.TemplateResponse(request, "login.html", context, status_code=status)
        response.set_cookie(LOGIN_COOKIE, token, **cookie_options())
        return response

    def session(request: Request) -> tuple[Participant, str] | None:
        found = store.web_session(engine, request.cookies.get(SESSION_COOKIE, ""))
        return found if found is not None and found[0].campaign_id == campaign.id else None

    async def api_session(request: Request, post: bool) -> Participant:
        found = await run_in_threadpool(session, request)
        if found is None:
            raise AnnotationRefused(401, "not signed in (or the session has ended); open the start page and sign in again")
        if post and foreign_origin(request):
            raise AnnotationRefused(403, f"a request from another site ({request.headers['origin'][:80]}) was refused")
        if post and not same_token(request.headers.get(CSRF_HEADER), found[1]):
            raise AnnotationRefused(403, "the request lacks this page's security token (X-CSRF-Token); reload the page")
        return found[0]

    @app.get("/", response_class=HTMLResponse)
    async def login_page(request: Request):
        return login_page_response(request)

    @app.post("/login")
    async def login(request: Request):
        form = await request.form()
        if foreign_origin(request) or not same_token(str(form.get("login_token", "")), request.cookies.get(LOGIN_COOKIE)):
            message = "the sign-in form had expired or came from another site; please sign in again"
            return login_page_response(request, 403, message)
        try:
            participant = await run_in_threadpool(store.join, engine, campaign, form.get("name", ""))
        except AnnotationRefused as refusal:
            return login_page_response(request, refusal.status, refusal.message)
        token, _ = await run_in_threadpool(store.create_web_session, engine, participant)
        response = RedirectResponse("/annotate", status_code=303)
        response.set_cookie(SESSION_COOKIE, token, **cookie_options())
        return response

    @app.post("/logout")
    async def logout(request: Request):
        await api_session(request, post=True)
        await run_in_threadpool(store.end_web_session, engine, request.cookies.get(SESSION_COOKIE, ""))
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
        try:
            data = await run_in_threadpool(images.png, index)
        except LabelRobustError as err:  # e.g. a folder image deleted or unreadable since the campaign began
            logger.error("annotate: image %d (source %d) cannot be shown: %s", image_id, index, err)
            return JSONResponse({"error": f"image {image_id} cannot be shown: it cannot be read on the server (see its log)"}, status_code=500)
        return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/stats", response_class=HTMLResponse)
    async def stats_page(request: Request):
        from labelrobust.annotate.stats import campaign_stats_of
        from labelrobust.annotate.stats_report import matrix_cells

        stats = await run_in_threadpool(campaign_stats_of, engine, campaign)
        cells = matrix_cells(stats.matrix, campaign.max_rating)
        return templates.TemplateResponse(request, "stats.html", {"campaign": campaign, "stats": stats, "cells": cells})

    @app.get("/healthz")
    async def healthz():
        return {"ok": True, "campaign": campaign.name}

    return app


async def _json_body(request: Request, fields: set[str], required: set[str]) -> dict:
    """The request's JSON object, with only ``fields`` and every ``required`` one (400 otherwise)."""
    raw = await request.body()
    try:
        body = json.loads(raw)
    except RecursionError:
        raise AnnotationRefused(400, "the request body is JSON nested too deeply; send one flat object") from None
    except ValueError as err:  # JSONDecodeError, bad UTF-8, numbers of 4300+ digits
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
        return error(exc.status_code, f"{message}: {request.method} {request.url.path[:200]}")
