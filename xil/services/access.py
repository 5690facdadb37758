"""Bottom tier: who may do what. A team studio's people act as an :class:`Actor` (a signed-in user);
each use case that changes or reveals something takes ``actor=`` and calls :func:`require` before it
touches anything, so a hidden button is never the only guard. ``actor=None`` is the trusted operator:
the local studio of one person, the CLI, the worker.

Roles, each with what the one below may do and more:
- annotator: judge and rank the examples of their projects, see their own numbers;
- reviewer: also review (accept, reject, correct) and see everyone's feedback on their projects;
- owner: also import, train, export and manage members and settings. A studio-wide owner (the role
  of the account) is an owner of every project; other accounts act on the projects they are members
  of, with the role of that membership.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import col

from db import AuditEvent, Membership, Project, session_scope

ROLES = ("annotator", "reviewer", "owner")
PERMISSIONS = {
    "annotator": frozenset({"judge"}),
    "reviewer": frozenset({"judge", "review", "see_all"}),
    "owner": frozenset({"judge", "review", "see_all", "import", "train", "export", "manage"}),
}
PERMISSION_WHAT = {  # how a refusal names the permission
    "judge": "judge examples",
    "review": "review feedback",
    "see_all": "see everyone's feedback",
    "import": "import data",
    "train": "train or cancel jobs",
    "export": "export feedback",
    "manage": "change members and settings",
}


class PermissionDenied(ValueError):
    """The actor may not do this; the message says why."""


@dataclass(frozen=True)
class Actor:
    """A signed-in user: ``role`` is the account's studio-wide role."""

    user_id: int
    name: str
    role: str


def team_mode() -> bool:
    """Whether the app asks everyone to sign in (``XIL_AUTH=on``; ``xil serve`` sets it for a
    non-loopback address)."""
    return os.environ.get("XIL_AUTH", "").strip().lower() in ("1", "on", "true", "yes")


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
    return role


def project_role(actor: Actor | None, project_id: int) -> str | None:
    """The actor's role on the project: owner for the operator and studio owners, else their
    membership's role (None: not a member)."""
    if actor is None or actor.role == "owner":
        return "owner"
    with session_scope() as session:
        return session.scalar(
            select(Membership.role).where(Membership.project_id == project_id, Membership.user_id == actor.user_id)
        )


def can(actor: Actor | None, project_id: int, permission: str) -> bool:
    role = project_role(actor, project_id)
    return role is not None and permission in PERMISSIONS[role]


def require(actor: Actor | None, project_id: int, permission: str) -> None:
    """Raise :class:`PermissionDenied` unless the actor may ``permission`` on the project."""
    role = project_role(actor, project_id)
    if role is None:
        raise PermissionDenied(f"{actor.name} is not a member of project {project_id}")
    if permission not in PERMISSIONS[role]:
        needs = next(r for r in ROLES if permission in PERMISSIONS[r])
        raise PermissionDenied(
            f"{actor.name} is {role} on this project: to {PERMISSION_WHAT[permission]} takes a {needs}"
        )


def require_owner(actor: Actor | None, what: str) -> None:
    """Studio-wide actions (a new project, accounts): the operator or a studio owner only."""
    if actor is not None and actor.role != "owner":
        raise PermissionDenied(f"{actor.name} is {actor.role}: only an owner may {what}")


def judge_name(actor: Actor | None, annotator: str, project_id: int) -> str:
    """The name a judgement is stored under: the signed-in user's (never a typed one), or the name the
    local annotator typed."""
    if actor is None:
        name = annotator.strip()
        if not name:
            raise ValueError("say who you are (annotator name) before saving feedback")
        return name
    require(actor, project_id, "judge")
    return actor.name


def visible_projects(actor: Actor | None) -> list[Project]:
    """The projects the actor may open: all of them for the operator and owners, else their memberships."""
    with session_scope() as session:
        query = select(Project).order_by(col(Project.id))
        if actor is not None and actor.role != "owner":
            mine = select(Membership.project_id).where(Membership.user_id == actor.user_id)
            query = query.where(col(Project.id).in_(mine))
        return list(session.scalars(query))


def audit(actor: Actor | str | None, action: str, project_id: int | None = None, **detail) -> None:
    """Record who did what (never a password)."""
    name = actor.name if isinstance(actor, Actor) else (actor or "operator")
    with session_scope(write=True) as session:
        session.add(AuditEvent(actor=name, action=action, project_id=project_id, detail=detail))


def audit_log(actor: Actor | None = None, limit: int = 200) -> list[AuditEvent]:
    """The newest events first; owners and the operator only."""
    require_owner(actor, "read the audit log")
    with session_scope() as session:
        return list(session.scalars(select(AuditEvent).order_by(col(AuditEvent.id).desc()).limit(limit)))
