"""The tables. Arrays live as files under XIL_HOME, referenced here by relative path and SHA-256.

Nothing a person wrote is updated in place: a corrected annotation is a new ``Feedback`` row whose
``supersedes_id`` points at the one it replaces, so every example's history can be shown and exported.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Project(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    task: str = "image"  # "image" today; "text" and "ranking" build on the same tables
    source: str  # "decoy-digits", "decoy-mnist", "image-folder"
    class_names: list[str] = Field(sa_column=Column(JSON, nullable=False))
    data_path: str  # the dataset file (ImageDataset.to_bytes) under XIL_HOME
    data_sha: str
    # How many annotators judge each example before it leaves everyone's queue.
    overlap: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    created_at: datetime = Field(default_factory=utcnow)


class Example(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("project_id", "idx"),)
    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    idx: int  # row in the project's dataset file
    split: str  # "train" or "test"
    label: int
    name: str


class ModelVersion(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("project_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    version: int
    arch: str
    method: str  # "none" or the feedback method it was trained with
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    n_feedback: int = 0  # pieces of feedback it was trained on
    path: str
    sha: str
    parent_id: int | None = Field(default=None, foreign_key="modelversion.id")
    created_at: datetime = Field(default_factory=utcnow)


class Explanation(SQLModel, table=True):
    """A cached attribution map for (model version, method, example)."""

    __table_args__ = (UniqueConstraint("model_version_id", "example_id", "method"),)
    id: int | None = Field(default=None, primary_key=True)
    model_version_id: int = Field(foreign_key="modelversion.id")
    example_id: int = Field(foreign_key="example.id")
    method: str
    probs: list[float] = Field(sa_column=Column(JSON, nullable=False))
    path: str
    sha: str
    created_at: datetime = Field(default_factory=utcnow)


class Feedback(SQLModel, table=True):
    # One row supersedes another at most once: two saves racing on the same current row cannot both
    # win (the loser retries on top of the winner), so every example keeps one linear history.
    __table_args__ = (
        Index("ix_feedback_example_current", "example_id", "supersedes_id"),
        Index("uq_feedback_supersedes_id", "supersedes_id", unique=True),
    )
    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    example_id: int = Field(foreign_key="example.id")
    model_version_id: int | None = Field(default=None, foreign_key="modelversion.id")
    annotator: str
    kind: str = "image_rationale"
    verdict: str | None = None  # "right_reason", "wrong_reason" or None
    label: int | None = None  # corrected label, None keeps the dataset's
    explanation_method: str | None = None  # what the annotator was looking at
    irrelevant_path: str | None = None
    irrelevant_sha: str | None = None
    relevant_path: str | None = None
    relevant_sha: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    supersedes_id: int | None = Field(default=None, foreign_key="feedback.id")
    # A reviewer's decision on the row: "pending", "accepted" or "rejected" (a correction is a new row
    # by the reviewer that supersedes this one). The one column updated after the row is written.
    review_status: str = Field(default="pending", sa_column_kwargs={"server_default": "pending"})
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Lease(SQLModel, table=True):
    """An example open on an annotator's screen, held for them until ``expires_at``: while it lasts it
    counts against the project's overlap like a judgement, so no one else is served it past that. One
    row per (example, annotator), renewed when they reopen the example, removed on save or skip."""

    __table_args__ = (UniqueConstraint("example_id", "annotator"),)
    id: int | None = Field(default=None, primary_key=True)
    example_id: int = Field(foreign_key="example.id", index=True)
    annotator: str
    expires_at: datetime


class User(SQLModel, table=True):
    """A person who signs in to a team studio. ``role`` is their role everywhere: an owner manages the
    studio and every project; a reviewer or annotator works on the projects they are a member of (with
    the role of that membership). Only an argon2 hash of the password is kept."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    email: str | None = Field(default=None, index=True, unique=True)  # matched by an OIDC login
    password_hash: str | None = None
    role: str = "annotator"  # "owner", "reviewer" or "annotator"
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class Membership(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("project_id", "user_id"),)
    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    role: str  # "owner", "reviewer" or "annotator" on this project


class AuditEvent(SQLModel, table=True):
    """Who did what, when: logins (and failed ones), imports, jobs queued or cancelled, exports, role
    changes. Never a password."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(index=True)
    action: str = Field(index=True)
    project_id: int | None = Field(default=None, foreign_key="project.id")
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Job(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    kind: str = "train"
    spec: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="queued", index=True)  # queued, running, succeeded, failed, cancelled
    progress: float = 0.0
    history: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    log_tail: str = ""
    error: str | None = None
    cancel_requested: bool = False
    attempts: int = 0
    worker: str | None = None
    heartbeat_at: datetime | None = None
    model_version_id: int | None = Field(default=None, foreign_key="modelversion.id")
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class Correction(SQLModel, table=True):
    """A textual correction for revision by retrieval (RiT): a stated rule, or a better answer to a
    prompt. Its retrieval key's embedding is an array file (``embedding_path``), made with ``encoder``."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str  # "rule" or "answer"
    text: str
    source_prompt: str | None = None  # the prompt an answer answers
    project_id: int | None = Field(default=None, foreign_key="project.id", index=True)
    annotator: str | None = None
    encoder: str  # "<kind>:<backbone>" of the sentence encoder that made the embedding
    embedding_path: str
    embedding_sha: str
    created_at: datetime = Field(default_factory=utcnow)


class Comparison(SQLModel, table=True):
    """A blind comparison (did the generator get better?): a person saw one held-out prompt with one
    answer from each of two answer sources, in random order and without their names, and chose. Kept in
    source terms: ``source_a``/``source_b`` are answer-source keys ("base", "v12+best-of-4"), ``choice``
    is "a", "b" or "tie" whatever the order on screen. ``reward_choice`` is what the newest reward model
    preferred on the same two answers (None: the project had none), so people and the reward model can
    be set side by side. One vote per annotator, prompt and pair of sources (``pair``: the two keys in
    sorted order, so that either order on the pickers is the same pair)."""

    __table_args__ = (UniqueConstraint("example_id", "annotator", "pair"),)
    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    example_id: int = Field(foreign_key="example.id")  # the held-out prompt
    annotator: str
    source_a: str
    source_b: str
    pair: str
    answer_a: str
    answer_b: str
    choice: str  # "a", "b" or "tie"
    reward_choice: str | None = None  # "a", "b", "tie", or None without a reward model
    reward_model_version_id: int | None = Field(default=None, foreign_key="modelversion.id")
    created_at: datetime = Field(default_factory=utcnow)
