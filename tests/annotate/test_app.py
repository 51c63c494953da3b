"""The web app in-process (FastAPI's TestClient) on a real store and real CIFAR-10 images:
the flow, every refusal (status, one-line message, nothing changed), CSRF, origins, body
limits, unexpected errors and escaping."""

from __future__ import annotations

import asyncio
import json
import logging
import re

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from PIL import Image

from labelrobust.annotate import create_campaign, image_keys, join, next_task, open_store
from labelrobust.annotate.app import create_app
from labelrobust.annotate.campaigns import prepare_campaign
from labelrobust.annotate.sources import CampaignImages
from labelrobust.annotate.store import answer_table
from tests.annotate.store_fixtures import cifar_campaign, table_counts

K = 10
BASE = "http://127.0.0.1:8000"


def _client(engine, campaign, data_root=None, max_body_bytes: int = 16384, **kwargs) -> TestClient:
    images = CampaignImages.open(campaign, data_root, image_keys(engine, campaign))
    return TestClient(create_app(engine, campaign, images, max_body_bytes=max_body_bytes), base_url=BASE, **kwargs)


def _login_token(client: TestClient) -> str:
    return re.search(r'name="login_token" value="([^"]+)"', client.get("/").text).group(1)


def _sign_in(client: TestClient, name: str) -> str:
    page = client.post("/login", data={"name": name, "login_token": _login_token(client)}, follow_redirects=True)
    assert page.status_code == 200 and page.url.path == "/annotate"
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)


@pytest.fixture
def app_store(tmp_path, data_root):
    engine, campaign = cifar_campaign(tmp_path / "app.sqlite", data_root, indices="0:8")
    client = _client(engine, campaign, data_root)
    csrf = _sign_in(client, "ann")
    return engine, campaign, client, csrf


def test_flow_answer_back_skip_and_image(app_store):
    engine, campaign, client, csrf = app_store
    first = client.get("/api/task").json()
    task = first["task"]
    assert first["progress"] == {"answered": 0, "skipped": 0, "remaining": 8, "campaign_answers": 0, "campaign_target": 8}
    png = client.get(task["image"])
    assert png.status_code == 200 and png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
    with Image.open(__import__("io").BytesIO(png.content)) as picture:
        assert picture.size == (campaign.display_size, campaign.display_size)  # enlarged on the server
    reply = client.post("/api/answer", json={"image_id": task["image_id"], "ratings": [3, 1, 1] + [0] * 7,
                                             "submission_id": "submission-0001", "duration_ms": 2100}, headers={"X-CSRF-Token": csrf})
    assert reply.status_code == 200 and reply.json()["progress"]["answered"] == 1
    second = reply.json()["task"]
    assert second["image_id"] != task["image_id"]
    back = client.get(f"/api/back?before={second['image_id']}").json()["task"]
    assert back["image_id"] == task["image_id"] and back["ratings"] == [3, 1, 1] + [0] * 7
    assert client.get(back["image"]).status_code == 200  # an image answered before can be shown again
    revised = client.post("/api/answer", json={"image_id": task["image_id"], "ratings": [2, 2, 0] + [0] * 7,
                                               "submission_id": "submission-0002"}, headers={"X-CSRF-Token": csrf})
    assert revised.status_code == 200 and revised.json()["task"]["image_id"] == second["image_id"]  # back where it was
    assert revised.json()["progress"]["answered"] == 1  # a revision is not a new answer
    skipped = client.post("/api/skip", json={"image_id": second["image_id"], "submission_id": "submission-0003"}, headers={"X-CSRF-Token": csrf})
    assert skipped.status_code == 200 and skipped.json()["progress"]["skipped"] == 1
    assert skipped.json()["task"]["image_id"] not in (task["image_id"], second["image_id"])
    assert client.get("/api/back").json()["task"] == {**second, "skipped": True}  # no ?before: the latest one finished
    assert client.get(f"/api/back?before={task['image_id']}").json() == {"error": "there is no earlier image: this is the first one you were given"}
    table = answer_table(engine, campaign)
    assert table.ratings.tolist() == [[2, 2, 0] + [0] * 7] and table.revision.tolist() == [1] and table.duration_ms.tolist() == [2100]
    assert client.get("/healthz").json() == {"ok": True, "campaign": campaign.name}


