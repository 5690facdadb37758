"""Storage: SQLModel tables, the engine and session factory, Alembic migrations."""

from db.engine import DatabaseSetupError, engine, exclusive, reset_engines, session_scope
from db.models import (
    AuditEvent,
    Comparison,
    Correction,
    Example,
    Explanation,
    Feedback,
    Job,
    Lease,
    Membership,
    ModelVersion,
    Project,
    User,
)

__all__ = [
    "AuditEvent",
    "Comparison",
    "Correction",
    "DatabaseSetupError",
    "Example",
    "Explanation",
    "Feedback",
    "Job",
    "Lease",
    "Membership",
    "ModelVersion",
    "Project",
    "User",
    "engine",
    "exclusive",
    "reset_engines",
    "session_scope",
]
