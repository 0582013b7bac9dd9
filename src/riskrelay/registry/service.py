"""Registry operations with Confluent's rules: ids, versions, compatibility, deletes, configs.

Single instance by design: this process assigns the global ids, so two registries writing
one schemas topic at once would hand out the same id twice. Writes are serialized by one
lock; each is made durable in the log first and only then applied to the in-memory state,
so the state never shows what a restart would not bring back.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any

from riskrelay.registry import records
from riskrelay.registry.compatibility import (
    DEFAULT_LEVEL,
    CompatibilityLevel,
    PreviousVersion,
    check_compatibility,
    parse_level,
)
from riskrelay.registry.errors import (
    incompatible_schema,
    invalid_compatibility_level,
    invalid_schema,
    invalid_version,
    schema_not_found,
    subject_config_not_found,
    subject_not_found,
    subject_not_soft_deleted,
    subject_soft_deleted,
    version_not_found,
    version_not_soft_deleted,
    version_soft_deleted,
)
from riskrelay.registry.records import LogRecord, SchemaRecord
from riskrelay.registry.schemas import ParsedSchema, parse_schema
from riskrelay.registry.state import RegistryState
from riskrelay.registry.store import SchemaLog

MAX_VERSION = 2**31 - 1


def parse_version(text: str) -> int | None:
    """A version number, or ``None`` for the latest (``latest`` or ``-1``)."""
    if text == "latest" or text == "-1":
        return None
    try:
        version = int(text)
    except ValueError:
        raise invalid_version(text) from None
    if not 1 <= version <= MAX_VERSION:
        raise invalid_version(text)
    return version


class SchemaRegistry:
    """The registry behind the HTTP API; ``open()`` before use, ``close()`` after."""

    def __init__(self, log: SchemaLog) -> None:
        self._log = log
        self.state = RegistryState()
        self._write_lock = asyncio.Lock()
        self._stale = False

    async def open(self) -> None:
        self.state = _rebuild(await asyncio.to_thread(self._log.open))

    async def close(self) -> None:
        await asyncio.to_thread(self._log.close)

    async def _commit(self, batch: Sequence[LogRecord]) -> None:
        """Durable first, visible second. Callers hold the write lock."""
        try:
            await asyncio.to_thread(self._log.write, batch)
        except BaseException:
            # Failed or cancelled, some of the batch may have landed (the thread runs on):
            # reread the log before the next write.
            self._stale = True
            raise
        for key, value in batch:
            self.state.apply_log_record(key, value)

    async def _resync_if_stale(self) -> None:
        if self._stale:
            self.state = _rebuild(await asyncio.to_thread(self._log.replay))
            self._stale = False

    def parse_request(self, body: Any) -> ParsedSchema:
        if not isinstance(body, dict):
            raise invalid_schema('the request body must be a JSON object with a "schema" field')
        return parse_schema(body.get("schema"), body.get("schemaType"), body.get("references"))

    # -- schemas and versions ---------------------------------------------------------

    async def register(self, subject: str, body: Any) -> int:
        """The id of ``body`` under ``subject``; a new version only if it is not there yet."""
        parsed = self.parse_request(body)
        async with self._write_lock:
            await self._resync_if_stale()
            live = self.state.versions(subject)
            existing = self._find(live, parsed)
            if existing is not None:
                return existing.id
            messages = check_compatibility(self.level(subject), parsed.avro, self._previous(live))
            if messages:
                raise incompatible_schema(subject, messages)
            schema_id = self.state.id_for(parsed)
            if schema_id is None:
                schema_id = self.state.max_id + 1
            record = SchemaRecord(
                subject=subject,
                version=self.state.next_version(subject),
                id=schema_id,
                schema=parsed.text,
                schema_type=parsed.schema_type,
            )
            await self._commit([records.encode_schema(record)])
            return schema_id

    def lookup(self, subject: str, body: Any, *, deleted: bool = False) -> SchemaRecord:
        parsed = self.parse_request(body)
        candidates = self.state.versions(subject, deleted=deleted)
        if not candidates:
            raise subject_not_found(subject)
        found = self._find(candidates, parsed)
        if found is None:
            raise schema_not_found("Schema not found")
        return found

    def versions(self, subject: str, *, deleted: bool = False) -> list[SchemaRecord]:
        found = self.state.versions(subject, deleted=deleted)
        if not found:
            raise subject_not_found(subject)
        return found

    def version(self, subject: str, version_text: str, *, deleted: bool = False) -> SchemaRecord:
        version = parse_version(version_text)
        candidates = self.versions(subject, deleted=deleted)
        if version is None:
            return candidates[-1]
        record = self.state.version(subject, version)
        if record is None or (record.deleted and not deleted):
            raise version_not_found(subject, version)
        return record

    def schema(self, schema_id: int) -> ParsedSchema:
        parsed = self.state.schema_by_id(schema_id)
        if parsed is None:
            raise schema_not_found(f"Schema {schema_id} not found")
        return parsed

    def usages(self, schema_id: int, *, deleted: bool = False) -> list[SchemaRecord]:
        self.schema(schema_id)
        return self.state.usages(schema_id, deleted=deleted)

    def _find(
        self, candidates: Sequence[SchemaRecord], parsed: ParsedSchema
    ) -> SchemaRecord | None:
        for record in reversed(candidates):
            if self.state.parse(record.schema, record.schema_type).identity == parsed.identity:
                return record
        return None

    def _previous(self, versions: Sequence[SchemaRecord]) -> list[PreviousVersion]:
        return [
            PreviousVersion(r.version, self.state.parse(r.schema, r.schema_type).avro)
            for r in versions
        ]

    # -- compatibility and config -------------------------------------------------------

    def check(self, subject: str, version_text: str | None, body: Any) -> list[str]:
        """Incompatibility messages against one version, or those the level selects.

        ``latest`` of a subject without versions is compatible (nothing to break), as in
        Confluent; a numbered version must exist.
        """
        parsed = self.parse_request(body)
        level = self.level(subject)
        live = self.state.versions(subject)
        if version_text is None or (not live and parse_version(version_text) is None):
            return check_compatibility(level, parsed.avro, self._previous(live))
        target = self.version(subject, version_text)
        return check_compatibility(level, parsed.avro, self._previous([target]), all_given=True)

    def level(self, subject: str | None) -> CompatibilityLevel:
        """Subject config, else global config, else BACKWARD."""
        configured = None if subject is None else self.state.config(subject)
        return configured or self.state.config(None) or DEFAULT_LEVEL

    def subject_level(self, subject: str, *, default_to_global: bool) -> CompatibilityLevel:
        configured = self.state.config(subject)
        if configured is not None:
            return configured
        if default_to_global:
            return self.level(None)
        raise subject_config_not_found(subject)

    async def set_level(self, subject: str | None, body: Any) -> CompatibilityLevel:
        if not isinstance(body, dict):
            raise invalid_compatibility_level(body)
        level = parse_level(body.get("compatibility", body.get("compatibilityLevel")))
        async with self._write_lock:
            await self._resync_if_stale()
            await self._commit([records.encode_config(subject, level.value)])
        return level

    async def delete_level(self, subject: str | None) -> CompatibilityLevel:
        """Forget a config; answers the level that applied before."""
        async with self._write_lock:
            await self._resync_if_stale()
            previous = self.level(subject)
            configured = self.state.config(subject)
            if subject is not None and configured is None and not self.state.has_subject(subject):
                raise subject_not_found(subject)
            if configured is not None:
                await self._commit([records.encode_config(subject, None)])
            return previous

    # -- deletes ------------------------------------------------------------------------

    async def delete_subject(self, subject: str, *, permanent: bool) -> list[int]:
        """Soft delete hides every version; permanent (after soft) removes them for good."""
        async with self._write_lock:
            await self._resync_if_stale()
            every = self.state.versions(subject, deleted=True)
            if not every:
                raise subject_not_found(subject)
            live = [r for r in every if not r.deleted]
            if permanent:
                if live:
                    raise subject_not_soft_deleted(subject)
                batch = [
                    self._hwm(),
                    *((records.schema_key(subject, r.version), None) for r in every),
                ]
                if self.state.config(subject) is not None:
                    batch.append(records.encode_config(subject, None))
                await self._commit(batch)
                return [r.version for r in every]
            if not live:
                raise subject_soft_deleted(subject)
            await self._commit(
                [records.encode_schema(dataclasses.replace(r, deleted=True)) for r in live]
            )
            return [r.version for r in live]

    async def delete_version(self, subject: str, version_text: str, *, permanent: bool) -> int:
        version = parse_version(version_text)
        async with self._write_lock:
            await self._resync_if_stale()
            candidates = self.state.versions(subject, deleted=permanent)
            if not self.state.has_subject(subject) or (version is None and not candidates):
                raise subject_not_found(subject)
            record = candidates[-1] if version is None else self.state.version(subject, version)
            if record is None:
                raise version_not_found(subject, version_text)
            if permanent:
                if not record.deleted:
                    raise version_not_soft_deleted(subject, record.version)
                batch = [self._hwm(), (records.schema_key(subject, record.version), None)]
            else:
                if record.deleted:
                    raise version_soft_deleted(subject, record.version)
                batch = [records.encode_schema(dataclasses.replace(record, deleted=True))]
            await self._commit(batch)
            return record.version

    def _hwm(self) -> LogRecord:
        """Keeps the highest id once compaction drops the tombstoned schema records."""
        return records.encode_id_hwm(self.state.max_id)


def _rebuild(log_records: Sequence[LogRecord]) -> RegistryState:
    state = RegistryState()
    for key, value in log_records:
        state.apply_log_record(key, value)
    return state
