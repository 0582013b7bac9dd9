"""``riskrelay schemas register|check``: the contracts in ``schemas/`` against a
Confluent-API schema registry (Confluent, Karapace, the bundled one).

Each ``<name>.avsc`` belongs under the subject of the topic it is written to, by
TopicNameStrategy (``<topic>-value``, what the worker and the SDK register). ``check`` asks
the registry whether each file is BACKWARD compatible with the subject's latest version
(``POST /compatibility/subjects/{subject}/versions/latest?verbose=true``), so a consumer
on the new schema still reads everything already on the topic. ``register`` checks all of
them first and registers none if any fails, so a release never half-lands.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import avro.errors
import avro.schema
import httpx

from riskrelay.decode.avro import subject_for
from riskrelay.errors import ConfigError, RegistryError
from riskrelay.registry.compatibility import (
    CompatibilityLevel,
    PreviousVersion,
    check_compatibility,
)
from riskrelay.schemas import _schema_dir
from riskrelay.settings import TopicSettings

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
SUBJECT_NOT_FOUND = 40401
VERSION_NOT_FOUND = 40402
SCHEMA_NOT_FOUND = 40403

# Which topic each contract is written to (a TopicSettings field).
SCHEMA_TOPICS = {
    "lifecycle": "lifecycle",
    "payment": "payment",
    "evaluation": "evaluation",
    "normalized": "normalized",
    "delivery_result": "deliveries",
    "event_state": "event_state",
    "identity": "identities",
    "dlq": "dlq",
    "profile": "profiles",
}

Status = Literal["new", "unchanged", "compatible", "incompatible", "registered", "no_topic"]


@dataclass(frozen=True)
class SchemaFile:
    name: str
    path: Path
    text: str
    subject: str | None  # None: no topic is known for it


@dataclass
class SubjectResult:
    schema: str
    subject: str | None
    status: Status
    level: str | None = None
    latest_version: int | None = None
    messages: list[str] = field(default_factory=list)
    schema_id: int | None = None
    version: int | None = None

    @property
    def failed(self) -> bool:
        return self.status == "incompatible"

    def summary(self) -> str:
        where = self.subject or f"{self.schema}.avsc"
        if self.status == "no_topic":
            return f"{where}: not registered ({self.messages[0]})"
        if self.status == "incompatible":
            return f"{where}: INCOMPATIBLE with version {self.latest_version} ({self.level})"
        if self.status == "new":
            return f"{where}: new subject (nothing to be compatible with)"
        if self.status == "unchanged":
            return f"{where}: unchanged (version {self.version}, id {self.schema_id})"
        if self.status == "registered":
            return f"{where}: registered as version {self.version} (id {self.schema_id})"
        return f"{where}: compatible with version {self.latest_version} ({self.level})"

    def as_json(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "subject": self.subject,
            "status": self.status,
            "level": self.level,
            "latest_version": self.latest_version,
            "version": self.version,
            "id": self.schema_id,
            "messages": self.messages,
        }


def bundled_schema_dir() -> Path:
    """The contracts this riskrelay was built with (the checkout's or the wheel's)."""
    return _schema_dir()


def topic_of(name: str, topics: TopicSettings) -> str | None:
    """The topic a contract is written to: the table above, else a topic setting named
    like the schema (``foo`` or ``foos``), else none."""
    for attribute in (SCHEMA_TOPICS.get(name), name, f"{name}s"):
        if attribute in TopicSettings.model_fields:
            value = getattr(topics, attribute)
            if isinstance(value, str):
                return topics.name(value)
    return None


def schema_files(directory: Path, topics: TopicSettings) -> list[SchemaFile]:
    if not directory.is_dir():
        raise ConfigError(f"{directory}: no such schema directory")
    files = []
    for path in sorted(directory.glob("*.avsc")):
        text = path.read_text()
        try:
            avro.schema.parse(text)
        except (avro.errors.AvroException, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: not a valid Avro schema: {exc}") from exc
        topic = topic_of(path.stem, topics)
        files.append(SchemaFile(path.stem, path, text, subject_for(topic) if topic else None))
    if not files:
        raise ConfigError(f"{directory}: no .avsc files")
    return files


_DESCRIPTION = re.compile(r"description:'(.*?)'(?:, additionalInfo:|})", re.DOTALL)
_NOISE = ("{oldSchemaVersion:", "{oldSchema:", "{compatibility:", "{validateFields:")


def readable(messages: list[str]) -> list[str]:
    """The registry's verbose messages, one sentence each: Confluent's come as
    ``{errorType:..., description:'...'}`` next to a copy of the whole old schema."""
    out = []
    for message in messages:
        if message.startswith(_NOISE):
            continue
        found = _DESCRIPTION.search(message)
        out.append(found.group(1) if found else message)
    return out


class RegistryApi:
    """The few Confluent REST calls the checks need, with the verbose messages the
    standard client does not return."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout_s,
            headers={"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise RegistryError(f"schema registry unreachable at {self.url}: {exc}") from exc
        try:
            data = response.json()
        except ValueError:
            data = response.text
        if response.status_code >= 500:
            raise RegistryError(f"schema registry error on {method} {path}: {_message(data)}")
        return response.status_code, data

    def level(self, subject: str) -> str:
        status, data = self._call("GET", f"/config/{quote(subject)}?defaultToGlobal=true")
        if status == 404:  # registries that only know the global level
            status, data = self._call("GET", "/config")
        if status != 200 or not isinstance(data, dict):
            return CompatibilityLevel.BACKWARD.value
        level = data.get("compatibilityLevel") or data.get("compatibility")
        return str(level or CompatibilityLevel.BACKWARD.value)

    def lookup(self, subject: str, text: str) -> tuple[int, int] | None:
        """(version, id) when this very schema is registered under the subject."""
        status, data = self._call("POST", f"/subjects/{quote(subject)}", {"schema": text})
        if status == 404:
            return None
        _expect(status, data, f"look up {subject}")
        return int(data["version"]), int(data["id"])

    def latest(self, subject: str) -> tuple[int, str] | None:
        status, data = self._call("GET", f"/subjects/{quote(subject)}/versions/latest")
        if status == 404:
            return None
        _expect(status, data, f"read {subject}")
        return int(data["version"]), str(data["schema"])

    def compatibility(self, subject: str, text: str) -> tuple[bool, list[str]]:
        path = f"/compatibility/subjects/{quote(subject)}/versions/latest?verbose=true"
        status, data = self._call("POST", path, {"schema": text})
        _expect(status, data, f"check {subject}")
        return bool(data["is_compatible"]), [str(m) for m in data.get("messages") or []]

    def register(self, subject: str, text: str) -> int:
        status, data = self._call("POST", f"/subjects/{quote(subject)}/versions", {"schema": text})
        if status == 409:
            raise RegistryError(f"{subject}: the registry refused it: {_message(data)}")
        _expect(status, data, f"register {subject}")
        return int(data["id"])


def _message(data: Any) -> str:
    return str(data.get("message", data)) if isinstance(data, dict) else str(data)[:300]


def _expect(status: int, data: Any, what: str) -> None:
    if status != 200 or not isinstance(data, dict):
        raise RegistryError(f"schema registry cannot {what}: HTTP {status}: {_message(data)}")


def _local_backward(new_text: str, version: int, old_text: str) -> list[str]:
    """BACKWARD checked here, for a subject whose registry level would not check it."""
    new, old = avro.schema.parse(new_text), avro.schema.parse(old_text)
    return check_compatibility(
        CompatibilityLevel.BACKWARD, new, [PreviousVersion(version, old)], all_given=True
    )


def check_one(api: RegistryApi, schema: SchemaFile) -> SubjectResult:
    if schema.subject is None:
        return SubjectResult(schema.name, None, "no_topic", messages=["no topic is known for it"])
    subject = schema.subject
    latest = api.latest(subject)
    if latest is None:
        return SubjectResult(schema.name, subject, "new")
    level = api.level(subject)
    found = api.lookup(subject, schema.text)
    if found is not None:
        version, schema_id = found
        unchanged = SubjectResult(schema.name, subject, "unchanged", level, latest[0])
        unchanged.version, unchanged.schema_id = version, schema_id
        return unchanged
    compatible, messages = api.compatibility(subject, schema.text)
    messages = readable(messages)
    if compatible and not CompatibilityLevel(level.upper()).checks_backward:
        # The registry's own level skips BACKWARD (NONE, FORWARD): check it here.
        messages = _local_backward(schema.text, latest[0], latest[1])
        compatible = not messages
        level = f"{level}; BACKWARD checked locally"
    status: Status = "compatible" if compatible else "incompatible"
    if not compatible and not messages:
        messages = ["the registry gave no details"]
    return SubjectResult(schema.name, subject, status, level, latest[0], messages)


def check_schemas(api: RegistryApi, files: list[SchemaFile]) -> list[SubjectResult]:
    return [check_one(api, schema) for schema in files]


def register_schemas(api: RegistryApi, files: list[SchemaFile]) -> list[SubjectResult]:
    """Check every file, then register them all, or none if any is incompatible."""
    results = check_schemas(api, files)
    if any(r.failed for r in results):
        return results
    by_name = {schema.name: schema for schema in files}
    for result in results:
        if result.status not in ("new", "compatible") or result.subject is None:
            continue
        schema = by_name[result.schema]
        result.schema_id = api.register(result.subject, schema.text)
        found = api.lookup(result.subject, schema.text)
        result.version = found[0] if found else None
        result.status = "registered"
    return results
