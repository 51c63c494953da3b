"""The web app in-process (FastAPI's TestClient) on a real store and real CIFAR-10 images:
the flow, every refusal (status, one-line message, nothing changed), CSRF and escaping."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from labelrobust.annotate import create_campaign, image_keys, open_store
from labelrobust.annotate.app import create_app
from labelrobust.annotate.campaigns import prepare_campaign
from labelrobust.annotate.sources import CampaignImages
from labelrobust.annotate.store import answer_table
from tests.annotate.store_fixtures import cifar_campaign, table_counts

K = 10


def _client(engine, campaign, data_root) -> TestClient:
    images = CampaignImages.open(campaign, data_root, image_keys(engine, campaign))
    return TestClient(create_app(engine, campaign, images), base_url="http://127.0.0.1:8000")


def _sign_in(client: TestClient, name: str) -> str:
    token = re.search(r'name="login_token" value="([^"]+)"', client.get("/").text).group(1)
    page = client.post("/login", data={"name": name, "login_token": token}, follow_redirects=True)
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
    reply = client.post("/api/answer", json={"image_id": task["image_id"], "ratings": [3, 1, 1] + [0] * 7,
                                             "submission_id": "submission-0001", "duration_ms": 2100}, headers={"X-CSRF-Token": csrf})
    assert reply.status_code == 200 and reply.json()["progress"]["answered"] == 1
    second = reply.json()["task"]
    back = client.get(f"/api/back?before={second['image_id']}").json()["task"]
    assert back["image_id"] == task["image_id"] and back["ratings"] == [3, 1, 1] + [0] * 7
    skipped = client.post("/api/skip", json={"image_id": second["image_id"], "submission_id": "submission-0002"}, headers={"X-CSRF-Token": csrf})
    assert skipped.status_code == 200 and skipped.json()["progress"]["skipped"] == 1
    assert client.get(f"/api/back?before={task['image_id']}").status_code == 404
    assert answer_table(engine, campaign).ratings.tolist() == [[3, 1, 1] + [0] * 7]


def _refusal(client, method, url, status, message, **kwargs):
    reply = client.request(method, url, **kwargs)
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"error"} and "\n" not in body["error"] and message in body["error"], body
    return body["error"]


def test_bad_requests_are_refused_and_change_nothing(app_store):
    engine, _, client, csrf = app_store
    task = client.get("/api/task").json()["task"]
    good = {"image_id": task["image_id"], "ratings": [1] * K, "submission_id": "submission-0001"}
    client.post("/api/answer", json=good, headers={"X-CSRF-Token": csrf})
    task = client.get("/api/task").json()["task"]
    before = table_counts(engine)
    h = {"X-CSRF-Token": csrf}
    post = lambda body, **kw: _refusal(client, "POST", "/api/answer", json=body, **kw)  # noqa: E731
    post({**good, "image_id": task["image_id"], "ratings": [5] * K, "submission_id": "s-00000002"}, status=400, message="not an integer in 0..4", headers=h)
    post({**good, "image_id": task["image_id"], "ratings": [1] * 9, "submission_id": "s-00000003"}, status=400, message="list of 10", headers=h)
    post({**good, "image_id": 99999, "submission_id": "s-00000004"}, status=404, message="not an image of this campaign", headers=h)
    post(good, status=409, message="already recorded", headers=h)
    post({**good, "extra": 1}, status=400, message="unknown field 'extra'", headers=h)
    post({"ratings": [1] * K}, status=400, message="missing field 'image_id'", headers=h)
    post([1, 2], status=400, message="must be a JSON object", headers=h)
    _refusal(client, "POST", "/api/answer", 400, "not valid JSON", content=b"{not json", headers={**h, "Content-Type": "application/json"})
    _refusal(client, "POST", "/api/answer", 413, "larger than 16384 bytes", content=b"x" * 20000, headers=h)

    def chunks():  # no Content-Length: the limit is enforced while the body streams
        for _ in range(40):
            yield b"x" * 1000

    _refusal(client, "POST", "/api/answer", 413, "larger than 16384 bytes", content=chunks(), headers=h)
    _refusal(client, "POST", "/api/answer", 403, "security token", json=good)
    _refusal(client, "POST", "/api/answer", 403, "security token", json=good, headers={"X-CSRF-Token": csrf + "x"})
    _refusal(client, "POST", "/api/answer", 403, "security token", json=good, headers={**h, "Origin": "http://evil.example"})
    _refusal(client, "GET", "/api/back?before=abc", 400, "before")
    _refusal(client, "GET", "/image/99999.png", 404, "was not given")
    _refusal(client, "GET", "/no/such/page", 404, "Not Found")
    assert table_counts(engine) == before


def test_without_a_session(app_store, data_root):
    engine, campaign, _, _ = app_store
    stranger = _client(engine, campaign, data_root)
    _refusal(stranger, "GET", "/api/task", 401, "not signed in")
    _refusal(stranger, "POST", "/api/answer", 401, "not signed in", json={})
    assert stranger.get("/annotate", follow_redirects=False).headers["location"] == "/"
    # a login form posted without the page's token (from another site) does not sign in
    reply = stranger.post("/login", data={"name": "mallory", "login_token": "forged"}, follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/?error=stale"
    assert "mallory" not in answer_table(engine, campaign).annotator_names


def test_headers_and_names_are_escaped(tmp_path, data_root):
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (20, 20), (40 * i, 90, 200)).save(folder / f"{i}.png")
    engine = open_store(tmp_path / "x.sqlite")
    spec, images = prepare_campaign(folder=folder, classes=["<b>x</b>&\"'", "plain"])
    campaign = create_campaign(engine, spec, images)
    client = _client(engine, campaign, data_root)
    first = client.get("/")
    assert "default-src 'self'" in first.headers["content-security-policy"] and first.headers["x-content-type-options"] == "nosniff"
    assert "<b>x</b>" not in first.text and "&lt;b&gt;x&lt;/b&gt;&amp;" in first.text
    _sign_in(client, "<script>alert(1)</script>")
    page = client.get("/annotate").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>x</b>" not in page
    stats = client.get("/stats")
    assert stats.status_code == 200 and "<b>x</b>" not in stats.text


def test_stats_page_shows_the_matrix(tmp_path, data_root):
    engine, campaign = cifar_campaign(tmp_path / "s.sqlite", data_root, indices="0:4")
    client = _client(engine, campaign, data_root)
    csrf = _sign_in(client, "ann")
    task = client.get("/api/task").json()["task"]
    client.post("/api/answer", json={"image_id": task["image_id"], "ratings": [4] + [0] * 9, "submission_id": "submission-0001"},
                headers={"X-CSRF-Token": csrf})
    page = client.get("/stats").text
    assert 'id="rating-matrix"' in page and "4.00" in page and "ann" in page
