"""The subject profile: signals no single event carries (days since registration, session
age, failed sign-ins in a window, new device/IP/country, velocity, risk-score history),
as pure functions of the stored profile (``schemas/profile.avsc``) and one normalized
event.

- ``signals(before, body, windows)``: the ``ProfileSignals`` record of ``normalized.avsc``
  for ``body``, from the profile as it stood before it (counting the event itself where
  that record's docs say "this one included").
- ``updated(before, body, limits, ...)``: the profile with ``body`` applied.

Rules that are choices, not facts of the data:

- Registration is the earliest sign-up's time; until a sign-up is seen, the first-seen
  time (``registration_source`` says which).
- A sign-up or successful sign-in starts a session (its ``session.session_started_at``,
  else its time); a sign-out ends it. Other events are in that session unless they carry
  their own ``session_started_at`` (the upstream knows best) or a different
  ``session_id``.
- Only version 1 of an event is counted in failed sign-ins and velocity: an update is the
  same occurrence with better data, not another one. Updates do refresh devices, IPs,
  countries, risk scores and last seen.
- Out-of-order events (a time before others already applied) count against the events
  before them only; lists are pruned relative to the latest time seen, so an event older
  than the longest window finds nothing left to count against.
- The initial risk score is the one of the earliest event that carried one, the current
  one that of the latest.

Times inside the profile are epoch milliseconds (ints); the signals carry datetimes like
the rest of the normalized event.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from dataclasses import dataclass, field
from typing import Any

import orjson

from riskrelay.models import AvroRecord
from riskrelay.state.profiles import signals_record, to_ms

DAY_MS = 86_400_000
HOUR_MS = 3_600_000

SIGN_UP = "sign_up"
SESSION_STARTS = frozenset({"sign_up", "sign_in"})
SESSION_ENDS = frozenset({"sign_out"})
FAILED_SIGN_IN = "sign_in_failure"


@dataclass(frozen=True, slots=True)
class ProfileWindows:
    """What the windowed signals count over (milliseconds). The signal names keep the
    default windows' names (``failed_sign_ins_1h`` counts over ``failed_short_ms``)."""

    failed_short_ms: int = HOUR_MS
    failed_long_ms: int = 24 * HOUR_MS
    velocity_ms: int = HOUR_MS
    recent_ms: int = 90 * DAY_MS
    """How long a device or IP stays "recent" (not new) after it was last seen."""

    @property
    def longest_failed_ms(self) -> int:
        return max(self.failed_short_ms, self.failed_long_ms)


@dataclass(frozen=True, slots=True)
class ProfileLimits:
    """Bounds on every list a profile keeps, and the windows that prune them."""

    windows: ProfileWindows = field(default_factory=ProfileWindows)
    max_failed_sign_ins: int = 100
    max_devices: int = 20
    max_ips: int = 20
    max_countries: int = 10
    max_kind_events: int = 100
    max_applied: int = 4


class EventFacts:
    """What the profile reads from one normalized event, read once. A plain slotted
    class, not a frozen dataclass: one is built per event, and frozen dataclasses set
    each field through ``object.__setattr__``."""

    __slots__ = (
        "at",
        "counted",
        "country",
        "device",
        "ends_session",
        "event_id",
        "failed_sign_in",
        "ip",
        "kind",
        "risk_score",
        "session_id",
        "session_started_at",
        "sign_up",
        "starts_session",
        "version",
    )

    def __init__(
        self,
        event_id: str,
        version: int,
        kind: str,
        lifecycle: bool,
        at: int,
        session_id: str | None,
        session_started_at: int | None,
        device: str | None,
        ip: str | None,
        country: str | None,
        risk_score: float | None,
    ) -> None:
        self.event_id = event_id
        self.version = version
        self.kind = kind
        self.at = at
        self.session_id = session_id
        self.session_started_at = session_started_at
        self.device = device
        self.ip = ip
        self.country = country
        self.risk_score = risk_score
        self.counted = version <= 1
        """A new occurrence (version 1), for counts."""
        self.failed_sign_in = lifecycle and kind == FAILED_SIGN_IN
        self.starts_session = lifecycle and kind in SESSION_STARTS
        self.ends_session = lifecycle and kind in SESSION_ENDS
        self.sign_up = lifecycle and kind == SIGN_UP


def _text(value: Any) -> str | None:
    if type(value) is not str:
        return None
    return value.strip() or None


