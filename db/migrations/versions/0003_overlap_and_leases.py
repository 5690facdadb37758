"""Task distribution: a project's overlap, and leases of examples open on an annotator's screen

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 11:30:00

Existing projects get ``overlap`` 1 (the server default): one judgement per example, as before.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.add_column(sa.Column("overlap", sa.Integer(), server_default="1", nullable=False))

    op.create_table(
        "lease",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("example_id", sa.Integer(), nullable=False),
        sa.Column("annotator", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["example_id"], ["example.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("example_id", "annotator"),
    )
    with op.batch_alter_table("lease", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lease_example_id"), ["example_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lease", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lease_example_id"))
    op.drop_table("lease")
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.drop_column("overlap")
