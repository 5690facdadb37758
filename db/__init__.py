"""Storage: SQLModel tables, the engine and session factory, Alembic migrations."""

from db.engine import engine, reset_engines, session_scope
from db.models import Example, Explanation, Feedback, Job, ModelVersion, Project

__all__ = [
    "Example",
    "Explanation",
    "Feedback",
    "Job",
    "ModelVersion",
    "Project",
    "engine",
    "reset_engines",
    "session_scope",
]