def test_done_when_nothing_is_left(tmp_path, data_root):
    engine, campaign = cifar_campaign(tmp_path / "d.sqlite", data_root, indices="0:2")
    client = _client(engine, campaign, data_root)
    csrf = _sign_in(client, "ann")
    for n in range(2):
        task = client.get("/api/task").json()["task"]
        reply = client.post("/api/answer", json={"image_id": task["image_id"], "ratings": [1] * K, "submission_id": f"submission-{n:04d}"},
                            headers={"X-CSRF-Token": csrf})
    assert reply.json()["task"] is None and reply.json()["progress"]["campaign_answers"] == 2
    assert client.get("/api/task").json()["task"] is None
    assert client.get("/api/back").json()["task"]["image_id"] == task["image_id"]  # the thank-you page can still go back


def _refusal(client, method, url, status, message, **kwargs):
    reply = client.request(method, url, **kwargs)
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/json" and "default-src 'self'" in reply.headers["content-security-policy"]
    body = reply.json()
    assert set(body) == {"error"} and "\n" not in body["error"] and "Traceback" not in body["error"] and message in body["error"], body
    return body["error"]


def test_bad_requests_are_refused_and_change_nothing(app_store, data_root):
    engine, campaign, client, csrf = app_store
    task = client.get("/api/task").json()["task"]
    good = {"image_id": task["image_id"], "ratings": [1] * K, "submission_id": "submission-0001"}
    client.post("/api/answer", json=good, headers={"X-CSRF-Token": csrf})
    task = client.get("/api/task").json()["task"]
    other = next_task(engine, join(engine, campaign, "bea"))  # an image given to someone else
    before = table_counts(engine)
    h = {"X-CSRF-Token": csrf}
    post = lambda body, status, message, url="/api/answer", headers=h: _refusal(client, "POST", url, status, message, json=body, headers=headers)  # noqa: E731
    fresh = {**good, "image_id": task["image_id"], "submission_id": "submission-9999"}
    post({**fresh, "ratings": [5] * K}, 400, "not an integer in 0..4")
    post({**fresh, "ratings": [-1] + [0] * 9}, 400, "not an integer in 0..4")
    post({**fresh, "ratings": [1.0] * K}, 400, "not an integer")
    post({**fresh, "ratings": [True] * K}, 400, "not an integer")
    post({**fresh, "ratings": ["1"] * K}, 400, "not an integer")
    post({**fresh, "ratings": [1] * 9}, 400, "list of 10")
    post({**fresh, "ratings": "1111111111"}, 400, "list of 10")
    post({**fresh, "image_id": str(task["image_id"])}, 400, "image_id must be an integer")
    post({**fresh, "submission_id": 12345678}, 400, "submission_id must be")
    post({**fresh, "submission_id": "short"}, 400, "submission_id must be")
    post({**fresh, "duration_ms": -1}, 400, "duration_ms must be")
    post({**fresh, "image_id": 99999}, 404, "not an image of this campaign")
    post({**fresh, "image_id": 10**30}, 404, "not an image of this campaign")  # no 64-bit id: not a 500 from the driver
    post({**fresh, "image_id": other.image_id}, 409, "was not given to participant 'ann'")
    post({**good, "image_id": task["image_id"]}, 409, "already recorded")  # a replayed submission id
    post({**fresh, "extra": 1}, 400, "unknown field 'extra'")
    post({"ratings": [1] * K}, 400, "missing field 'image_id'")
    post([1, 2], 400, "must be a JSON object")
    post({"image_id": task["image_id"]}, 400, "missing field 'submission_id'", url="/api/skip")
    post({"image_id": task["image_id"], "submission_id": "submission-0001"}, 409, "already recorded", url="/api/skip")
    post({"image_id": other.image_id, "submission_id": "submission-7777"}, 409, "was not given", url="/api/skip")
    jh = {**h, "Content-Type": "application/json"}
    _refusal(client, "POST", "/api/answer", 400, "not valid JSON", content=b"{not json", headers=jh)
    _refusal(client, "POST", "/api/answer", 400, "not valid JSON", content=b"\xff\xfe", headers=jh)
    _refusal(client, "POST", "/api/answer", 400, "not valid JSON", content=b"", headers=jh)
    _refusal(client, "POST", "/api/answer", 400, "nested too deeply", content=b"[" * 12000, headers=jh)
    _refusal(client, "POST", "/api/answer", 400, "not valid JSON", content=b'{"image_id": ' + b"9" * 5000 + b"}", headers=jh)
    _refusal(client, "GET", "/api/back?before=abc", 400, "before")
    _refusal(client, "GET", f"/api/back?before={other.image_id}", 404, "never given")
    _refusal(client, "GET", "/api/back?before=99999999999999999999999", 404, "not an image of this campaign")
    _refusal(client, "GET", "/image/99999.png", 404, "was not given")
    _refusal(client, "GET", f"/image/{other.image_id}.png", 404, "was not given")  # no peeking at others' images
    _refusal(client, "GET", "/image/99999999999999999999999.png", 404, "not an image of this campaign")
    _refusal(client, "GET", "/image/abc.png", 400, "image_id")
    _refusal(client, "GET", "/no/such/page", 404, "Not Found")
    _refusal(client, "PUT", "/api/answer", 405, "Method Not Allowed")
    assert table_counts(engine) == before


