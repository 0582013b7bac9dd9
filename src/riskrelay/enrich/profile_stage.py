"""The worker's enrichment stage: the stateless enrichers (``enrich.stateless``), then the
subject profile (``enrich.profile``) read, applied and written back.

The profile's read-modify-write is synchronous, with no ``await`` anywhere in it: events
of one subject from different input topics can be in flight at once, and on one event
loop a stretch of code without an ``await`` cannot interleave with another. The new
profile is visible to the subject's next event at once; its changelog record
(``risk.profiles.v1``) goes through the record collector at ``flush``, which the worker
calls before every commit, so it commits in the same transaction as the outputs of the
event that changed it, or before them (``ProfileTable``: one record per subject and
commit, however many of its events came in between).

An event version the profile already counts (processed again after a crash) gets the
signals it got the first time, and the profile is left as it is. A DLQ replay (a
completed version retried at the providers that failed) gets the signals recorded in its
completed snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import orjson

from riskrelay.enrich.profile import (
    DAY_MS,
    ProfileLimits,
    ProfileWindows,
    applied_signals,
    facts,
    step,
)
from riskrelay.enrich.stateless import EnrichOptions, enrich, for_analytics
from riskrelay.kafka.collector import OutputRecord, RecordCollector
from riskrelay.models import AvroRecord
from riskrelay.schemas.writers import SIGNAL_TIMES
from riskrelay.settings import EnrichSettings
from riskrelay.state.profiles import (
    ProfileTable,
    SignalsCodec,
    signals_record,
    to_ms,
)

Clock = Callable[[], datetime]


def enrich_options(settings: EnrichSettings) -> EnrichOptions:
    key = settings.pii_hmac_key
    return EnrichOptions(
        default_phone_region=(
            None if settings.phone_default_region is None else settings.phone_default_region.upper()
        ),
        pii_key=key.get_secret_value().encode() if settings.pii_minimization and key else None,
    )


def profile_limits(settings: EnrichSettings) -> ProfileLimits:
    return ProfileLimits(
        windows=ProfileWindows(
            failed_short_ms=settings.failed_sign_ins_1h_window_s * 1000,
            failed_long_ms=settings.failed_sign_ins_24h_window_s * 1000,
            velocity_ms=settings.velocity_1h_window_s * 1000,
            recent_ms=settings.recent_days * DAY_MS,
        ),
        max_failed_sign_ins=settings.max_failed_sign_ins,
        max_devices=settings.max_devices,
        max_ips=settings.max_ips,
        max_countries=settings.max_countries,
        max_kind_events=settings.max_kind_events,
        max_applied=settings.max_applied,
    )


def recorded_signals(data_json: str) -> AvroRecord | None:
    """The profile signals in a completed snapshot's ``data_json``."""
    recorded = orjson.loads(data_json).get("profile")
    if not isinstance(recorded, dict):
        return None
    for name in SIGNAL_TIMES:
        value = recorded.get(name)
        if isinstance(value, str):
            recorded[name] = datetime.fromisoformat(value)
    return recorded


class ProfileStage:
    """Profile signals for an event, and the profile updated with it."""

    def __init__(
        self,
        table: ProfileTable,
        limits: ProfileLimits,
        collector: RecordCollector,
        topic: str,
        clock: Clock,
    ) -> None:
        self._table = table
        self._limits = limits
        self._windows = limits.windows
        self._collector = collector
        self._topic = topic
        self._clock = clock
        self._codec = SignalsCodec()

    def apply(self, body: AvroRecord, partition: int) -> AvroRecord:
        """The signals of ``body``; the profile with it applied is in the table and the
        collector's buffer when this returns. Nothing here awaits (see the module doc)."""
        subject_id: str = body["subject_id"]
        before = self._table.get(partition, subject_id)
        event = facts(body)
        if before is not None:
            stored = applied_signals(before, event.event_id, event.version)
            if stored is not None:
                return self._codec.decode(stored)
        values, after = step(before, event, subject_id, self._limits, to_ms(self._clock()))
        self._table.put(partition, subject_id, after)
        return signals_record(values)

    def flush(self) -> int:
        """Send the profiles changed since the last flush to the changelog."""
        return self._table.flush(self._write)

    def _write(self, partition: int, subject_id: str, profile: AvroRecord) -> None:
        self._collector.send(OutputRecord(self._topic, partition, subject_id, profile))


class EnrichmentStage:
    """Stateless signals, then profile signals, on a version's body."""

    def __init__(self, options: EnrichOptions, profiles: ProfileStage) -> None:
        self.options = options
        self._profiles = profiles

    def apply(self, body: AvroRecord, partition: int, recorded: str | None = None) -> AvroRecord:
        """``body`` enriched (a new dict). ``recorded``: the ``data_json`` of the version's
        completed snapshot, for a replay of it (its profile signals are kept, and the
        profile, which counts it already, is not touched)."""
        enriched = enrich(body, self.options)
        if recorded is not None:
            enriched["profile"] = recorded_signals(recorded)
        else:
            enriched["profile"] = self._profiles.apply(enriched, partition)
        return enriched

    def flush(self) -> int:
        """Before a commit: changed profiles to their changelog (``ProfileStage``)."""
        return self._profiles.flush()

    def for_analytics(self, body: AvroRecord) -> AvroRecord:
        """The copy for the normalized topic (PII minimized when configured)."""
        return for_analytics(body, self.options)
