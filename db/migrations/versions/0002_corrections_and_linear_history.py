"""RiT corrections in the database; one row supersedes another at most once

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 10:30:00

Before the unique index on ``feedback.supersedes_id`` can exist, histories that forked (two rows
superseding the same row: concurrent saves on PostgreSQL before this revision) are made linear again:
each such annotator's rows on that example are relinked in the order they were written, so no row is
lost and the latest is again the one current judgement.
"""

import itertools

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _linearise_forks(connection) -> None:
    forked = sa.text(
        "SELECT DISTINCT parent.example_id, parent.annotator FROM feedback AS parent WHERE parent.id IN ("
        "SELECT supersedes_id FROM feedback WHERE supersedes_id IS NOT NULL "
        "GROUP BY supersedes_id HAVING COUNT(*) > 1)"
    )
    history = sa.text("SELECT id FROM feedback WHERE example_id = :example AND annotator = :annotator ORDER BY id")
    relink = sa.text("UPDATE feedback SET supersedes_id = :parent WHERE id = :row")
    for example_id, annotator in connection.execute(forked).all():
        ids = connection.execute(history, {"example": example_id, "annotator": annotator}).scalars().all()
        for row in ids:  # first unlink the whole history, so relinking never meets the unique index
            connection.execute(relink, {"parent": None, "row": row})
        for parent, row in itertools.pairwise(ids):
            connection.execute(relink, {"parent": parent, "row": row})


def upgrade() -> None:
    _linearise_forks(op.get_bind())
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_supersedes_id"))
        batch_op.create_index("uq_feedback_supersedes_id", ["supersedes_id"], unique=True)

    op.create_table(
        "correction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source_prompt", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("annotator", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("encoder", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("embedding_path", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("embedding_sha", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("correction", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_correction_project_id"), ["project_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("correction", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_correction_project_id"))
    op.drop_table("correction")
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index("uq_feedback_supersedes_id")
        batch_op.create_index(batch_op.f("ix_feedback_supersedes_id"), ["supersedes_id"], unique=False)