def test_body_limit_by_header_and_while_streaming(app_store, data_root):
    engine, campaign, client, csrf = app_store
    task = client.get("/api/task").json()["task"]
    before = table_counts(engine)
    h = {"X-CSRF-Token": csrf}
    # a valid answer padded past the limit: refused for its size alone
    padded = json.dumps({"image_id": task["image_id"], "ratings": [1] * K, "submission_id": "submission-0001"}).encode()
    big = padded[:-1] + b" " * 20000 + b"}"
    _refusal(client, "POST", "/api/answer", 413, "larger than 16384 bytes", content=big, headers={**h, "Content-Type": "application/json"})

    def chunks():  # no Content-Length (chunked): the limit is enforced while the body streams
        yield padded[:-1]
        for _ in range(40):
            yield b" " * 1000
        yield b"}"

    _refusal(client, "POST", "/api/answer", 413, "larger than 16384 bytes", content=chunks(), headers=h)
    _refusal(client, "POST", "/login", 413, "larger than 16384 bytes", data={"name": "x" * 20000, "login_token": "t"})
    assert table_counts(engine) == before
    small = _client(engine, campaign, data_root, max_body_bytes=200, cookies=client.cookies)  # the same session
    _refusal(small, "POST", "/api/answer", 413, "larger than 200 bytes", content=padded + b" " * 200, headers={**h, "Content-Type": "application/json"})
    assert small.post("/api/answer", content=padded, headers={**h, "Content-Type": "application/json"}).status_code == 200


def _asgi_post(app, path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> tuple[int, dict, dict]:
    """POST ``chunks`` to the ASGI ``app`` as separate receive() messages, as a server does with a
    chunked or slowly arriving body; returns (status, headers, JSON body)."""
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1:8000"), *headers], "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000)}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, json.loads(body)


def test_streamed_body_over_the_limit_with_a_lying_content_length(app_store):
    from labelrobust.annotate.security import SESSION_COOKIE

    engine, _, client, csrf = app_store
    before = table_counts(engine)
    cookie = f"{SESSION_COOKIE}={client.cookies[SESSION_COOKIE]}".encode()
    common = [(b"cookie", cookie), (b"x-csrf-token", csrf.encode()), (b"content-type", b"application/json")]
    for declared in ([], [(b"content-length", b"10")]):  # none, or one that understates the body
        status, headers, body = _asgi_post(client.app, "/api/answer", [b"[" + b"1," * 500] * 20, common + declared)
        assert status == 413 and "larger than 16384" in body["error"] and headers["x-content-type-options"] == "nosniff"
    assert table_counts(engine) == before


def test_without_a_session(app_store, data_root):
    engine, campaign, client, csrf = app_store
    stranger = _client(engine, campaign, data_root)
    task = client.get("/api/task").json()["task"]
    before = table_counts(engine)
    _refusal(stranger, "GET", "/api/task", 401, "not signed in")
    _refusal(stranger, "GET", "/api/back", 401, "not signed in")
    _refusal(stranger, "GET", task["image"], 401, "not signed in")
    _refusal(stranger, "POST", "/api/answer", 401, "not signed in", json={"image_id": task["image_id"], "ratings": [1] * K, "submission_id": "s-0000001"})
    _refusal(stranger, "POST", "/api/skip", 401, "not signed in", json={})
    _refusal(stranger, "POST", "/logout", 401, "not signed in")
    stranger.cookies.set("lr_session", "forged-token")
    _refusal(stranger, "GET", "/api/task", 401, "not signed in")
    for page in ("/annotate",):
        reply = stranger.get(page, follow_redirects=False)
        assert reply.status_code == 303 and reply.headers["location"] == "/"
    assert table_counts(engine) == before


