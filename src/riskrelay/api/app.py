"""FastAPI application factory.

FastAPI because the API's contract is its OpenAPI document: the security schemes, the
request bodies (derived from the Avro contracts) and every answer's body are in it, and
a schemathesis run holds the app to it. The hot path, ``GET /v1/events/{id}``, is
answered ahead of FastAPI's request machinery by ``reads.FastReads``, with the documented
route's answers.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.convertors import Convertor, register_url_convertor

from riskrelay.api.accepted import (
    Accepted,
    AcceptedOverlay,
    IngestDecision,
    KeyedLocks,
    Verdict,
    decide_ingest,
)
from riskrelay.api.auth import ApiKeys, Scope, requires
from riskrelay.api.avro_json import ContractError
from riskrelay.api.ingest import (
    Contracts,
    Delivery,
    Incoming,
    MalformedBody,
    Publisher,
    PublishUnavailable,
)
from riskrelay.api.models import Accepted as AcceptedBody
from riskrelay.api.models import EventView, Locked, Problem, Readiness
from riskrelay.api.reads import EventId, EventReader, FastReads
from riskrelay.api.responses import (
    install_error_handlers,
    json_response,
    problem,
    read_json_body,
)
from riskrelay.models import AvroRecord
from riskrelay.settings import ApiSettings
from riskrelay.state.view_lag import ViewLag

log = logging.getLogger(__name__)

__all__ = ["ReadView", "create_app"]


class ReadView(Protocol):
    """What the API needs of the state view (``riskrelay.state.view.StateView``)."""

    ready: threading.Event

    def get(self, event_id: str) -> AvroRecord | None: ...

    def __len__(self) -> int: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


@runtime_checkable
class TracksLag(Protocol):
    """A view that knows how far it is behind the state topic (``StateView`` does; a test's
    dict of snapshots has nothing to be behind)."""

    def lag(self) -> ViewLag: ...


class _AnyId(Convertor[str]):
    """Like ``path`` (ids may hold '/'), but also across control characters, so that such
    an id reaches the validation (422) instead of matching no route (404)."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("event_id", _AnyId())


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    described: dict[int, tuple[str, type]] = {
        400: ("the body is not JSON", Problem),
        401: ("no API key, or an unknown one", Problem),
        403: ("the API key lacks the route's scope", Problem),
        404: ("no such event (neither in the state view nor accepted here)", Problem),
        409: ("the event id exists and upsert_on_conflict is not set", Problem),
        413: ("the body is larger than RISKRELAY_API_MAX_BODY_BYTES", Problem),
        415: ("the body is not application/json", Problem),
        422: ("the id or the body breaks the contract; errors name each field", Problem),
        423: ("the first version is not fully processed yet; retry after Retry-After", Locked),
        503: ("catching up with the state topic, or Kafka did not confirm in time", Problem),
    }
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        description, model = described[code]
        entry: dict[str, Any] = {"description": description, "model": model}
        if code == 401:
            entry["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        if code in (423, 503):
            entry["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
        out[code] = entry
    return out


class _LagCollector(Collector):
    """Offsets behind the state topic's end, per partition (none while the ends are not
    known yet, or for a view that does not track its lag)."""

    def __init__(self, lag: Callable[[], ViewLag] | None) -> None:
        self._lag = lag

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "riskrelay_api_state_lag_records",
            "Offsets of the state topic this API's view has not applied yet, per partition",
            labels=["partition"],
        )
        if self._lag is not None:
            for partition, behind in sorted(self._lag().partitions.items()):
                family.add_metric([str(partition)], behind)
        yield family


class _Metrics:
    def __init__(
        self, view: ReadView, overlay: AcceptedOverlay, lag: Callable[[], ViewLag] | None
    ) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_LagCollector(lag))
        Gauge(
            "riskrelay_api_view_events", "Events in the API's state view", registry=self.registry
        ).set_function(lambda: len(view))
        Gauge(
            "riskrelay_api_view_ready",
            "1 once the view caught up with the state topic",
            registry=self.registry,
        ).set_function(lambda: 1 if view.ready.is_set() else 0)
        Gauge(
            "riskrelay_api_accepted_unseen_events",
            "Events this process accepted that its state view does not show yet",
            registry=self.registry,
        ).set_function(lambda: len(overlay))
        self.ingest = Counter(
            "riskrelay_api_ingest_requests",
            "POST/PUT /v1/events answers by operation and HTTP status",
            ["operation", "status"],
            registry=self.registry,
        )
        self.publish = Histogram(
            "riskrelay_api_publish_seconds",
            "Time from produce to the broker's acknowledgement (acks=all)",
            registry=self.registry,
        )


