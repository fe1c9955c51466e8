"""People as the RLHF loop's teacher: a client of the labelling server that posts queries and reads answers.

:class:`LabelServerTeacher` implements :class:`rewardlab.prefs.teachers.HumanTeacher` over HTTP (httpx):
:meth:`~LabelServerTeacher.post` sends pairs of segments to ``POST /api/queries`` (the server stores them,
renders their clips and hands them to annotators, each with its own side order), and
:meth:`~LabelServerTeacher.answers` polls ``GET /api/answers`` until every query has ``min_answers``
answers or the timeout passes. Both endpoints need an **operator** token
(``rewardlab label add-annotator NAME --operator``); the token travels in the ``Authorization`` header
only and is never printed.

**One label per query.** The server keeps every annotator's answer as ``P(a ≻ b)`` (the side order
undone), so ``1.0`` means the first segment of the posted pair was preferred wherever it was shown. With
``n`` answers of a query:

* fewer than ``min_answers`` (skips included): *pending*;
* all skipped ("can't tell" or skip): *skipped*;
* otherwise the most frequent of its non-skipped labels (0, 0.5 or 1); a tie for most frequent (say one
  ``1`` and one ``0``) is ``0.5``.

Examples:
    >>> majority_label([1.0, 1.0, 0.0]), majority_label([1.0, 0.0]), majority_label(["skipped", 0.0])
    (1.0, 0.5, 0.0)
    >>> majority_label(["skipped", "skipped"])
    'skipped'
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import numpy as np

from rewardlab.data.preferences import SKIPPED, Label, Segment
from rewardlab.errors import ConfigError, RewardLabError, ValidationError
from rewardlab.prefs.teachers import HumanAnswers

__all__ = ["LabelServerError", "LabelServerTeacher", "majority_label"]

_OPERATOR_FIX = "use an operator token, rewardlab label add-annotator NAME --operator"
#: Ids asked about per GET /api/answers (keeps the URL short).
_IDS_PER_REQUEST = 500


class LabelServerError(RewardLabError, RuntimeError):
    """The labelling server failed a request (a 5xx answer): the message is the server's."""


class _Unreachable(ConfigError):
    """No answer from the server (connection refused or reset, a request timeout)."""


def majority_label(labels: Sequence[Label]) -> Label:
    """One label from several answers ``P(a ≻ b)`` (or ``"skipped"``) to one query: the most frequent
    non-skipped label, 0.5 when several tie for most frequent, ``"skipped"`` when every answer is
    (or there is none)."""
    counts = Counter(float(x) for x in labels if x != SKIPPED)
    if not counts:
        return SKIPPED
    ranked = counts.most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return 0.5
    return ranked[0][0]


def _pair(query: Any, k: int) -> tuple[Segment, Segment]:
    """The two segments of query ``k``: a ``(a, b)`` pair of Segments, or anything with ``.a`` and ``.b``."""
    if hasattr(query, "a") and hasattr(query, "b"):
        a, b = query.a, query.b
    elif isinstance(query, (tuple, list)) and len(query) == 2:
        a, b = query
    else:
        raise ValidationError(f"queries[{k}]", f"is a {type(query).__name__}", "pass (a, b) pairs of rewardlab.data.Segment")
    for side, seg in (("a", a), ("b", b)):
        if not isinstance(seg, Segment):
            raise ValidationError(f"queries[{k}].{side}", f"is a {type(seg).__name__}", "pass rewardlab.data.Segment objects")
    return a, b


def _segment_json(seg: Segment) -> dict[str, Any]:
    return {"obs": seg.obs.tolist(), "acts": seg.acts.tolist(), "rews": None if seg.rews is None else seg.rews.tolist()}


