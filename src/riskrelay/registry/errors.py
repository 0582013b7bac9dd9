"""Errors the registry answers with, carrying Confluent's HTTP status and ``error_code``.

Clients (``SchemaRegistryClient``, Karapace-aware tools) branch on ``error_code``, so the
codes and the ``{"error_code": N, "message": "..."}`` body follow Confluent exactly.
"""

from __future__ import annotations

from riskrelay.errors import RegistryError

SUBJECT_NOT_FOUND = 40401
VERSION_NOT_FOUND = 40402
SCHEMA_NOT_FOUND = 40403
SUBJECT_SOFT_DELETED = 40404
SUBJECT_NOT_SOFT_DELETED = 40405
VERSION_SOFT_DELETED = 40406
VERSION_NOT_SOFT_DELETED = 40407
SUBJECT_CONFIG_NOT_FOUND = 40408
INCOMPATIBLE_SCHEMA = 409
INVALID_SCHEMA = 42201
INVALID_VERSION = 42202
INVALID_COMPATIBILITY_LEVEL = 42203
STORE_ERROR = 50001
STORE_TIMEOUT = 50002


class RegistryApiError(RegistryError):
    """A request the registry refuses; rendered as Confluent's JSON error body."""

    def __init__(self, status: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


class StoreError(RegistryError):
    """Writing to or reading from the schemas topic failed; ``timeout`` picks 50002 over 50001."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


def subject_not_found(subject: str) -> RegistryApiError:
    return RegistryApiError(404, SUBJECT_NOT_FOUND, f"Subject '{subject}' not found.")


def version_not_found(subject: str, version: int | str) -> RegistryApiError:
    return RegistryApiError(
        404, VERSION_NOT_FOUND, f"Version {version} not found for subject '{subject}'."
    )


def schema_not_found(detail: str = "Schema not found") -> RegistryApiError:
    return RegistryApiError(404, SCHEMA_NOT_FOUND, detail)


def invalid_schema(detail: str) -> RegistryApiError:
    return RegistryApiError(422, INVALID_SCHEMA, f"Invalid schema: {detail}")


def invalid_version(version: str) -> RegistryApiError:
    return RegistryApiError(
        422,
        INVALID_VERSION,
        f"The specified version '{version}' is not a valid version id. "
        'Allowed values are between [1, 2^31-1] and the string "latest"',
    )


def invalid_compatibility_level(level: object) -> RegistryApiError:
    return RegistryApiError(
        422,
        INVALID_COMPATIBILITY_LEVEL,
        f"Invalid compatibility level {level!r}. Valid values are none, backward, forward, "
        "full, backward_transitive, forward_transitive, and full_transitive",
    )


def subject_config_not_found(subject: str) -> RegistryApiError:
    return RegistryApiError(
        404,
        SUBJECT_CONFIG_NOT_FOUND,
        f"Subject '{subject}' does not have subject-level compatibility configured",
    )


def incompatible_schema(subject: str, messages: list[str]) -> RegistryApiError:
    return RegistryApiError(
        409,
        INCOMPATIBLE_SCHEMA,
        "Schema being registered is incompatible with an earlier schema for subject "
        f'"{subject}", details: [{"; ".join(messages)}]',
    )


def subject_soft_deleted(subject: str) -> RegistryApiError:
    return RegistryApiError(
        404,
        SUBJECT_SOFT_DELETED,
        f"Subject '{subject}' was soft deleted. Set permanent=true to delete permanently",
    )


def subject_not_soft_deleted(subject: str) -> RegistryApiError:
    return RegistryApiError(
        404,
        SUBJECT_NOT_SOFT_DELETED,
        f"Subject '{subject}' was not deleted first before being permanently deleted",
    )


def version_soft_deleted(subject: str, version: int) -> RegistryApiError:
    return RegistryApiError(
        404,
        VERSION_SOFT_DELETED,
        f"Subject '{subject}' Version {version} was soft deleted. Set permanent=true to "
        "delete permanently",
    )


def version_not_soft_deleted(subject: str, version: int) -> RegistryApiError:
    return RegistryApiError(
        404,
        VERSION_NOT_SOFT_DELETED,
        f"Subject '{subject}' Version {version} was not deleted first before being "
        "permanently deleted",
    )