def test_csrf_and_origin(app_store, data_root):
    engine, campaign, client, csrf = app_store
    task = client.get("/api/task").json()["task"]
    good = {"image_id": task["image_id"], "ratings": [1] * K, "submission_id": "submission-0001"}
    before = table_counts(engine)
    _refusal(client, "POST", "/api/answer", 403, "security token", json=good)
    _refusal(client, "POST", "/api/answer", 403, "security token", json=good, headers={"X-CSRF-Token": ""})
    _refusal(client, "POST", "/api/answer", 403, "security token", json=good, headers={"X-CSRF-Token": csrf + "x"})
    _refusal(client, "POST", "/api/skip", 403, "security token", json=good, headers={"X-CSRF-Token": csrf[:-1]})
    _refusal(client, "POST", "/logout", 403, "security token")
    for origin in ("http://evil.example", "null", "http://127.0.0.1:8001", "https://127.0.0.1:8000"):
        _refusal(client, "POST", "/api/answer", 403, "another site", json=good, headers={"X-CSRF-Token": csrf, "Origin": origin})
    # another participant's CSRF token does not do for this session
    other = _client(engine, campaign, data_root)
    other_csrf = _sign_in(other, "bea")
    before = table_counts(engine)
    _refusal(client, "POST", "/api/answer", 403, "security token", json=good, headers={"X-CSRF-Token": other_csrf})
    assert table_counts(engine) == before
    ok = client.post("/api/answer", json=good, headers={"X-CSRF-Token": csrf, "Origin": BASE})  # its own origin is fine
    assert ok.status_code == 200


def test_login_form_cookies_and_logout(tmp_path, data_root):
    engine, campaign = cifar_campaign(tmp_path / "l.sqlite", data_root, indices="0:4")
    client = _client(engine, campaign, data_root)
    first = client.get("/")
    assert campaign.name in first.text and "0</b> (none)" in first.text and "airplane" in first.text
    login_cookie = first.headers["set-cookie"]
    assert "HttpOnly" in login_cookie and "SameSite=strict" in login_cookie.replace("Strict", "strict") and "Path=/" in login_cookie
    token = _login_token(client)
    before = table_counts(engine)
    # the double-submit token: a form without it, with another one, or without the cookie is refused
    for data, cookies in (({"name": "mallory"}, None), ({"name": "mallory", "login_token": "forged"}, None),
                          ({"name": "mallory", "login_token": token}, {})):
        if cookies is not None:
            client.cookies.clear()
        reply = client.post("/login", data=data, follow_redirects=False)
        assert reply.status_code == 403 and "expired or came from another site" in reply.text and "lr_session" not in reply.headers.get("set-cookie", "")
        token = _login_token(client)
    reply = client.post("/login", data={"name": "mallory", "login_token": token}, headers={"Origin": "http://evil.example"}, follow_redirects=False)
    assert reply.status_code == 403
    for name in ("", "   ", "x" * 65, "tab\there\x00"):
        reply = client.post("/login", data={"name": name, "login_token": token}, follow_redirects=False)
        assert reply.status_code == 400 and "participant name must be" in reply.text and 'id="name"' in reply.text
    assert table_counts(engine) == before

    reply = client.post("/login", data={"name": "  ann  ", "login_token": token}, follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/annotate"
    session = reply.headers["set-cookie"]
    assert session.startswith("lr_session=") and "HttpOnly" in session and "Path=/" in session and "samesite=strict" in session.lower()
    raw = session.split(";")[0].split("=", 1)[1]
    with engine.connect() as conn:  # the store keeps the token's hash only
        stored = conn.execute(sa.text("SELECT token_hash FROM web_session")).scalars().all()
    assert len(stored) == 1 and raw not in stored[0] and len(stored[0]) == 64
    page = client.get("/annotate")
    assert "signed in as <span id=\"participant\">ann</span>" in page.text
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)
    assert client.post("/logout", headers={"X-CSRF-Token": csrf}).json() == {"ok": True}
    assert client.get("/annotate", follow_redirects=False).status_code == 303  # the cookie is gone


def test_unexpected_errors_are_one_line_500s_and_logged(app_store, caplog):
    engine, campaign, client, csrf = app_store
    quiet = TestClient(client.app, base_url=BASE, raise_server_exceptions=False, cookies=client.cookies)
    task = quiet.get("/api/task").json()["task"]
    before = table_counts(engine)
    with engine.begin() as conn:  # the database breaks under the server (a real OperationalError, not a fake)
        conn.exec_driver_sql("ALTER TABLE rating RENAME TO rating_gone")
    try:
        with caplog.at_level(logging.ERROR, logger="labelrobust.annotate"):
            error = _refusal(quiet, "POST", "/api/answer", 500, "internal error; the answer was not saved",
                             json={"image_id": task["image_id"], "ratings": [1] * K, "submission_id": "submission-0001"},
                             headers={"X-CSRF-Token": csrf})
        assert error == "internal error; the answer was not saved"
        assert "rating" in caplog.text and "Traceback" in caplog.text  # the server's log says what happened
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE rating_gone RENAME TO rating")
    assert table_counts(engine) == before  # the transaction was rolled back: the submission id is free again
    ok = quiet.post("/api/answer", json={"image_id": task["image_id"], "ratings": [1] * K, "submission_id": "submission-0001"},
                    headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200


def _folder_campaign(tmp_path, classes):
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (20 + 10 * i, 20), (40 * i, 90, 200)).save(folder / f"{i}.png")
    engine = open_store(tmp_path / "x.sqlite")
    spec, images = prepare_campaign(folder=folder, classes=classes)
    return engine, create_campaign(engine, spec, images), folder


