"""JSON answers, problem bodies, bounded body reading and the error handlers that make
every failure a documented 4xx (or a 500 that logs no request data)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from riskrelay.api.auth import AuthError

log = logging.getLogger(__name__)

JSON = "application/json"
_CODES = {
    400: "malformed",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    423: "locked",
    503: "unavailable",
}


def json_response(
    body: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """orjson-encoded JSON: the read path is hot, and orjson handles datetimes."""
    return Response(orjson.dumps(body), status_code=status_code, headers=headers, media_type=JSON)


def problem_body(
    status_code: int,
    message: str,
    *,
    event_id: str | None = None,
    errors: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"status": _CODES.get(status_code, "error"), "message": message}
    if event_id is not None:
        body["event_id"] = event_id
    if errors is not None:
        body["errors"] = errors
    return body


def problem(
    status_code: int,
    message: str,
    *,
    event_id: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = problem_body(status_code, message, event_id=event_id, errors=errors)
    return json_response(body, status_code, headers)


def invalid_body(errors: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The 422 body for pydantic's errors (a request's path, query or header values)."""
    listed = [{"path": _location(tuple(e.get("loc", ()))), "reason": _reason(e)} for e in errors]
    message = "; ".join(f"{e['path'] or 'request'}: {e['reason']}" for e in listed)
    return problem_body(422, message, errors=listed)


def www_authenticate(status_code: int) -> dict[str, str] | None:
    """The challenge a 401 carries (RFC 9110); a 403 has none."""
    return {"WWW-Authenticate": 'Bearer realm="riskrelay"'} if status_code == 401 else None


class BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _is_json(content_type: str) -> bool:
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    if media != JSON and not (media.startswith("application/") and media.endswith("+json")):
        return False
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            return False
    return True


async def read_json_body(request: Request, limit: int) -> bytes:
    """The body of a JSON request, read in chunks and abandoned past ``limit`` bytes, so
    an oversized body is never held in memory."""
    content_type = request.headers.get("content-type")
    if content_type is None or not _is_json(content_type):
        raise BodyError(415, "send the event as Content-Type: application/json (UTF-8)")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyError(413, f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError(413, f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc[1:]] if loc and loc[0] in ("path", "query", "header") else []
    return ".".join(parts)


def _reason(error: Mapping[str, Any]) -> str:
    if error.get("type") == "string_pattern_mismatch":  # the id pattern, in words
        return "must not be blank or contain control characters"
    return str(error.get("msg", "invalid"))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AuthError)
    async def auth_error(request: Request, exc: AuthError) -> Response:
        return problem(exc.status, exc.message, headers=www_authenticate(exc.status))

    @app.exception_handler(BodyError)
    async def body_error(request: Request, exc: BodyError) -> Response:
        return problem(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        return json_response(invalid_body(exc.errors()), 422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        headers = dict(exc.headers) if exc.headers else None
        return problem(exc.status_code, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        # The type only: messages and tracebacks may carry request data.
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return problem(500, "internal error")
