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
from datetime import datetime
from typing import Any

from riskrelay.models import AvroRecord
from riskrelay.state.profiles import from_ms, to_ms

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
    max_applied: int = 8


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What the profile reads from one normalized event, read once."""

    event_id: str
    version: int
    kind: str
    lifecycle: bool
    at: int
    session_id: str | None
    session_started_at: int | None
    device: str | None
    ip: str | None
    country: str | None
    risk_score: float | None

    @property
    def counted(self) -> bool:
        """Whether this event is a new occurrence (version 1) for counts."""
        return self.version <= 1

    @property
    def failed_sign_in(self) -> bool:
        return self.lifecycle and self.kind == FAILED_SIGN_IN

    @property
    def starts_session(self) -> bool:
        return self.lifecycle and self.kind in SESSION_STARTS

    @property
    def ends_session(self) -> bool:
        return self.lifecycle and self.kind in SESSION_ENDS

    @property
    def sign_up(self) -> bool:
        return self.lifecycle and self.kind == SIGN_UP


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _country(value: Any) -> str | None:
    text = _text(value)
    if text is None or len(text) != 2 or not text.isascii() or not text.isalpha():
        return None
    return text.upper()


def event_country(body: AvroRecord) -> str | None:
    """Where the event says the subject is: the IP's country when enrichment found one,
    else the event's address, else the user's country of residence."""
    ip = (body.get("enrichment") or {}).get("ip") or {}
    return (
        _country(ip.get("country"))
        or _country((body.get("address") or {}).get("country"))
        or _country((body.get("user") or {}).get("country"))
    )


def facts(body: AvroRecord) -> EventFacts:
    session = body.get("session") or {}
    user = body.get("user") or {}
    started = session.get("session_started_at")
    score = user.get("risk_score")
    ip_signal = (body.get("enrichment") or {}).get("ip")
    ip = _text(session.get("ip_address"))
    if ip is not None and ip_signal is not None and not ip_signal.get("valid", True):
        ip = None  # not an address: no IP history from it
    return EventFacts(
        event_id=body["event_id"],
        version=body.get("version") or 1,
        kind=body["kind"],
        lifecycle=body.get("family") == "LIFECYCLE",
        at=to_ms(body["occurred_at"]),
        session_id=_text(session.get("session_id")),
        session_started_at=to_ms(started) if isinstance(started, datetime) else None,
        device=_text(session.get("device_id")) or _text(session.get("client_fingerprint")),
        ip=ip,
        country=event_country(body),
        risk_score=float(score) if isinstance(score, int | float) else None,
    )


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


def _seen_recently(seen: list[AvroRecord], value: str, at: int, recent_ms: int) -> bool:
    horizon = at - recent_ms
    return any(entry["value"] == value and entry["last_seen_at"] > horizon for entry in seen)


def _kind_times(before: AvroRecord | None, kind: str) -> list[int]:
    for entry in (before or {}).get("recent", ()):
        if entry["kind"] == kind:
            times: list[int] = entry["times"]
            return times
    return []


def signals_of(before: AvroRecord | None, event: EventFacts, windows: ProfileWindows) -> AvroRecord:
    """``signals`` for facts already read (the worker reads them once per event)."""
    at = event.at
    registered, source = _registration(before, event)
    days = (at - registered) // DAY_MS if at >= registered else None
    started = _session_start(before, event)
    seconds = (at - started) // 1000 if started is not None and started <= at else None
    initial, _, current, _ = _risk(before, event)
    own = 1 if event.counted else 0
    failed_own = own if event.failed_sign_in else 0
    if before is None:
        return {
            "registered_at": from_ms(registered),
            "registration_source": source,
            "first_seen_at": from_ms(at),
            "last_seen_at": None,
            "days_since_registration": days,
            "session_started_at": None if started is None else from_ms(started),
            "seconds_since_session_start": seconds,
            "failed_sign_ins_1h": failed_own,
            "failed_sign_ins_24h": failed_own,
            "new_device": event.device is not None,
            "new_ip": event.ip is not None,
            "new_country": event.country is not None,
            "velocity_1h": own,
            "initial_risk_score": initial,
            "current_risk_score": current,
            "countries": [],
        }
    failed: list[int] = before["failed_sign_ins"]
    countries: list[str] = before["countries"]
    return {
        "registered_at": from_ms(registered),
        "registration_source": source,
        "first_seen_at": from_ms(min(before["first_seen_at"], at)),
        "last_seen_at": from_ms(before["last_seen_at"]),
        "days_since_registration": days,
        "session_started_at": None if started is None else from_ms(started),
        "seconds_since_session_start": seconds,
        "failed_sign_ins_1h": _count(failed, at, windows.failed_short_ms) + failed_own,
        "failed_sign_ins_24h": _count(failed, at, windows.failed_long_ms) + failed_own,
        "new_device": event.device is not None
        and not _seen_recently(before["devices"], event.device, at, windows.recent_ms),
        "new_ip": event.ip is not None
        and not _seen_recently(before["ips"], event.ip, at, windows.recent_ms),
        "new_country": event.country is not None and event.country not in countries,
        "velocity_1h": _count(_kind_times(before, event.kind), at, windows.velocity_ms) + own,
        "initial_risk_score": initial,
        "current_risk_score": current,
        "countries": list(countries),
    }


def signals(before: AvroRecord | None, body: AvroRecord, windows: ProfileWindows) -> AvroRecord:
    """The ``ProfileSignals`` of ``body`` given the profile before it (None: unseen)."""
    return signals_of(before, facts(body), windows)


def _with_seen(
    seen: list[AvroRecord], value: str | None, at: int, horizon: int, bound: int
) -> list[AvroRecord]:
    """``seen`` with ``value`` seen at ``at``, least recently seen first, without entries
    last seen at or before ``horizon``, at most ``bound`` (the least recent go)."""
    kept = [entry for entry in seen if entry["value"] != value and entry["last_seen_at"] > horizon]
    if value is not None:
        previous = next((e["last_seen_at"] for e in seen if e["value"] == value), at)
        latest = max(previous, at)
        if latest > horizon:
            entry = {"value": value, "last_seen_at": latest}
            # Usually the newest: appended; an out-of-order sighting goes in its place.
            if not kept or kept[-1]["last_seen_at"] <= latest:
                kept.append(entry)
            else:
                index = next(i for i, e in enumerate(kept) if e["last_seen_at"] > latest)
                kept.insert(index, entry)
    return kept[-bound:] if len(kept) > bound else kept


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
    recent: list[AvroRecord], event: EventFacts, horizon: int, bound: int
) -> list[AvroRecord]:
    result = []
    added = False
    for entry in recent:
        kind = entry["kind"]
        own = event.at if event.counted and kind == event.kind else None
        added = added or own is not None
        times = _with_time(entry["times"], own, horizon, bound)
        if times:
            result.append(entry if times is entry["times"] else {"kind": kind, "times": times})
    if event.counted and not added and event.at > horizon:
        result.append({"kind": event.kind, "times": [event.at]})
    return result


def applied_signals(profile: AvroRecord | None, event_id: str, version: int) -> bytes | None:
    """The stored signals of an event version the profile already counts, if any: that
    version was applied before a restart and must be neither counted again nor given
    different signals."""
    if profile is None:
        return None
    for entry in reversed(profile["applied"]):
        if entry["version"] == version and entry["event_id"] == event_id:
            stored: bytes = entry["signals"]
            return stored
    return None


def updated_of(
    before: AvroRecord | None,
    event: EventFacts,
    subject_id: str,
    limits: ProfileLimits,
    signals: bytes,
    now_ms: int,
) -> AvroRecord:
    """``updated`` for facts already read."""
    windows = limits.windows
    at = event.at
    registered, source = _registration(before, event)
    initial, initial_at, current, current_at = _risk(before, event)
    applied = {"event_id": event.event_id, "version": event.version, "signals": signals}
    if before is None:
        last_seen = at
        first_seen = at
        sign_in_at = session_at = session_id = None
        failed: list[int] = []
        devices: list[AvroRecord] = []
        ips: list[AvroRecord] = []
        countries: list[str] = []
        recent: list[AvroRecord] = []
        applied_list: list[AvroRecord] = [applied]
    else:
        last_seen = max(before["last_seen_at"], at)
        first_seen = min(before["first_seen_at"], at)
        sign_in_at = before["last_sign_in_at"]
        session_at, session_id = before["session_started_at"], before["session_id"]
        failed, devices, ips = before["failed_sign_ins"], before["devices"], before["ips"]
        countries, recent = before["countries"], before["recent"]
        applied_list = [*before["applied"], applied]
    if event.starts_session and (sign_in_at is None or at >= sign_in_at):
        sign_in_at = at
        session_at = event.session_started_at if event.session_started_at is not None else at
        session_id = event.session_id
    elif event.ends_session and (sign_in_at is None or at >= sign_in_at):
        session_at = session_id = None
    own_failure = at if event.failed_sign_in and event.counted else None
    recent_horizon = last_seen - windows.recent_ms
    if event.country is not None and event.country not in countries:
        countries = [*countries, event.country][-limits.max_countries :]
    return {
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
            own_failure,
            last_seen - windows.longest_failed_ms,
            limits.max_failed_sign_ins,
        ),
        "devices": _with_seen(devices, event.device, at, recent_horizon, limits.max_devices),
        "ips": _with_seen(ips, event.ip, at, recent_horizon, limits.max_ips),
        "countries": countries,
        "initial_risk_score": initial,
        "initial_risk_score_at": initial_at,
        "current_risk_score": current,
        "current_risk_score_at": current_at,
        "recent": _with_recent(
            recent, event, last_seen - windows.velocity_ms, limits.max_kind_events
        ),
        "applied": applied_list[-limits.max_applied :],
        "updated_at": now_ms,
    }


def updated(
    before: AvroRecord | None,
    body: AvroRecord,
    limits: ProfileLimits,
    *,
    signals: bytes = b"",
    now_ms: int = 0,
) -> AvroRecord:
    """The profile after ``body`` (``before`` is not changed). ``signals`` are the
    encoded signals computed for ``body``, kept so a re-processed event gets them back
    (``applied_signals``); ``now_ms`` is the writer's clock."""
    return updated_of(before, facts(body), body["subject_id"], limits, signals, now_ms)
