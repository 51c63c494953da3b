"""The annotation store's tables at the latest schema version, as SQLAlchemy 2 ORM classes.

The tables are *built* by ``migrations.py``; these classes only describe them for queries.
``tests/annotate/test_migrations.py`` compares the two, so they cannot drift apart. (``schema_version`` is read by the
migrations only and has no class here.)

One answer is one participant's 0..max ratings of every class of one image: a row of
``answer`` plus K rows of ``rating`` (written in the same transaction, so an answer is
complete or absent). An ``assignment`` records that an image was shown to a participant
(open, skipped or answered): an image is never shown twice to the same participant.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class CampaignRow(Base):
    __tablename__ = "campaign"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # "dataset" or "folder"
    dataset: Mapped[str | None] = mapped_column(String(64), nullable=True)
    split: Mapped[str] = mapped_column(String(16))
    folder: Mapped[str | None] = mapped_column(Text, nullable=True)
    class_names: Mapped[str] = mapped_column(Text)  # JSON list of str
    repeats: Mapped[int] = mapped_column(Integer)
    min_nonzero: Mapped[int] = mapped_column(Integer)
    max_rating: Mapped[int] = mapped_column(Integer)
    blur: Mapped[float] = mapped_column(Float)
    display_size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Float)


class ImageRow(Base):
    __tablename__ = "image"
    __table_args__ = (
        UniqueConstraint("campaign_id", "position", name="uq_image_position"),
        UniqueConstraint("campaign_id", "source_index", name="uq_image_source"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"))
    position: Mapped[int] = mapped_column(Integer)  # order in which the campaign shows its images
    source_index: Mapped[int] = mapped_column(Integer)  # ImageSet.source_index, or the folder listing's position
    source_key: Mapped[str] = mapped_column(Text)  # a folder image's relative path; "" for datasets
    true_label: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ParticipantRow(Base):
    __tablename__ = "participant"
    __table_args__ = (UniqueConstraint("campaign_id", "name", name="uq_participant_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"))
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)


class AssignmentRow(Base):
    __tablename__ = "assignment"
    __table_args__ = (
        UniqueConstraint("image_id", "participant_id", name="uq_assignment"),
        Index("ix_assignment_participant_state", "participant_id", "state"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id"))
    state: Mapped[str] = mapped_column(String(16))  # "open", "skipped" or "answered"
    assigned_at: Mapped[float] = mapped_column(Float)
    closed_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class AnswerRow(Base):
    __tablename__ = "answer"
    __table_args__ = (UniqueConstraint("image_id", "participant_id", name="uq_answer"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id"))
    submission_id: Mapped[str] = mapped_column(String(64))  # the latest accepted submission
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    revision: Mapped[int] = mapped_column(Integer)  # 0 = first answer; +1 per revision
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)


class RatingRow(Base):
    __tablename__ = "rating"
    __table_args__ = (CheckConstraint("value >= 0", name="ck_rating_nonnegative"),)
    answer_id: Mapped[int] = mapped_column(ForeignKey("answer.id"), primary_key=True)
    class_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class AnswerHistoryRow(Base):
    """The ratings an answer had before a revision replaced them (nothing a participant gave is lost)."""

    __tablename__ = "answer_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("answer.id"))
    revision: Mapped[int] = mapped_column(Integer)
    ratings: Mapped[str] = mapped_column(Text)  # JSON list of ints
    submission_id: Mapped[str] = mapped_column(String(64))
    replaced_at: Mapped[float] = mapped_column(Float)


class SubmissionRow(Base):
    """Every submission id ever accepted, so a replayed request is recognised and refused."""

    __tablename__ = "submission"
    submission_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id"))
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id"))
    kind: Mapped[str] = mapped_column(String(16))  # "answer", "revision" or "skip"
    at: Mapped[float] = mapped_column(Float)


class WebSessionRow(Base):
    __tablename__ = "web_session"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the cookie's token
    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
