"""The annotation store on real CIFAR-10 campaigns: assignment, answers, refusals, concurrency."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from labelrobust.annotate import (
    AnnotationRefused,
    CampaignImage,
    CampaignSpec,
    assigned_image,
    create_campaign,
    find_campaign,
    join,
    next_task,
    open_store,
    previous_task,
    progress,
    skip,
    submit,
)
from labelrobust.annotate.store import add_answers, answer_table, create_web_session, database_url, end_web_session, web_session
from labelrobust.errors import ConfigError, DataError
from tests.annotate.store_fixtures import answer_all_concurrently, cifar_campaign, table_counts

K = 10


@pytest.fixture
def store(tmp_path, data_root):
    return cifar_campaign(tmp_path / "labels.sqlite", data_root, indices="0:6")


def _sid(n: int) -> str:
    return f"submission-{n:04d}"


def test_open_store_is_wal_and_versioned(tmp_path):
    engine = open_store(tmp_path / "a.sqlite")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("SELECT version FROM schema_version").scalar() == 2


def test_campaign_is_stored_once_and_refuses_changes(store, data_root):
    engine, campaign = store
    assert campaign.n_images == 6 and campaign.class_names[0] == "airplane"
    assert find_campaign(engine) == campaign
    spec = CampaignSpec(name=campaign.name, kind="dataset", dataset="cifar10", split="train", class_names=campaign.class_names, repeats=2)
    with pytest.raises(ConfigError, match="repeats=1, not 2"):
        create_campaign(engine, spec, [CampaignImage(i, "", 0) for i in range(6)])
    with pytest.raises(ConfigError, match="no campaign 'other'"):
        find_campaign(engine, "other")


def test_each_image_once_per_participant_and_resume(store):
    engine, campaign = store
    alice, bob = join(engine, campaign, "alice"), join(engine, campaign, " alice ")
    assert alice == bob  # names are trimmed: the same participant resumes
    bob = join(engine, campaign, "bob")
    a1, b1 = next_task(engine, alice), next_task(engine, bob)
    assert a1.image_id != b1.image_id  # repeats=1: never the same image at once
    assert next_task(engine, alice) == a1  # a reload resumes at the open image
    submit(engine, alice, a1.image_id, [4, 0, 1, 0, 0, 0, 0, 0, 2, 0], _sid(1), duration_ms=1500)
    a2 = next_task(engine, alice)
    assert a2.image_id not in (a1.image_id, b1.image_id)
    assert progress(engine, alice).answered == 1
    table = answer_table(engine, campaign)
    assert table.ratings.tolist() == [[4, 0, 1, 0, 0, 0, 0, 0, 2, 0]] and table.annotator_names == ("alice", "bob")


def test_back_and_revise_keep_history(store):
    engine, campaign = store
    p = join(engine, campaign, "p")
    t1 = next_task(engine, p)
    submit(engine, p, t1.image_id, [1] * K, _sid(1))
    t2 = next_task(engine, p)
    back = previous_task(engine, p, t2.image_id)
    assert back.image_id == t1.image_id and back.ratings == (1,) * K
    assert previous_task(engine, p, t1.image_id) is None  # before the first there is nothing
    submit(engine, p, t1.image_id, [2] * K, _sid(2))
    with engine.connect() as conn:
        history = conn.execute(sa.text("SELECT ratings, revision FROM answer_history")).all()
        revision = conn.execute(sa.text("SELECT revision FROM answer")).scalar()
    assert history == [("[1, 1, 1, 1, 1, 1, 1, 1, 1, 1]", 0)] and revision == 1
    assert next_task(engine, p) == t2  # revising does not lose the open image


@pytest.mark.parametrize(
    "kwargs, status, message",
    [
        ({"ratings": [5] + [0] * 9}, 400, "not an integer in 0..4"),
        ({"ratings": [True] + [0] * 9}, 400, "not an integer"),
        ({"ratings": [1] * 9}, 400, "list of 10 integers"),
        ({"ratings": "1111111111"}, 400, "list of 10"),
        ({"image_id": 10_000}, 404, "not an image of this campaign"),
        ({"image_id": "1"}, 400, "image_id must be an integer"),
        ({"image_id": 2**64}, 404, "not an image of this campaign"),
        ({"image_id": -3}, 404, "not an image of this campaign"),
        ({"submission_id": "short"}, 400, "submission_id must be"),
        ({"duration_ms": -1}, 400, "duration_ms"),
    ],
)
def test_bad_answers_are_refused_and_change_nothing(store, kwargs, status, message):
    engine, campaign = store
    p = join(engine, campaign, "p")
    task = next_task(engine, p)
    before = table_counts(engine)
    call = {"image_id": task.image_id, "ratings": [0] * K, "submission_id": _sid(9), "duration_ms": None, **kwargs}
    with pytest.raises(AnnotationRefused, match=message) as refused:
        submit(engine, p, call["image_id"], call["ratings"], call["submission_id"], call["duration_ms"])
    assert refused.value.status == status
    assert table_counts(engine) == before


def test_repeated_and_foreign_submissions_are_refused(store):
    engine, campaign = store
    a, b = join(engine, campaign, "a"), join(engine, campaign, "b")
    ta, tb = next_task(engine, a), next_task(engine, b)
    submit(engine, a, ta.image_id, [1] * K, _sid(1))
    before = table_counts(engine)
    with pytest.raises(AnnotationRefused, match="already recorded") as repeat:
        submit(engine, a, ta.image_id, [3] * K, _sid(1))
    with pytest.raises(AnnotationRefused, match="was not given to participant 'a'") as foreign:
        submit(engine, a, tb.image_id, [1] * K, _sid(2))
    with pytest.raises(AnnotationRefused, match="not given"):
        assigned_image(engine, a, tb.image_id)
    assert repeat.value.status == foreign.value.status == 409
    assert table_counts(engine) == before
    assert answer_table(engine, campaign).ratings.tolist() == [[1] * K]


def test_skip_goes_to_others_and_never_back(store):
    engine, campaign = store
    a, b = join(engine, campaign, "a"), join(engine, campaign, "b")
    ta = next_task(engine, a)
    skip(engine, a, ta.image_id, _sid(1))
    with pytest.raises(AnnotationRefused, match="already skipped"):
        skip(engine, a, ta.image_id, _sid(2))
    seen = set()
    while (t := next_task(engine, a)) is not None:
        seen.add(t.image_id)
        submit(engine, a, t.image_id, [1] * K, _sid(100 + t.image_id))
    assert ta.image_id not in seen and len(seen) == 5
    assert next_task(engine, b).image_id == ta.image_id  # the skipped image is the one left
    assert progress(engine, a).remaining == 0


def test_repeats_give_each_image_to_that_many_participants(tmp_path, data_root):
    engine, campaign = cifar_campaign(tmp_path / "r.sqlite", data_root, indices="0:3", repeats=2)
    counts = {}
    for name in ("a", "b", "c"):
        p = join(engine, campaign, name)
        while (t := next_task(engine, p)) is not None:
            counts[t.image_id] = counts.get(t.image_id, 0) + 1
            submit(engine, p, t.image_id, [1] * K, f"{name}-submission-{t.image_id}")
    assert sorted(counts.values()) == [2, 2, 2]


def test_concurrent_participants_lose_nothing(tmp_path, data_root):
    """Four threads answer at once on one SQLite file: every answer lands, no image twice."""
    engine, campaign = cifar_campaign(tmp_path / "c.sqlite", data_root, indices="0:40")
    got = answer_all_concurrently(engine, campaign, [f"p{i}" for i in range(4)])
    answered = [i for ids in got.values() for i in ids]
    assert sorted(answered) == sorted(set(answered)) and len(answered) == 40
    assert len(answer_table(engine, campaign)) == 40


def test_web_sessions(store):
    engine, campaign = store
    p = join(engine, campaign, "p")
    token, csrf = create_web_session(engine, p)
    assert web_session(engine, token) == (p, csrf)
    assert web_session(engine, token + "x") is None and web_session(engine, "") is None
    assert end_web_session(engine, token) and web_session(engine, token) is None  # signed out
    assert not end_web_session(engine, token)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT token_hash FROM web_session")).scalar() != token  # only the hash is kept


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "tab\there\x00", 5])
def test_bad_participant_names(store, name):
    engine, campaign = store
    with pytest.raises(AnnotationRefused, match="participant name"):
        join(engine, campaign, name)


def test_database_url_errors(tmp_path):
    assert database_url(tmp_path / "x.sqlite").get_backend_name() == "sqlite"
    assert database_url("postgresql://u@localhost/db").drivername == "postgresql+psycopg"
    with pytest.raises(ConfigError, match="is a folder"):
        database_url(tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        database_url(tmp_path / "no" / "x.sqlite")
    with pytest.raises(ConfigError, match="only SQLite files and postgresql"):
        database_url("mysql://u@h/db")


def test_refuses_files_that_are_not_its_store(tmp_path):
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database\n" * 100)
    with pytest.raises(DataError, match="cannot be opened as a database"):
        open_store(text)
    assert text.read_text().startswith("not a database")  # untouched
    other = tmp_path / "other.sqlite"
    e = sa.create_engine(f"sqlite:///{other}")
    with e.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE users (id INTEGER)")
    with pytest.raises(DataError, match="not a labelrobust annotation database"):
        open_store(other)


def test_add_answers_refuses_any_overlap_with_an_earlier_import(store):
    engine, campaign = store
    add_answers(engine, campaign, "importer", [(2, [1] * K), (3, [2] * K)], submission_prefix="batch_one")
    before = table_counts(engine)
    # first and last are new, the middle one was imported before: refused whole
    with pytest.raises(AnnotationRefused, match="batch_one-\\* are already in the store") as refused:
        add_answers(engine, campaign, "other", [(0, [1] * K), (3, [1] * K), (5, [1] * K)], submission_prefix="batch_one")
    assert refused.value.status == 409 and table_counts(engine) == before
    # "_" is no wildcard: a prefix that only looks alike is a different import
    assert add_answers(engine, campaign, "other", [(0, [1] * K)], submission_prefix="batchXone") == 1