def test_an_unreadable_image_is_a_500_that_names_it(tmp_path, caplog):
    engine, campaign, folder = _folder_campaign(tmp_path, ["a", "b"])
    client = _client(engine, campaign)
    _sign_in(client, "ann")
    task = client.get("/api/task").json()["task"]
    before = table_counts(engine)
    for picture in folder.iterdir():
        picture.write_bytes(b"not a png any more")
    with caplog.at_level(logging.ERROR, logger="labelrobust.annotate"):
        _refusal(client, "GET", task["image"], 500, f"image {task['image_id']} cannot be shown")
    assert "cannot read image" in caplog.text and str(folder) in caplog.text  # the operator learns which file
    assert table_counts(engine) == before and client.get("/api/task").json()["task"] == task


def test_headers_and_names_are_escaped(tmp_path):
    engine, campaign, _ = _folder_campaign(tmp_path, ["<b>x</b>&\"'", "plain"])
    client = _client(engine, campaign)
    first = client.get("/")
    csp = first.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert first.headers["x-content-type-options"] == "nosniff" and first.headers["x-frame-options"] == "DENY"
    assert first.headers["referrer-policy"] in ("no-referrer", "same-origin")  # same-origin: see security.py
    assert "<b>x</b>" not in first.text and "&lt;b&gt;x&lt;/b&gt;&amp;&#34;&#39;" in first.text
    _sign_in(client, "<script>alert(1)</script>")
    page = client.get("/annotate").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>x</b>" not in page and 'aria-label="&lt;b&gt;x&lt;/b&gt;&amp;&#34;&#39;: 0"' in page
    # every script is a file of this server: no inline script, no asset from elsewhere
    scripts = re.findall(r"<script[^>]*>", page)
    assert scripts and all(re.fullmatch(r'<script src="/static/[a-z]+\.js" defer>', s) for s in scripts), scripts
    assert "://" not in page and " style=" not in page and not re.search(r"<[^>]+\son[a-z]+=", page)
    for asset in ("/static/annotate.js", "/static/style.css", "/static/stats.js"):
        reply = client.get(asset)
        assert reply.status_code == 200 and "://" not in reply.text and "nosniff" == reply.headers["x-content-type-options"]
    # the participant's name also stays escaped in the stats page and as data in JSON error messages
    task = client.get("/api/task").json()["task"]
    reply = client.get(f"/image/{task['image_id'] + 100}.png")
    assert reply.headers["content-type"] == "application/json" and "<script>alert(1)</script>" in reply.json()["error"]
    stats = client.get("/stats")
    assert stats.status_code == 200 and "<b>x</b>" not in stats.text and "&lt;b&gt;x&lt;/b&gt;" in stats.text


def test_stats_page_shows_the_matrix(tmp_path, data_root):
    engine, campaign = cifar_campaign(tmp_path / "s.sqlite", data_root, indices="0:4", repeats=2)
    clients = []
    for name, ratings in (("ann", [4] + [0] * 9), ("bob", [3, 1] + [0] * 8)):
        client = _client(engine, campaign, data_root)
        csrf = _sign_in(client, name)
        task = client.get("/api/task").json()["task"]
        client.post("/api/answer", json={"image_id": task["image_id"], "ratings": ratings, "submission_id": f"{name}-submission"},
                    headers={"X-CSRF-Token": csrf})
        clients.append(client)
    anonymous = _client(engine, campaign, data_root)  # read-only: no session needed
    page = anonymous.get("/stats")
    assert page.status_code == 200 and 'id="rating-matrix"' in page.text and "<td>ann</td><td>1</td>" in page.text
    true_class = campaign.class_names[answer_table(engine, campaign).true_label[0]]
    row = re.search(rf"<tr><th scope=\"row\">{true_class}</th>(.*?)</tr>", page.text).group(1)
    assert "3.50" in row and "0.50" in row and 'data-colour="#' in row  # the mean of 4 and 3; of 0 and 1
    assert re.search(r'id="jsd">\d\.\d{3}<', page.text)
    assert anonymous.post("/stats").status_code == 405