def _country(value: Any) -> str | None:
    """An alpha-2 shaped code (the normalizer has trimmed and upper-cased it; enrichment
    flags codes ISO does not assign)."""
    if type(value) is not str or len(value) != 2 or not value.isalpha():
        return None
    return value.upper()


def event_country(body: AvroRecord) -> str | None:
    """Where the event says the subject is: the IP's country when enrichment found one,
    else the event's address, else the user's country of residence."""
    enrichment = body.get("enrichment")
    ip = enrichment.get("ip") if enrichment else None
    if ip and (country := _country(ip.get("country"))):
        return country
    address = body.get("address")
    if address and (country := _country(address.get("country"))):
        return country
    user = body.get("user")
    return _country(user.get("country")) if user else None


def facts(body: AvroRecord) -> EventFacts:
    session = body.get("session") or _NO_SESSION
    user = body.get("user")
    started = session.get("session_started_at")
    score = user.get("risk_score") if user else None
    ip = session.get("ip_address")
    if ip is not None:
        enrichment = body.get("enrichment")
        ip_signal = enrichment.get("ip") if enrichment else None
        # Not an address (enrichment says so): no IP history from it.
        invalid = ip_signal is not None and not ip_signal.get("valid", True)
        ip = None if invalid else _text(ip)
    return EventFacts(
        body["event_id"],
        body.get("version") or 1,
        body["kind"],
        body.get("family") == "LIFECYCLE",
        to_ms(body["occurred_at"]),
        _text(session.get("session_id")),
        None if started is None else to_ms(started),
        _text(session.get("device_id")) or _text(session.get("client_fingerprint")),
        ip,
        event_country(body),
        None if score is None else float(score),
    )


_NO_SESSION: AvroRecord = {}


def _count(times: list[int], at: int, window_ms: int) -> int:
    """Entries in ``(at - window, at]`` (``times`` ascending)."""
    return bisect_right(times, at) - bisect_right(times, at - window_ms)


def _registration(before: AvroRecord | None, event: EventFacts) -> tuple[int, str]:
    if before is None:
        return event.at, SIGN_UP if event.sign_up else "first_seen"
    registered, source = before["registered_at"], before["registration_source"]
    if event.sign_up and (source != SIGN_UP or event.at < registered):
        return event.at, SIGN_UP
    return registered, source


def _session_start(before: AvroRecord | None, event: EventFacts) -> int | None:
    if event.starts_session:
        return event.session_started_at if event.session_started_at is not None else event.at
    if event.session_started_at is not None:
        return event.session_started_at
    if before is None or before["session_started_at"] is None:
        return None
    stored_id = before["session_id"]
    if event.session_id is not None and stored_id is not None and event.session_id != stored_id:
        return None  # another session than the last sign-in's, of unknown start
    started: int = before["session_started_at"]
    return started


def _risk(
    before: AvroRecord | None, event: EventFacts
) -> tuple[float | None, int | None, float | None, int | None]:
    """(initial, its time, current, its time) with this event's score considered."""
    if before is None:
        score = event.risk_score
        at = None if score is None else event.at
        return score, at, score, at
    initial, initial_at = before["initial_risk_score"], before["initial_risk_score_at"]
    current, current_at = before["current_risk_score"], before["current_risk_score_at"]
    if event.risk_score is not None:
        if initial_at is None or event.at < initial_at:
            initial, initial_at = event.risk_score, event.at
        if current_at is None or event.at >= current_at:
            current, current_at = event.risk_score, event.at
    return initial, initial_at, current, current_at


def _with_seen(
    values: list[str], seen: list[int], value: str | None, at: int, horizon: int, bound: int
) -> tuple[list[str], list[int]]:
    """``values`` with ``value`` seen at ``at``, least recently seen first (``seen`` is
    when each was last seen, ascending), without those last seen at or before
    ``horizon``, at most ``bound`` (the least recent go)."""
    start = bisect_right(seen, horizon) if seen and seen[0] <= horizon else 0
    if start:
        values, seen = values[start:], seen[start:]
    if value is None:
        return values, seen
    if not seen or at >= seen[-1]:  # the usual case: seen now, the most recent
        if values and values[-1] == value:
            return values, [*seen[:-1], at]
        if value in values:
            index = values.index(value)
            kept_values = [*values[:index], *values[index + 1 :], value]
            kept_seen = [*seen[:index], *seen[index + 1 :], at]
        else:
            kept_values, kept_seen = [*values, value], [*seen, at]
    else:  # an out-of-order sighting: it goes in its place, unless seen later already
        latest = at
        kept_values, kept_seen = list(values), list(seen)
        if value in kept_values:
            index = kept_values.index(value)
            latest = max(at, kept_seen[index])
            del kept_values[index], kept_seen[index]
        if latest <= horizon:
            return kept_values, kept_seen
        index = bisect_right(kept_seen, latest)
        kept_values.insert(index, value)
        kept_seen.insert(index, latest)
    if len(kept_values) > bound:
        return kept_values[-bound:], kept_seen[-bound:]
    return kept_values, kept_seen


