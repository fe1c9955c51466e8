"""What the labelling server reads on every request, cheap: each query's count of assignments, whether an
assignment is answered, and indexes.

``queries.assigned`` is the number of assignments of the query, kept by
:meth:`~rewardlab.labeling.store.Store.next_assignment` in the transaction that adds one (filled here from
the assignments already made): picking the least-assigned query and counting an annotator's queries left
read it through the index ``(assigned, id)`` instead of grouping every query's assignments on each
request. ``assignments.answered`` says whether the assignment has its label (kept by
:meth:`~rewardlab.labeling.store.Store.record_label` in the transaction that adds the label; filled here
from the labels): an annotator's open assignment and answered count are read through the index
``(annotator_id, answered, id)`` instead of looking for a label of each of their assignments. The
index ``(annotator_id, query_id)`` answers "the queries of this annotator" from the index alone (it
replaces the index on ``annotator_id``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("queries", sa.Column("assigned", sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE queries SET assigned = (SELECT count(*) FROM assignments WHERE assignments.query_id = queries.id)")
    op.create_index(op.f("ix_queries_assigned"), "queries", ["assigned", "id"])
    op.drop_index(op.f("ix_assignments_annotator_id"), table_name="assignments")
    op.create_index(op.f("ix_assignments_annotator_id_query_id"), "assignments", ["annotator_id", "query_id"])
    op.add_column("assignments", sa.Column("answered", sa.Boolean(), nullable=False, server_default=sa.false()))
    assignments = sa.table("assignments", sa.column("id", sa.Integer()), sa.column("answered", sa.Boolean()))
    labels = sa.table("labels", sa.column("assignment_id", sa.Integer()))
    op.execute(assignments.update().where(assignments.c.id.in_(sa.select(labels.c.assignment_id))).values(answered=True))
    op.create_index(op.f("ix_assignments_annotator_id_answered"), "assignments", ["annotator_id", "answered", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_assignments_annotator_id_answered"), table_name="assignments")
    with op.batch_alter_table("assignments") as batch:
        batch.drop_column("answered")
    op.drop_index(op.f("ix_assignments_annotator_id_query_id"), table_name="assignments")
    op.create_index(op.f("ix_assignments_annotator_id"), "assignments", ["annotator_id"])
    op.drop_index(op.f("ix_queries_assigned"), table_name="queries")
    with op.batch_alter_table("queries") as batch:
        batch.drop_column("assigned")
