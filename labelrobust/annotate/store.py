"""The annotation store: campaigns, participants, who sees which image, and the answers.

Everything a participant sends is one transaction (``with _transaction(engine)``): an answer
and its K ratings land together or not at all, so killing the server mid-request leaves the
database as it was before that request. On SQLite every transaction starts with
``BEGIN IMMEDIATE`` (one writer at a time, the others wait up to 30 s); on PostgreSQL the
campaign row is locked ``FOR UPDATE``. Either way two participants asking for an image at the
same moment are served one after the other, so with ``repeats=1`` they never get the same one.

Who gets which image (``next_task``): a participant's open assignment first (so a reload or a
new browser resumes at the same image); otherwise the first image, in campaign order, that
this participant was never shown and that still needs answers: answers so far plus other
participants' open assignments younger than ``LEASE_SECONDS`` are fewer than ``repeats``.
An abandoned assignment thus frees its image for others after the lease; its owner can
still answer it later (an image may then get one answer more than ``repeats``: nothing given
is thrown away).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from labelrobust.annotate import migrations
from labelrobust.annotate.schema import (
    AnswerHistoryRow,
    AnswerRow,
    AssignmentRow,
    CampaignRow,
    ImageRow,
    ParticipantRow,
    RatingRow,
    SubmissionRow,
    WebSessionRow,
)
from labelrobust.errors import ConfigError, DataError, LabelRobustError

LEASE_SECONDS = 30 * 60  # an open assignment reserves its image for this long
SESSION_SECONDS = 30 * 24 * 3600  # a web session (cookie) is valid this long after sign-in
MAX_ID = 2**63 - 1  # ids are 64-bit integers in SQLite and PostgreSQL; a larger number names nothing
BUSY_TIMEOUT_S = 30  # how long a writer waits for SQLite's lock before giving up
MAX_NAME_LENGTH = 64
SUBMISSION_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
MAX_DURATION_MS = 24 * 3600 * 1000
KINDS = ("dataset", "folder")


class AnnotationRefused(LabelRobustError):
    """A request that was refused and changed nothing; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class CampaignSpec:
    """What a campaign shows and how (``labelrobust annotate serve`` flags of the same names).

    ``kind`` "dataset": images of ``split`` of the registry dataset ``dataset``; "folder":
    the images of ``folder`` (``labelrobust.data.image_folder.list_folder_images``).
    ``repeats``: how many different participants rate each image. ``min_nonzero``: the page
    warns (and lets the participant go on) below this many non-zero classes (the study asked
    for at least three). ``max_rating``: the scale is 0..max_rating (the study's 0–4).
    ``blur``: Gaussian blur radius in display pixels (0 = none). ``display_size``: the
    image's longest side on the page, in pixels.
    """

    name: str
    kind: str
    split: str
    class_names: tuple[str, ...]
    dataset: str | None = None
    folder: str | None = None
    repeats: int = 1
    min_nonzero: int = 3
    max_rating: int = 4
    blur: float = 0.0
    display_size: int = 256

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_names", tuple(self.class_names))
        _check_spec(self)