def create_app(
    view: ReadView,
    settings: ApiSettings | None = None,
    *,
    keys: ApiKeys | None = None,
    publisher: Publisher | None = None,
    fast_reads: bool = True,
) -> FastAPI:
    """The API over ``view``. Without ``keys`` every /v1 route answers 401 (closed by
    default); without a ``publisher`` the app is read-only (no POST/PUT routes).
    ``fast_reads=False`` serves GETs through FastAPI's route instead of ``FastReads``
    (the same answers, slower: for the tests that compare the two)."""
    config = settings or ApiSettings.model_construct()
    keys = keys or ApiKeys([])
    overlay = AcceptedOverlay(config.accepted_max_events, config.accepted_ttl_s)
    locks = KeyedLocks()
    contracts = Contracts()
    lag = view.lag if isinstance(view, TracksLag) else None
    metrics = _Metrics(view, overlay, lag)
    retry_after = {"Retry-After": str(config.retry_after_s)}
    reader = EventReader(view, overlay, config.retry_after_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        view.start()
        if publisher is not None:
            publisher.start()
        try:
            yield
        finally:
            if publisher is not None:
                publisher.close()
            view.stop()

    app = FastAPI(
        title="riskrelay",
        version="1",
        description="Ingest risk events (POST/PUT, JSON checked against the Avro contracts) "
        "and read their processing state (GET, 423 until processed).",
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # "/v1/events/" is an (empty, invalid) id
    install_error_handlers(app)
    if fast_reads:
        app.add_middleware(FastReads, reader=reader, keys=keys)
    read = Depends(requires(keys, Scope.READ))
    ingest = Depends(requires(keys, Scope.INGEST))

    def not_ready() -> Response | None:
        if view.ready.is_set():
            return None
        return problem(503, "catching up with the state topic; retry", headers=retry_after)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operations"],
        response_model=None,
        responses={
            200: {"model": Readiness, "description": "the view caught up with the state topic"},
            503: {"model": Readiness, "description": "catching up with the state topic"},
        },
    )
    async def readyz() -> Response:
        """Ready once the view has caught up with the end of the state topic as it was at
        start; ``lag`` says how far behind it is now (records, per partition)."""
        ready = view.ready.is_set()
        body = {
            "status": "ready" if ready else "catching up with the state topic",
            "events": len(view),
            "accepted_unseen": len(overlay),
            "lag": None if lag is None else lag().body(),
        }
        return json_response(body, 200 if ready else 503)

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get(
        "/v1/events/{event_id:event_id}",
        tags=["events"],
        dependencies=[read],
        response_model=None,
        responses={
            200: {"model": EventView, "description": "the last processed version"},
            **_responses(401, 403, 404, 422, 423, 503),
        },
    )
    async def get_event(event_id: EventId) -> Response:
        # Served by ``FastReads`` unless fast_reads=False: the same answers.
        status, body, headers = reader.answer(event_id)
        return json_response(body, status, headers)

    if publisher is None:
        return app

    async def publish(incoming: Incoming, decision: IngestDecision) -> Delivery:
        """Publish, then remember the id: run as its own task so a client that goes away
        mid-request cannot leave a stored event out of the overlay."""
        started = time.perf_counter()
        delivery = await publisher.publish(incoming)
        metrics.publish.observe(time.perf_counter() - started)
        entry = Accepted(
            incoming.subject_id, incoming.family, decision.expected_version, time.monotonic()
        )
        overlay.put(incoming.event_id, entry, view.get)
        return delivery

    async def accept(request: Request, create: bool, path_id: str | None = None) -> Response:
        unavailable = not_ready()
        if unavailable is not None:
            return unavailable
        body = await read_json_body(request, config.max_body_bytes)
        try:
            incoming = contracts.parse(body, create=create, event_id=path_id)
        except MalformedBody as exc:
            return problem(400, str(exc))
        except ContractError as exc:
            errors = [{"path": e.path, "reason": e.reason} for e in exc.errors]
            return problem(422, str(exc), errors=errors)
        event_id = incoming.event_id
        async with locks.hold(event_id):
            state = view.get(event_id)
            decision = decide_ingest(
                state,
                overlay.get(event_id, state),
                create=create,
                upsert=bool(incoming.record["upsert_on_conflict"]),
                subject_id=incoming.subject_id,
                family=incoming.family,
            )
            refused = _refusal(decision, event_id)
            if refused is not None:
                return refused
            try:
                await asyncio.shield(asyncio.ensure_future(publish(incoming, decision)))
            except PublishUnavailable as exc:
                return problem(503, f"the event is not stored: {exc}", headers=retry_after)
        operation = "create" if decision.verdict is Verdict.CREATE else "update"
        body_out = {
            "event_id": event_id,
            "status": "accepted",
            "operation": operation,
            "family": incoming.family.value.lower(),
            "kind": incoming.kind,
            "expected_version": decision.expected_version,
        }
        return json_response(body_out, 202, {"Location": f"/v1/events/{quote(event_id, safe='')}"})

    def body_doc(create: bool) -> dict[str, Any]:
        return {
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": contracts.body_schema(create),
                        "examples": contracts.body_examples(create),
                    }
                },
            }
        }

    accepted_doc = {"model": AcceptedBody, "description": "stored in Kafka (acks=all)"}

    @app.post(
        "/v1/events",
        tags=["events"],
        status_code=202,
        dependencies=[ingest],
        response_model=None,
        openapi_extra=body_doc(create=True),
        responses={202: accepted_doc, **_responses(400, 401, 403, 409, 413, 415, 422, 503)},
    )
    async def create_event(request: Request) -> Response:
        """Create an event. The family follows from `event_type`; `operation` is set by
        the API; `upsert_on_conflict: true` turns a create of a known id into an update."""
        response = await accept(request, create=True)
        metrics.ingest.labels("create", str(response.status_code)).inc()
        return response

    @app.put(
        "/v1/events/{event_id:event_id}",
        tags=["events"],
        status_code=202,
        dependencies=[ingest],
        response_model=None,
        openapi_extra=body_doc(create=False),
        responses={
            202: accepted_doc,
            **_responses(400, 401, 403, 404, 413, 415, 422, 503),
        },
    )
    async def update_event(event_id: EventId, request: Request) -> Response:
        """Publish a new version of a known event; the body's `event_id` may be left out
        and must otherwise match the path."""
        response = await accept(request, create=False, path_id=event_id)
        metrics.ingest.labels("update", str(response.status_code)).inc()
        return response

    return app


def _refusal(decision: IngestDecision, event_id: str) -> Response | None:
    verdict = decision.verdict
    if verdict is Verdict.CONFLICT:
        return problem(
            409, "the event exists; set upsert_on_conflict to update it", event_id=event_id
        )
    if verdict is Verdict.UNKNOWN:
        return problem(404, "no such event; create it with POST /v1/events", event_id=event_id)
    if verdict is Verdict.OTHER_SUBJECT:
        reason = "differs from the event's subject; an event's versions keep its subject"
        return problem(
            422,
            f"subject_id: {reason}",
            event_id=event_id,
            errors=[{"path": "subject_id", "reason": reason}],
        )
    if verdict is Verdict.OTHER_FAMILY:
        reason = "belongs to another family than the event's; an event keeps its family"
        return problem(
            422,
            f"event_type: {reason}",
            event_id=event_id,
            errors=[{"path": "event_type", "reason": reason}],
        )
    return None
