"""API keys: who may call ``/v1``, and for what (``ingest``: POST/PUT, ``read``: GET).

Keys come from ``RISKRELAY_API_KEYS`` and/or the file named by ``RISKRELAY_API_KEYS_FILE``,
each entry ``name:scope[+scope]:secret`` (entries separated by commas or new lines; ``#``
starts a comment in the file). Only SHA-256 digests of the secrets are kept, and a
presented key is compared with every configured one in constant time: equal-length
digests and no early exit, so neither timing nor the order of keys tells which matched.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from fastapi import Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from riskrelay.errors import ConfigError
from riskrelay.settings import ApiSettings

API_KEY_HEADER = "X-API-Key"
MIN_SECRET_LENGTH = 16
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_SECRET = re.compile(r"^[\x21-\x2b\x2d-\x7e]+$")  # visible ASCII except the comma


class Scope(StrEnum):
    INGEST = "ingest"
    READ = "read"


@dataclass(frozen=True, slots=True)
class ApiKey:
    name: str
    scopes: frozenset[Scope]
    digest: bytes


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse_entry(entry: str, where: str) -> ApiKey:
    """One ``name:scope+scope:secret``; errors name the entry, never the secret."""
    name, sep1, rest = entry.partition(":")
    scopes_text, sep2, secret = rest.partition(":")
    if not (sep1 and sep2):
        raise ConfigError(f"{where}: expected name:scope[+scope]:secret")
    if not _NAME.match(name):
        raise ConfigError(f"{where}: the name must be 1-64 of A-Z a-z 0-9 _ . -")
    scopes: set[Scope] = set()
    for scope in scopes_text.split("+"):
        try:
            scopes.add(Scope(scope))
        except ValueError:
            raise ConfigError(
                f"{where} ({name}): unknown scope {scope!r} (scopes: ingest, read)"
            ) from None
    if len(secret) < MIN_SECRET_LENGTH or not _SECRET.match(secret):
        raise ConfigError(
            f"{where} ({name}): the secret must be at least {MIN_SECRET_LENGTH} visible "
            "ASCII characters without commas"
        )
    return ApiKey(name, frozenset(scopes), _digest(secret))


def parse_keys(text: str, source: str) -> list[ApiKey]:
    keys = []
    lines = (line.split("#", 1)[0] for line in text.splitlines())
    entries = [e.strip() for line in lines for e in line.split(",")]
    for number, entry in enumerate((e for e in entries if e), start=1):
        keys.append(parse_entry(entry, f"{source} entry {number}"))
    return keys


class ApiKeys:
    def __init__(self, keys: list[ApiKey]) -> None:
        names = [k.name for k in keys]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            raise ConfigError(f"API key name {duplicate!r} is configured twice")
        if len({k.digest for k in keys}) != len(keys):
            raise ConfigError("two API keys have the same secret")
        self._keys = tuple(keys)

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def names(self) -> list[str]:
        return [k.name for k in self._keys]

    def authenticate(self, presented: str | None) -> ApiKey | None:
        if not presented:
            return None
        digest = _digest(presented)
        found: ApiKey | None = None
        for key in self._keys:  # every key, every time
            if hmac.compare_digest(digest, key.digest):
                found = key
        return found


def load_keys(settings: ApiSettings) -> ApiKeys:
    """The configured keys; a one-line ``ConfigError`` if they are unusable or absent."""
    keys: list[ApiKey] = []
    if settings.keys is not None:
        keys += parse_keys(settings.keys.get_secret_value(), "RISKRELAY_API_KEYS")
    if settings.keys_file:
        path = Path(settings.keys_file)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"RISKRELAY_API_KEYS_FILE {path}: {exc.strerror}") from None
        keys += parse_keys(text, f"RISKRELAY_API_KEYS_FILE {path}")
    if not keys:
        raise ConfigError(
            "no API keys: set RISKRELAY_API_KEYS (name:scope[+scope]:secret,...) "
            "or RISKRELAY_API_KEYS_FILE"
        )
    return ApiKeys(keys)


class AuthError(Exception):
    """401 (no or unknown key) or 403 (the key lacks the scope)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_api_key = APIKeyHeader(
    name=API_KEY_HEADER,
    scheme_name="ApiKey",
    description="An API key (its secret) in the X-API-Key header.",
    auto_error=False,
)
_bearer = HTTPBearer(
    scheme_name="Bearer",
    description="The same API key as `Authorization: Bearer <secret>`.",
    auto_error=False,
)
_HEADER_KEY = Security(_api_key)
_BEARER = Security(_bearer)

Dependency = Callable[..., Awaitable[ApiKey]]


def presented_key(header_key: str | None, authorization: str | None) -> str | None:
    """The secret a request presents, read from its raw headers as the two documented
    security schemes read it (``X-API-Key`` if not empty, else a ``Bearer`` credential):
    the read fast path does not go through FastAPI's security dependencies."""
    if header_key:
        return header_key
    scheme, credentials = get_authorization_scheme_param(authorization)
    if scheme.lower() == "bearer" and credentials:
        return credentials
    return None


def authorize(keys: ApiKeys, scope: Scope, presented: str | None) -> ApiKey:
    """The key ``presented`` names if it carries ``scope``; ``AuthError`` otherwise."""
    key = keys.authenticate(presented)
    if key is None:
        raise AuthError(401, "a valid API key is required (X-API-Key or Bearer)")
    if scope not in key.scopes:
        raise AuthError(403, f"this API key does not have the {scope.value} scope")
    return key


def requires(keys: ApiKeys, scope: Scope) -> Dependency:
    """A FastAPI dependency admitting keys that carry ``scope``."""

    async def authorized(
        header_key: str | None = _HEADER_KEY,
        bearer: HTTPAuthorizationCredentials | None = _BEARER,
    ) -> ApiKey:
        presented = header_key or (bearer.credentials if bearer is not None else None)
        return authorize(keys, scope, presented)

    return authorized