def _check_spec(spec: CampaignSpec) -> None:
    if not isinstance(spec.name, str) or not 1 <= len(spec.name) <= 128 or not spec.name.isprintable():
        raise ConfigError(f"campaign name must be 1–128 printable characters, got {spec.name!r}")
    if spec.kind not in KINDS:
        raise ConfigError(f"campaign kind must be one of {', '.join(KINDS)}, got {spec.kind!r}")
    if (spec.kind == "dataset") != (spec.dataset is not None) or (spec.kind == "folder") != (spec.folder is not None):
        raise ConfigError("a campaign shows either a dataset (--dataset) or a folder of images (--folder), exactly one")
    names = spec.class_names
    if len(names) < 2 or any(not isinstance(n, str) or not n.strip() for n in names) or len(set(names)) != len(names):
        raise ConfigError(f"a campaign needs at least 2 distinct, non-empty class names, got {list(names)!r}")
    for field, value, low, high in (
        ("repeats", spec.repeats, 1, 1000),
        ("min_nonzero", spec.min_nonzero, 0, len(names)),
        ("max_rating", spec.max_rating, 1, 100),
        ("display_size", spec.display_size, 16, 2048),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(f"campaign {field} must be an integer in {low}..{high}, got {value!r}")
    if not isinstance(spec.blur, (int, float)) or not math.isfinite(spec.blur) or not 0 <= spec.blur <= 50:
        raise ConfigError(f"campaign blur must be a radius in pixels in [0, 50], got {spec.blur!r}")


@dataclass(frozen=True)
class CampaignImage:
    """One image of a campaign: its index in the source, a folder image's relative path, its
    true class when the source knows it."""

    source_index: int
    source_key: str = ""
    true_label: int | None = None


@dataclass(frozen=True)
class Campaign(CampaignSpec):
    id: int = 0
    n_images: int = 0


@dataclass(frozen=True)
class Participant:
    id: int
    campaign_id: int
    name: str


@dataclass(frozen=True)
class Task:
    """One image to show one participant; ``ratings`` is their earlier answer (after back)."""

    image_id: int
    position: int
    source_index: int
    ratings: tuple[int, ...] | None
    skipped: bool


@dataclass(frozen=True)
class Progress:
    answered: int
    skipped: int
    remaining: int
    campaign_answers: int
    campaign_target: int


# -- opening a store -----------------------------------------------------------------------


def database_url(db: str | Path) -> sa.URL:
    """``--db`` as an SQLAlchemy URL: a file path (SQLite), ``sqlite:///...`` or ``postgresql://...``."""
    text = str(db)
    if "://" not in text:
        path = Path(text).expanduser()
        if path.is_dir():
            raise ConfigError(f"--db {text} is a folder; give the path of a database file, e.g. labels.sqlite")
        if not path.parent.is_dir():
            raise ConfigError(f"--db {text}: folder {path.parent} does not exist")
        return sa.URL.create("sqlite", database=str(path.resolve()))
    try:
        url = sa.make_url(text)
    except sa.exc.ArgumentError:
        raise ConfigError(f"--db {text!r} is not a database URL; give a file path, sqlite:///PATH or postgresql://USER@HOST/DB") from None
    if url.get_backend_name() == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return url
    raise ConfigError(f"--db {url.render_as_string(hide_password=True)}: only SQLite files and postgresql:// are supported")


def open_store(db: str | Path) -> Engine:
    """An engine on the store at ``db``, created or upgraded to the current schema.

    SQLite runs in WAL mode with ``synchronous=FULL`` (a committed answer survives a crash)
    and foreign keys on. Before an existing SQLite store is upgraded, a copy is kept next to
    it (``NAME.vN.bak``), so a failed or unwanted upgrade loses nothing.
    """
    url = database_url(db)
    if url.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False})
        _configure_sqlite(engine)
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
    try:
        with engine.begin() as conn:
            version = migrations.stored_version(conn)
    except sa.exc.DatabaseError as err:
        engine.dispose()
        raise DataError(f"--db {db} cannot be opened as a database: {_first_line(err)}") from None
    if 0 < version < migrations.SCHEMA_VERSION and url.get_backend_name() == "sqlite":
        _backup_sqlite(engine, Path(url.database), version)
    migrations.upgrade(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", f"busy_timeout={BUSY_TIMEOUT_S * 1000}"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock now: read-then-write is atomic


def _backup_sqlite(engine: Engine, path: Path, version: int) -> Path:
    target = path.with_name(f"{path.name}.v{version}.bak")
    n = 1
    while target.exists():  # never overwrite an earlier backup
        target, n = path.with_name(f"{path.name}.v{version}.{n}.bak"), n + 1
    raw = engine.raw_connection()
    try:
        dest = sqlite3.connect(target)
        try:
            raw.driver_connection.backup(dest)
        finally:
            dest.close()
    finally:
        raw.close()
    return target


def _first_line(err: Exception) -> str:
    return str(getattr(err, "orig", err)).splitlines()[0]


@contextmanager
def _transaction(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


# -- campaigns and participants ------------------------------------------------------------


def create_campaign(engine: Engine, spec: CampaignSpec, images: Sequence[CampaignImage]) -> Campaign:
    """Store a new campaign, or return the stored one when ``spec`` and ``images`` equal it.

    A stored campaign of that name made differently is refused (a restarted server must not
    silently change what a running campaign shows).
    """
    _check_images(spec, images)
    with _transaction(engine) as s:
        row = s.scalar(select(CampaignRow).where(CampaignRow.name == spec.name))
        if row is not None:
            _check_same(s, row, spec, images)
            return _campaign(s, row)
        row = CampaignRow(
            name=spec.name, kind=spec.kind, dataset=spec.dataset, split=spec.split, folder=spec.folder,
            class_names=json.dumps(list(spec.class_names)), repeats=spec.repeats, min_nonzero=spec.min_nonzero,
            max_rating=spec.max_rating, blur=float(spec.blur), display_size=spec.display_size, created_at=time.time(),
        )
        s.add(row)
        s.flush()
        s.execute(sa.insert(ImageRow), [
            {"campaign_id": row.id, "position": i, "source_index": im.source_index, "source_key": im.source_key, "true_label": im.true_label}
            for i, im in enumerate(images)
        ])
        return _campaign(s, row)


def _check_images(spec: CampaignSpec, images: Sequence[CampaignImage]) -> None:
    if not images:
        raise ConfigError(f"campaign {spec.name!r} has no images")
    seen: set[int] = set()
    k = len(spec.class_names)
    for im in images:
        if not isinstance(im.source_index, int) or im.source_index < 0 or im.source_index in seen:
            raise ConfigError(f"campaign {spec.name!r}: image index {im.source_index!r} is negative or repeated")
        seen.add(im.source_index)
        if im.true_label is not None and not 0 <= im.true_label < k:
            raise ConfigError(f"campaign {spec.name!r}: image {im.source_index} has true label {im.true_label}, outside 0..{k - 1}")


def _spec_fields(spec: CampaignSpec) -> dict:
    return {
        "kind": spec.kind, "dataset": spec.dataset, "split": spec.split, "folder": spec.folder,
        "class_names": list(spec.class_names), "repeats": spec.repeats, "min_nonzero": spec.min_nonzero,
        "max_rating": spec.max_rating, "blur": float(spec.blur), "display_size": spec.display_size,
    }


def _check_same(s: Session, row: CampaignRow, spec: CampaignSpec, images: Sequence[CampaignImage]) -> None:
    stored = _spec_fields(_campaign(s, row))
    for key, value in _spec_fields(spec).items():
        if stored[key] != value:
            raise ConfigError(
                f"campaign {spec.name!r} is already in the store with {key}={stored[key]!r}, not {value!r}; "
                "start it without the campaign flags to continue it as it is, or use another --campaign name"
            )
    have = s.execute(select(ImageRow.source_index, ImageRow.source_key, ImageRow.true_label)
                     .where(ImageRow.campaign_id == row.id).order_by(ImageRow.position)).all()
    if [tuple(r) for r in have] != [(im.source_index, im.source_key, im.true_label) for im in images]:
        raise ConfigError(
            f"campaign {spec.name!r} is already in the store with other images ({len(have)} stored, {len(images)} asked); "
            "start it without --indices/--folder to continue it, or use another --campaign name"
        )


def _campaign(s: Session, row: CampaignRow) -> Campaign:
    n = s.scalar(select(func.count()).select_from(ImageRow).where(ImageRow.campaign_id == row.id))
    return Campaign(
        name=row.name, kind=row.kind, split=row.split, class_names=tuple(json.loads(row.class_names)),
        dataset=row.dataset, folder=row.folder, repeats=row.repeats, min_nonzero=row.min_nonzero,
        max_rating=row.max_rating, blur=row.blur, display_size=row.display_size, id=row.id, n_images=int(n),
    )


def list_campaigns(engine: Engine) -> list[Campaign]:
    with _transaction(engine) as s:
        return [_campaign(s, row) for row in s.scalars(select(CampaignRow).order_by(CampaignRow.id))]


def find_campaign(engine: Engine, name: str | None = None) -> Campaign:
    """The campaign called ``name``; with no name, the store's only campaign."""
    campaigns = list_campaigns(engine)
    names = ", ".join(c.name for c in campaigns) or "none"
    if name is None:
        if len(campaigns) == 1:
            return campaigns[0]
        raise ConfigError(f"the store holds {len(campaigns)} campaigns ({names}); name one with --campaign")
    for c in campaigns:
        if c.name == name:
            return c
    raise ConfigError(f"no campaign {name!r} in the store; it holds: {names}")


def check_participant_name(name: object) -> str:
    """A participant's name or code: 1–64 printable characters once spaces are trimmed."""
    if not isinstance(name, str):
        raise AnnotationRefused(400, f"the participant name must be text, got {type(name).__name__}")
    name = " ".join(name.split())
    if not 1 <= len(name) <= MAX_NAME_LENGTH or not name.isprintable():
        raise AnnotationRefused(400, f"the participant name must be 1–{MAX_NAME_LENGTH} printable characters, got {len(name)}")
    return name


def join(engine: Engine, campaign: Campaign, name: str) -> Participant:
    """The participant called ``name`` in ``campaign``: created on first use, the same one after."""
    name = check_participant_name(name)
    with _transaction(engine) as s:
        return _participant(s, campaign.id, name)


def _participant(s: Session, campaign_id: int, name: str) -> Participant:
    """The participant ``name`` (already checked) of the campaign, created in ``s`` if new."""
    row = s.scalar(select(ParticipantRow).where(ParticipantRow.campaign_id == campaign_id, ParticipantRow.name == name))
    if row is None:
        row = ParticipantRow(campaign_id=campaign_id, name=name, created_at=time.time())
        s.add(row)
        s.flush()
    return Participant(id=row.id, campaign_id=campaign_id, name=row.name)


# -- tasks ---------------------------------------------------------------------------------


def _lock_campaign(s: Session, campaign_id: int) -> CampaignRow:
    # FOR UPDATE serialises PostgreSQL transactions on the campaign; SQLite's BEGIN IMMEDIATE already has
    return s.scalars(select(CampaignRow).where(CampaignRow.id == campaign_id).with_for_update()).one()


def next_task(engine: Engine, participant: Participant) -> Task | None:
    """The participant's open image, else a new one; None when nothing is left for them now."""
    now = time.time()
    with _transaction(engine) as s:
        campaign = _lock_campaign(s, participant.campaign_id)
        open_row = s.scalar(select(AssignmentRow).where(
            AssignmentRow.participant_id == participant.id, AssignmentRow.state == "open").order_by(AssignmentRow.assigned_at))
        if open_row is not None:
            open_row.assigned_at = now  # renew the lease: they are looking at it
            return _task(s, open_row)
        image_id = s.scalar(_free_images(campaign, participant.id, now).limit(1))
        if image_id is None:
            return None
        row = AssignmentRow(image_id=image_id, participant_id=participant.id, state="open", assigned_at=now)
        s.add(row)
        s.flush()
        return _task(s, row)


def _free_images(campaign: CampaignRow, participant_id: int, now: float | None):
    """Images this participant was never shown that still need answers (see the module doc);
    with ``now=None`` other participants' leases are not counted."""
    answers = select(func.count()).select_from(AnswerRow).where(AnswerRow.image_id == ImageRow.id).scalar_subquery()
    held = answers
    if now is not None:
        leases = select(func.count()).select_from(AssignmentRow).where(
            AssignmentRow.image_id == ImageRow.id, AssignmentRow.state == "open",
            AssignmentRow.assigned_at > now - LEASE_SECONDS).scalar_subquery()
        held = answers + leases
    shown = select(AssignmentRow.image_id).where(AssignmentRow.participant_id == participant_id)
    return (select(ImageRow.id).where(ImageRow.campaign_id == campaign.id, ImageRow.id.not_in(shown), held < campaign.repeats)
            .order_by(ImageRow.position))


def _task(s: Session, assignment: AssignmentRow) -> Task:
    image = s.get(ImageRow, assignment.image_id)
    ratings = None
    answer = s.scalar(select(AnswerRow).where(AnswerRow.image_id == image.id, AnswerRow.participant_id == assignment.participant_id))
    if answer is not None:
        ratings = _ratings(s, answer.id)
    return Task(image_id=image.id, position=image.position, source_index=image.source_index,
                ratings=ratings, skipped=assignment.state == "skipped")


def _ratings(s: Session, answer_id: int) -> tuple[int, ...]:
    return tuple(s.scalars(select(RatingRow.value).where(RatingRow.answer_id == answer_id).order_by(RatingRow.class_index)))


def previous_task(engine: Engine, participant: Participant, before_image_id: int | None = None) -> Task | None:
    """"Back": the image this participant finished (answered or skipped) before ``before_image_id``
    (or before now), with their answer filled in; None at the first one."""
    if before_image_id is not None:
        _check_image_id(before_image_id)
    with _transaction(engine) as s:
        query = select(AssignmentRow).where(AssignmentRow.participant_id == participant.id, AssignmentRow.state != "open")
        if before_image_id is not None:
            ref = s.scalar(select(AssignmentRow).where(
                AssignmentRow.participant_id == participant.id, AssignmentRow.image_id == before_image_id))
            if ref is None:
                raise AnnotationRefused(404, f"image {before_image_id} was never given to participant {participant.name!r}")
            if ref.state != "open":
                query = query.where(sa.or_(AssignmentRow.closed_at < ref.closed_at,
                                           sa.and_(AssignmentRow.closed_at == ref.closed_at, AssignmentRow.id < ref.id)))
        row = s.scalar(query.order_by(AssignmentRow.closed_at.desc(), AssignmentRow.id.desc()).limit(1))
        return None if row is None else _task(s, row)


# -- answers -------------------------------------------------------------------------------


def check_ratings(ratings: object, num_classes: int, max_rating: int) -> tuple[int, ...]:
    """K integers in 0..max_rating (a bool is not a rating)."""
    if not isinstance(ratings, (list, tuple)) or len(ratings) != num_classes:
        got = len(ratings) if isinstance(ratings, (list, tuple)) else type(ratings).__name__
        raise AnnotationRefused(400, f"ratings must be a list of {num_classes} integers (one per class), got {got}")
    for k, r in enumerate(ratings):
        if not isinstance(r, int) or isinstance(r, bool) or not 0 <= r <= max_rating:
            raise AnnotationRefused(400, f"rating {r!r} of class {k} is not an integer in 0..{max_rating}")
    return tuple(int(r) for r in ratings)


def _check_submission_id(submission_id: object) -> str:
    if not isinstance(submission_id, str) or not SUBMISSION_ID.fullmatch(submission_id):
        raise AnnotationRefused(400, f"submission_id must be 8–64 characters of A-Z a-z 0-9 _ -, got {submission_id!r:.80}")
    return submission_id


def _check_image_id(image_id: object) -> None:
    if not isinstance(image_id, int) or isinstance(image_id, bool):
        raise AnnotationRefused(400, f"image_id must be an integer, got {image_id!r:.80}")
    if not 0 < image_id <= MAX_ID:
        raise AnnotationRefused(404, f"image {str(image_id)[:40]} is not an image of this campaign")


def _claim(s: Session, participant: Participant, image_id: object, submission_id: str, kind: str) -> AssignmentRow:
    """Refuse a replayed submission or an image that is not this participant's; record the id."""
    _check_image_id(image_id)
    earlier = s.get(SubmissionRow, submission_id)
    if earlier is not None:
        raise AnnotationRefused(409, f"submission {submission_id} was already recorded ({earlier.kind} of image {earlier.image_id}); nothing changed")
    image = s.get(ImageRow, image_id)
    if image is None or image.campaign_id != participant.campaign_id:
        raise AnnotationRefused(404, f"image {image_id} is not an image of this campaign")
    assignment = s.scalar(select(AssignmentRow).where(AssignmentRow.image_id == image_id, AssignmentRow.participant_id == participant.id))
    if assignment is None:
        raise AnnotationRefused(409, f"image {image_id} was not given to participant {participant.name!r}; ask for the next task")
    s.add(SubmissionRow(submission_id=submission_id, participant_id=participant.id, image_id=image_id, kind=kind, at=time.time()))
    return assignment


def submit(engine: Engine, participant: Participant, image_id: int, ratings: Sequence[int], submission_id: str,
           duration_ms: int | None = None) -> None:
    """Record an answer, or revise this participant's earlier answer of the image (kept in
    ``answer_history``). Refused requests (``AnnotationRefused``) change nothing."""
    submission_id = _check_submission_id(submission_id)
    _check_image_id(image_id)
    if duration_ms is not None and (not isinstance(duration_ms, int) or isinstance(duration_ms, bool) or not 0 <= duration_ms <= MAX_DURATION_MS):
        raise AnnotationRefused(400, f"duration_ms must be an integer in 0..{MAX_DURATION_MS}, got {duration_ms!r:.80}")
    now = time.time()
    with _transaction(engine) as s:
        campaign = _lock_campaign(s, participant.campaign_id)
        values = check_ratings(ratings, len(json.loads(campaign.class_names)), campaign.max_rating)
        answer = s.scalar(select(AnswerRow).where(AnswerRow.image_id == image_id, AnswerRow.participant_id == participant.id))
        assignment = _claim(s, participant, image_id, submission_id, "revision" if answer is not None else "answer")
        if answer is None:
            answer = AnswerRow(image_id=image_id, participant_id=participant.id, submission_id=submission_id,
                               created_at=now, updated_at=now, revision=0, duration_ms=duration_ms)
            s.add(answer)
            s.flush()
        else:
            s.add(AnswerHistoryRow(answer_id=answer.id, revision=answer.revision, ratings=json.dumps(list(_ratings(s, answer.id))),
                                   submission_id=answer.submission_id, replaced_at=now))
            s.execute(sa.delete(RatingRow).where(RatingRow.answer_id == answer.id))
            answer.revision += 1
            answer.submission_id, answer.updated_at = submission_id, now
            answer.duration_ms = duration_ms if duration_ms is not None else answer.duration_ms
        s.execute(sa.insert(RatingRow), [{"answer_id": answer.id, "class_index": k, "value": v} for k, v in enumerate(values)])
        if assignment.state != "answered":
            assignment.state = "answered"
            assignment.closed_at = assignment.closed_at or now


def skip(engine: Engine, participant: Participant, image_id: int, submission_id: str) -> None:
    """Skip the participant's open image: it goes to others and is never shown to them again."""
    submission_id = _check_submission_id(submission_id)
    with _transaction(engine) as s:
        _lock_campaign(s, participant.campaign_id)
        assignment = _claim(s, participant, image_id, submission_id, "skip")
        if assignment.state != "open":
            raise AnnotationRefused(409, f"image {image_id} is already {assignment.state}; only the open image can be skipped")
        assignment.state, assignment.closed_at = "skipped", time.time()


def progress(engine: Engine, participant: Participant) -> Progress:
    with _transaction(engine) as s:
        campaign = s.get(CampaignRow, participant.campaign_id)
        counts = dict(s.execute(select(AssignmentRow.state, func.count()).where(
            AssignmentRow.participant_id == participant.id).group_by(AssignmentRow.state)).all())
        free = s.scalar(select(func.count()).select_from(_free_images(campaign, participant.id, None).subquery()))
        answers = s.scalar(select(func.count()).select_from(AnswerRow).join(ImageRow, AnswerRow.image_id == ImageRow.id)
                           .where(ImageRow.campaign_id == campaign.id))
        n_images = s.scalar(select(func.count()).select_from(ImageRow).where(ImageRow.campaign_id == campaign.id))
        return Progress(answered=counts.get("answered", 0), skipped=counts.get("skipped", 0),
                        remaining=int(free) + counts.get("open", 0), campaign_answers=int(answers),
                        campaign_target=campaign.repeats * int(n_images))


# -- web sessions --------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_web_session(engine: Engine, participant: Participant) -> tuple[str, str]:
    """(session token for the cookie, CSRF token for the page); only the token's hash is stored."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with _transaction(engine) as s:
        s.add(WebSessionRow(token_hash=_token_hash(token), participant_id=participant.id, csrf_token=csrf, created_at=time.time()))
    return token, csrf


def web_session(engine: Engine, token: str) -> tuple[Participant, str] | None:
    """The participant and CSRF token of a session token; None if it is unknown, ended or
    older than ``SESSION_SECONDS``."""
    if not isinstance(token, str) or not token or len(token) > 128:
        return None
    with _transaction(engine) as s:
        row = s.get(WebSessionRow, _token_hash(token))
        if row is None or row.created_at < time.time() - SESSION_SECONDS:
            return None
        p = s.get(ParticipantRow, row.participant_id)
        return Participant(id=p.id, campaign_id=p.campaign_id, name=p.name), row.csrf_token


def end_web_session(engine: Engine, token: str) -> bool:
    """Forget a session (sign-out): its cookie no longer signs anyone in. True if it existed."""
    if not isinstance(token, str) or not token or len(token) > 128:
        return False
    with _transaction(engine) as s:
        return s.execute(sa.delete(WebSessionRow).where(WebSessionRow.token_hash == _token_hash(token))).rowcount > 0


# -- images --------------------------------------------------------------------------------


def image_keys(engine: Engine, campaign: Campaign) -> dict[int, str]:
    """Source index → relative path of every image of a folder campaign ("" for datasets)."""
    with _transaction(engine) as s:
        return dict(s.execute(select(ImageRow.source_index, ImageRow.source_key).where(ImageRow.campaign_id == campaign.id)).all())


def assigned_image(engine: Engine, participant: Participant, image_id: int) -> int:
    """The source index of ``image_id`` if it was ever given to this participant; 404 otherwise
    (a participant cannot page through images they were not given)."""
    _check_image_id(image_id)
    with _transaction(engine) as s:
        row = s.execute(select(ImageRow.source_index).join(AssignmentRow, AssignmentRow.image_id == ImageRow.id).where(
            ImageRow.id == image_id, AssignmentRow.participant_id == participant.id)).first()
        if row is None:
            raise AnnotationRefused(404, f"image {image_id} was not given to participant {participant.name!r}")
        return int(row[0])


# -- bulk reads and writes (export, statistics, import) ------------------------------------


@dataclass(frozen=True)
class AnswerTable:
    """Every answer of a campaign as arrays, in answer order (M rows, K classes).

    ``image`` is the image's source index; ``key`` its relative path (folders) or "";
    ``true_label`` −1 where unknown; ``annotator`` a row of ``annotator_names``;
    ``time`` the first submission (unix seconds); ``revision`` 0 unless revised.
    """

    ratings: np.ndarray
    image: np.ndarray
    key: np.ndarray
    true_label: np.ndarray
    annotator: np.ndarray
    annotator_names: tuple[str, ...]
    time: np.ndarray
    duration_ms: np.ndarray
    revision: np.ndarray

    def __len__(self) -> int:
        return int(self.image.shape[0])


def answer_table(engine: Engine, campaign: Campaign) -> AnswerTable:
    k = len(campaign.class_names)
    with _transaction(engine) as s:
        people = s.execute(select(ParticipantRow.id, ParticipantRow.name).where(ParticipantRow.campaign_id == campaign.id)
                           .order_by(ParticipantRow.id)).all()
        rows = s.execute(
            select(AnswerRow.id, ImageRow.source_index, ImageRow.source_key, ImageRow.true_label, AnswerRow.participant_id,
                   AnswerRow.created_at, AnswerRow.duration_ms, AnswerRow.revision)
            .join(ImageRow, AnswerRow.image_id == ImageRow.id).where(ImageRow.campaign_id == campaign.id).order_by(AnswerRow.id)
        ).all()
        values = s.execute(
            select(RatingRow.answer_id, RatingRow.class_index, RatingRow.value).join(AnswerRow, RatingRow.answer_id == AnswerRow.id)
            .join(ImageRow, AnswerRow.image_id == ImageRow.id).where(ImageRow.campaign_id == campaign.id)
        ).all()
    position = {r[0]: i for i, r in enumerate(rows)}
    ratings = np.full((len(rows), k), -1, dtype=np.int16)
    for answer_id, class_index, value in values:
        ratings[position[answer_id], class_index] = value
    if (ratings < 0).any():  # an answer is written with all its ratings in one transaction
        raise DataError(f"campaign {campaign.name!r}: some answers lack ratings of some classes; the store is inconsistent")
    names = tuple(name for _, name in people)
    row_of = {pid: i for i, (pid, _) in enumerate(people)}
    return AnswerTable(
        ratings=ratings,
        image=np.array([r[1] for r in rows], dtype=np.int64),
        key=np.array([r[2] for r in rows], dtype=str),
        true_label=np.array([-1 if r[3] is None else r[3] for r in rows], dtype=np.int64),
        annotator=np.array([row_of[r[4]] for r in rows], dtype=np.int64),
        annotator_names=names,
        time=np.array([r[5] for r in rows], dtype=np.float64),
        duration_ms=np.array([-1 if r[6] is None else r[6] for r in rows], dtype=np.int64),
        revision=np.array([r[7] for r in rows], dtype=np.int64),
    )


def add_answers(engine: Engine, campaign: Campaign, participant_name: str, answers: Sequence[tuple[int, Sequence[int]]],
                submission_prefix: str, at: float | None = None) -> int:
    """Record many answers of one participant at once, e.g. an imported survey, in one transaction.

    ``answers``: (source index, ratings) pairs. Each gets the submission id
    ``{submission_prefix}-{source index}``, so importing the same answers twice is refused
    (409) and changes nothing. Returns the number of answers added.
    """
    name = check_participant_name(participant_name)
    now = time.time() if at is None else at
    with _transaction(engine) as s:  # the participant too: a refused import leaves no trace
        _lock_campaign(s, campaign.id)
        participant = _participant(s, campaign.id, name)
        image_ids = dict(s.execute(select(ImageRow.source_index, ImageRow.id).where(ImageRow.campaign_id == campaign.id)).all())
        sids = [_check_submission_id(f"{submission_prefix}-{i}") for i, _ in answers]
        # any earlier answer of this prefix, not only the first and last id: one prefix, one import
        if s.scalar(select(func.count()).select_from(SubmissionRow).where(SubmissionRow.submission_id.startswith(f"{submission_prefix}-", autoescape=True))):
            raise AnnotationRefused(409, f"answers with submission ids {submission_prefix}-* are already in the store; nothing changed")
        shown = set(s.scalars(select(AssignmentRow.image_id).where(AssignmentRow.participant_id == participant.id)))
        rows, values = [], []
        for (index, ratings), sid in zip(answers, sids):
            image_id = image_ids.get(index)
            if image_id is None:
                raise AnnotationRefused(404, f"image {index} is not an image of campaign {campaign.name!r}")
            if image_id in shown:
                raise AnnotationRefused(409, f"image {index} was already given to participant {participant.name!r}; nothing changed")
            values.append(check_ratings(list(ratings), len(campaign.class_names), campaign.max_rating))
            rows.append({"image_id": image_id, "participant_id": participant.id, "submission_id": sid, "created_at": now,
                         "updated_at": now, "revision": 0, "duration_ms": None})
        if not rows:
            return 0
        # bulk INSERT ... RETURNING, ids in the order of the rows (about 20× faster than one ORM flush per answer)
        ids = s.scalars(sa.insert(AnswerRow).returning(AnswerRow.id, sort_by_parameter_order=True), rows).all()
        s.execute(sa.insert(AssignmentRow), [{"image_id": r["image_id"], "participant_id": participant.id, "state": "answered",
                                             "assigned_at": now, "closed_at": now} for r in rows])
        s.execute(sa.insert(SubmissionRow), [{"submission_id": r["submission_id"], "participant_id": participant.id,
                                             "image_id": r["image_id"], "kind": "answer", "at": now} for r in rows])
        s.execute(sa.insert(RatingRow), [{"answer_id": a, "class_index": k, "value": v}
                                         for a, vs in zip(ids, values) for k, v in enumerate(vs)])
    return len(answers)
