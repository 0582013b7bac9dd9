"""JSON for the Avro contracts: request bodies checked against ``schemas/*.avsc`` and
converted to the records fastavro writes, and the JSON Schema the OpenAPI document shows.

One walker over the Avro schema does both, so the document and the checks cannot drift
apart and the ``.avsc`` stays the only contract. Avro's own JSON encoding (unions as
``{"string": "x"}``, instants as numbers) is not what an HTTP client wants to write, and
``fastavro.validation`` neither converts nor names the failing field, hence this module.

JSON forms: an instant (``timestamp-millis``) is an RFC 3339 string with an offset or an
integer of epoch milliseconds; a ``date`` is ``YYYY-MM-DD``; a nullable field is the value
or ``null``; a record rejects fields the schema does not have.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from riskrelay.errors import ConfigError

JsonSchema = dict[str, Any]

INT_RANGE = (-(2**31), 2**31 - 1)
LONG_RANGE = (-(2**63), 2**63 - 1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Instants Python can hold: years 1 to 9999.
MILLIS_RANGE = (-62_135_596_800_000, 253_402_300_799_999)
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", re.ASCII
)
_FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
_PRIMITIVES = frozenset(("null", "boolean", "int", "long", "float", "double", "string", "bytes"))
MAX_ERRORS = 20


@dataclass(frozen=True, slots=True)
class FieldError:
    """One reason a body breaks the contract; ``path`` is dotted (``amount.currency``,
    ``changed_fields[2]``), empty for the body itself."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path or 'body'}: {self.reason}"


class ContractError(ValueError):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class Overrides:
    """How an HTTP body differs from the Avro record at the top level: fields a body must
    not carry (``omit``: name → why), fields that may be left out (``optional``) and extra
    constraints on strings (``strings``: JSON Schema keywords, checked by ``checks``)."""

    omit: Mapping[str, str] = field(default_factory=dict)
    optional: frozenset[str] = frozenset()
    strings: Mapping[str, JsonSchema] = field(default_factory=dict)
    checks: Mapping[str, Callable[[str], str | None]] = field(default_factory=dict)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


