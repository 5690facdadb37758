"""Stores tier: accounts, memberships and sign-in for a team studio.

Passwords are kept only as argon2 hashes (``argon2-cffi``). A sign-in gives a signed, expiring token
(``itsdangerous``) that names the user and a fingerprint of their password hash, so a new password or a
disabled account ends every session. Five failed sign-ins in a minute lock the name for the rest of
that minute; every sign-in, failed or not, goes to the audit log.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlmodel import col

from db import AuditEvent, Membership, Project, User, session_scope
from db.models import utcnow
from xil.config import home
from xil.services.access import Actor, audit, check_role, require, require_owner

MIN_PASSWORD = 8
FAILURES_PER_MINUTE = 5
SESSION_HOURS = float(os.environ.get("XIL_SESSION_HOURS", "12"))
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password anyone has")  # verified for unknown names: same timing


class LoginError(ValueError):
    """A refused sign-in; the message never says whether the name exists."""


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password needs {MIN_PASSWORD} characters or more")
    return password


def _user(session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name.strip()))
    if user is None:
        raise ValueError(f"no user named {name!r}")
    return user


def add_user(
    name: str, role: str, password: str | None = None, email: str | None = None, actor: Actor | None = None
) -> User:
    """A new account (no password: it can sign in only through OIDC, by ``email``)."""
    require_owner(actor, "add accounts")
    name = name.strip()
    if not name:
        raise ValueError("a user needs a name")
    check_role(role)
    if password is None and not email:
        raise ValueError("a user needs a password (or an e-mail address for a single sign-on login)")
    with session_scope(write=True) as session:
        if session.scalar(select(User).where(User.name == name)) is not None:
            raise ValueError(f"a user named {name!r} exists already")
        user = User(
            name=name,
            role=role,
            email=email.strip().lower() if email else None,
            password_hash=_hasher.hash(_check_password(password)) if password is not None else None,
        )
        session.add(user)
        session.flush()
        session.refresh(user)
    audit(actor, "user_added", user=name, role=role)
    return user


def list_users() -> list[dict]:
    """Every account with its memberships (project name -> role); no hashes."""
    with session_scope() as session:
        users = list(session.scalars(select(User).order_by(col(User.id))))
        rows = session.execute(
            select(Membership.user_id, Project.name, Membership.role).join(Project, Project.id == Membership.project_id)
        ).all()
    projects: dict[int, dict[str, str]] = {}
    for user_id, project, role in rows:
        projects.setdefault(user_id, {})[project] = role
    return [
        {
            "name": u.name,
            "role": u.role,
            "active": u.active,
            "email": u.email,
            "projects": projects.get(u.id, {}),
            "created_at": u.created_at.isoformat(),
        }
        for u in users
    ]


def set_password(name: str, password: str, actor: Actor | None = None) -> None:
    """A new password (ends the user's sessions); owners set anyone's, a user their own."""
    if actor is not None and actor.name != name.strip():
        require_owner(actor, "set another user's password")
    with session_scope(write=True) as session:
        user = _user(session, name)
        user.password_hash = _hasher.hash(_check_password(password))
        session.add(user)
    audit(actor, "password_changed", user=name.strip())


def set_active(name: str, active: bool, actor: Actor | None = None) -> None:
    """Disable an account (it can no longer sign in, its sessions end) or enable it again."""
    require_owner(actor, "disable or enable accounts")
    with session_scope(write=True) as session:
        user = _user(session, name)
        user.active = active
        session.add(user)
    audit(actor, "user_enabled" if active else "user_disabled", user=name.strip())


def set_role(name: str, role: str, actor: Actor | None = None) -> None:
    require_owner(actor, "change roles")
    check_role(role)
    with session_scope(write=True) as session:
        user = _user(session, name)
        old, user.role = user.role, role
        session.add(user)
    audit(actor, "role_changed", user=name.strip(), old=old, new=role)


def add_member(project_id: int, name: str, role: str | None = None, actor: Actor | None = None) -> Membership:
    """Give the user a role on the project (their account's role unless ``role``); replaces a former one."""
    require(actor, project_id, "manage")
    with session_scope(write=True) as session:
        if session.get(Project, project_id) is None:
            raise ValueError(f"no project {project_id}")
        user = _user(session, name)
        role = check_role(role or user.role)
        membership = session.scalar(
            select(Membership).where(Membership.project_id == project_id, Membership.user_id == user.id)
        )
        old = membership.role if membership else None
        membership = membership or Membership(project_id=project_id, user_id=user.id, role=role)
        membership.role = role
        session.add(membership)
        session.flush()
        session.refresh(membership)
    audit(actor, "member_added" if old is None else "role_changed", project_id, user=name.strip(), old=old, new=role)
    return membership


def remove_member(project_id: int, name: str, actor: Actor | None = None) -> None:
    require(actor, project_id, "manage")
    with session_scope(write=True) as session:
        user = _user(session, name)
        membership = session.scalar(
            select(Membership).where(Membership.project_id == project_id, Membership.user_id == user.id)
        )
        if membership is not None:
            session.delete(membership)
    audit(actor, "member_removed", project_id, user=name.strip())


def members(project_id: int) -> list[dict]:
    """``{name, role, active}`` of the project's members, studio owners included."""
    with session_scope() as session:
        rows = session.execute(
            select(User.name, Membership.role, User.active)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.project_id == project_id)
        ).all()
        owners = session.execute(select(User.name, User.active).where(User.role == "owner")).all()
    listed = {name: {"name": name, "role": "owner", "active": active} for name, active in owners}
    for name, role, active in rows:
        listed.setdefault(name, {"name": name, "role": role, "active": active})
    return sorted(listed.values(), key=lambda m: m["name"])


def has_owner() -> bool:
    """Whether an active owner account exists (team mode refuses to start without one)."""
    with session_scope() as session:
        return bool(session.scalar(select(func.count()).where(User.role == "owner", col(User.active).is_(True))))


def _recent_failures(session, name: str) -> int:
    since = utcnow() - timedelta(minutes=1)
    query = select(func.count()).where(
        AuditEvent.action == "login_failed", AuditEvent.actor == name, AuditEvent.at > since
    )
    return int(session.scalar(query) or 0)


def authenticate(name: str, password: str) -> Actor:
    """The user's :class:`Actor` if the password is theirs and the account active; else LoginError."""
    name = name.strip()
    with session_scope() as session:
        if _recent_failures(session, name) >= FAILURES_PER_MINUTE:
            audit(name, "login_throttled")
            raise LoginError(f"too many failed sign-ins for {name!r}: wait a minute and try again")
        user = session.scalar(select(User).where(User.name == name))
    try:
        ok = _hasher.verify(user.password_hash if user and user.password_hash else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        ok = False
    if not (ok and user is not None and user.password_hash and user.active):
        audit(name, "login_failed")
        raise LoginError("wrong name or password, or the account is disabled")
    audit(name, "login")
    return Actor(user_id=user.id, name=user.name, role=user.role)


def actor_for_email(email: str) -> Actor | None:
    """The active account with this e-mail address (a single sign-on login), if any."""
    with session_scope() as session:
        user = session.scalar(select(User).where(User.email == email.strip().lower(), col(User.active).is_(True)))
    if user is not None:
        audit(user.name, "login", method="oidc")
        return Actor(user_id=user.id, name=user.name, role=user.role)
    return None


def _secret_key() -> str:
    """``XIL_SECRET_KEY``, or a random key made once and kept (mode 0600) in the data directory."""
    if key := os.environ.get("XIL_SECRET_KEY"):
        return key
    path = home() / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    return path.read_text().strip()


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_secret_key(), salt="xil-session")


def _fingerprint(user: User) -> str:
    return hashlib.sha256((user.password_hash or user.email or "").encode()).hexdigest()[:16]


def session_token(actor: Actor) -> str:
    """A signed token for a cookie: the user and their password hash's fingerprint, never the password."""
    with session_scope() as session:
        user = session.get(User, actor.user_id)
    return _serializer().dumps({"user": user.id, "fp": _fingerprint(user)})


def actor_from_token(token: str | None, max_age_hours: float = SESSION_HOURS) -> Actor | None:
    """The actor a token signs in, or None when it is forged, expired, from an old password or for a
    disabled account."""
    if not token:
        return None
    try:
        data = _serializer().loads(token, max_age=int(max_age_hours * 3600))
    except BadSignature:  # SignatureExpired is one
        return None
    with session_scope() as session:
        user = session.get(User, data.get("user"))
    if user is None or not user.active or data.get("fp") != _fingerprint(user):
        return None
    return Actor(user_id=user.id, name=user.name, role=user.role)
