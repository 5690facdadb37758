"""Storage: SQLModel tables, the engine and session factory, Alembic migrations."""

from db.engine import DatabaseSetupError, engine, exclusive, reset_engines, session_scope
from db.models import Correction, Example, Explanation, Feedback, Job, Lease, ModelVersion, Project

__all__ = [
    "Correction",
    "DatabaseSetupError",
    "Example",
    "Explanation",
    "Feedback",
    "Job",
    "Lease",
    "ModelVersion",
    "Project",
    "engine",
    "exclusive",
    "reset_engines",
    "session_scope",
]
