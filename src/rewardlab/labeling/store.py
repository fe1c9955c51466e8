"""The labelling app's store: annotators, segments, queries, assignments and labels in a SQL database.

A SQLite file in WAL mode by default (``sqlite:///DIR/labels.db``, or just a path), PostgreSQL by URL
(``postgresql+psycopg://user@host/db``). :func:`open_store` brings the schema up to date with the
versioned Alembic migrations shipped in ``rewardlab/labeling/migrations/`` (a new file gets the whole
schema; an up-to-date one is left as it is; the version is the row of ``alembic_version``).

**Schema** (one row each):

* ``annotators`` — ``name`` (unique), ``token_hash`` (SHA-256 of the token; the token itself is shown
  once by :meth:`Store.add_annotator` and never stored), ``role`` (``annotator`` or ``operator``);
* ``segments`` — ``run``, ``env_id``, ``length`` ``T``, the arrays ``obs`` ``(T, *obs_shape)``, ``acts``
  ``(T, *act_shape)`` and optional ``rews`` ``(T,)`` as ``.npy`` bytes (so an export needs nothing
  but the database), ``clip_path`` (the rendered MP4, once there), ``source`` / ``source_row`` (the
  ``.npz`` and row it came from, if any);
* ``queries`` — segments ``a`` and ``b``, ``gold`` (the known answer ``P(a ≻ b)`` of a gold query, or
  null), ``assigned`` (how many assignments it has, kept with them: the next query and an annotator's
  progress are read from it through an index, not counted on each request);
* ``assignments`` — a query shown to one annotator (unique per pair): ``left_is_a``, ``shown_at``, and
  ``answered`` (whether its label is in; set in the label's transaction);
* ``labels`` — at most one per assignment: ``choice`` as pressed and ``value`` = ``P(a ≻ b)`` (null
  when skipped), ``answered_at``.

**The side-order rule.** Each assignment draws its own side order from the caller's generator:
``left_is_a`` is True when segment ``a`` is shown on the left. An answer names a side, and the store
undoes the side order before it stores anything, so a label is always about ``a`` and ``b``:

=============  ===================  ====================
choice         ``left_is_a`` True   ``left_is_a`` False
=============  ===================  ====================
``left``       1.0 (a preferred)    0.0 (b preferred)
``right``      0.0                  1.0
``equal``      0.5                  0.5
``cant_tell``  skipped              skipped
``skip``       skipped              skipped
=============  ===================  ====================

the convention of :class:`rewardlab.data.Preference` (its ``left_first`` is ``left_is_a``). Times are
seconds since the epoch (``time.time()``), as :class:`~rewardlab.data.Preference` has them.

Every write is one transaction, committed before the method returns: a label that
:meth:`Store.record_label` returned is on disk (SQLite runs with ``synchronous=FULL``). A refused write
(unknown assignment, someone else's, a second answer, a choice outside the set) raises a
:class:`~rewardlab.errors.ValidationError` subclass and stores nothing.

Examples:
    >>> import tempfile, numpy as np
    >>> from rewardlab.data import Segment
    >>> store = open_store(tempfile.mkdtemp() + "/labels.db")
    >>> token = store.add_annotator("ada")
    >>> ada = store.authenticate(token)
    >>> a, b = store.add_segments([Segment(np.zeros((2, 1)), np.zeros(2)), Segment(np.ones((2, 1)), np.ones(2))], env_id="Toy-v0")
    >>> [q] = store.add_queries([(a, b)])
    >>> job = store.next_assignment(ada, np.random.default_rng(0))
    >>> label = store.record_label(job.id, ada, "left")
    >>> label == (1.0 if job.left_is_a else 0.0), store.answers([q]) == {q: [label]}
    (True, True)
    >>> store.close()
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import math
import secrets
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast, get_args

import numpy as np
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    bindparam,
    create_engine,
    event,
    false,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.sql.elements import BindParameter

from rewardlab.data.preferences import SKIPPED, Label, Preference, PreferenceDataset, Segment, check_label
from rewardlab.errors import ConfigError, DataFileError, ValidationError

__all__ = [
    "CHOICES",
    "ROLES",
    "AlreadyAnswered",
    "Annotator",
    "Answer",
    "Assignment",
    "Choice",
    "NextPage",
    "NotFound",
    "NotYours",
    "Store",
    "choice_label",
    "open_store",
]

#: What an annotator can answer: a side, a tie, or no answer (two kinds, kept apart).
Choice = Literal["left", "right", "equal", "cant_tell", "skip"]
CHOICES: tuple[str, ...] = get_args(Choice)
#: Annotators label; operators also see the operator page.
Role = Literal["annotator", "operator"]
ROLES: tuple[str, ...] = get_args(Role)

_CHOICE_FIX = "answer 'left', 'right', 'equal', 'cant_tell' or 'skip'"


class NotFound(ValidationError):
    """An id (assignment, query, segment, annotator) that the store does not hold."""


class NotYours(ValidationError):
    """An answer to an assignment that was given to another annotator."""


class AlreadyAnswered(ValidationError):
    """A second answer to an assignment (one label per assignment)."""


# -- the models ---------------------------------------------------------------------------------------

_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The declarative base of the store's tables (its metadata is what the migrations build)."""

    metadata = MetaData(naming_convention=_NAMING)


class AnnotatorRow(Base):
    __tablename__ = "annotators"
    __table_args__ = (CheckConstraint("role IN ('annotator', 'operator')", name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Float)


class SegmentRow(Base):
    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run: Mapped[str] = mapped_column(String(200))
    env_id: Mapped[str | None] = mapped_column(String(200))
    length: Mapped[int] = mapped_column(Integer)
    obs: Mapped[bytes] = mapped_column(LargeBinary)
    acts: Mapped[bytes] = mapped_column(LargeBinary)
    rews: Mapped[bytes | None] = mapped_column(LargeBinary)
    clip_path: Mapped[str | None] = mapped_column(String(1000))
    source: Mapped[str | None] = mapped_column(String(1000))
    source_row: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Float)


