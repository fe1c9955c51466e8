"""The preference labelling app: people compare two clips and the store keeps their answers.

:mod:`rewardlab.labeling.store` is the database (SQLite in WAL mode by default, PostgreSQL by URL, with
versioned migrations). Needs the ``label`` extra: ``pip install rewardlab[label]``.
"""

from rewardlab.labeling.store import (
    CHOICES,
    ROLES,
    AlreadyAnswered,
    Annotator,
    Answer,
    Assignment,
    NotFound,
    NotYours,
    Store,
    choice_label,
    open_store,
)

__all__ = [
    "CHOICES",
    "ROLES",
    "AlreadyAnswered",
    "Annotator",
    "Answer",
    "Assignment",
    "NotFound",
    "NotYours",
    "Store",
    "choice_label",
    "open_store",
]
