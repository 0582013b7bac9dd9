"""The registry's in-memory view, rebuilt from the schemas topic and updated after each write.

Pure data: no I/O, no locking. Records apply in log order and the last write per key wins,
so replaying an uncompacted topic (every historical record) gives the same state as
replaying a compacted one.
"""

from __future__ import annotations

import logging

from riskrelay.registry import records
from riskrelay.registry.compatibility import CompatibilityLevel, parse_level
from riskrelay.registry.errors import RegistryApiError
from riskrelay.registry.records import SchemaRecord
from riskrelay.registry.schemas import ParsedSchema, parse_schema

log = logging.getLogger(__name__)


class RegistryState:
    """Subjects, versions, global ids and compatibility configs."""

    def __init__(self) -> None:
        self._versions: dict[str, dict[int, SchemaRecord]] = {}
        self._configs: dict[str | None, CompatibilityLevel] = {}
        self._parsed: dict[tuple[str, str], ParsedSchema] = {}
        self._by_id: dict[int, ParsedSchema] = {}
        self._refs: dict[int, set[tuple[str, int]]] = {}
        self._id_by_identity: dict[str, int] = {}
        self.max_id = 0

    # -- applying records ---------------------------------------------------------------

    def apply_log_record(self, key: bytes, value: bytes | None) -> None:
        """Apply one record read back from the topic; foreign or broken records are skipped."""
        try:
            parsed_key, parsed_value = records.decode(key, value)
            keytype = parsed_key.get("keytype")
            if keytype == records.SCHEMA:
                if parsed_value is None:
                    self.remove_version(str(parsed_key["subject"]), int(parsed_key["version"]))
                else:
                    self.put_version(records.schema_record_from(parsed_value))
            elif keytype == records.CONFIG:
                subject = parsed_key.get("subject")
                level = None if parsed_value is None else parsed_value["compatibilityLevel"]
                self.set_config(None if subject is None else str(subject), level)
            elif keytype == records.ID_HWM and parsed_value is not None:
                self.max_id = max(self.max_id, int(parsed_value["max_id"]))
        except (ValueError, KeyError, TypeError, RegistryApiError) as exc:
            log.warning("skipping unreadable schemas-topic record %r: %s", key[:200], exc)

    def parse(self, text: str, schema_type: str = "AVRO") -> ParsedSchema:
        """Parse once per distinct text: replay and lookups see the same schemas repeatedly."""
        cache_key = (schema_type, text)
        parsed = self._parsed.get(cache_key)
        if parsed is None:
            parsed = parse_schema(text, schema_type)
            self._parsed[cache_key] = parsed
        return parsed

    def put_version(self, record: SchemaRecord) -> None:
        self.max_id = max(self.max_id, record.id)
        parsed = self.parse(record.schema, record.schema_type)
        self.remove_version(record.subject, record.version)
        self._versions.setdefault(record.subject, {})[record.version] = record
        self._refs.setdefault(record.id, set()).add((record.subject, record.version))
        self._by_id.setdefault(record.id, parsed)
        self._id_by_identity.setdefault(parsed.identity, record.id)

    def remove_version(self, subject: str, version: int) -> None:
        """Hard delete; the schema id disappears with its last subject version."""
        old = self._versions.get(subject, {}).pop(version, None)
        if old is None:
            return
        if not self._versions[subject]:
            del self._versions[subject]
        refs = self._refs.get(old.id, set())
        refs.discard((subject, version))
        if not refs:
            self._refs.pop(old.id, None)
            parsed = self._by_id.pop(old.id, None)
            if parsed is not None and self._id_by_identity.get(parsed.identity) == old.id:
                del self._id_by_identity[parsed.identity]

    def set_config(self, subject: str | None, level: str | None) -> None:
        if level is None:
            self._configs.pop(subject, None)
        else:
            self._configs[subject] = parse_level(level)

    # -- queries -----------------------------------------------------------------------

    def subjects(self, *, deleted: bool = False) -> list[str]:
        return sorted(s for s in self._versions if self.versions(s, deleted=deleted))

    def has_subject(self, subject: str) -> bool:
        """Known at all, even if every version is soft-deleted."""
        return subject in self._versions

    def versions(self, subject: str, *, deleted: bool = False) -> list[SchemaRecord]:
        """Versions oldest first; soft-deleted ones only if ``deleted``."""
        by_version = self._versions.get(subject, {})
        return [by_version[v] for v in sorted(by_version) if deleted or not by_version[v].deleted]

    def version(self, subject: str, version: int) -> SchemaRecord | None:
        return self._versions.get(subject, {}).get(version)

    def next_version(self, subject: str) -> int:
        """Soft-deleted versions keep their numbers, as in Confluent."""
        return max(self._versions.get(subject, {}), default=0) + 1

    def schema_by_id(self, schema_id: int) -> ParsedSchema | None:
        return self._by_id.get(schema_id)

    def id_for(self, parsed: ParsedSchema) -> int | None:
        return self._id_by_identity.get(parsed.identity)

    def usages(self, schema_id: int, *, deleted: bool = False) -> list[SchemaRecord]:
        found = (self.version(s, v) for s, v in self._refs.get(schema_id, ()))
        return sorted(
            (r for r in found if r is not None and (deleted or not r.deleted)),
            key=lambda r: (r.subject, r.version),
        )

    def config(self, subject: str | None) -> CompatibilityLevel | None:
        return self._configs.get(subject)