class QueryRow(Base):
    __tablename__ = "queries"
    __table_args__ = (CheckConstraint("gold IS NULL OR gold IN (0, 0.5, 1)", name="gold"), Index("ix_queries_assigned", "assigned", "id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    segment_a: Mapped[int] = mapped_column(ForeignKey("segments.id"))
    segment_b: Mapped[int] = mapped_column(ForeignKey("segments.id"))
    gold: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    #: How many assignments the query has (kept by next_assignment, in the transaction that adds one).
    assigned: Mapped[int] = mapped_column(Integer, server_default="0", default=0)


class AssignmentRow(Base):
    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("query_id", "annotator_id"),
        Index("ix_assignments_annotator_id_query_id", "annotator_id", "query_id"),
        Index("ix_assignments_annotator_id_answered", "annotator_id", "answered", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    query_id: Mapped[int] = mapped_column(ForeignKey("queries.id"))
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotators.id"))
    left_is_a: Mapped[bool] = mapped_column(Boolean)
    shown_at: Mapped[float] = mapped_column(Float)
    #: Whether it has its label (kept by record_label, in the transaction that adds the label).
    answered: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)


class LabelRow(Base):
    __tablename__ = "labels"
    __table_args__ = (
        CheckConstraint("choice IN ('left', 'right', 'equal', 'cant_tell', 'skip')", name="choice"),
        CheckConstraint("value IS NULL OR value IN (0, 0.5, 1)", name="value"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), unique=True)
    value: Mapped[float | None] = mapped_column(Float)
    choice: Mapped[str] = mapped_column(String(16))
    answered_at: Mapped[float] = mapped_column(Float)


# The tables, for the Core statements of the per-request paths (cheaper than ORM sessions and objects).
_SEGMENTS = cast(Table, SegmentRow.__table__)
_QUERIES = cast(Table, QueryRow.__table__)
_ASSIGNMENTS = cast(Table, AssignmentRow.__table__)
_LABELS = cast(Table, LabelRow.__table__)
_ANNOTATORS = cast(Table, AnnotatorRow.__table__)


class _Sql:
    """The statements of the per-request paths, built once with bound parameters: building a statement
    costs SQLAlchemy ~0.3 ms, running a built one ~0.02 ms (parameters: ``who`` annotator id, ``query``,
    ``job`` assignment id, ``cap`` the per-query cap, ``digest`` a token's SHA-256)."""

    a, q, lab = _ASSIGNMENTS, _QUERIES, _LABELS
    who: BindParameter[int] = bindparam("who", type_=Integer)
    cap: BindParameter[int] = bindparam("cap", type_=Integer)
    sa, sb = _SEGMENTS.alias("sa"), _SEGMENTS.alias("sb")
    clips = (sa.c.clip_path.label("clip_a"), sb.c.clip_path.label("clip_b"))
    mine = select(a.c.query_id).where(a.c.annotator_id == who)

    token = select(_ANNOTATORS.c.id, _ANNOTATORS.c.name, _ANNOTATORS.c.role, _ANNOTATORS.c.token_hash).where(
        _ANNOTATORS.c.token_hash == bindparam("digest")
    )
    annotator = select(_ANNOTATORS.c.id).where(_ANNOTATORS.c.id == who)
    #: The annotator's oldest unanswered assignment, with its query's segments and their clip paths.
    open = (
        select(a.c.id, a.c.query_id, a.c.left_is_a, a.c.shown_at, q.c.segment_a, q.c.segment_b, *clips)
        .join(q, q.c.id == a.c.query_id)
        .join(sa, sa.c.id == q.c.segment_a)
        .join(sb, sb.c.id == q.c.segment_b)
        .where(a.c.annotator_id == who, a.c.answered == false())
        .order_by(a.c.id)
        .limit(1)
    )
    #: The query to assign next: the least-assigned, then the oldest, of those the annotator has not had.
    pick = (
        select(q.c.id, q.c.segment_a, q.c.segment_b, *clips)
        .join(sa, sa.c.id == q.c.segment_a)
        .join(sb, sb.c.id == q.c.segment_b)
        .where(q.c.id.not_in(mine))
        .order_by(q.c.assigned, q.c.id)
        .limit(1)
    )
    pick_capped = pick.where(q.c.assigned < cap)
    bump = update(q).where(q.c.id == bindparam("query")).values(assigned=q.c.assigned + 1)
    bump_capped = bump.where(q.c.assigned < cap)
    assign = insert(a)
    #: ``(answered, held, to come)``: labels given, assignments held, queries not had yet (under the cap).
    done = select(func.count(a.c.id)).where(a.c.annotator_id == who, a.c.answered == true()).scalar_subquery()
    given = select(func.count(a.c.id)).where(a.c.annotator_id == who).scalar_subquery()
    progress = select(done, given, select(func.count(q.c.id)).scalar_subquery() - given)
    progress_capped = select(done, given, select(func.count(q.c.id)).where(q.c.assigned < cap, q.c.id.not_in(mine)).scalar_subquery())
    #: An assignment's annotator, side order, time shown, and whether it has its label.
    answerable = select(a.c.annotator_id, a.c.left_is_a, a.c.shown_at, a.c.answered).where(a.c.id == bindparam("job"))
    label = insert(lab)
    mark = update(a).where(a.c.id == bindparam("job")).values(answered=True)


# -- records handed out ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Annotator:
    """Who is labelling: ``id``, ``name`` and ``role`` (``"annotator"`` or ``"operator"``)."""

    id: int
    name: str
    role: str


@dataclass(frozen=True)
class Assignment:
    """A query shown to one annotator.

    ``left_is_a``: segment ``a`` is on the left; ``left`` / ``right`` are the segment ids to show on
    each side; ``shown_at`` when it was first handed out (seconds since the epoch).
    """

    id: int
    query_id: int
    annotator_id: int
    left_is_a: bool
    shown_at: float
    a: int
    b: int

    @property
    def left(self) -> int:
        return self.a if self.left_is_a else self.b

    @property
    def right(self) -> int:
        return self.b if self.left_is_a else self.a


@dataclass(frozen=True)
class NextPage:
    """What the labelling page shows next (:meth:`Store.next_page`): the ``assignment`` (None when nothing
    is left), the annotator's ``answered`` and ``left`` counts (:meth:`Store.progress`), and ``clips``,
    the stored clip path (or None) of each of the assignment's two segments."""

    assignment: Assignment | None
    answered: int
    left: int
    clips: dict[int, str | None]


@dataclass(frozen=True)
class Answer:
    """One stored label with its context: ``label`` is ``P(a ≻ b)`` or ``"skipped"``; ``choice`` is what
    was pressed (it tells ``cant_tell`` from ``skip``); ``gold`` the query's known answer or None."""

    query_id: int
    assignment_id: int
    annotator: str
    label: Label
    choice: str
    left_is_a: bool
    shown_at: float
    answered_at: float
    gold: float | None


def choice_label(choice: str, left_is_a: bool) -> Label:
    """``P(a ≻ b)`` of an answer ``choice`` given the side order: ``left`` prefers the left segment
    (``a`` when ``left_is_a``), ``right`` the right one, ``equal`` is 0.5, ``cant_tell`` and ``skip``
    are :data:`~rewardlab.data.SKIPPED`.

    Examples:
        >>> choice_label("left", True), choice_label("left", False), choice_label("right", False)
        (1.0, 0.0, 1.0)
        >>> choice_label("equal", False), choice_label("cant_tell", True)
        (0.5, 'skipped')
    """
    if not isinstance(choice, str) or choice not in CHOICES:
        raise ValidationError("choice", f"is {choice!r}", _CHOICE_FIX)
    if choice in ("cant_tell", "skip"):
        return SKIPPED
    if choice == "equal":
        return 0.5
    return 1.0 if (choice == "left") == bool(left_is_a) else 0.0


def _hash_token(token: str) -> str:
    """SHA-256 of a token, hex. Tokens are 256 random bits, so a fast hash is enough (no guessing)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _npy(x: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(x), allow_pickle=False)
    return buffer.getvalue()


def _array(data: bytes) -> np.ndarray:
    out: np.ndarray = np.load(io.BytesIO(data), allow_pickle=False)
    return out


def _check_time(value: Any, name: str) -> float:
    if value is None:
        return time.time()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
        raise ValidationError(name, f"is {value!r}", "pass a finite time in seconds since the epoch (time.time()) or None for now")
    return float(value)


def _id(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValidationError(name, f"is {value!r} ({type(value).__name__})", f"pass the integer id the store returned for {name}")
    return int(value)


# -- the store ---------------------------------------------------------------------------------------------


def _check_next_args(annotator: Any, rng: Any, per_query: Any) -> None:
    """The checks of :meth:`Store.next_assignment` and :meth:`Store.next_page` on their arguments."""
    if not isinstance(annotator, Annotator):
        raise ValidationError("annotator", f"is a {type(annotator).__name__}", "pass the Annotator that authenticate returned")
    if not isinstance(rng, np.random.Generator):
        raise ValidationError("rng", f"is a {type(rng).__name__}", "pass a numpy.random.Generator, e.g. np.random.default_rng(seed)")
    if per_query is not None and (isinstance(per_query, bool) or not isinstance(per_query, int) or per_query < 1):
        raise ValidationError("per_query", f"is {per_query!r}", "pass a positive number of annotators per query, or None")


class Store:
    """The labelling database (open it with :func:`open_store`). Methods are safe to call from several
    threads: each opens its own session and transaction.

    A token that :meth:`authenticate` accepted is remembered (by its SHA-256) for
    :attr:`AUTH_CACHE_SECONDS`, so a server does not read the annotators table on every request; this
    store's own changes to annotators forget them at once, another process's (an annotator removed by
    hand) count within that time."""

    #: How long an accepted token is taken from memory before the database is asked again.
    AUTH_CACHE_SECONDS = 5.0

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.url = engine.url
        self.is_sqlite = engine.dialect.name == "sqlite"
        # SQLite has one writer at a time; threads of this process queue on this lock instead of on
        # SQLite's busy handler, whose back-off sleeps (up to 100 ms each) made the latency tail.
        self._write_lock = threading.Lock() if self.is_sqlite else contextlib.nullcontext()
        self._write_engine = engine.execution_options(rewardlab_write=True) if self.is_sqlite else engine
        self._tokens: dict[str, tuple[Annotator, float]] = {}  # SHA-256 of a token -> (who, when checked)

    def close(self) -> None:
        """Release the connections (the data stays)."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url.render_as_string(hide_password=True)!r})"

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A session whose transaction is committed on exit (rolled back on an error). On SQLite it
        starts with ``BEGIN IMMEDIATE``: the write lock is taken first, so read-then-write never fails;
        this process's writers take turns on a lock first (other processes wait in SQLite's busy handler)."""
        with self._write_lock, Session(self._write_engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self.engine) as session, session.begin():
            yield session

    @contextmanager
    def _write_conn(self) -> Iterator[Connection]:
        """:meth:`_write` for SQLAlchemy Core statements (a connection, no ORM session): the hot paths."""
        with self._write_lock, self._write_engine.begin() as conn:
            yield conn

    @contextmanager
    def _read_conn(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # -- annotators ----------------------------------------------------------------------------------
    def add_annotator(self, name: str, role: str = "annotator") -> str:
        """Add an annotator and return their token (``secrets.token_urlsafe(32)``: show it once; only its
        SHA-256 is stored). ``role``: ``"annotator"`` or ``"operator"`` (sees the operator page)."""
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise ValidationError("name", f"is {name!r}", "pass a non-empty name of at most 100 characters")
        if role not in ROLES:
            raise ValidationError("role", f"is {role!r}", "pass 'annotator' or 'operator'")
        token = secrets.token_urlsafe(32)
        with self._write() as s:
            if s.scalar(select(AnnotatorRow.id).where(AnnotatorRow.name == name)) is not None:
                raise ValidationError("name", f"{name!r} is taken", "choose another name (each annotator has one token)")
            s.add(AnnotatorRow(name=name, token_hash=_hash_token(token), role=role, created_at=time.time()))
        self._tokens.clear()  # any change to annotators: read them again
        return token

    def authenticate(self, token: Any) -> Annotator | None:
        """The annotator holding ``token``, or None. The row is found by the token's SHA-256 (a lookup
        that reveals nothing about the token) and the hashes compared with :func:`hmac.compare_digest`."""
        if not isinstance(token, str) or not token or len(token) > 256:
            return None
        digest = _hash_token(token)
        hit = self._tokens.get(digest)
        now = time.monotonic()
        if hit is not None and now - hit[1] < self.AUTH_CACHE_SECONDS:
            return hit[0]
        with self._read_conn() as conn:
            row = conn.execute(_Sql.token, {"digest": digest}).first()
        if row is None or not hmac.compare_digest(row.token_hash.encode(), digest.encode()):
            return None
        who = Annotator(row.id, row.name, row.role)
        if len(self._tokens) > 10_000:  # many annotators: keep memory bounded
            self._tokens.clear()
        self._tokens[digest] = (who, now)
        return who

    def known_token(self, token: Any) -> Annotator | None:
        """The annotator of ``token`` if :meth:`authenticate` accepted it within :attr:`AUTH_CACHE_SECONDS`
        (from memory, no database read); None otherwise (ask :meth:`authenticate`)."""
        if not isinstance(token, str) or not token or len(token) > 256:
            return None
        hit = self._tokens.get(_hash_token(token))
        return hit[0] if hit is not None and time.monotonic() - hit[1] < self.AUTH_CACHE_SECONDS else None

    def annotators(self) -> list[Annotator]:
        """Every annotator, in the order added."""
        with self._read() as s:
            return [Annotator(r.id, r.name, r.role) for r in s.scalars(select(AnnotatorRow).order_by(AnnotatorRow.id))]

    # -- segments and queries ------------------------------------------------------------------------
    def add_segments(
        self,
        segments: Iterable[Segment],
        *,
        env_id: str | None,
        run: str = "",
        source: str | Path | None = None,
        rows: Sequence[int] | None = None,
    ) -> list[int]:
        """Store segments (their arrays, as ``.npy`` bytes) and return their ids, in order.

        Args:
            segments: :class:`~rewardlab.data.Segment` objects (``obs`` ``(T, *obs_shape)``, ``acts``
                ``(T, *act_shape)``, optional ``rews`` ``(T,)``).
            env_id: the env they come from (an export needs one env).
            run: the run (directory or name) they belong to.
            source: the ``.npz`` of stacked segments they were read from.
            rows: each segment's row in ``source``.
        """
        made = self._segment_rows(list(segments), env_id=env_id, run=run, source=source, rows=rows)
        with self._write() as s:
            s.add_all(made)
            s.flush()
            return [r.id for r in made]

    @staticmethod
    def _segment_rows(
        items: list[Segment], *, env_id: str | None, run: str, source: str | Path | None, rows: Sequence[int] | None
    ) -> list[SegmentRow]:
        """The checked rows of :meth:`add_segments` (not yet added to a session)."""
        for k, seg in enumerate(items):
            if not isinstance(seg, Segment):
                raise ValidationError(f"segments[{k}]", f"is a {type(seg).__name__}", "pass rewardlab.data.Segment objects")
        if rows is not None and len(rows) != len(items):
            raise ValidationError("rows", f"has {len(rows)} entries for {len(items)} segments", "pass one row per segment, or None")
        if env_id is not None and not isinstance(env_id, str):
            raise ValidationError("env_id", f"is a {type(env_id).__name__}", "pass the env's Gymnasium id, or None")
        now = time.time()
        return [
            SegmentRow(
                run=str(run),
                env_id=env_id,
                length=len(seg),
                obs=_npy(seg.obs),
                acts=_npy(seg.acts),
                rews=None if seg.rews is None else _npy(seg.rews),
                source=None if source is None else str(source),
                source_row=None if rows is None else int(rows[k]),
                created_at=now,
            )
            for k, seg in enumerate(items)
        ]

    def segment(self, segment_id: int) -> Segment:
        """The stored segment ``segment_id``."""
        with self._read() as s:
            return self._segment(s, _id(segment_id, "segment_id"))

    @staticmethod
    def _segment(s: Session, segment_id: int) -> Segment:
        row = s.get(SegmentRow, segment_id)
        if row is None:
            raise NotFound("segment_id", f"{segment_id} is not in the store", "pass an id that add_segments returned")
        return Segment(_array(row.obs), _array(row.acts), None if row.rews is None else _array(row.rews))

    def set_clip(self, segment_id: int, path: str | Path) -> None:
        """Record where segment ``segment_id``'s rendered clip is."""
        segment_id = _id(segment_id, "segment_id")
        with self._write() as s:
            row = s.get(SegmentRow, segment_id)
            if row is None:
                raise NotFound("segment_id", f"{segment_id} is not in the store", "pass an id that add_segments returned")
            row.clip_path = str(path)

    def clip_path(self, segment_id: int) -> str | None:
        """Where segment ``segment_id``'s clip is, or None before it is rendered."""
        segment_id = _id(segment_id, "segment_id")
        with self._read() as s:
            row = s.get(SegmentRow, segment_id)
            if row is None:
                raise NotFound("segment_id", f"{segment_id} is not in the store", "pass an id that add_segments returned")
            return row.clip_path

    def clip_paths(self, segment_ids: Iterable[int]) -> dict[int, str | None]:
        """:meth:`clip_path` of several segments in one read (unknown ids raise :class:`NotFound`)."""
        ids = [_id(i, "segment_ids") for i in segment_ids]
        with self._read() as s:
            found = {row.id: row.clip_path for row in s.execute(select(SegmentRow.id, SegmentRow.clip_path).where(SegmentRow.id.in_(ids)))}
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFound("segment_ids", f"holds {missing[0]}, not in the store", "pass ids that add_segments returned")
        return {i: found[i] for i in ids}

    def add_queries(self, pairs: Iterable[tuple[int, int]], gold: Sequence[float | None] | None = None) -> list[int]:
        """Add queries comparing segments ``(a, b)`` (ids from :meth:`add_segments`), and return their ids.

        Args:
            pairs: ``(a, b)`` segment ids; both of one env and shape.
            gold: per pair, the known answer ``P(a ≻ b)`` (0, 0.5 or 1) of a gold query, or None.
        """
        items = [tuple(p) for p in pairs]
        golds = self._golds(gold, len(items))
        for k, pair in enumerate(items):
            if len(pair) != 2:
                raise ValidationError(f"pairs[{k}]", f"is {pair!r}", "pass (a, b) pairs of segment ids")
        with self._write() as s:
            return [q.id for q in self._query_rows(s, items, golds)]

    @staticmethod
    def _golds(gold: Sequence[float | None] | None, n: int) -> list[float | None]:
        """``gold`` checked (one per pair; 0, 0.5, 1 or None), or ``n`` Nones."""
        if gold is not None and len(gold) != n:
            raise ValidationError("gold", f"has {len(gold)} entries for {n} pairs", "pass one gold label (or None) per pair")
        golds: list[float | None] = []
        for k in range(n):
            g = None if gold is None else gold[k]
            if g is not None:
                label = check_label(g, f"gold[{k}]")
                if label == SKIPPED:
                    raise ValidationError(f"gold[{k}]", "is 'skipped'", "give a gold query its answer (0, 0.5 or 1), or None")
                golds.append(float(label))
            else:
                golds.append(None)
        return golds

    @staticmethod
    def _query_rows(s: Session, items: Sequence[tuple[Any, ...]], golds: Sequence[float | None]) -> list[QueryRow]:
        """Add (and flush) one query per ``(a, b)`` pair of segment ids in the session ``s``, checked."""
        now = time.time()
        made = []
        for k, (a, b) in enumerate(items):
            ra, rb = (s.get(SegmentRow, _id(x, f"pairs[{k}]")) for x in (a, b))
            if ra is None or rb is None:
                raise NotFound(f"pairs[{k}]", f"names segment {a if ra is None else b}, not in the store", "add the segments first")
            if ra.id == rb.id:
                raise ValidationError(f"pairs[{k}]", f"compares segment {a} with itself", "pair two different segments")
            if ra.env_id != rb.env_id or ra.length != rb.length:
                raise ValidationError(
                    f"pairs[{k}]",
                    f"pairs a segment of {ra.env_id!r} ({ra.length} steps) with one of {rb.env_id!r} ({rb.length} steps)",
                    "compare segments of one env and one length",
                )
            made.append(QueryRow(segment_a=ra.id, segment_b=rb.id, gold=golds[k], created_at=now))
        s.add_all(made)
        s.flush()
        return made

    def add_pairs(
        self,
        pairs: Sequence[tuple[Segment, Segment]],
        *,
        env_id: str | None,
        run: str = "",
        gold: Sequence[float | None] | None = None,
    ) -> tuple[list[int], list[tuple[int, int]]]:
        """Store the segments of ``pairs`` and one query per pair, in **one** transaction (all or nothing),
        as :meth:`add_segments` then :meth:`add_queries` would; this is what ``POST /api/queries`` does.

        Args:
            pairs: ``(a, b)`` :class:`~rewardlab.data.Segment` pairs, both of one length ``T`` and shape.
            env_id: as :meth:`add_segments`.
            run: as :meth:`add_segments`.
            gold: as :meth:`add_queries`.

        Returns:
            ``(query_ids, segment_ids)``: the new queries' ids in order, and each one's ``(a, b)`` segment ids.

        Examples:
            >>> import tempfile
            >>> store = open_store(tempfile.mkdtemp() + "/labels.db")
            >>> seg = lambda v: Segment(np.full((2, 1), v), np.zeros(2))
            >>> store.add_pairs([(seg(0.0), seg(1.0)), (seg(2.0), seg(3.0))], env_id="Toy-v0")
            ([1, 2], [(1, 2), (3, 4)])
            >>> store.add_pairs([(seg(0.0), seg(1.0))], env_id="Toy-v0", gold=[0.7])
            Traceback (most recent call last):
            ...
            rewardlab.errors.ValidationError: gold[0]: is 0.7. Fix: label each pair 1.0 (a preferred), 0.0 (b preferred), 0.5 (a tie) or 'skipped'.
            >>> store.counts()["segments"], store.counts()["queries"]
            (4, 2)
            >>> store.close()
        """
        items = [tuple(p) for p in pairs]
        golds = self._golds(gold, len(items))
        flat: list[Segment] = []
        for k, pair in enumerate(items):
            if len(pair) != 2:
                raise ValidationError(f"pairs[{k}]", f"has {len(pair)} entries", "pass (a, b) pairs of segments")
            flat.extend(pair)
        rows = self._segment_rows(flat, env_id=env_id, run=run, source=None, rows=None)
        with self._write() as s:
            s.add_all(rows)
            s.flush()
            made = self._query_rows(s, [(rows[2 * k].id, rows[2 * k + 1].id) for k in range(len(items))], golds)
            return [q.id for q in made], [(q.segment_a, q.segment_b) for q in made]

    def unrendered(self, after: int = 0) -> list[tuple[int, str | None]]:
        """``(segment id, env id)`` of every segment without a clip, oldest first (what a renderer still owes);
        ``after``: only segments with a larger id (a range of the primary key: cheap however many there are).

        Examples:
            >>> import tempfile
            >>> store = open_store(tempfile.mkdtemp() + "/labels.db")
            >>> ids = store.add_segments([Segment(np.zeros((2, 1)), np.zeros(2))] * 3, env_id="Pendulum-v1")
            >>> store.set_clip(ids[0], "1.mp4")
            >>> store.unrendered(), store.unrendered(after=2)
            ([(2, 'Pendulum-v1'), (3, 'Pendulum-v1')], [(3, 'Pendulum-v1')])
            >>> store.close()
        """
        after = _id(after, "after")
        with self._read() as s:
            stmt = (
                select(SegmentRow.id, SegmentRow.env_id)
                .where(SegmentRow.id > after, SegmentRow.clip_path.is_(None))
                .order_by(SegmentRow.id)
            )
            return [(int(i), env) for i, env in s.execute(stmt)]

    # -- assignments and labels ----------------------------------------------------------------------
    def next_assignment(
        self, annotator: Annotator, rng: np.random.Generator, *, shown_at: float | None = None, per_query: int | None = None
    ) -> Assignment | None:
        """The annotator's next query to answer, or None when there is none.

        An unanswered assignment of theirs comes first (a reload shows the same query, same sides).
        Otherwise a new assignment is made for a query they have not seen, the least-assigned first
        (then the oldest), with the side order drawn from ``rng`` (``left_is_a`` with probability 1/2)
        and recorded. ``per_query``: stop handing a query out once it has that many assignments (None:
        every annotator gets every query).
        """
        _check_next_args(annotator, rng, per_query)
        return self._next(annotator, rng, _check_time(shown_at, "shown_at"), per_query, page=False).assignment

    def next_page(self, annotator: Annotator, rng: np.random.Generator, *, per_query: int | None = None) -> NextPage:
        """:meth:`next_assignment`, :meth:`progress` and the two segments' :meth:`clip_paths` together, in
        one read and (for a new assignment) one write: what ``GET /api/next`` answers. The progress is
        read before a new assignment is made, which leaves it as it is (a query moves from to come to
        assigned)."""
        _check_next_args(annotator, rng, per_query)
        return self._next(annotator, rng, time.time(), per_query, page=True)

    def _next(self, annotator: Annotator, rng: np.random.Generator, when: float, per_query: int | None, *, page: bool) -> NextPage:
        left_is_a: bool | None = None  # drawn once, when a new assignment is made
        for _ in range(self._PICK_TRIES):
            with self._read_conn() as conn:
                open_, chosen = self._open_or_pick(conn, annotator, per_query)
                answered, left = self._progress(conn, annotator, per_query) if page else (0, 0)
            if open_ is not None:
                job, clips = open_
                return NextPage(job, answered, left, clips)
            if chosen is None:
                return NextPage(None, answered, left, {})
            if left_is_a is None:
                left_is_a = bool(rng.random() < 0.5)
            made = self._assign(annotator, chosen, left_is_a, when, per_query)
            if made is not None:
                return NextPage(made, answered, left, {chosen.segment_a: chosen.clip_a, chosen.segment_b: chosen.clip_b})
        raise ValidationError(
            "annotator",
            f"{annotator.name!r}: no query could be assigned in {self._PICK_TRIES} tries (other annotators took each one first)",
            "ask again",
        )

    #: Tries of :meth:`next_assignment` when concurrent calls take the query it picked.
    _PICK_TRIES = 100

    def _open_or_pick(
        self, conn: Connection, annotator: Annotator, per_query: int | None
    ) -> tuple[tuple[Assignment, dict[int, str | None]] | None, Any]:
        """The annotator's oldest unanswered assignment (with its segments' clip paths), else the query to
        assign next (the least-assigned, then the oldest, among those they have not had and, with
        ``per_query``, under it; a row with its segments and their clip paths), else None."""
        who = {"who": annotator.id, "cap": per_query}
        if conn.execute(_Sql.annotator, who).first() is None:
            raise NotFound("annotator", f"{annotator.name!r} (id {annotator.id}) is not in the store", "authenticate again")
        open_ = conn.execute(_Sql.open, who).first()
        if open_ is not None:
            job = Assignment(
                open_.id, open_.query_id, annotator.id, bool(open_.left_is_a), open_.shown_at, open_.segment_a, open_.segment_b
            )
            return (job, {open_.segment_a: open_.clip_a, open_.segment_b: open_.clip_b}), None
        return None, conn.execute(_Sql.pick if per_query is None else _Sql.pick_capped, who).first()

    def _assign(self, annotator: Annotator, chosen: Any, left_is_a: bool, when: float, per_query: int | None) -> Assignment | None:
        """Give query ``chosen`` to the annotator: count it (only while under ``per_query``) and add the
        assignment, in one write transaction; None when a concurrent call took it first (the query
        reached ``per_query``, or this annotator was given it by another request): pick again."""
        try:
            with self._write_conn() as conn:
                bumped = conn.execute(_Sql.bump if per_query is None else _Sql.bump_capped, {"query": chosen.id, "cap": per_query})
                if bumped.rowcount != 1:
                    return None
                new = conn.execute(
                    _Sql.assign, {"query_id": chosen.id, "annotator_id": annotator.id, "left_is_a": left_is_a, "shown_at": when}
                )
                job_id = int(new.inserted_primary_key[0])  # type: ignore[index]
        except IntegrityError:  # this annotator holds the query already (a concurrent request of theirs)
            return None
        return Assignment(job_id, chosen.id, annotator.id, left_is_a, when, chosen.segment_a, chosen.segment_b)

    def was_shown(self, annotator: Annotator, segment_id: int) -> bool:
        """Whether segment ``segment_id`` is in one of ``annotator``'s assignments (what they may watch)."""
        segment_id = _id(segment_id, "segment_id")
        with self._read() as s:
            hit = s.scalar(
                select(AssignmentRow.id)
                .join(QueryRow, QueryRow.id == AssignmentRow.query_id)
                .where(AssignmentRow.annotator_id == annotator.id, (QueryRow.segment_a == segment_id) | (QueryRow.segment_b == segment_id))
                .limit(1)
            )
            return hit is not None

    def progress(self, annotator: Annotator, *, per_query: int | None = None) -> tuple[int, int]:
        """``(answered, left)`` for ``annotator``: labels they gave, and queries still to come for them
        (their open assignments plus the queries :meth:`next_assignment` could still hand them with
        the same ``per_query``)."""
        if not isinstance(annotator, Annotator):
            raise ValidationError("annotator", f"is a {type(annotator).__name__}", "pass the Annotator that authenticate returned")
        with self._read_conn() as conn:
            return self._progress(conn, annotator, per_query)

    @staticmethod
    def _progress(conn: Connection, annotator: Annotator, per_query: int | None) -> tuple[int, int]:
        stmt = _Sql.progress if per_query is None else _Sql.progress_capped
        answered, held, fresh = (int(x or 0) for x in conn.execute(stmt, {"who": annotator.id, "cap": per_query}).one())
        return answered, held - answered + fresh

    def record_label(self, assignment_id: int, annotator: Annotator, choice: str, answered_at: float | None = None) -> Label:
        """Store ``annotator``'s answer to their assignment and return the label ``P(a ≻ b)`` (or
        ``"skipped"``), committed before this returns.

        Raises:
            NotFound: an unknown assignment.
            NotYours: an assignment of another annotator.
            AlreadyAnswered: a second answer to the assignment.
            ValidationError: a choice outside :data:`CHOICES`, or ``answered_at`` before ``shown_at``.
                Nothing is stored in any of these cases.
        """
        assignment_id = _id(assignment_id, "assignment_id")
        if not isinstance(annotator, Annotator):
            raise ValidationError("annotator", f"is a {type(annotator).__name__}", "pass the Annotator that authenticate returned")
        if not isinstance(choice, str) or choice not in CHOICES:
            raise ValidationError("choice", f"is {choice!r}", _CHOICE_FIX)
        when = _check_time(answered_at, "answered_at")
        with self._read_conn() as conn:  # assignments never change: check before taking the write lock
            row = conn.execute(_Sql.answerable, {"job": assignment_id}).first()
        if row is None:
            raise NotFound("assignment_id", f"{assignment_id} is not in the store", "answer an assignment from next_assignment")
        if row.annotator_id != annotator.id:
            raise NotYours("assignment_id", f"{assignment_id} was given to another annotator", "answer your own assignments")
        if row.answered:
            raise AlreadyAnswered("assignment_id", f"{assignment_id} is answered already", "ask next_assignment for the next query")
        if when < row.shown_at:
            raise ValidationError("answered_at", f"is {when}, before shown_at {row.shown_at}", "pass the time the answer came")
        label = choice_label(choice, bool(row.left_is_a))
        try:
            with self._write_conn() as conn:
                value = None if label == SKIPPED else label
                conn.execute(_Sql.label, {"assignment_id": assignment_id, "value": value, "choice": choice, "answered_at": when})
                conn.execute(_Sql.mark, {"job": assignment_id})
        except IntegrityError as exc:  # a concurrent answer won the unique constraint
            raise AlreadyAnswered(
                "assignment_id", f"{assignment_id} is answered already", "ask next_assignment for the next query"
            ) from exc
        return label

    def _answers(self, s: Session, query_ids: Sequence[int] | None, env_id: str | None = None) -> list[tuple[Answer, QueryRow]]:
        stmt = (
            select(LabelRow, AssignmentRow, QueryRow, AnnotatorRow)
            .join(AssignmentRow, AssignmentRow.id == LabelRow.assignment_id)
            .join(QueryRow, QueryRow.id == AssignmentRow.query_id)
            .join(AnnotatorRow, AnnotatorRow.id == AssignmentRow.annotator_id)
            .order_by(LabelRow.answered_at, LabelRow.id)
        )
        if query_ids is not None:
            stmt = stmt.where(QueryRow.id.in_(query_ids))
        if env_id is not None:
            stmt = stmt.join(SegmentRow, SegmentRow.id == QueryRow.segment_a).where(SegmentRow.env_id == env_id)
        out = []
        for label, job, query, who in s.execute(stmt):
            value: Label = SKIPPED if label.value is None else float(label.value)
            answer = Answer(query.id, job.id, who.name, value, label.choice, job.left_is_a, job.shown_at, label.answered_at, query.gold)
            out.append((answer, query))
        return out

    def answers(self, query_ids: Iterable[int]) -> dict[int, list[Label]]:
        """The labels ``P(a ≻ b)`` (or ``"skipped"``) given so far to each of ``query_ids``, in the order
        answered; ``[]`` for a query without answers. Unknown ids raise :class:`NotFound`."""
        ids = [_id(q, "query_ids") for q in query_ids]
        with self._read() as s:
            known = set(s.scalars(select(QueryRow.id).where(QueryRow.id.in_(ids))))
            missing = [q for q in ids if q not in known]
            if missing:
                raise NotFound("query_ids", f"holds {missing[0]}, not in the store", "pass ids that add_queries returned")
            out: dict[int, list[Label]] = {q: [] for q in ids}
            for answer, _ in self._answers(s, ids):
                out[answer.query_id].append(answer.label)
            return out

    def answer_records(self, query_ids: Iterable[int] | None = None) -> list[Answer]:
        """Every stored label (of ``query_ids``, or all) with annotator, choice, side order, times and gold,
        in the order answered."""
        ids = None if query_ids is None else [_id(q, "query_ids") for q in query_ids]
        with self._read() as s:
            return [a for a, _ in self._answers(s, ids)]

    def counts(self) -> dict[str, int]:
        """Rows per table: ``annotators``, ``segments``, ``queries``, ``assignments``, ``labels``."""
        with self._read() as s:
            return {
                str(m.__tablename__): int(s.scalar(select(func.count()).select_from(m)) or 0)
                for m in (AnnotatorRow, SegmentRow, QueryRow, AssignmentRow, LabelRow)
            }

    def export(
        self, query_ids: Iterable[int] | None = None, *, env_id: str | None = None, skipped: bool = True, gold: bool = True
    ) -> PreferenceDataset:
        """The stored labels as a :class:`~rewardlab.data.PreferenceDataset`, one
        :class:`~rewardlab.data.Preference` per label (several annotators on one query give several),
        in the order answered, each with ``annotator`` (the name), ``shown_at``, ``answered_at`` and
        ``left_first`` (= ``left_is_a``); the segments are read back from the stored arrays.

        Args:
            query_ids: only these queries (default: all).
            env_id: only queries over segments of this env (needed when the store holds several).
            skipped: keep skipped answers (label ``"skipped"``).
            gold: keep the answers to gold queries.
        """
        ids = None if query_ids is None else [_id(q, "query_ids") for q in query_ids]
        with self._read() as s:
            envs = set(s.scalars(select(SegmentRow.env_id).distinct()))
            if env_id is None and len(envs) > 1:
                raise ValidationError(
                    "env_id", f"is None but the store holds segments of {sorted(map(str, envs))}", "export one env at a time"
                )
            cache: dict[int, Segment] = {}

            def seg(i: int) -> Segment:
                if i not in cache:
                    cache[i] = self._segment(s, i)
                return cache[i]

            prefs = []
            for answer, query in self._answers(s, ids, env_id):
                if (answer.label == SKIPPED and not skipped) or (query.gold is not None and not gold):
                    continue
                prefs.append(
                    Preference(
                        seg(query.segment_a),
                        seg(query.segment_b),
                        answer.label,
                        annotator=answer.annotator,
                        shown_at=answer.shown_at,
                        answered_at=answer.answered_at,
                        left_first=answer.left_is_a,
                    )
                )
            return PreferenceDataset(prefs, env_id=env_id if env_id is not None else (next(iter(envs)) if envs else None))


