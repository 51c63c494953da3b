"""The real page in headless Chromium (Debian's /usr/bin/chromium through Playwright) against a
real ``labelrobust annotate serve``: keyboard-only rating, reload and resume, back and revise,
skip, the minimum-classes warning, two participants at once, export, and training on the export;
and, on a small campaign served in-process, the thank-you panel, back from it, and signing out.
Any script error or console error (a Content-Security-Policy violation is one) fails a test.

``LABELROBUST_WRITE_SCREENSHOT=1`` also writes docs/annotate-screenshot.png (1280×800).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from labelrobust.annotate import find_campaign, image_keys, open_store
from labelrobust.annotate.app import create_app
from labelrobust.annotate.sources import CampaignImages
from labelrobust.annotate.store import answer_table
from labelrobust.cli.main import main
from tests.annotate.browser import serve_in_thread
from tests.annotate.server import start_server
from tests.annotate.store_fixtures import cifar_campaign

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (requirements-test.txt)")
expect = playwright_api.expect
pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "annotate-screenshot.png"
K = 10


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        reason = "Debian's chromium is not installed (/usr/bin/chromium); ./dev test installs it with apt-get as root"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def campaign_server(tmp_path_factory, data_root):
    db = tmp_path_factory.mktemp("browser") / "labels.sqlite"
    server = start_server("--db", str(db), "--dataset", "cifar10", "--split", "train", "--indices", "0:40",
                          "--blur", "1", "--data-root", str(data_root))
    yield server, db
    server.stop()


def _page(browser, url: str, name: str):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(str(err)))
    page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
    page.on("console", lambda message: message.type == "error" and problems.append(f"console: {message.text} {message.location}"))
    page.goto(url + "/")
    page.fill("#name", name)
    page.keyboard.press("Enter")
    page.wait_for_selector("#picture[src]")
    return page, problems


def _shown(page) -> int:
    return int(page.get_attribute("#picture", "src").split("/")[-1].split(".")[0])


# Waits go through Playwright's locators: the page's Content-Security-Policy forbids the string
# evaluation that page.wait_for_function would need (and the test keeps the real policy on).
def _answered(page, before: int) -> None:
    expect(page.locator("#progress")).to_contain_text(f"you: {before + 1} answered")


def _showing(page, image_id: int, shown: bool = True) -> None:
    src = re.compile(rf"/image/{image_id}\.png$")
    (expect(page.locator("#picture")).to_have_attribute if shown else expect(page.locator("#picture")).not_to_have_attribute)("src", src)


def _table(db):
    engine = open_store(db)
    return answer_table(engine, find_campaign(engine))


def test_keyboard_reload_back_skip_and_warning(browser, campaign_server):
    server, db = campaign_server
    page, problems = _page(browser, server.url, "keyboard-kim")
    first = _shown(page)
    for key in ("3", "1", "ArrowRight"):  # airplane 3, automobile 1, bird 0→1
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    _answered(page, 0)
    second = _shown(page)
    assert second != first

    page.keyboard.press("2")  # one class above 0: the first Enter only warns
    page.keyboard.press("Enter")
    assert "at least 3" in page.text_content("#message")
    assert _shown(page) == second
    page.reload()  # an interrupted session resumes at the same image
    page.wait_for_selector("#picture[src]")
    assert _shown(page) == second
    page.keyboard.press("4")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")  # sent anyway after the warning
    _answered(page, 1)

    page.keyboard.press("b")  # back to the previous answer, filled in
    _showing(page, second)
    assert page.is_checked('tr.scale[data-class="0"] input[value="4"]')
    page.keyboard.press("ArrowLeft")  # 4 → 3 for airplane, then revise
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    _showing(page, second, shown=False)
    third = _shown(page)
    page.keyboard.press("s")
    _showing(page, third, shown=False)
    fourth = _shown(page)
    assert "1 skipped" in page.text_content("#progress")
    page.keyboard.press("Backspace")  # back to the skipped one; S now returns without changing it
    _showing(page, third)
    expect(page.locator("#caption")).to_contain_text("You skipped this image")
    expect(page.locator("#skip")).to_have_text("Return")
    page.keyboard.press("s")
    _showing(page, fourth)
    expect(page.locator("#skip")).to_have_text("Skip")
    assert "you: 2 answered, 1 skipped" in page.text_content("#progress")
    assert problems == []
    if os.environ.get("LABELROBUST_WRITE_SCREENSHOT") == "1":
        for key in ("ArrowDown", "ArrowDown", "2", "1", "ArrowDown", "ArrowDown", "1"):
            page.keyboard.press(key)
        page.screenshot(path=str(SCREENSHOT))
    page.context.close()

    table = _table(db)
    mine = table.annotator == table.annotator_names.index("keyboard-kim")
    got = {int(i): r.tolist() for i, r in zip(table.image[mine], table.ratings[mine])}
    assert got[first - 1] == [3, 1, 1] + [0] * 7  # image ids are source index + 1 in this campaign
    assert got[second - 1] == [3] + [0] * 9  # the revised answer
    assert third - 1 not in got and fourth - 1 not in got  # skipped, and returned from unchanged


def test_two_participants_at_once_lose_nothing(browser, campaign_server):
    server, db = campaign_server
    bob_name = "<i>bob</i>"  # markup in a name is shown as text
    ann, ann_problems = _page(browser, server.url, "ann")
    bob, bob_problems = _page(browser, server.url, bob_name)
    assert bob.text_content("#participant") == bob_name
    seen: dict[str, list[int]] = {"ann": [], bob_name: []}
    for step in range(4):  # interleaved: each answers while the other has an open image
        for name, page in (("ann", ann), (bob_name, bob)):
            seen[name].append(_shown(page))
            for key in ("1", "2", "3"):
                page.keyboard.press(key)
            page.keyboard.press("Enter")
            _answered(page, step)
    assert not set(seen["ann"]) & set(seen[bob_name])  # repeats=1: never the same image
    assert ann_problems == bob_problems == []
    table = _table(db)
    for name in ("ann", bob_name):
        mine = table.image[table.annotator == table.annotator_names.index(name)]
        assert sorted(int(i) + 1 for i in mine) == sorted(seen[name])
    ann.context.close()
    bob.context.close()


def test_export_and_train_on_it(browser, campaign_server, tmp_path, data_root, capsys):
    server, db = campaign_server
    out = tmp_path / "soft.npz"
    assert main(["annotate", "export", "--db", str(db), "--out", str(out)]) == 0
    with np.load(out, allow_pickle=False) as f:
        labelled = f["indices"].tolist()
    assert len(labelled) >= 10
    argv = ["train", "--dataset", "cifar10", "--data-root", str(data_root), "--data-option", f"soft_labels={out}",
            "--label-space", "soft", "--model", "fc", "--epochs", "1", "--batch-size", "4", "--out", str(tmp_path / "runs"), "--name", "soft"]
    assert main(argv) == 0
    import json

    report = json.loads((tmp_path / "runs" / "soft" / "dataset_report.json").read_text())
    assert report["soft_labels"]["images_labelled"] == len(labelled) and report["sizes"]["train"] == len(labelled)


def test_thank_you_panel_back_from_it_and_sign_out(browser, tmp_path, data_root):
    engine, campaign = cifar_campaign(tmp_path / "small.sqlite", data_root, indices="0:2", min_nonzero=0)
    app = create_app(engine, campaign, CampaignImages.open(campaign, data_root, image_keys(engine, campaign)))
    with serve_in_thread(app) as url:
        page, problems = _page(browser, url, "dora")
        for step in range(2):
            page.keyboard.press("1")
            page.keyboard.press("Enter")  # min_nonzero=0: no warning
            _answered(page, step)
        expect(page.locator("#done")).to_be_visible()
        expect(page.locator("#work")).to_be_hidden()
        assert "campaign: 2 / 2" in page.text_content("#progress")
        page.keyboard.press("b")  # the last answer can still be revised from the thank-you panel
        expect(page.locator("#work")).to_be_visible()
        expect(page.locator("#caption")).to_contain_text("Your earlier answer")
        assert page.is_checked('tr.scale[data-class="0"] input[value="1"]')
        page.keyboard.press("s")  # return unchanged: the thank-you panel again
        expect(page.locator("#done")).to_be_visible()
        page.click("#logout")
        page.wait_for_url(url + "/")
        page.goto(url + "/annotate")  # signed out: the page sends the visitor to sign in
        page.wait_for_url(url + "/")
        assert page.is_visible("#name") and problems == []
        page.context.close()
    assert answer_table(engine, campaign).ratings.tolist() == [[1] + [0] * 9] * 2