def _with_time(times: list[int], at: int | None, horizon: int, bound: int) -> list[int]:
    """``times`` (ascending) with ``at`` added, those at or before ``horizon`` dropped,
    at most ``bound`` (the oldest go)."""
    start = bisect_right(times, horizon)
    kept = times[start:] if start else times  # unchanged lists are shared, not copied
    if at is not None and at > horizon:
        if kept is times:
            kept = list(times)
        insort(kept, at)
    return kept[-bound:] if len(kept) > bound else kept


def _with_recent(
    kinds: list[str], times: list[list[int]], event: EventFacts, horizon: int, bound: int
) -> tuple[list[str], list[list[int]]]:
    """Per kind, the recent times with this event's added (version 1 only)."""
    own_kind = event.kind if event.counted else None
    new_kinds: list[str] = []
    new_times: list[list[int]] = []
    for kind, kind_times in zip(kinds, times, strict=True):
        if kind != own_kind and kind_times[0] > horizon:  # nothing to add or prune
            new_kinds.append(kind)
            new_times.append(kind_times)
            continue
        kept = _with_time(kind_times, event.at if kind == own_kind else None, horizon, bound)
        if kept:
            new_kinds.append(kind)
            new_times.append(kept)
    if own_kind is not None and own_kind not in kinds and event.at > horizon:
        new_kinds.append(own_kind)
        new_times.append([event.at])
    return new_kinds, new_times


def _last(items: list[Any], count: int) -> list[Any]:
    return items[-count:] if count > 0 else []


EMPTY: AvroRecord = {
    "last_sign_in_at": None,
    "session_started_at": None,
    "session_id": None,
    "failed_sign_ins": [],
    "devices": [],
    "devices_seen_at": [],
    "ips": [],
    "ips_seen_at": [],
    "countries": [],
    "recent_kinds": [],
    "recent_times": [],
    "applied_event_ids": [],
    "applied_versions": [],
    "applied_signals": [],
}
"""The lists and optional fields of a subject seen for the first time (shared: nothing
here changes a list in place, every change builds a new one)."""


def applied_signals(profile: AvroRecord | None, event_id: str, version: int) -> bytes | None:
    """The stored signals of an event version the profile already counts, if any: that
    version was applied before a restart and must be neither counted again nor given
    different signals."""
    if profile is None:
        return None
    ids: list[str] = profile["applied_event_ids"]
    if event_id not in ids:  # the usual case, found without a Python loop
        return None
    for index in range(len(ids) - 1, -1, -1):
        if ids[index] == event_id and profile["applied_versions"][index] == version:
            stored: bytes = profile["applied_signals"][index]
            return stored
    return None


def _seen_at(values: list[str], seen: list[int], value: str | None) -> int | None:
    """When ``value`` was last seen, if it is among ``values`` (tested first: a new
    device or IP is common, and a caught ``ValueError`` costs ~1 µs)."""
    if value is None or value not in values:
        return None
    return seen[values.index(value)]