class LabelServerTeacher:
    """The :class:`~rewardlab.prefs.teachers.HumanTeacher` of a running ``rewardlab label serve``.

    Args:
        url: the server, e.g. ``"http://127.0.0.1:8000"``.
        token: an operator token (``rewardlab label add-annotator NAME --operator``); sent in a header,
            never shown.
        env_id: the Gymnasium id of the env the segments come from (the server draws their clips from it).
        run: the run name stored with the segments.
        min_answers: answers a query needs before it counts as answered (several annotators: their
            majority, see the module docstring).
        poll: seconds between two reads of the answers while waiting.
        request_timeout: seconds one HTTP request may take.
        max_request_bytes: :meth:`post` splits a batch into requests of about this much JSON (the
            server refuses bodies over its ``max_query_body``, 8 MiB by default).

    Raises:
        ConfigError: a bad argument; and, from the methods: a server that cannot be reached (the URL in
            the message) or a token it refuses.
        ValidationError: a request the server refused (its message), or an id never posted.
        LabelServerError: the server failed (5xx).
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        env_id: str | None,
        run: str = "",
        min_answers: int = 1,
        poll: float = 0.5,
        request_timeout: float = 30.0,
        max_request_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        import httpx

        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError("url", f"is {url!r}", "pass the labelling server's address, e.g. http://127.0.0.1:8000")
        if not isinstance(token, str) or not token.strip():
            raise ConfigError("token", "is empty" if isinstance(token, str) else f"is a {type(token).__name__}", _OPERATOR_FIX)
        if not isinstance(env_id, str) or not env_id.strip():
            raise ConfigError(
                "env_id", f"is {env_id!r}", "pass the Gymnasium id of the env the segments come from (clips are drawn from it)"
            )
        if not isinstance(run, str):
            raise ConfigError("run", f"is a {type(run).__name__}", "pass the run's name as a string")
        if isinstance(min_answers, bool) or not isinstance(min_answers, int) or min_answers < 1:
            raise ConfigError("min_answers", f"is {min_answers!r}", "pass a positive number of answers per query")
        for name, value in (("poll", poll), ("request_timeout", request_timeout)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ConfigError(name, f"is {value!r}", "pass a positive number of seconds")
        if isinstance(max_request_bytes, bool) or not isinstance(max_request_bytes, int) or max_request_bytes < 1024:
            raise ConfigError("max_request_bytes", f"is {max_request_bytes!r}", "pass a number of bytes of at least 1024")
        self.url = url.rstrip("/")
        self.env_id, self.run, self.min_answers = env_id, run, min_answers
        self.poll, self.max_request_bytes = float(poll), max_request_bytes
        self._http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token.strip()}"}, timeout=request_timeout)

    def __repr__(self) -> str:  # no token
        return f"LabelServerTeacher({self.url!r}, env_id={self.env_id!r}, run={self.run!r}, min_answers={self.min_answers})"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> LabelServerTeacher:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- HTTP ------------------------------------------------------------------------------------------------
    def _request(
        self, method: str, path: str, *, field: str = "request", fix: str = "fix what the server's message names", **kwargs: Any
    ) -> Any:
        """The JSON of a 2xx answer, or the error the status calls for (a 4xx other than 401/403 is a
        :class:`ValidationError` of ``field`` with ``fix``)."""
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise _Unreachable(
                "url",
                f"{self.url}{path}: no answer within the request timeout ({type(exc).__name__})",
                "raise request_timeout or check the server",
            ) from None
        except httpx.TransportError as exc:
            raise _Unreachable(
                "url",
                f"{self.url}: cannot be reached ({type(exc).__name__}: {exc})",
                "start it (rewardlab label serve --run DIR) or fix the URL",
            ) from None
        if response.is_success:
            return response.json()
        try:
            message = str(response.json().get("error", response.text))
        except (ValueError, AttributeError):
            message = response.text[:500]
        if response.status_code in (401, 403):
            raise ConfigError("token", f"{self.url} refused it ({response.status_code}: {message})", _OPERATOR_FIX)
        if response.status_code >= 500:
            raise LabelServerError(f"{method} {self.url}{path}: the server failed ({response.status_code}: {message})")
        raise ValidationError(field, f"was refused by {method} {path} ({response.status_code}: {message})", fix)

    # -- the HumanTeacher protocol -----------------------------------------------------------------------------
    def post(self, queries: Sequence[Any]) -> list[str]:
        """Post ``queries`` (``(a, b)`` pairs of :class:`~rewardlab.data.Segment`, or records with ``.a``
        and ``.b``) to the server; returns one query id per pair, in order, as strings.

        The batch is sent in requests of about ``max_request_bytes`` each; each request is stored whole or
        not at all (a refused one raises, and the earlier ones stay stored).
        """
        pairs = [_pair(q, k) for k, q in enumerate(queries)]
        bodies: list[list[dict[str, Any]]] = [[]]
        size = 0
        for a, b in pairs:
            item = {"a": _segment_json(a), "b": _segment_json(b), "gold": None}
            n = len(json.dumps(item))
            if bodies[-1] and size + n > self.max_request_bytes:
                bodies.append([])
                size = 0
            bodies[-1].append(item)
            size += n
        ids: list[str] = []
        for chunk in bodies:
            if chunk:
                made = self._request("POST", "/api/queries", json={"env_id": self.env_id, "run": self.run, "pairs": chunk})
                ids.extend(str(i) for i in made["queries"])
        return ids

    def raw_answers(self, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Every answer stored so far to each of ``ids`` (the server's records: ``label`` ``P(a ≻ b)`` or
        ``"skipped"``, ``annotator``, ``choice``, ``left_is_a``, ``shown_at``, ``answered_at``), no waiting."""
        keys = [self._id(i, k) for k, i in enumerate(ids)]
        out: dict[str, list[dict[str, Any]]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _IDS_PER_REQUEST):
            chunk = unique[start : start + _IDS_PER_REQUEST]
            got = self._request("GET", "/api/answers", field="ids", fix="pass the ids that post returned", params={"ids": ",".join(chunk)})
            out.update(got["answers"])
        return {k: out[k] for k in keys}

    @staticmethod
    def _id(value: Any, k: int) -> str:
        text = str(value).strip()
        if isinstance(value, bool) or not text.isascii() or not text.isdigit() or len(text) > 19:
            raise ValidationError(f"ids[{k}]", f"is {value!r}", "pass the query ids that post returned")
        return str(int(text))  # as the server writes it ("007" -> "7")

    def answers(self, ids: Sequence[str], *, timeout: float) -> HumanAnswers:
        """Wait up to ``timeout`` seconds (0: one look) until each of ``ids`` has ``min_answers`` answers.

        Returns:
            :class:`~rewardlab.prefs.teachers.HumanAnswers` in the order of ``ids``: each query's label
            (:func:`majority_label` of its answers, ``1.0`` = the first posted segment preferred),
            skipped when all its answers are, pending while it has fewer than ``min_answers``.

        A server that cannot be reached or fails (5xx) during the wait is asked again every ``poll``
        seconds until the timeout, then the error is raised.

        Raises:
            ValidationError: an id that was never posted (the server does not know it).
            ConfigError: the server stayed unreachable, or refused the token.
            LabelServerError: the server kept failing.
        """
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0:
            raise ValidationError("timeout", f"is {timeout!r}", "pass a number of seconds >= 0 (0: do not wait)")
        deadline = time.monotonic() + float(timeout)
        while True:
            try:
                got = self.raw_answers(ids)
            except (_Unreachable, LabelServerError):
                if time.monotonic() + self.poll > deadline:
                    raise
                time.sleep(self.poll)
                continue
            if all(len(records) >= self.min_answers for records in got.values()) or time.monotonic() >= deadline:
                break
            time.sleep(min(self.poll, max(0.0, deadline - time.monotonic())))
        n = len(ids)
        labels, skipped, pending = np.full(n, np.nan), np.zeros(n, bool), np.zeros(n, bool)
        for k, i in enumerate(ids):
            records = got[self._id(i, k)]
            if len(records) < self.min_answers:
                pending[k] = True
                continue
            label = majority_label([r["label"] for r in records])
            if isinstance(label, str):  # skipped
                skipped[k] = True
            else:
                labels[k] = label
        return HumanAnswers(labels, skipped, pending)
