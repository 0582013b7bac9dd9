"""Recording of every provider request a sandbox receives, and what it answered.

Tests assert on exactly what the pipeline sent, so the recorder keeps raw bytes and turns
them into JSON only when someone asks (``GET /_sandbox/requests``): the hot path is one
tuple appended to a bounded deque and one counter bumped. Memory is bounded by
``max_records`` (oldest dropped first), but every request is counted in the stats.
Credential headers are masked on the way out, keeping only their last four characters.
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from collections.abc import Collection
from typing import Any, NamedTuple

import orjson
from aiohttp import web

CREDENTIAL_HEADERS: frozenset[str] = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
        "u21-key",
        "ds-api-token",
        "x-coinflow-auth-session-key",
    }
)
"""Header names (lower case) whose values are masked in recordings, for every provider."""


EVENTS_KEY = web.RequestKey("sandbox_events", int)
"""Request key under which a provider handler says how many events a request carried
(a batch); counted in ``stats()["events"]``, which like ``last_seq`` is never reset."""


class Record(NamedTuple):
    """One request as received; decoded lazily by ``Recorder.to_json``."""

    seq: int
    received_at: float
    method: str
    path: str
    query: str
    raw_headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    status: int
    response: bytes


def mask(value: str) -> str:
    """Hide a credential but its last four characters (all of it when that short)."""
    if len(value) <= 4:
        return "*" * len(value)
    return "*" * (len(value) - 4) + value[-4:]


def _decode(raw: bytes) -> tuple[Any, str | None]:
    """``(parsed JSON, None)`` when ``raw`` is JSON, else ``(None, text)``."""
    if raw:
        try:
            return orjson.loads(raw), None
        except orjson.JSONDecodeError:
            pass
    return None, raw.decode("utf-8", "replace")


class Recorder:
    """Bounded request log plus unbounded per-path/status counts."""

    def __init__(
        self,
        max_records: int | None = 100_000,
        credential_headers: Collection[str] = CREDENTIAL_HEADERS,
    ) -> None:
        self._records: deque[Record] = deque(maxlen=max_records)
        self._counts: Counter[tuple[str, int]] = Counter()
        self._credentials = frozenset(name.lower() for name in credential_headers)
        self._seq = 0
        self._events = 0

    @property
    def total(self) -> int:
        """Requests ever recorded (not reset by ``clear``, so ``seq`` stays unique)."""
        return self._seq

    def add(
        self,
        request: web.BaseRequest,
        route: str,
        body: bytes,
        status: int,
        response: bytes,
        received_at: float,
        events: int = 1,
    ) -> None:
        """``events``: how many provider events the request carried (a batch carries
        several; ``EVENTS_KEY``)."""
        self._seq += 1
        self._events += events
        self._records.append(
            Record(
                self._seq,
                received_at,
                request.method,
                request.path,
                request.query_string,
                request.raw_headers,
                body,
                status,
                response,
            )
        )
        self._counts[(route, status)] += 1

    def clear(self) -> None:
        """Forget the recordings and the counts; sequence numbers keep increasing."""
        self._records.clear()
        self._counts.clear()

    def records(self, since: int = 0, limit: int | None = None) -> list[Record]:
        """Records with ``seq > since``, oldest first, at most ``limit`` of them."""
        records = self._records
        if not records:
            return []
        skip = max(0, since - records[0].seq + 1)
        stop = None if limit is None else skip + limit
        return list(itertools.islice(records, skip, stop))

    def requests(self, since: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """Like ``records`` but decoded to the JSON shape of ``GET /_sandbox/requests``."""
        return [self.to_json(record) for record in self.records(since, limit)]

    def to_json(self, record: Record) -> dict[str, Any]:
        headers: dict[str, str] = {}
        for raw_name, raw_value in record.raw_headers:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            if name in self._credentials:
                value = mask(value)
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        body_json, body_text = _decode(record.body)
        response_json, response_text = _decode(record.response)
        return {
            "seq": record.seq,
            "received_at": record.received_at,
            "method": record.method,
            "path": record.path,
            "query": record.query,
            "headers": headers,
            "json": body_json,
            "body": body_text,
            "status": record.status,
            "response": response_json if response_text is None else response_text,
        }

    def stats(self) -> dict[str, Any]:
        by_path: dict[str, dict[str, int]] = {}
        by_status: Counter[str] = Counter()
        for (route, status), count in sorted(self._counts.items()):
            by_path.setdefault(route, {})[str(status)] = count
            by_status[str(status)] += count
        return {
            "total": sum(by_status.values()),
            "retained": len(self._records),
            "max_records": self._records.maxlen,
            "last_seq": self._seq,
            "events": self._events,
            "by_path": by_path,
            "by_status": dict(sorted(by_status.items())),
        }

    def routes(self) -> list[web.RouteDef]:
        """``GET|DELETE /_sandbox/requests`` (``?since=SEQ&limit=N``), ``GET /_sandbox/stats``.

        The control API is off the hot path, so it uses aiohttp's stdlib-json responses.
        """

        async def get_requests(request: web.Request) -> web.Response:
            try:
                since = _count(request.query.get("since", "0"), "since")
                limit = request.query.get("limit")
                found = self.requests(since, None if limit is None else _count(limit, "limit"))
            except ValueError as exc:
                return web.json_response({"error": str(exc)}, status=400)
            return web.json_response(found)

        async def delete_requests(request: web.Request) -> web.Response:
            self.clear()
            return web.json_response({"cleared": True})

        async def get_stats(request: web.Request) -> web.Response:
            return web.json_response(self.stats())

        return [
            web.get("/_sandbox/requests", get_requests),
            web.delete("/_sandbox/requests", delete_requests),
            web.get("/_sandbox/stats", get_stats),
        ]


def _count(raw: str, name: str) -> int:
    if not raw.isdigit():
        raise ValueError(f"{name} must be a non-negative integer, got {raw!r}")
    return int(raw)