def step(
    before: AvroRecord | None,
    event: EventFacts,
    subject_id: str,
    limits: ProfileLimits,
    now_ms: int,
) -> tuple[list[Any], AvroRecord]:
    """The signals of ``event`` (values in ``SIGNAL_FIELDS`` order, times as epoch ms)
    and the profile with it applied, computed together: most of what the one needs the
    other needs too, and the worker does this for every event."""
    windows = limits.windows
    at = event.at
    own = 1 if event.counted else 0
    registered, source = _registration(before, event)
    started = _session_start(before, event)
    initial, initial_at, current, current_at = _risk(before, event)
    b = EMPTY if before is None else before
    devices, devices_seen = b["devices"], b["devices_seen_at"]
    ips, ips_seen = b["ips"], b["ips_seen_at"]
    device_seen = _seen_at(devices, devices_seen, event.device)
    ip_seen = _seen_at(ips, ips_seen, event.ip)
    recent_since = at - windows.recent_ms
    countries: list[str] = b["countries"]
    failed: list[int] = b["failed_sign_ins"]
    kinds: list[str] = b["recent_kinds"]
    times: list[list[int]] = b["recent_times"]
    kind_times = times[kinds.index(event.kind)] if event.kind in kinds else []
    failed_own = own if event.failed_sign_in else 0
    if before is None:
        first_seen, last_seen = at, at
        previous_seen = None
    else:
        first_seen = min(before["first_seen_at"], at)
        previous_seen = before["last_seen_at"]
        last_seen = max(previous_seen, at)
    values = [
        registered,
        source,
        first_seen,
        previous_seen,
        (at - registered) // DAY_MS if at >= registered else None,
        started,
        (at - started) // 1000 if started is not None and started <= at else None,
        _count(failed, at, windows.failed_short_ms) + failed_own,
        _count(failed, at, windows.failed_long_ms) + failed_own,
        event.device is not None and (device_seen is None or device_seen <= recent_since),
        event.ip is not None and (ip_seen is None or ip_seen <= recent_since),
        event.country is not None and event.country not in countries,
        _count(kind_times, at, windows.velocity_ms) + own,
        initial,
        current,
        countries,
    ]

    sign_in_at = b["last_sign_in_at"]
    session_at, session_id = b["session_started_at"], b["session_id"]
    if event.starts_session and (sign_in_at is None or at >= sign_in_at):
        sign_in_at = at
        session_at = event.session_started_at if event.session_started_at is not None else at
        session_id = event.session_id
    elif event.ends_session and (sign_in_at is None or at >= sign_in_at):
        session_at = session_id = None
    recent_horizon = last_seen - windows.recent_ms
    devices, devices_seen = _with_seen(
        devices, devices_seen, event.device, at, recent_horizon, limits.max_devices
    )
    ips, ips_seen = _with_seen(ips, ips_seen, event.ip, at, recent_horizon, limits.max_ips)
    if event.country is not None and values[11]:
        countries = [*countries, event.country][-limits.max_countries :]
    kinds, times = _with_recent(
        kinds, times, event, last_seen - windows.velocity_ms, limits.max_kind_events
    )
    keep = limits.max_applied - 1  # the last max_applied, with this one
    after = {
        "subject_id": subject_id,
        "registered_at": registered,
        "registration_source": source,
        "first_seen_at": first_seen,
        "last_seen_at": last_seen,
        "last_sign_in_at": sign_in_at,
        "session_started_at": session_at,
        "session_id": session_id,
        "failed_sign_ins": _with_time(
            failed,
            at if event.failed_sign_in and event.counted else None,
            last_seen - windows.longest_failed_ms,
            limits.max_failed_sign_ins,
        ),
        "devices": devices,
        "devices_seen_at": devices_seen,
        "ips": ips,
        "ips_seen_at": ips_seen,
        "countries": countries,
        "initial_risk_score": initial,
        "initial_risk_score_at": initial_at,
        "current_risk_score": current,
        "current_risk_score_at": current_at,
        "recent_kinds": kinds,
        "recent_times": times,
        "applied_event_ids": [*_last(b["applied_event_ids"], keep), event.event_id],
        "applied_versions": [*_last(b["applied_versions"], keep), event.version],
        "applied_signals": [*_last(b["applied_signals"], keep), orjson.dumps(values)],
        "updated_at": now_ms,
    }
    return values, after


def signals(before: AvroRecord | None, body: AvroRecord, windows: ProfileWindows) -> AvroRecord:
    """The ``ProfileSignals`` of ``body`` given the profile before it (None: unseen)."""
    values, _ = step(before, facts(body), body["subject_id"], ProfileLimits(windows=windows), 0)
    return signals_record(values)


def updated(
    before: AvroRecord | None, body: AvroRecord, limits: ProfileLimits, *, now_ms: int = 0
) -> AvroRecord:
    """The profile after ``body`` (``before`` is not changed); ``now_ms`` is the
    writer's clock. It keeps the signals ``body`` got (``applied_signals``), so a
    re-processed event gets them back instead of being counted again."""
    _, after = step(before, facts(body), body["subject_id"], limits, now_ms)
    return after
