"""The preference labelling app: people compare two clips and the store keeps their answers.

:mod:`rewardlab.labeling.store` is the database (SQLite in WAL mode by default, PostgreSQL by URL, with
versioned migrations). :mod:`rewardlab.labeling.teacher` (``LabelServerTeacher``) is the client through which
a program (the RLHF loop) posts queries to a running server and reads the answers back. Needs the ``label``
extra: ``pip install rewardlab[label]``.
"""

try:
    import alembic  # noqa: F401
    import sqlalchemy  # noqa: F401
except ImportError as exc:  # pragma: no cover - the extra is installed wherever the tests run
    raise ImportError(f"rewardlab.labeling needs the 'label' extra ({exc.name} is missing): pip install 'rewardlab[label]'") from exc

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
