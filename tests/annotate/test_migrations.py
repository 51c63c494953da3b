"""Schema versions: the migrated database equals the ORM tables; an old store upgrades with its data."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import pytest

from labelrobust.annotate import join, next_task, open_store, submit
from labelrobust.annotate.migrations import SCHEMA_VERSION, VERSION_TABLE, upgrade
from labelrobust.annotate.schema import Base
from labelrobust.annotate.store import AnnotationRefused, _configure_sqlite, answer_table, find_campaign
from labelrobust.errors import DataError


def _raw_engine(path):
    engine = sa.create_engine(f"sqlite:///{path}")
    _configure_sqlite(engine)
    return engine


def test_migrated_schema_matches_the_orm_tables(tmp_path):
    engine = open_store(tmp_path / "s.sqlite")
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert [d for d in diff if not (d[0] == "remove_table" and d[1].name == VERSION_TABLE)] == []


def test_version_1_store_upgrades_with_its_answers(tmp_path):
    path = tmp_path / "old.sqlite"
    engine = _raw_engine(path)
    upgrade(engine, target=1)  # a store as labelrobust wrote it at schema version 1
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO campaign VALUES (1, 'c', 'dataset', 'cifar10', 'train', NULL, :names, 1, 1, 4, 0.0, 256, 0.0)"),
                     {"names": '["a", "b"]'})
        conn.execute(sa.text("INSERT INTO image VALUES (1, 1, 0, 7, '', 1), (2, 1, 1, 8, '', 0)"))
        conn.execute(sa.text("INSERT INTO participant VALUES (1, 1, 'ann', 0.0)"))
        conn.execute(sa.text("INSERT INTO assignment VALUES (1, 1, 1, 'answered', 0.0, 1.0)"))
        conn.execute(sa.text("INSERT INTO answer VALUES (1, 1, 1, 'second-submission', 1.0, 2.0, 1)"))
        conn.execute(sa.text("INSERT INTO rating VALUES (1, 0, 3), (1, 1, 1)"))
        conn.execute(sa.text("INSERT INTO answer_history VALUES (1, 1, 0, '[2, 2]', 'first-submission', 2.0)"))
    engine.dispose()

    store = open_store(path)
    with store.connect() as conn:
        assert conn.execute(sa.text(f"SELECT version FROM {VERSION_TABLE}")).scalar() == SCHEMA_VERSION
        kinds = dict(conn.execute(sa.text("SELECT submission_id, kind FROM submission")).all())
    assert kinds == {"second-submission": "answer", "first-submission": "revision"}
    assert (tmp_path / "old.sqlite.v1.bak").is_file()  # the store as it was, kept
    campaign = find_campaign(store)
    assert answer_table(store, campaign).ratings.tolist() == [[3, 1]]
    p = join(store, campaign, "ann")
    # the replayed first submission is recognised as a repeat after the upgrade
    with pytest.raises(AnnotationRefused, match="already recorded"):
        submit(store, p, 1, [0, 1], "first-submission")
    task = next_task(store, p)
    assert task.source_index == 8
    submit(store, p, task.image_id, [1, 1], "third-submission", duration_ms=900)
    assert len(answer_table(store, campaign)) == 2


def test_newer_store_is_refused(tmp_path):
    path = tmp_path / "new.sqlite"
    open_store(path).dispose()
    engine = _raw_engine(path)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version = 99"))
    with pytest.raises(DataError, match="version 99, newer than this labelrobust's 2"):
        open_store(path)
