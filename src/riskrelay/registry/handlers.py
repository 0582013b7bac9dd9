"""HTTP handlers for the Confluent Schema Registry REST API subset the standard clients use.

Bodies, status codes and ``error_code`` values follow Confluent so that
``confluent_kafka.schema_registry.SchemaRegistryClient`` (and other Confluent-API clients)
work against this registry unmodified.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from riskrelay.registry.errors import STORE_ERROR, STORE_TIMEOUT, RegistryApiError, StoreError
from riskrelay.registry.records import SchemaRecord
from riskrelay.registry.schemas import AVRO, SUPPORTED_TYPES
from riskrelay.registry.service import SchemaRegistry

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
ACCEPTED_BODY_TYPES = frozenset(
    {
        CONTENT_TYPE,
        "application/vnd.schemaregistry+json",
        "application/json",
        "application/octet-stream",  # Confluent's fallback; also what a missing header means
    }
)
REGISTRY = web.AppKey("registry", SchemaRegistry)

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def reply(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, content_type=CONTENT_TYPE)


def error_reply(status: int, error_code: int, message: str) -> web.Response:
    return reply({"error_code": error_code, "message": message}, status=status)


@web.middleware
async def confluent_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure leaves as Confluent's JSON error body, never as aiohttp's HTML page."""
    try:
        return await handler(request)
    except RegistryApiError as exc:
        return error_reply(exc.status, exc.error_code, exc.message)
    except StoreError as exc:
        code = STORE_TIMEOUT if exc.timeout else STORE_ERROR
        return error_reply(500, code, f"Error in the backend data store: {exc}")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_reply(exc.status, exc.status, f"HTTP {exc.status} {exc.reason}")
    except Exception as exc:
        log.exception("schema registry: unhandled error on %s %s", request.method, request.path)
        return error_reply(500, STORE_ERROR, f"Internal error: {exc}")


def _registry(request: web.Request) -> SchemaRegistry:
    return request.app[REGISTRY]


def _flag(request: web.Request, name: str) -> bool:
    """Query booleans; the Python client sends ``True``/``False``, others ``true``."""
    return request.query.get(name, "false").lower() == "true"


def _requested_version(request: web.Request) -> SchemaRecord:
    """The record ``/subjects/{subject}/versions/{version}`` names (``?deleted=true`` too)."""
    return _registry(request).version(
        request.match_info["subject"],
        request.match_info["version"],
        deleted=_flag(request, "deleted"),
    )


async def _body(request: web.Request) -> Any:
    if request.content_type not in ACCEPTED_BODY_TYPES:
        raise RegistryApiError(415, 415, f"HTTP 415 Unsupported Media Type: {request.content_type}")
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise RegistryApiError(400, 400, f"Invalid JSON body: {exc}") from exc


def _version_body(record: SchemaRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": record.subject,
        "version": record.version,
        "id": record.id,
        "schema": record.schema,
    }
    if record.schema_type != AVRO:
        body["schemaType"] = record.schema_type
    return body


@routes.get("/")
async def root(request: web.Request) -> web.Response:
    return reply({})


@routes.get("/subjects")
async def list_subjects(request: web.Request) -> web.Response:
    state = _registry(request).state
    deleted_only = _flag(request, "deleted_only")
    subjects = state.subjects(deleted=deleted_only or _flag(request, "deleted"))
    if deleted_only:
        live = set(state.subjects())
        subjects = [s for s in subjects if s not in live]
    prefix = request.query.get("subjectPrefix", "")
    return reply([s for s in subjects if s.startswith(prefix)])


@routes.get("/subjects/{subject}/versions")
async def list_versions(request: web.Request) -> web.Response:
    found = _registry(request).versions(
        request.match_info["subject"], deleted=_flag(request, "deleted")
    )
    return reply([r.version for r in found])


@routes.get("/subjects/{subject}/versions/{version}")
async def get_version(request: web.Request) -> web.Response:
    return reply(_version_body(_requested_version(request)))


@routes.get("/subjects/{subject}/versions/{version}/schema")
async def get_version_schema(request: web.Request) -> web.Response:
    """The schema text itself as the body, unwrapped, as Confluent answers it."""
    record = _requested_version(request)
    return web.Response(text=record.schema, content_type=CONTENT_TYPE)


@routes.get("/subjects/{subject}/versions/{version}/referencedby")
async def get_referenced_by(request: web.Request) -> web.Response:
    """Always empty: references are not supported, so nothing can refer to a version."""
    _registry(request).version(request.match_info["subject"], request.match_info["version"])
    return reply([])


