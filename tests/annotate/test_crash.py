"""Killing the server (SIGKILL) while answers are arriving leaves a consistent store: every
answer that got a 200 is there with all its ratings, no answer is half-written, and a restarted
server continues the campaign."""

from __future__ import annotations

import sqlite3
import threading
import time

import httpx
import pytest

from labelrobust.annotate import find_campaign, open_store
from labelrobust.annotate.store import answer_table
from tests.annotate.server import sign_in, start_server

pytestmark = pytest.mark.slow
K = 10


def _answer_until_refused(url: str, name: str, accepted: list[int], stop: threading.Event) -> None:
    try:
        client, csrf = sign_in(url, name)
        task = client.get("/api/task").json()["task"]
        n = 0
        while task is not None and not stop.is_set():
            n += 1
            body = {"image_id": task["image_id"], "ratings": [n % 5] * K, "submission_id": f"{name}-submission-{n:05d}"}
            reply = client.post("/api/answer", json=body, headers={"X-CSRF-Token": csrf})
            if reply.status_code != 200:
                return
            accepted.append(task["image_id"])
            task = reply.json()["task"]
    except httpx.HTTPError:  # the server died under us: that is the point
        return


def test_sigkill_mid_requests_leaves_the_store_consistent(tmp_path, data_root):
    db = tmp_path / "labels.sqlite"
    args = ["--db", str(db), "--dataset", "cifar10", "--indices", "0:400", "--data-root", str(data_root)]
    server = start_server(*args)
    accepted: dict[str, list[int]] = {f"p{i}": [] for i in range(3)}
    stop = threading.Event()
    threads = [threading.Thread(target=_answer_until_refused, args=(server.url, n, accepted[n], stop)) for n in accepted]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while sum(map(len, accepted.values())) < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()  # while the three participants are still sending
    stop.set()
    for t in threads:
        t.join(timeout=60)

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    engine = open_store(db)
    campaign = find_campaign(engine)
    table = answer_table(engine, campaign)  # raises if any answer lacks some of its K ratings
    stored = set(table.image.tolist())
    confirmed = {i for ids in accepted.values() for i in ids}
    # source index = image id − 1 here (the campaign's images were stored in order)
    assert {i - 1 for i in confirmed} <= stored, "an answer the server confirmed was lost"
    assert len(stored) == len(table) and len(table) >= 30

    again = start_server(*args)  # the same flags continue the same campaign
    try:
        client, csrf = sign_in(again.url, "p0")
        task = client.get("/api/task").json()["task"]
        assert task is not None and task["image_id"] not in accepted["p0"]
        reply = client.post("/api/answer", json={"image_id": task["image_id"], "ratings": [1] * K, "submission_id": "after-restart-1"},
                            headers={"X-CSRF-Token": csrf})
        assert reply.status_code == 200
    finally:
        again.stop()
    assert len(answer_table(open_store(db), campaign)) == len(table) + 1
