"""The annotation store's schema, version by version, as Alembic operations.

A new database and an old one take the same path: every step from its version to
``SCHEMA_VERSION`` runs in order, each in its own transaction, and the ``schema_version``
table records where the database stands. So the steps that build a new store are the same
steps that upgrade an old one, and the tests of a fresh store test the migrations too.
The DDL is Alembic's (``Operations``), so one list of steps serves SQLite and PostgreSQL.

To change the schema: append a step, bump nothing else by hand (``SCHEMA_VERSION`` is the
number of steps), mirror the result in ``schema.py``; ``tests/annotate/test_migrations.py``
checks that the migrated database and the ORM tables agree.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection, Engine

from labelrobust.errors import DataError

VERSION_TABLE = "schema_version"


def _v1_initial(op: Operations) -> None:
    """Campaigns, their images, participants, assignments, answers (one rating row per class),
    the history of revised answers, and web sessions."""
    op.create_table(
        VERSION_TABLE,
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("upgraded_at", sa.Float, nullable=False),
    )
    op.create_table(
        "campaign",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("dataset", sa.String(64), nullable=True),
        sa.Column("split", sa.String(16), nullable=False),
        sa.Column("folder", sa.Text, nullable=True),
        sa.Column("class_names", sa.Text, nullable=False),
        sa.Column("repeats", sa.Integer, nullable=False),
        sa.Column("min_nonzero", sa.Integer, nullable=False),
        sa.Column("max_rating", sa.Integer, nullable=False),
        sa.Column("blur", sa.Float, nullable=False),
        sa.Column("display_size", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "image",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaign.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("source_index", sa.Integer, nullable=False),
        sa.Column("source_key", sa.Text, nullable=False),
        sa.Column("true_label", sa.Integer, nullable=True),
        sa.UniqueConstraint("campaign_id", "position", name="uq_image_position"),
        sa.UniqueConstraint("campaign_id", "source_index", name="uq_image_source"),
    )
    op.create_table(
        "participant",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaign.id"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("campaign_id", "name", name="uq_participant_name"),
    )
    op.create_table(
        "assignment",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("image_id", sa.Integer, sa.ForeignKey("image.id"), nullable=False),
        sa.Column("participant_id", sa.Integer, sa.ForeignKey("participant.id"), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("assigned_at", sa.Float, nullable=False),
        sa.Column("closed_at", sa.Float, nullable=True),
        sa.UniqueConstraint("image_id", "participant_id", name="uq_assignment"),
    )
    op.create_index("ix_assignment_participant_state", "assignment", ["participant_id", "state"])
    op.create_table(
        "answer",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("image_id", sa.Integer, sa.ForeignKey("image.id"), nullable=False),
        sa.Column("participant_id", sa.Integer, sa.ForeignKey("participant.id"), nullable=False),
        sa.Column("submission_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.UniqueConstraint("image_id", "participant_id", name="uq_answer"),
    )
    op.create_table(
        "rating",
        sa.Column("answer_id", sa.Integer, sa.ForeignKey("answer.id"), primary_key=True),
        sa.Column("class_index", sa.Integer, primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
        sa.CheckConstraint("value >= 0", name="ck_rating_nonnegative"),
    )
    op.create_table(
        "answer_history",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("answer_id", sa.Integer, sa.ForeignKey("answer.id"), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("ratings", sa.Text, nullable=False),
        sa.Column("submission_id", sa.String(64), nullable=False),
        sa.Column("replaced_at", sa.Float, nullable=False),
    )
    op.create_table(
        "web_session",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("participant_id", sa.Integer, sa.ForeignKey("participant.id"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def _v2_submissions_and_durations(op: Operations) -> None:
    """Every submission id is kept, and an answer records the time spent on it.

    In version 1 only the answer's latest submission id was stored: after a revision, a
    replayed older submission was no longer recognised as a repeat. The new ``submission``
    table holds every id ever accepted (answers, revisions, skips); it is filled from the
    answers and their history, so nothing accepted before the upgrade can be replayed after it.
    """
    op.add_column("answer", sa.Column("duration_ms", sa.Integer, nullable=True))
    submission = op.create_table(
        "submission",
        sa.Column("submission_id", sa.String(64), primary_key=True),
        sa.Column("participant_id", sa.Integer, sa.ForeignKey("participant.id"), nullable=False),
        sa.Column("image_id", sa.Integer, sa.ForeignKey("image.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT submission_id, participant_id, image_id, created_at FROM answer")).all()
    old = bind.execute(
        sa.text(
            "SELECT h.submission_id, a.participant_id, a.image_id, h.replaced_at "
            "FROM answer_history h JOIN answer a ON a.id = h.answer_id"
        )
    ).all()
    seen: dict[str, dict] = {}
    for kind, batch in (("answer", rows), ("revision", old)):
        for sid, pid, iid, at in batch:
            seen.setdefault(sid, {"submission_id": sid, "participant_id": pid, "image_id": iid, "kind": kind, "at": at})
    if seen:
        op.bulk_insert(submission, list(seen.values()))


STEPS: tuple[Callable[[Operations], None], ...] = (_v1_initial, _v2_submissions_and_durations)
SCHEMA_VERSION = len(STEPS)


def stored_version(conn: Connection) -> int:
    """The version recorded in the database: 0 for an empty one.

    A database with tables but no ``schema_version`` is not ours and is refused, so the store
    never writes into another program's database.
    """
    inspector = sa.inspect(conn)
    tables = set(inspector.get_table_names())
    if VERSION_TABLE not in tables:
        if tables:
            raise DataError(
                f"{_where(conn)} holds tables ({', '.join(sorted(tables)[:5])}) but no {VERSION_TABLE} table: "
                "it is not a labelrobust annotation database; give a new file"
            )
        return 0
    version = conn.execute(sa.text(f"SELECT version FROM {VERSION_TABLE}")).scalar()
    if not isinstance(version, int) or version < 1:
        raise DataError(f"{_where(conn)}: table {VERSION_TABLE} holds {version!r}, expected one version number ≥ 1")
    return version


def upgrade(engine: Engine, target: int = SCHEMA_VERSION) -> tuple[int, int]:
    """Run the steps from the stored version up to ``target``; returns (from, to).

    A database newer than this code (made by a later labelrobust) is refused instead of being
    read with the wrong schema.
    """
    with engine.begin() as conn:
        start = stored_version(conn)
    if start > SCHEMA_VERSION:
        raise DataError(
            f"{engine.url.render_as_string(hide_password=True)} has annotation schema version {start}, "
            f"newer than this labelrobust's {SCHEMA_VERSION}; upgrade labelrobust to open it"
        )
    for version in range(start + 1, target + 1):
        with engine.begin() as conn:  # a step and its version number commit together, or not at all
            STEPS[version - 1](Operations(MigrationContext.configure(conn)))
            _record_version(conn, version)
    return start, max(start, target)


def _record_version(conn: Connection, version: int) -> None:
    if version == 1:  # the first step made the table, empty
        conn.execute(sa.text(f"INSERT INTO {VERSION_TABLE} (version, upgraded_at) VALUES (:v, :t)"), {"v": 1, "t": time.time()})
    else:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version = :v, upgraded_at = :t"), {"v": version, "t": time.time()})


def _where(conn: Connection) -> str:
    return conn.engine.url.render_as_string(hide_password=True)