@routes.post("/subjects/{subject}/versions")
async def register(request: web.Request) -> web.Response:
    schema_id = await _registry(request).register(
        request.match_info["subject"], await _body(request)
    )
    return reply({"id": schema_id})


@routes.post("/subjects/{subject}")
async def lookup(request: web.Request) -> web.Response:
    record = _registry(request).lookup(
        request.match_info["subject"], await _body(request), deleted=_flag(request, "deleted")
    )
    return reply(_version_body(record))


@routes.delete("/subjects/{subject}")
async def delete_subject(request: web.Request) -> web.Response:
    versions = await _registry(request).delete_subject(
        request.match_info["subject"], permanent=_flag(request, "permanent")
    )
    return reply(versions)


@routes.delete("/subjects/{subject}/versions/{version}")
async def delete_version(request: web.Request) -> web.Response:
    version = await _registry(request).delete_version(
        request.match_info["subject"],
        request.match_info["version"],
        permanent=_flag(request, "permanent"),
    )
    return reply(version)


@routes.get(r"/schemas/ids/{id:\d+}")
async def get_schema(request: web.Request) -> web.Response:
    parsed = _registry(request).schema(int(request.match_info["id"]))
    body: dict[str, Any] = {"schema": parsed.text}
    if parsed.schema_type != AVRO:
        body["schemaType"] = parsed.schema_type
    return reply(body)


@routes.get(r"/schemas/ids/{id:\d+}/schema")
async def get_schema_text(request: web.Request) -> web.Response:
    parsed = _registry(request).schema(int(request.match_info["id"]))
    return web.Response(text=parsed.text, content_type=CONTENT_TYPE)


@routes.get(r"/schemas/ids/{id:\d+}/versions")
async def get_schema_versions(request: web.Request) -> web.Response:
    found = _registry(request).usages(
        int(request.match_info["id"]), deleted=_flag(request, "deleted")
    )
    return reply([{"subject": r.subject, "version": r.version} for r in found])


@routes.get(r"/schemas/ids/{id:\d+}/subjects")
async def get_schema_subjects(request: web.Request) -> web.Response:
    found = _registry(request).usages(
        int(request.match_info["id"]), deleted=_flag(request, "deleted")
    )
    return reply(sorted({r.subject for r in found}))


@routes.get("/schemas/types")
async def schema_types(request: web.Request) -> web.Response:
    return reply(list(SUPPORTED_TYPES))


async def _compatibility(request: web.Request, version: str | None) -> web.Response:
    messages = _registry(request).check(
        request.match_info["subject"], version, await _body(request)
    )
    verbose = _flag(request, "verbose")
    return reply({"is_compatible": not messages, "messages": messages if verbose else []})


@routes.post("/compatibility/subjects/{subject}/versions/{version}")
async def compatibility_with_version(request: web.Request) -> web.Response:
    return await _compatibility(request, request.match_info["version"])


@routes.post("/compatibility/subjects/{subject}/versions")
async def compatibility_with_all(request: web.Request) -> web.Response:
    return await _compatibility(request, None)


@routes.get("/config")
async def get_global_config(request: web.Request) -> web.Response:
    return reply({"compatibilityLevel": _registry(request).level(None).value})


@routes.put("/config")
async def put_global_config(request: web.Request) -> web.Response:
    level = await _registry(request).set_level(None, await _body(request))
    return reply({"compatibility": level.value})


@routes.delete("/config")
async def delete_global_config(request: web.Request) -> web.Response:
    previous = await _registry(request).delete_level(None)
    return reply({"compatibilityLevel": previous.value})


@routes.get("/config/{subject}")
async def get_subject_config(request: web.Request) -> web.Response:
    level = _registry(request).subject_level(
        request.match_info["subject"], default_to_global=_flag(request, "defaultToGlobal")
    )
    return reply({"compatibilityLevel": level.value})


@routes.put("/config/{subject}")
async def put_subject_config(request: web.Request) -> web.Response:
    level = await _registry(request).set_level(request.match_info["subject"], await _body(request))
    return reply({"compatibility": level.value})


@routes.delete("/config/{subject}")
async def delete_subject_config(request: web.Request) -> web.Response:
    previous = await _registry(request).delete_level(request.match_info["subject"])
    return reply({"compatibilityLevel": previous.value})


@routes.get("/mode")
async def get_mode(request: web.Request) -> web.Response:
    """Always writable: there is no import mode or read-only replica here."""
    return reply({"mode": "READWRITE"})


@routes.get("/contexts")
async def get_contexts(request: web.Request) -> web.Response:
    return reply(["."])
