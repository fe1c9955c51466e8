"""The first schema of the labelling store: annotators, segments, queries, assignments, labels.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "annotators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.CheckConstraint("role IN ('annotator', 'operator')", name=op.f("ck_annotators_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotators")),
        sa.UniqueConstraint("name", name=op.f("uq_annotators_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_annotators_token_hash")),
    )
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run", sa.String(200), nullable=False),
        sa.Column("env_id", sa.String(200), nullable=True),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("obs", sa.LargeBinary(), nullable=False),
        sa.Column("acts", sa.LargeBinary(), nullable=False),
        sa.Column("rews", sa.LargeBinary(), nullable=True),
        sa.Column("clip_path", sa.String(1000), nullable=True),
        sa.Column("source", sa.String(1000), nullable=True),
        sa.Column("source_row", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
    )
    op.create_table(
        "queries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("segment_a", sa.Integer(), nullable=False),
        sa.Column("segment_b", sa.Integer(), nullable=False),
        sa.Column("gold", sa.Float(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.CheckConstraint("gold IS NULL OR gold IN (0, 0.5, 1)", name=op.f("ck_queries_gold")),
        sa.ForeignKeyConstraint(["segment_a"], ["segments.id"], name=op.f("fk_queries_segment_a_segments")),
        sa.ForeignKeyConstraint(["segment_b"], ["segments.id"], name=op.f("fk_queries_segment_b_segments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queries")),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("query_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        sa.Column("left_is_a", sa.Boolean(), nullable=False),
        sa.Column("shown_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["annotator_id"], ["annotators.id"], name=op.f("fk_assignments_annotator_id_annotators")),
        sa.ForeignKeyConstraint(["query_id"], ["queries.id"], name=op.f("fk_assignments_query_id_queries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
        sa.UniqueConstraint("query_id", "annotator_id", name=op.f("uq_assignments_query_id")),
    )
    op.create_index(op.f("ix_assignments_annotator_id"), "assignments", ["annotator_id"])
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("choice", sa.String(16), nullable=False),
        sa.Column("answered_at", sa.Float(), nullable=False),
        sa.CheckConstraint("choice IN ('left', 'right', 'equal', 'cant_tell', 'skip')", name=op.f("ck_labels_choice")),
        sa.CheckConstraint("value IS NULL OR value IN (0, 0.5, 1)", name=op.f("ck_labels_value")),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignments.id"], name=op.f("fk_labels_assignment_id_assignments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labels")),
        sa.UniqueConstraint("assignment_id", name=op.f("uq_labels_assignment_id")),
    )


def downgrade() -> None:
    op.drop_table("labels")
    op.drop_index(op.f("ix_assignments_annotator_id"), table_name=op.f("assignments"))
    op.drop_table("assignments")
    op.drop_table("queries")
    op.drop_table("segments")
    op.drop_table("annotators")
