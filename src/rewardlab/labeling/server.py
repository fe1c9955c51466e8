"""The labelling app's JSON API: a FastAPI app over a :class:`~rewardlab.labeling.store.Store`.

Run it with ``rewardlab label serve --run DIR`` (uvicorn, 127.0.0.1 by default), or build it with
:func:`create_app` and serve it with any ASGI server.

**Auth.** Every ``/api`` request carries ``Authorization: Bearer <token>`` (a token that
``rewardlab label add-annotator`` printed); there are no cookies, so a page on another site cannot
act for an annotator (no CSRF). Without a valid token nothing is read or written (401). A token the
store accepted is remembered for :attr:`Store.AUTH_CACHE_SECONDS` (5 s), so most requests read no
annotator row; an annotator removed by another process is refused within that time.

**Endpoints** (JSON in and out):

* ``GET /api/next`` — the caller's next assignment: ``{"assignment": id, "left": {"segment": id,
  "clip": url|null}, "right": {...}, "shown_at": t, "progress": {"answered": n, "left": m}}``, or
  ``{"assignment": null, "progress": ...}`` when nothing is left. The side order is drawn per assignment
  and recorded by the store; the response names only the sides, never which one is ``a``. A side whose
  clip failed to render (the clip keeper's ``failed``) also has ``"error": why``, so that the page can say
  so and let the annotator skip the pair instead of waiting for a clip that will not come.
* ``POST /api/label`` with ``{"assignment": id, "choice": "left"|"right"|"equal"|"cant_tell"|"skip"}``
  — 201 ``{"saved": true}`` once the label is committed (the store's transaction), so a client that saw
  the 201 never loses the label, even if the server is killed right after.
* ``GET /api/clips/{segment}.mp4`` — the rendered clip of a segment in one of the caller's assignments
  (403 for another segment, any segment for an operator; 404 until it is rendered).
* ``GET /api/operator/counts`` — rows per table (operator token only).
* ``POST /api/queries`` (operator token only; what :class:`~rewardlab.labeling.teacher.LabelServerTeacher`
  sends) with ``{"env_id": str, "run": str (optional), "pairs": [{"a": {"obs": [[...]], "acts": [...],
  "rews": [...] | null}, "b": {...}, "gold": null | 0 | 0.5 | 1}]}`` — 201 ``{"queries": [id, ...]}``: the
  segments and one query per pair, stored in one transaction (a refused body stores nothing); a body
  has its own limit ``max_query_body`` (8 MiB). With a renderer, their clips are rendered at once.
* ``GET /api/answers?ids=1,2,3`` (operator token only) — every answer so far, per query id:
  ``{"answers": {"1": [{"label": 1.0|0.0|0.5|"skipped", "annotator": name, "choice": ..., "left_is_a":
  bool, "shown_at": t, "answered_at": t}, ...], "2": [], ...}}``; ``label`` is ``P(a ≻ b)`` (the side
  order undone). An unknown id is 404.
* ``GET /api/operator/stats`` — what the operator page shows (operator token only):
  :func:`~rewardlab.labeling.agreement.agreement_summary` of every stored answer (per annotator gold
  agreement and speed, per pair agreement and Cohen's kappa, Fleiss' kappa; NaN sent as ``null``),
  ``counts`` (rows per table) and ``people`` (every annotator's role, answers and skips).
* ``GET /operator`` — the operator page (``static/operator.html``; the same token handling and CSP as
  the labelling page; it reads ``/api/operator/stats`` with an operator token).
* ``GET /`` — the labelling page (``static/index.html``, its script and style under ``/static/``: plain
  files, no build step); it asks for the token (or reads it from the URL fragment ``#token=...``) and
  sends it in the header. The page and its files are public; everything they show comes from ``/api``.

**Clips.** With a :class:`~rewardlab.labeling.clips.ClipRenderer` (``rewardlab label serve`` makes one
rendering into ``RUN/clips``, or ``--clips DIR``), a background thread renders every segment without a
clip — those in the store at start, any another process adds (looked for every 2 s), and each one posted,
at once — and records each clip in the store when it is written; until then ``GET /api/next`` gives its
``clip`` as null (the page waits and asks again). A segment of an env clips cannot be drawn for is logged
and left without one; a server with a renderer refuses (422) posted queries of such an env, or whose
segments' shapes the env's drawing does not take.

**Errors** are ``{"error": message}`` and store nothing: 401 no or bad token, 403 another annotator's
assignment, a clip of a segment not shown to the caller, or a non-operator on an operator endpoint, 404 an unknown id or path, 409 a second answer to
an assignment, 413 a body over ``max_body`` bytes, 415 a body that is not JSON, 422 a malformed body or
a choice outside the set.

Examples:
    >>> import tempfile, numpy as np
    >>> from fastapi.testclient import TestClient
    >>> from rewardlab.data import Segment
    >>> from rewardlab.labeling import open_store
    >>> store = open_store(tempfile.mkdtemp() + "/labels.db")
    >>> token = store.add_annotator("ada")
    >>> a, b = store.add_segments([Segment(np.zeros((2, 1)), np.zeros(2)), Segment(np.ones((2, 1)), np.ones(2))], env_id="Toy-v0")
    >>> _ = store.add_queries([(a, b)])
    >>> client = TestClient(create_app(store), headers={"Authorization": f"Bearer {token}"})
    >>> job = client.get("/api/next").json()
    >>> client.post("/api/label", json={"assignment": job["assignment"], "choice": "equal"}).json()
    {'saved': True}
    >>> client.post("/api/label", json={"assignment": job["assignment"], "choice": "equal"}).status_code
    409
    >>> store.close()
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rewardlab.data.preferences import Segment
from rewardlab.errors import ConfigError, ValidationError
from rewardlab.labeling.clips import ClipRenderer, _source, clip_name, render_frames
from rewardlab.labeling.store import AlreadyAnswered, Annotator, NotFound, NotYours, Store

__all__ = ["DEFAULT_MAX_BODY", "DEFAULT_MAX_QUERY_BODY", "create_app", "operator_stats"]

log = logging.getLogger(__name__)

#: The page's files (index.html, label.js, label.css), shipped in the package.
STATIC_DIR = Path(__file__).resolve().parent / "static"

#: The page may load only its own files, and clips only from its own blob: URLs (no CDN, no inline script).
_PAGE_POLICY = "default-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"

#: The largest request body accepted, in bytes (a label is well under 200).
DEFAULT_MAX_BODY = 16 * 1024
#: The largest ``POST /api/queries`` body accepted, in bytes (about 100 pairs of 50-step segments of a
#: 17-dimensional MuJoCo observation take 1 MiB of JSON).
DEFAULT_MAX_QUERY_BODY = 8 * 1024 * 1024


class _Refused(Exception):
    """A request refused with ``status`` and ``message`` (turned into ``{"error": message}``)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class _BodyLimit:
    """ASGI middleware: read a request's body whole before the app sees it, and answer 413 once it
    passes ``limit`` bytes (by its ``Content-Length`` or by counting a chunked body), so an oversized
    body never reaches a handler."""

    def __init__(self, app: ASGIApp, limit: int, paths: dict[str, tuple[int, str]] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.paths = paths or {}  # path -> (its own limit, what to do instead)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, advice = self.paths.get(scope.get("path", ""), (self.limit, "send one label at a time"))
        too_big = _error(413, f"the request body is over {limit} bytes; {advice}")
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await too_big(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await too_big(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _label_body(raw: bytes) -> tuple[int, str]:
    """``(assignment, choice)`` from a ``POST /api/label`` body, or :class:`_Refused` (422)."""
    try:
        data = json.loads(raw)
    except ValueError as exc:  # not JSON, not UTF-8, or an integer too long to read
        raise _Refused(422, f"the body is not valid JSON ({exc}); send {{'assignment': id, 'choice': ...}}") from None
    if not isinstance(data, dict):
        raise _Refused(422, f"the body is a JSON {type(data).__name__}; send an object {{'assignment': id, 'choice': ...}}")
    unknown = sorted(set(data) - {"assignment", "choice"})
    if unknown:
        raise _Refused(422, f"{unknown[0]}: is not a field of a label; send only 'assignment' and 'choice'")
    missing = [k for k in ("assignment", "choice") if k not in data]
    if missing:
        raise _Refused(422, f"{missing[0]}: is missing; send {{'assignment': id, 'choice': ...}}")
    assignment, choice = data["assignment"], data["choice"]
    if isinstance(assignment, bool) or not isinstance(assignment, int) or not 0 <= assignment < 2**63:
        raise _Refused(422, f"assignment: is {assignment!r}; send the integer id that GET /api/next returned")
    if not isinstance(choice, str):
        raise _Refused(422, f"choice: is {choice!r}; send 'left', 'right', 'equal', 'cant_tell' or 'skip'")
    return assignment, choice


#: The most pairs one ``POST /api/queries`` may carry, and the longest ``GET /api/answers`` id list.
MAX_PAIRS = 10_000
_QUERIES_FIX = (
    "send {'env_id': str, 'run': str, 'pairs': [{'a': {'obs': [[...]], 'acts': [...], 'rews': [...] | null}, 'b': {...}, 'gold': null}]}"
)


def _fields(data: Any, where: str, allowed: tuple[str, ...], required: tuple[str, ...]) -> dict[str, Any]:
    """``data`` as a JSON object with only ``allowed`` keys and all ``required`` ones, else :class:`_Refused` (422)."""
    if not isinstance(data, dict):
        raise _Refused(422, f"{where or 'the body'}: is a JSON {type(data).__name__}, not an object; {_QUERIES_FIX}")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise _Refused(422, f"{where}{'.' if where else ''}{unknown[0]}: is not a field; send only {', '.join(allowed)}")
    for key in required:
        if key not in data:
            raise _Refused(422, f"{where}{'.' if where else ''}{key}: is missing; {_QUERIES_FIX}")
    return data


def _segment_body(data: Any, where: str) -> Segment:
    """A :class:`~rewardlab.data.Segment` from ``{"obs": [[..]], "acts": [..], "rews": [..] | null}``, or 422."""
    fields = _fields(data, where, ("obs", "acts", "rews"), ("obs", "acts"))
    for key in ("obs", "acts", "rews"):
        value = fields.get(key)
        if not (isinstance(value, list) or (key == "rews" and value is None)):
            raise _Refused(422, f"{where}.{key}: is {type(value).__name__}, not a list; send one entry per step")
    try:
        return Segment(fields["obs"], fields["acts"], fields.get("rews"))
    except ValidationError as exc:  # ShapeError too: a wrong shape, a non-finite value, a non-numeric dtype
        raise _Refused(422, str(ValidationError(f"{where}.{exc.field}", exc.problem, exc.fix))) from None
    except (ValueError, TypeError) as exc:  # numpy: ragged nesting, numbers too large
        raise _Refused(422, f"{where}: its arrays cannot be read ({exc}); send rectangular lists of numbers") from None


def _queries_body(raw: bytes) -> tuple[str, str, list[tuple[Segment, Segment]], list[float | None]]:
    """``(env_id, run, pairs, gold)`` from a ``POST /api/queries`` body, every field checked, or :class:`_Refused` (422)."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, nested too deep
        raise _Refused(422, f"the body is not valid JSON ({exc}); {_QUERIES_FIX}") from None
    body = _fields(data, "", ("env_id", "run", "pairs"), ("env_id", "pairs"))
    env_id, run, pairs = body["env_id"], body.get("run", ""), body["pairs"]
    if not isinstance(env_id, str) or not env_id.strip() or len(env_id) > 200:
        raise _Refused(422, f"env_id: is {env_id!r}; send the Gymnasium id of the env the segments come from (at most 200 characters)")
    if not isinstance(run, str) or len(run) > 200:
        raise _Refused(422, f"run: is {run!r}; send the run's name (a string of at most 200 characters) or leave it out")
    if not isinstance(pairs, list) or not pairs or len(pairs) > MAX_PAIRS:
        size = f"a list of {len(pairs)}" if isinstance(pairs, list) else f"a {type(pairs).__name__}"
        raise _Refused(422, f"pairs: is {size}; send 1 to {MAX_PAIRS} pairs per request")
    out: list[tuple[Segment, Segment]] = []
    gold: list[float | None] = []
    for k, item in enumerate(pairs):
        pair = _fields(item, f"pairs[{k}]", ("a", "b", "gold"), ("a", "b"))
        a, b = _segment_body(pair["a"], f"pairs[{k}].a"), _segment_body(pair["b"], f"pairs[{k}].b")
        if (len(a), a.obs_shape, a.act_shape) != (len(b), b.obs_shape, b.act_shape):
            raise _Refused(
                422,
                f"pairs[{k}]: a has {len(a)} steps, obs {a.obs_shape}, acts {a.act_shape} and b {len(b)}, {b.obs_shape}, {b.act_shape}; "
                "compare segments of one length and shape",
            )
        g = pair.get("gold")
        if g is not None and (isinstance(g, bool) or not isinstance(g, (int, float)) or float(g) not in (0.0, 0.5, 1.0)):
            raise _Refused(422, f"pairs[{k}].gold: is {g!r}; send the known answer P(a ≻ b) (0, 0.5 or 1) of a gold query, or null")
        out.append((a, b))
        gold.append(None if g is None else float(g))
    return env_id, run, out, gold


def _ids_param(text: str | None) -> list[int]:
    """The query ids of ``?ids=1,2,3``, or :class:`_Refused` (422)."""
    if text is None or not text.strip():
        raise _Refused(422, "ids: is missing; ask GET /api/answers?ids=1,2,3 with the ids POST /api/queries returned")
    parts = [p.strip() for p in text.split(",")]
    if len(parts) > MAX_PAIRS:
        raise _Refused(422, f"ids: names {len(parts)} queries; ask about at most {MAX_PAIRS} at a time")
    for p in parts:
        if not (p.isascii() and p.isdigit() and int(p) < 2**63):
            raise _Refused(422, f"ids: holds {p[:30]!r}; send comma-separated integer query ids (ids=1,2,3)")
    return [int(p) for p in parts]


class _ClipKeeper:
    """A background thread that keeps every segment of the store rendered: segments without a clip (found
    at start, every ``rescan`` seconds, and each one posted, at once) are submitted to the
    :class:`~rewardlab.labeling.clips.ClipRenderer` (key = :func:`~rewardlab.labeling.clips.clip_name`: the
    segment id and a digest of its env and arrays, so a clips directory kept from another database is not
    served for the wrong segment; env = its ``env_id``; a quick scan
    looks at new ids only, a full one every ``full_rescan`` seconds), and each
    clip is recorded with :meth:`Store.set_clip` (its path relative to the served clips directory) once it
    is written. A segment whose env cannot be drawn, or whose rendering failed, is kept in ``failed`` (id ->
    why; logged once) and not tried again until the server restarts."""

    def __init__(self, store: Store, renderer: ClipRenderer, clips: Path, *, rescan: float = 2.0, full_rescan: float = 30.0) -> None:
        directory = renderer.directory.resolve()
        if not directory.is_relative_to(clips):
            raise ConfigError(
                "renderer", f"writes to {directory}, outside the clips directory {clips}", "render into clips_dir (or below it)"
            )
        self.store, self.renderer, self.rescan, self.full_rescan = store, renderer, rescan, full_rescan
        self.prefix = directory.relative_to(clips)
        self.failed: dict[int, str] = {}
        self._envs: dict[str | None, str | None] = {}  # env id -> why clips cannot be drawn for it (None: they can)
        self._shapes: set[tuple[str, tuple[int, ...], tuple[int, ...]]] = set()  # (env id, obs shape, act shape) that drew
        self._new: list[tuple[int, str | None]] = []
        self._told: set[str | None] = set()  # envs whose missing clips were logged
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rewardlab-clip-keeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop submitting and recording (clips being rendered are left to the renderer)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def add(self, segments: list[tuple[int, str | None]]) -> None:
        """Render these ``(segment id, env id)`` now (before the next rescan)."""
        with self._lock:
            self._new.extend(segments)
        self._wake.set()

    def unsupported(self, env_id: str | None) -> str | None:
        """Why clips cannot be drawn for ``env_id`` (None when they can); remembered per env id."""
        with self._lock:
            if env_id in self._envs:
                return self._envs[env_id]
        if env_id is None:
            why: str | None = "has no env id: its clip cannot be drawn"
        else:
            try:
                _source(env_id).close()
                why = None
            except ConfigError as exc:
                why = f"{exc.problem}; {exc.fix}"
        with self._lock:
            self._envs[env_id] = why
        return why

    def refused(self, env_id: str, pairs: list[tuple[Segment, Segment]]) -> str | None:
        """Why posted ``pairs`` would get no clips (``{"error": ...}`` text naming the field), or None.

        Refused: an env clips cannot be drawn for, or segments whose observations or actions have a shape the
        env's drawing does not take (tried on one step of the first segment of each shape; a shape that
        drew is remembered). A drawing that fails otherwise (no EGL, say) is logged and let through: the
        renderer will say so again per clip."""
        why = self.unsupported(env_id)
        if why is not None:
            return f"env_id: {why}"
        for k, pair in enumerate(pairs):
            for side, seg in zip("ab", pair, strict=True):
                shape = (env_id, seg.obs_shape, seg.act_shape)
                with self._lock:
                    if shape in self._shapes:
                        continue
                try:
                    render_frames(env_id, Segment(seg.obs[:1], seg.acts[:1]), size=(32, 32))
                except ValidationError as exc:  # ShapeError too
                    return (
                        f"pairs[{k}].{side}: a segment with observations {seg.obs_shape} and actions {seg.act_shape} per step "
                        f"cannot be drawn for {env_id} ({exc.problem}); {exc.fix}"
                    )
                except Exception as exc:
                    log.warning("a test drawing for %s failed (%s: %s); taking the queries anyway", env_id, type(exc).__name__, exc)
                with self._lock:
                    self._shapes.add(shape)
        return None

    def _run(self) -> None:
        backlog: deque[tuple[int, str | None]] = deque()
        known: set[int] = set()  # in the backlog or being rendered
        rendering: dict[int, str] = {}  # segment id -> its clip name, being rendered
        next_scan = next_full = 0.0
        newest = 0  # the largest segment id seen: a quick scan looks only above it
        while not self._stop.is_set():
            try:
                found: list[tuple[int, str | None]] = []
                if time.monotonic() >= next_scan:
                    full = time.monotonic() >= next_full  # now and then all of them (ids may commit out of order)
                    found = self.store.unrendered(after=0 if full else newest)
                    newest = max([newest, *(i for i, _ in found)])
                    next_scan = time.monotonic() + self.rescan
                    next_full = time.monotonic() + self.full_rescan if full else next_full
                with self._lock:
                    found, self._new = found + self._new, []
                for item in found:
                    if item[0] not in known and item[0] not in self.failed:
                        known.add(item[0])
                        backlog.append(item)
                self._submit(backlog, known, rendering)
                self._collect(known, rendering)
            except Exception:  # a database hiccup: log it, keep the thread alive, try again shortly
                log.exception("the clip keeper failed a round; trying again")
                self._stop.wait(1.0)
            self._wake.wait(0.05 if rendering or backlog else max(0.05, next_scan - time.monotonic()))
            self._wake.clear()

    def _fail(self, segment: int, why: str, known: set[int]) -> None:
        self.failed[segment] = why
        known.discard(segment)

    def _submit(self, backlog: deque[tuple[int, str | None]], known: set[int], rendering: dict[int, str]) -> None:
        while backlog and not self._stop.is_set():
            segment, env_id = backlog[0]
            why = self.unsupported(env_id)
            if why is not None:
                backlog.popleft()
                if env_id not in self._told:  # once per env, however many segments
                    self._told.add(env_id)
                    log.warning("segment %s (env %r) and any others of its env get no clip: %s", segment, env_id, why)
                self._fail(segment, why, known)
                continue
            try:
                data = self.store.segment(segment)
                name = clip_name(segment, data, env_id)
                self.renderer.submit(name, env_id, data, timeout=0.05 if rendering else 0.5)
            except TimeoutError:  # the renderer's queue is full: record what is done, then submit more
                return
            except NotFound:
                backlog.popleft()
                known.discard(segment)
                continue
            backlog.popleft()
            rendering[segment] = name

    def _collect(self, known: set[int], rendering: dict[int, str]) -> None:
        for segment, name in sorted(rendering.items()):
            state = self.renderer.status(name)
            if state == "pending":
                continue
            del rendering[segment]
            if state == "ready":
                self.store.set_clip(segment, str(self.prefix / f"{name}.mp4"))
                known.discard(segment)
            else:  # failed (the renderer logged why), or its file went away
                self._fail(segment, self.renderer.error(name) or f"its clip is {state}", known)


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float (NaN: a statistic that is undefined) as None, which JSON can carry."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def operator_stats(store: Store) -> dict[str, Any]:
    """What ``GET /api/operator/stats`` answers: :func:`~rewardlab.labeling.agreement.agreement_summary` of
    ``store.answer_records()`` (NaN as None), ``counts`` (:meth:`Store.counts`) and ``people``: for every
    annotator (those without answers too) ``role``, ``answers`` (labels given, skips included) and
    ``skipped`` (skip and can't-tell answers).

    Examples:
        >>> import tempfile, numpy as np
        >>> from rewardlab.data import Segment
        >>> from rewardlab.labeling import open_store
        >>> store = open_store(tempfile.mkdtemp() + "/labels.db")
        >>> _ = store.add_annotator("ada"), store.add_annotator("olga", "operator")
        >>> stats = operator_stats(store)
        >>> stats["people"]["olga"], stats["fleiss_kappa"], stats["counts"]["annotators"]
        ({'role': 'operator', 'answers': 0, 'skipped': 0}, None, 2)
        >>> store.close()
    """
    from rewardlab.data.preferences import SKIPPED
    from rewardlab.labeling.agreement import agreement_summary

    records = store.answer_records()
    people: dict[str, dict[str, Any]] = {a.name: {"role": a.role, "answers": 0, "skipped": 0} for a in store.annotators()}
    for answer in records:
        entry = people.setdefault(answer.annotator, {"role": "annotator", "answers": 0, "skipped": 0})
        entry["answers"] += 1
        entry["skipped"] += int(answer.label == SKIPPED)
    stats: dict[str, Any] = _finite(agreement_summary(records))
    return {**stats, "counts": store.counts(), "people": people}


async def _caller(request: Request) -> Annotator:
    """The caller, from ``Authorization: Bearer <token>`` checked against the app's store; 401 otherwise.
    A token accepted in the last few seconds is known from memory (:meth:`Store.known_token`: no thread,
    no database read); another is looked up in a worker thread."""
    challenge = {"WWW-Authenticate": "Bearer"}
    header = request.headers.get("authorization")
    if header is None:
        raise _Refused(401, "no token: send the header 'Authorization: Bearer <token>' (rewardlab label add-annotator)", challenge)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _Refused(401, "the Authorization header is not 'Bearer <token>'", challenge)
    store: Store = request.app.state.store
    token = token.strip()
    who = store.known_token(token) or await run_in_threadpool(store.authenticate, token)
    if who is None:
        raise _Refused(401, "the token is not valid: ask the operator for yours", challenge)
    return who


#: A handler argument that is the authenticated caller.
Caller = Annotated[Annotator, Depends(_caller)]


def _operator(who: Caller) -> Annotator:
    """The caller, who must hold an operator token; 403 otherwise."""
    if who.role != "operator":
        raise _Refused(403, f"{who.name!r} is an annotator; this needs an operator token (add-annotator --operator)")
    return who


#: A handler argument that is the authenticated caller, an operator.
Operator = Annotated[Annotator, Depends(_operator)]


def create_app(
    store: Store,
    *,
    clips_dir: str | Path | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    per_query: int | None = None,
    seed: int | None = None,
    renderer: ClipRenderer | None = None,
    max_query_body: int = DEFAULT_MAX_QUERY_BODY,
) -> FastAPI:
    """The labelling API over ``store`` (see the module docstring for the endpoints and errors).

    Args:
        store: the open labelling database.
        clips_dir: where the rendered clips are; a clip path the store holds is read relative to it,
            and a path outside it is never served. None: serve the stored paths as they are.
        max_body: the largest request body accepted, in bytes (larger: 413).
        per_query: annotators per query (:meth:`Store.next_assignment`); None: everyone gets every query.
        seed: seed of the side-order draws (None: fresh entropy).
        renderer: renders the clips of segments that have none — those in the store at start (and any
            added later by another process, found every 2 s) and each one posted — in the background,
            each recorded with :meth:`Store.set_clip` once written; GET /api/next names a clip only
            once it is. Its directory must be ``clips_dir`` or below it (``clips_dir`` None: its
            directory). The caller closes it after the server stops.
        max_query_body: the largest ``POST /api/queries`` body accepted, in bytes.

    Returns:
        The FastAPI app; serve it with uvicorn. Without docs pages: nothing is readable without a token.
    """
    for name, value in (("max_body", max_body), ("max_query_body", max_query_body)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationError(name, f"is {value!r}", "pass a positive number of bytes")
    if renderer is not None and not isinstance(renderer, ClipRenderer):
        raise ValidationError("renderer", f"is a {type(renderer).__name__}", "pass a rewardlab.labeling.clips.ClipRenderer, or None")
    if clips_dir is None and renderer is not None:
        clips_dir = renderer.directory
    clips = None if clips_dir is None else Path(clips_dir).resolve()
    keeper = None if renderer is None or clips is None else _ClipKeeper(store, renderer, clips)
    rng = np.random.default_rng(seed)
    rng_lock = threading.Lock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if keeper is not None:
            await run_in_threadpool(keeper.stop)

    app = FastAPI(title="rewardlab labelling", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.store = store
    app.state.clip_keeper = keeper
    if keeper is not None:
        keeper.start()
    app.add_middleware(_BodyLimit, limit=max_body, paths={"/api/queries": (max_query_body, "post fewer pairs per request")})

    @app.exception_handler(_Refused)
    async def _refused(request: Request, exc: _Refused) -> JSONResponse:
        return _error(exc.status, exc.message, exc.headers)

    @app.exception_handler(ValidationError)
    async def _store_error(request: Request, exc: ValidationError) -> JSONResponse:
        status = (
            404 if isinstance(exc, NotFound) else 403 if isinstance(exc, NotYours) else 409 if isinstance(exc, AlreadyAnswered) else 422
        )
        return _error(status, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:  # logged by the server too
        return _error(500, f"internal error ({type(exc).__name__}); the request may not have been stored, try again")

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x not in ("path", "query", "body"))
        return _error(422, f"{where or 'request'}: {first.get('msg', 'is invalid')}")

    @app.get("/api/next")
    def next_assignment(who: Caller) -> JSONResponse:
        """The caller's next assignment (the same one until it is answered), or ``assignment: null``:
        one read and at most one write of the store (:meth:`Store.next_page`)."""
        with rng_lock:
            draw = rng.spawn(1)[0]
        page = store.next_page(who, draw, per_query=per_query)
        progress = {"answered": page.answered, "left": page.left}
        job = page.assignment
        if job is None:
            return JSONResponse({"assignment": None, "progress": progress})
        url = {k: None if path is None else f"/api/clips/{k}.mp4" for k, path in page.clips.items()}

        def side(segment: int) -> dict[str, Any]:
            out: dict[str, Any] = {"segment": segment, "clip": url[segment]}
            why = None if keeper is None or url[segment] is not None else keeper.failed.get(segment)
            if why is not None:  # its clip will not come: the page says so and offers to skip the pair
                out["error"] = f"its clip could not be rendered ({why.strip().splitlines()[-1][:300]})"
            return out

        return JSONResponse(
            {
                "assignment": job.id,
                "left": side(job.left),
                "right": side(job.right),
                "shown_at": job.shown_at,
                "progress": progress,
            }
        )

    @app.post("/api/label", status_code=201)
    async def post_label(request: Request, who: Caller) -> JSONResponse:
        """Store the caller's answer; 201 only after the store committed it."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise _Refused(415, f"the body is {kind or 'untyped'}; send JSON with 'Content-Type: application/json'")
        assignment, choice = _label_body(await request.body())
        await run_in_threadpool(store.record_label, assignment, who, choice)
        return JSONResponse({"saved": True}, status_code=201)

    @app.get("/api/clips/{segment}.mp4")
    def clip(segment: str, who: Caller) -> FileResponse:
        """The clip of a segment in one of the caller's assignments (any for an operator), once rendered."""
        if not (segment.isascii() and segment.isdigit() and int(segment) < 2**63):
            raise _Refused(404, f"segment {segment[:30]!r}: is not in the store; use the clip URLs GET /api/next gives")
        segment_id = int(segment)
        stored = store.clip_path(segment_id)  # NotFound (404) first: an unknown id
        if who.role != "operator" and not store.was_shown(who, segment_id):
            raise _Refused(403, f"segment {segment_id}: is not in one of your assignments; watch the clips GET /api/next names")
        if stored is None:
            raise _Refused(404, f"segment {segment_id}: its clip is not rendered yet; try again shortly")
        path = Path(stored) if clips is None else (clips / stored).resolve()
        if clips is not None and not path.is_relative_to(clips):
            raise _Refused(404, f"segment {segment_id}: its clip is outside the clips directory")
        if not path.is_file():
            raise _Refused(404, f"segment {segment_id}: its clip file is missing")
        return FileResponse(path, media_type="video/mp4")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        """The labelling page."""
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers={"Content-Security-Policy": _PAGE_POLICY})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/api/operator/counts")
    def counts(who: Operator) -> dict[str, int]:
        """Rows per table of the store (operator only)."""
        return store.counts()

    @app.post("/api/queries", status_code=201)
    async def post_queries(request: Request, who: Operator) -> JSONResponse:
        """Store posted pairs of segments as new queries (operator only), all or none; 201 with their ids."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise _Refused(415, f"the body is {kind or 'untyped'}; send JSON with 'Content-Type: application/json'")
        env_id, run, pairs, gold = await run_in_threadpool(_queries_body, await request.body())
        if keeper is not None and (why := await run_in_threadpool(keeper.refused, env_id, pairs)) is not None:
            raise _Refused(422, why)
        ids, segments = await run_in_threadpool(store.add_pairs, pairs, env_id=env_id, run=run, gold=gold)
        if keeper is not None:
            keeper.add([(i, env_id) for pair in segments for i in pair])
        return JSONResponse({"queries": ids}, status_code=201)

    @app.get("/api/answers")
    def answers(who: Operator, ids: str | None = None) -> dict[str, Any]:
        """Every answer given so far to the queries ``ids`` (operator only), label ``P(a ≻ b)`` as stored."""
        wanted = _ids_param(ids)
        try:
            store.answers(wanted)  # unknown ids: 404
        except NotFound as exc:
            raise _Refused(404, f"ids: {exc.problem}; ask about the ids POST /api/queries returned") from None
        out: dict[str, list[dict[str, Any]]] = {str(q): [] for q in wanted}
        for record in store.answer_records(wanted):
            out[str(record.query_id)].append(
                {
                    "label": record.label,
                    "annotator": record.annotator,
                    "choice": record.choice,
                    "left_is_a": record.left_is_a,
                    "shown_at": record.shown_at,
                    "answered_at": record.answered_at,
                }
            )
        return {"answers": out}

    @app.get("/api/operator/stats")
    def stats(who: Operator) -> dict[str, Any]:
        """Agreement, speed and counts of every stored answer (operator only): :func:`operator_stats`."""
        return operator_stats(store)

    @app.get("/operator", include_in_schema=False)
    def operator_page() -> FileResponse:
        """The operator page (public like the labelling page; its numbers come from the operator endpoint)."""
        return FileResponse(STATIC_DIR / "operator.html", media_type="text/html", headers={"Content-Security-Policy": _PAGE_POLICY})

    return app
