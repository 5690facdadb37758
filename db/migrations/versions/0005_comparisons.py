"""Blind comparisons of two answer sources (generator versions) on held-out prompts

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10 10:00:00

A new table only: nothing existing changes.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "comparison",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("example_id", sa.Integer(), nullable=False),
        sa.Column("annotator", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source_a", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source_b", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("pair", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("answer_a", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("answer_b", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("choice", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reward_choice", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("reward_model_version_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["example_id"], ["example.id"]),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.ForeignKeyConstraint(["reward_model_version_id"], ["modelversion.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("example_id", "annotator", "pair"),
    )
    with op.batch_alter_table("comparison", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_comparison_project_id"), ["project_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("comparison", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_comparison_project_id"))
    op.drop_table("comparison")