class AvroJson:
    """One Avro record schema (as JSON, not fastavro's parsed form: the docs are kept)."""

    def __init__(self, schema: JsonSchema, overrides: Overrides | None = None) -> None:
        self._schema = schema
        self._named: dict[str, JsonSchema] = {}
        self._collect(schema, schema.get("namespace", ""))
        self._overrides = overrides or Overrides()

    # -- named types ----------------------------------------------------------------

    def _collect(self, schema: Any, namespace: str) -> None:
        if isinstance(schema, list):
            for branch in schema:
                self._collect(branch, namespace)
            return
        if not isinstance(schema, dict):
            return
        kind = schema.get("type")
        if kind in ("record", "enum", "fixed"):
            namespace = schema.get("namespace", namespace)
            name = schema["name"]
            full = name if "." in name else f"{namespace}.{name}" if namespace else name
            self._named[full] = schema
            self._named.setdefault(name, schema)
            for f in schema.get("fields", []):
                self._collect(f["type"], namespace)
        elif kind == "array":
            self._collect(schema["items"], namespace)
        elif kind == "map":
            self._collect(schema["values"], namespace)
        elif isinstance(kind, dict | list):
            self._collect(kind, namespace)

    def _resolve(self, schema: Any) -> Any:
        if isinstance(schema, str) and schema not in _PRIMITIVES:
            named = self._named.get(schema) or self._named.get(schema.rsplit(".", 1)[-1])
            if named is None:
                raise ConfigError(f"Avro schema {self._schema.get('name')}: unknown {schema}")
            return named
        if isinstance(schema, dict) and isinstance(schema.get("type"), dict | list):
            return schema["type"] if "logicalType" not in schema else schema
        return schema

    def fields(self) -> Iterator[JsonSchema]:
        yield from self._schema["fields"]

    def symbols(self, field_name: str) -> list[str]:
        """The symbols of an enum field (e.g. ``event_type``)."""
        for f in self.fields():
            if f["name"] == field_name:
                enum = self._resolve(f["type"])
                return list(enum["symbols"])
        raise ConfigError(f"no field {field_name} in {self._schema.get('name')}")

    # -- JSON -> Avro -----------------------------------------------------------------

    def to_avro(self, value: Any) -> dict[str, Any]:
        """The Avro record for a JSON body; ``ContractError`` lists every field that is
        wrong (up to ``MAX_ERRORS``)."""
        errors: list[FieldError] = []
        record = self._record(self._schema, value, "", errors, top=True)
        if errors:
            raise ContractError(errors[:MAX_ERRORS])
        assert isinstance(record, dict)
        return record

    def _convert(self, schema: Any, value: Any, path: str, errors: list[FieldError]) -> Any:
        schema = self._resolve(schema)
        if isinstance(schema, list):
            return self._union(schema, value, path, errors)
        if isinstance(schema, str):
            return self._primitive(schema, value, path, errors)
        kind = schema["type"]
        logical = schema.get("logicalType")
        if logical in ("timestamp-millis", "timestamp-micros") and kind == "long":
            return self._instant(value, path, errors)
        if logical == "date" and kind == "int":
            return self._date(value, path, errors)
        if kind == "record":
            return self._record(schema, value, path, errors)
        if kind == "enum":
            if isinstance(value, str) and value in schema["symbols"]:
                return value
            errors.append(FieldError(path, f"must be one of {', '.join(schema['symbols'])}"))
            return None
        if kind == "array":
            if not isinstance(value, list):
                errors.append(FieldError(path, f"must be an array, not {_type_name(value)}"))
                return None
            return [
                self._convert(schema["items"], item, f"{path}[{i}]", errors)
                for i, item in enumerate(value)
            ]
        if kind == "map":
            if not isinstance(value, dict):
                errors.append(FieldError(path, f"must be an object, not {_type_name(value)}"))
                return None
            return {
                k: self._convert(schema["values"], v, _join(path, k), errors)
                for k, v in value.items()
            }
        if kind in _PRIMITIVES:
            return self._primitive(kind, value, path, errors)
        raise ConfigError(f"Avro type {kind} is not supported in request bodies")

    def _record(
        self, schema: JsonSchema, value: Any, path: str, errors: list[FieldError], top: bool = False
    ) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            errors.append(FieldError(path, f"must be an object, not {_type_name(value)}"))
            return None
        over = self._overrides if top else Overrides()
        known = {f["name"] for f in schema["fields"]} - set(over.omit)
        for name in value:
            if name not in known:
                reason = over.omit.get(name, "is not a field of this event")
                errors.append(FieldError(_join(path, name), reason))
        record: dict[str, Any] = {}
        for f in schema["fields"]:
            name = f["name"]
            if name in over.omit:
                continue
            where = _join(path, name)
            if name not in value:
                if "default" in f:
                    record[name] = self._default(f)
                elif name not in over.optional:
                    errors.append(FieldError(where, "is required"))
                continue
            record[name] = self._convert(f["type"], value[name], where, errors)
            check = over.checks.get(name)
            if check is not None and isinstance(value[name], str):
                problem = check(value[name])
                if problem:
                    errors.append(FieldError(where, problem))
        return record

    def _default(self, f: JsonSchema) -> Any:
        default = f["default"]
        # Mutable defaults are copied: fastavro may keep a reference.
        return (
            list(default)
            if isinstance(default, list)
            else (dict(default) if isinstance(default, dict) else default)
        )

    def _union(self, branches: list[Any], value: Any, path: str, errors: list[FieldError]) -> Any:
        if value is None:
            if "null" in branches:
                return None
            errors.append(FieldError(path, "must not be null"))
            return None
        others = [b for b in branches if b != "null"]
        if len(others) == 1:
            return self._convert(others[0], value, path, errors)
        for branch in others:
            attempt: list[FieldError] = []
            converted = self._convert(branch, value, path, attempt)
            if not attempt:
                return converted
        errors.append(FieldError(path, "matches none of the allowed types"))
        return None

    def _primitive(self, kind: str, value: Any, path: str, errors: list[FieldError]) -> Any:
        if kind == "null":
            if value is not None:
                errors.append(FieldError(path, "must be null"))
            return None
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            errors.append(FieldError(path, f"must be a boolean, not {_type_name(value)}"))
            return None
        if kind in ("int", "long"):
            low, high = INT_RANGE if kind == "int" else LONG_RANGE
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # JSON Schema: 1.0 is an integer
            if isinstance(value, int) and not isinstance(value, bool):
                if low <= value <= high:
                    return value
                errors.append(FieldError(path, f"must be between {low} and {high}"))
                return None
            errors.append(FieldError(path, f"must be an integer, not {_type_name(value)}"))
            return None
        if kind in ("float", "double"):
            if isinstance(value, int | float) and not isinstance(value, bool):
                try:
                    return float(value)
                except OverflowError:
                    errors.append(FieldError(path, "is out of the range of a double"))
                    return None
            errors.append(FieldError(path, f"must be a number, not {_type_name(value)}"))
            return None
        if kind == "string":
            if isinstance(value, str):
                return value
            errors.append(FieldError(path, f"must be a string, not {_type_name(value)}"))
            return None
        raise ConfigError(f"Avro type {kind} is not supported in request bodies")

    def _instant(self, value: Any, path: str, errors: list[FieldError]) -> datetime | None:
        if isinstance(value, int) and not isinstance(value, bool):
            if MILLIS_RANGE[0] <= value <= MILLIS_RANGE[1]:
                return _EPOCH + timedelta(milliseconds=value)
            errors.append(FieldError(path, "epoch milliseconds out of the years 1 to 9999"))
            return None
        if isinstance(value, str) and _RFC3339.match(value):
            try:
                parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
                return parsed.astimezone(UTC)
            except (ValueError, OverflowError):
                pass
        errors.append(
            FieldError(
                path,
                "must be an RFC 3339 date-time with an offset (2024-05-01T12:00:00Z) "
                "or integer epoch milliseconds",
            )
        )
        return None

    def _date(self, value: Any, path: str, errors: list[FieldError]) -> date | None:
        if isinstance(value, str) and _FULL_DATE.match(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        errors.append(FieldError(path, "must be a date as YYYY-MM-DD"))
        return None

    # -- JSON Schema (OpenAPI 3.1) ----------------------------------------------------

    def json_schema(self) -> JsonSchema:
        return self._record_schema(self._schema, top=True, seen=())

    def _record_schema(
        self, schema: JsonSchema, top: bool = False, seen: tuple[str, ...] = ()
    ) -> JsonSchema:
        name = schema["name"]
        if name in seen:
            raise ConfigError(f"recursive Avro type {name} cannot be a request body")
        seen = (*seen, name)
        over = self._overrides if top else Overrides()
        properties: dict[str, JsonSchema] = {}
        required: list[str] = []
        for f in schema["fields"]:
            if f["name"] in over.omit:
                continue
            prop = self._schema_of(f["type"], seen)
            if f["name"] in over.strings:
                prop = {**prop, **over.strings[f["name"]]}
            if f.get("doc"):
                prop = {**prop, "description": f["doc"]}
            if "default" in f:
                prop = {**prop, "default": f["default"]}
            elif f["name"] not in over.optional:
                required.append(f["name"])
            properties[f["name"]] = prop
        out: JsonSchema = {
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }
        if required:
            out["required"] = required
        if top:
            out["title"] = name
        if schema.get("doc"):
            out["description"] = schema["doc"]
        return out

    def _schema_of(self, schema: Any, seen: tuple[str, ...]) -> JsonSchema:
        schema = self._resolve(schema)
        if isinstance(schema, list):
            others = [self._schema_of(b, seen) for b in schema if b != "null"]
            options = [*others, {"type": "null"}] if "null" in schema else others
            return options[0] if len(options) == 1 else {"anyOf": options}
        if isinstance(schema, str):
            return _primitive_schema(schema)
        kind = schema["type"]
        logical = schema.get("logicalType")
        if logical in ("timestamp-millis", "timestamp-micros") and kind == "long":
            low, high = MILLIS_RANGE
            return {
                "anyOf": [
                    {"type": "string", "format": "date-time"},
                    {"type": "integer", "minimum": low, "maximum": high},
                ]
            }
        if logical == "date" and kind == "int":
            return {"type": "string", "format": "date"}
        if kind == "record":
            return self._record_schema(schema, seen=seen)
        if kind == "enum":
            return {"type": "string", "enum": list(schema["symbols"])}
        if kind == "array":
            return {"type": "array", "items": self._schema_of(schema["items"], seen)}
        if kind == "map":
            return {
                "type": "object",
                "additionalProperties": self._schema_of(schema["values"], seen),
            }
        return _primitive_schema(kind)


def _primitive_schema(kind: str) -> JsonSchema:
    if kind == "null":
        return {"type": "null"}
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "int":
        return {"type": "integer", "minimum": INT_RANGE[0], "maximum": INT_RANGE[1]}
    if kind == "long":
        return {"type": "integer", "minimum": LONG_RANGE[0], "maximum": LONG_RANGE[1]}
    if kind in ("float", "double"):
        return {"type": "number"}
    if kind == "string":
        return {"type": "string"}
    raise ConfigError(f"Avro type {kind} is not supported in request bodies")