# -- opening -------------------------------------------------------------------------------------------------


def _sqlite_events(engine: Engine) -> None:
    """WAL, foreign keys, durable commits, a busy timeout, and transactions that SQLAlchemy begins itself
    (``BEGIN IMMEDIATE`` for writes) instead of the sqlite3 module's implicit ones."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("rewardlab_write") else "BEGIN")


def _url(url: str | Path) -> str:
    if isinstance(url, Path) or "://" not in str(url):
        path = Path(url).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    return str(url)


#: Alembic runs its migration scripts through module-level proxies (``alembic.context``): one migration
#: at a time per process, or two threads opening stores at once break each other's.
_MIGRATE_LOCK = threading.Lock()


def migrate(engine: Engine) -> str | None:
    """Bring the schema of ``engine``'s database to the newest migration; returns the revision then.
    Already up to date: nothing changes. Safe to call from several threads (they take turns)."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with _MIGRATE_LOCK, engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def open_store(url: str | Path) -> Store:
    """Open (creating or migrating it) the labelling database at ``url``.

    Args:
        url: a SQLAlchemy URL (``sqlite:///DIR/labels.db``, ``postgresql+psycopg://user@host:port/db``)
            or a path to a SQLite file (created with its directory). SQLite runs in WAL mode.

    Raises:
        ConfigError: a URL SQLAlchemy cannot read, a driver that is not installed, or an in-memory SQLite
            database (each connection would see its own empty one).
        DataFileError: a file that is not a SQLite database, a server that cannot be reached, or a
            schema revision newer than this rewardlab's migrations.
    """
    text = _url(url)
    try:
        parsed = make_url(text)
    except ArgumentError as exc:
        raise ConfigError(
            "url", f"is {text!r}, not a database URL ({exc})", "pass sqlite:///PATH, postgresql+psycopg://... or a file path"
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    try:
        if parsed.get_backend_name() == "sqlite":
            if parsed.database in (None, "", ":memory:"):
                raise ConfigError("url", f"is {shown!r}, an in-memory database", "pass a file: sqlite:///DIR/labels.db")
            # a connection for each of a server's worker threads (40 by default), kept: opening one costs
            # four PRAGMAs, and a pool smaller than the threads reading at once opened and closed them all the time
            engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=40, max_overflow=10)
            _sqlite_events(engine)
        else:
            engine = create_engine(parsed, pool_pre_ping=True, pool_size=20, max_overflow=30)
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigError(
            "url",
            f"is {shown!r}, whose database driver is not available ({exc})",
            "pip install 'rewardlab[label]' (psycopg for PostgreSQL)",
        ) from None
    try:
        migrate(engine)
    except DBAPIError as exc:
        engine.dispose()
        what = (
            f"{parsed.database}: not a readable SQLite database" if parsed.get_backend_name() == "sqlite" else f"{shown}: cannot be opened"
        )
        raise DataFileError(f"{what} ({exc.orig}). Fix: pass a labelling database, a new file, or a reachable server's URL") from None
    except Exception as exc:
        from alembic.util import CommandError

        engine.dispose()
        if isinstance(exc, CommandError):
            raise DataFileError(
                f"{shown}: its schema revision is unknown to this rewardlab ({exc}). Fix: open it with the rewardlab that wrote it, or upgrade"
            ) from None
        raise
    return Store(engine)
