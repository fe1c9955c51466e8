"""The labelling app's JSON API: a FastAPI app over a :class:`~rewardlab.labeling.store.Store`.

Run it with ``rewardlab label serve --run DIR`` (uvicorn, 127.0.0.1 by default), or build it with
:func:`create_app` and serve it with any ASGI server.

**Auth.** Every ``/api`` request carries ``Authorization: Bearer <token>`` (a token that
``rewardlab label add-annotator`` printed); there are no cookies, so a page on another site cannot
act for an annotator (no CSRF). Without a valid token nothing is read or written (401).

**Endpoints** (JSON in and out):

* ``GET /api/next`` — the caller's next assignment: ``{"assignment": id, "left": {"segment": id,
  "clip": url|null}, "right": {...}, "shown_at": t, "progress": {"answered": n, "left": m}}``, or
  ``{"assignment": null, "progress": ...}`` when nothing is left. The side order is drawn per assignment
  and recorded by the store; the response names only the sides, never which one is ``a``.
* ``POST /api/label`` with ``{"assignment": id, "choice": "left"|"right"|"equal"|"cant_tell"|"skip"}``
  — 201 ``{"saved": true}`` once the label is committed (the store's transaction), so a client that saw
  the 201 never loses the label, even if the server is killed right after.
* ``GET /api/clips/{segment}.mp4`` — the rendered clip of a segment in one of the caller's assignments
  (403 for another segment, any segment for an operator; 404 until it is rendered).
* ``GET /api/operator/counts`` — rows per table (operator token only).
* ``GET /api/operator/stats`` — what the operator page shows (operator token only):
  :func:`~rewardlab.labeling.agreement.agreement_summary` of every stored answer (per annotator gold
  agreement and speed, per pair agreement and Cohen's kappa, Fleiss' kappa; NaN sent as ``null``),
  ``counts`` (rows per table) and ``people`` (every annotator's role, answers and skips).
* ``GET /operator`` — the operator page (``static/operator.html``; the same token handling and CSP as
  the labelling page; it reads ``/api/operator/stats`` with an operator token).
* ``GET /`` — the labelling page (``static/index.html``, its script and style under ``/static/``: plain
  files, no build step); it asks for the token (or reads it from the URL fragment ``#token=...``) and
  sends it in the header. The page and its files are public; everything they show comes from ``/api``.

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
import math
import threading
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

from rewardlab.errors import ValidationError
from rewardlab.labeling.store import AlreadyAnswered, Annotator, NotFound, NotYours, Store

__all__ = ["DEFAULT_MAX_BODY", "create_app", "operator_stats"]

#: The page's files (index.html, label.js, label.css), shipped in the package.
STATIC_DIR = Path(__file__).resolve().parent / "static"

#: The page may load only its own files, and clips only from its own blob: URLs (no CDN, no inline script).
_PAGE_POLICY = "default-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"

#: The largest request body accepted, in bytes (a label is well under 200).
DEFAULT_MAX_BODY = 16 * 1024


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

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = _error(413, f"the request body is over {self.limit} bytes; send one label at a time")
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
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
            if size > self.limit:
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


def _caller(request: Request) -> Annotator:
    """The caller, from ``Authorization: Bearer <token>`` checked against the app's store; 401 otherwise."""
    challenge = {"WWW-Authenticate": "Bearer"}
    header = request.headers.get("authorization")
    if header is None:
        raise _Refused(401, "no token: send the header 'Authorization: Bearer <token>' (rewardlab label add-annotator)", challenge)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _Refused(401, "the Authorization header is not 'Bearer <token>'", challenge)
    store: Store = request.app.state.store
    who = store.authenticate(token.strip())
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
) -> FastAPI:
    """The labelling API over ``store`` (see the module docstring for the endpoints and errors).

    Args:
        store: the open labelling database.
        clips_dir: where the rendered clips are; a clip path the store holds is read relative to it,
            and a path outside it is never served. None: serve the stored paths as they are.
        max_body: the largest request body accepted, in bytes (larger: 413).
        per_query: annotators per query (:meth:`Store.next_assignment`); None: everyone gets every query.
        seed: seed of the side-order draws (None: fresh entropy).

    Returns:
        The FastAPI app; serve it with uvicorn. Without docs pages: nothing is readable without a token.
    """
    if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
        raise ValidationError("max_body", f"is {max_body!r}", "pass a positive number of bytes")
    clips = None if clips_dir is None else Path(clips_dir).resolve()
    rng = np.random.default_rng(seed)
    rng_lock = threading.Lock()

    app = FastAPI(title="rewardlab labelling", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store
    app.add_middleware(_BodyLimit, limit=max_body)

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
    def next_assignment(who: Caller) -> dict[str, Any]:
        """The caller's next assignment (the same one until it is answered), or ``assignment: null``."""
        with rng_lock:
            draw = rng.spawn(1)[0]
        job = store.next_assignment(who, draw, per_query=per_query)
        answered, left = store.progress(who, per_query=per_query)
        progress = {"answered": answered, "left": left}
        if job is None:
            return {"assignment": None, "progress": progress}
        paths = store.clip_paths([job.left, job.right])
        url = {k: None if path is None else f"/api/clips/{k}.mp4" for k, path in paths.items()}
        return {
            "assignment": job.id,
            "left": {"segment": job.left, "clip": url[job.left]},
            "right": {"segment": job.right, "clip": url[job.right]},
            "shown_at": job.shown_at,
            "progress": progress,
        }

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

    @app.get("/api/operator/stats")
    def stats(who: Operator) -> dict[str, Any]:
        """Agreement, speed and counts of every stored answer (operator only): :func:`operator_stats`."""
        return operator_stats(store)

    @app.get("/operator", include_in_schema=False)
    def operator_page() -> FileResponse:
        """The operator page (public like the labelling page; its numbers come from the operator endpoint)."""
        return FileResponse(STATIC_DIR / "operator.html", media_type="text/html", headers={"Content-Security-Policy": _PAGE_POLICY})

    return app
