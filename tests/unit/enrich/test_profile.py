"""The subject profile as pure functions: the signals each event of a history gets, how
windows slide, what bounds hold, and that applying is idempotent and order-tolerant."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskrelay.enrich.profile import (
    ProfileLimits,
    ProfileWindows,
    applied_signals,
    signals,
    updated,
)
from riskrelay.models import AvroRecord
from riskrelay.schemas import parsed_schema
from riskrelay.schemas.binary import FrozenRecord
from riskrelay.state.profiles import SignalsCodec, to_ms
from tests.fixtures.avro import avro_bytes, avro_round_trip

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LIMITS = ProfileLimits()
WINDOWS = LIMITS.windows
CODEC = SignalsCodec()
PAYMENT_KINDS = ("purchase", "deposit", "withdrawal")


def event(
    kind: str,
    at: datetime,
    *,
    event_id: str | None = None,
    version: int = 1,
    device: str | None = None,
    fingerprint: str | None = None,
    ip: str | None = None,
    country: str | None = None,
    address_country: str | None = None,
    ip_country: str | None = None,
    risk: int | None = None,
    session_id: str | None = None,
    session_started: datetime | None = None,
) -> AvroRecord:
    family = "PAYMENT" if kind in PAYMENT_KINDS else "LIFECYCLE"
    enrichment = None
    if ip_country is not None:
        enrichment = {"ip": {"valid": True, "country": ip_country}}
    return {
        "event_id": event_id or f"evt-{kind}-{to_ms(at)}",
        "version": version,
        "family": family,
        "kind": kind,
        "subject_id": "user-1",
        "occurred_at": at,
        "user": {"country": country, "risk_score": risk},
        "session": {
            "session_id": session_id,
            "session_started_at": session_started,
            "ip_address": ip,
            "device_id": device,
            "client_fingerprint": fingerprint,
        },
        "address": None if address_country is None else {"country": address_country},
        "enrichment": enrichment,
    }


def apply(
    profile: AvroRecord | None, body: AvroRecord, limits: ProfileLimits = LIMITS
) -> tuple[AvroRecord, AvroRecord]:
    """(signals, profile after), as the worker does it."""
    stored = applied_signals(profile, body["event_id"], body["version"])
    if stored is not None:
        assert profile is not None
        return CODEC.decode(stored), profile
    got = signals(profile, body, limits.windows)
    after = updated(profile, body, limits, now_ms=1)
    return got, after


def run(
    history: Iterable[AvroRecord], limits: ProfileLimits = LIMITS
) -> tuple[list[AvroRecord], AvroRecord | None]:
    profile: AvroRecord | None = None
    got = []
    for body in history:
        one, profile = apply(profile, body, limits)
        got.append(one)
    return got, profile


def signals_schema() -> Any:
    normalized = parsed_schema("normalized")
    profile = next(f for f in normalized["fields"] if f["name"] == "profile")
    return next(branch for branch in profile["type"] if isinstance(branch, dict))


# ------------------------------------------------------------------ the scripted history


def scripted_history() -> list[AvroRecord]:
    """Sign-up, 3 failed sign-ins, a sign-in from a new device, a payment (the issue's
    scenario, as the integration test runs it end to end)."""
    signed_up = T0
    day_later = T0 + timedelta(days=1, hours=2)
    return [
        event("sign_up", signed_up, device="dev-a", ip="198.51.100.1", country="US", risk=15),
        *(
            event("sign_in_failure", day_later + timedelta(minutes=i * 10), ip="203.0.113.9")
            for i in range(3)
        ),
        event(
            "sign_in",
            day_later + timedelta(minutes=30),
            device="dev-b",
            ip="203.0.113.9",
            country="US",
            risk=40,
            session_id="s-2",
        ),
        event(
            "purchase",
            day_later + timedelta(minutes=45),
            device="dev-b",
            ip="203.0.113.9",
            address_country="GB",
            risk=27,
            session_id="s-2",
        ),
    ]


def test_the_scripted_history_gives_the_expected_signals_on_each_event() -> None:
    got, profile = run(scripted_history())
    sign_up, *failures, sign_in, purchase = got

    assert sign_up["registered_at"] == T0
    assert sign_up["registration_source"] == "sign_up"
    assert sign_up["first_seen_at"] == T0
    assert sign_up["last_seen_at"] is None
    assert sign_up["days_since_registration"] == 0
    assert (sign_up["session_started_at"], sign_up["seconds_since_session_start"]) == (T0, 0)
    assert (sign_up["new_device"], sign_up["new_ip"], sign_up["new_country"]) == (
        True,
        True,
        True,
    )
    assert (sign_up["initial_risk_score"], sign_up["current_risk_score"]) == (15.0, 15.0)
    assert sign_up["velocity_1h"] == 1

    assert [f["failed_sign_ins_1h"] for f in failures] == [1, 2, 3]
    assert [f["failed_sign_ins_24h"] for f in failures] == [1, 2, 3]
    assert [f["velocity_1h"] for f in failures] == [1, 2, 3]
    assert [f["new_ip"] for f in failures] == [True, False, False]
    assert [f["new_device"] for f in failures] == [False, False, False]  # no device at all
    assert [f["days_since_registration"] for f in failures] == [1, 1, 1]

    day_later = T0 + timedelta(days=1, hours=2)
    assert sign_in["new_device"] is True
    assert sign_in["new_ip"] is False
    assert sign_in["new_country"] is False
    assert (sign_in["failed_sign_ins_1h"], sign_in["failed_sign_ins_24h"]) == (3, 3)
    assert sign_in["session_started_at"] == day_later + timedelta(minutes=30)
    assert sign_in["seconds_since_session_start"] == 0
    assert sign_in["last_seen_at"] == day_later + timedelta(minutes=20)
    assert (sign_in["initial_risk_score"], sign_in["current_risk_score"]) == (15.0, 40.0)

    assert purchase["new_device"] is False
    assert purchase["new_country"] is True  # GB, from the address
    assert purchase["countries"] == ["US"]
    assert purchase["days_since_registration"] == 1
    assert purchase["session_started_at"] == day_later + timedelta(minutes=30)
    assert purchase["seconds_since_session_start"] == 15 * 60
    assert purchase["velocity_1h"] == 1
    assert (purchase["failed_sign_ins_1h"], purchase["failed_sign_ins_24h"]) == (3, 3)
    assert (purchase["initial_risk_score"], purchase["current_risk_score"]) == (15.0, 27.0)

    assert profile is not None
    assert profile["devices"] == ["dev-a", "dev-b"]
    assert profile["countries"] == ["US", "GB"]


def test_signals_and_profiles_fit_their_avro_schemas() -> None:
    got, profile = run(scripted_history())
    schema = signals_schema()
    for one in got:
        avro_bytes(schema, one)
        assert CODEC.decode(CODEC.encode(one)) == one
    assert profile is not None
    assert avro_round_trip("profile", profile) == profile


def test_signals_carry_their_own_avro_bytes_and_do_not_change() -> None:
    """What the normalized writer writes for them instead of the record: fastavro's
    bytes of the record (the present branch of ``profile``), read back after a crash
    alike."""
    got, _ = run(scripted_history())
    schema = signals_schema()
    for one in got:
        assert isinstance(one, FrozenRecord)
        assert one.avro == b"\x02" + avro_bytes(schema, dict(one))
        restored = CODEC.decode(CODEC.encode(one))
        assert isinstance(restored, FrozenRecord)
        assert restored.avro == one.avro
        with pytest.raises(TypeError):
            one["velocity_1h"] = 0


# ----------------------------------------------------------------------------- windows


def test_failed_sign_ins_slide_out_of_each_window() -> None:
    minutes = [0, 59, 61, 60 * 24 + 30]
    history = [event("sign_in_failure", T0 + timedelta(minutes=m)) for m in minutes]
    history.append(event("sign_in", T0 + timedelta(minutes=60 * 24 + 31)))
    got, _ = run(history)
    assert [g["failed_sign_ins_1h"] for g in got] == [1, 2, 2, 1, 1]
    # At 24h30: the window (0h30, 24h30] holds 59, 61 and itself; the 0 one is out.
    assert [g["failed_sign_ins_24h"] for g in got] == [1, 2, 3, 3, 3]


def test_a_window_excludes_its_start_and_includes_its_end() -> None:
    history = [
        event("sign_in_failure", T0),
        event("sign_in", T0 + timedelta(hours=1)),  # T0 is exactly one hour before: out
        event("sign_in", T0 + timedelta(hours=1) - timedelta(milliseconds=1)),
    ]
    got, _ = run(history)
    assert [g["failed_sign_ins_1h"] for g in got] == [1, 0, 1]


def test_windows_are_configurable() -> None:
    limits = ProfileLimits(
        windows=ProfileWindows(failed_short_ms=5 * 60_000, failed_long_ms=30 * 60_000)
    )
    history = [event("sign_in_failure", T0 + timedelta(minutes=m)) for m in (0, 4, 10, 39)]
    got, _ = run(history, limits)
    assert [g["failed_sign_ins_1h"] for g in got] == [1, 2, 1, 1]
    assert [g["failed_sign_ins_24h"] for g in got] == [1, 2, 3, 2]


def test_velocity_counts_events_of_the_same_kind_in_the_last_hour() -> None:
    history = [
        event("purchase", T0),
        event("purchase", T0 + timedelta(minutes=20)),
        event("deposit", T0 + timedelta(minutes=25)),
        event("purchase", T0 + timedelta(minutes=70)),
    ]
    got, _ = run(history)
    assert [g["velocity_1h"] for g in got] == [1, 2, 1, 2]


def test_old_entries_are_pruned_relative_to_the_latest_event() -> None:
    history = [event("sign_in_failure", T0 + timedelta(minutes=m)) for m in range(5)]
    history.append(event("purchase", T0 + timedelta(days=2)))
    _, profile = run(history)
    assert profile is not None
    assert profile["failed_sign_ins"] == []
    assert profile["recent_kinds"] == ["purchase"]


# ------------------------------------------------------------------------------ bounds


def test_every_list_is_bounded() -> None:
    limits = ProfileLimits(
        max_failed_sign_ins=5,
        max_devices=3,
        max_ips=2,
        max_countries=2,
        max_kind_events=4,
        max_applied=3,
    )
    countries = ["US", "GB", "DE", "FR", "BR", "JP"]
    history = [
        event(
            "sign_in_failure",
            T0 + timedelta(seconds=i),
            device=f"dev-{i}",
            ip=f"192.0.2.{i}",
            country=countries[i % len(countries)],
        )
        for i in range(12)
    ]
    got, profile = run(history, limits)
    assert profile is not None
    assert profile["failed_sign_ins"] == [to_ms(T0 + timedelta(seconds=i)) for i in range(7, 12)]
    assert profile["devices"] == ["dev-9", "dev-10", "dev-11"]
    assert profile["ips"] == ["192.0.2.10", "192.0.2.11"]
    # The history forgets the oldest: US is new again when it comes back, and so on.
    assert profile["countries"] == ["BR", "JP"]
    assert [g["new_country"] for g in got] == [True] * 12
    assert len(profile["recent_times"][0]) == 4
    assert profile["applied_event_ids"] == [b["event_id"] for b in history[-3:]]
    # A bounded list caps the counts too: never more than what is kept, plus this one.
    assert got[-1]["failed_sign_ins_1h"] == 6


def test_a_device_not_seen_for_longer_than_recent_days_is_new_again() -> None:
    history = [
        event("sign_in", T0, device="dev-a"),
        event("sign_in", T0 + timedelta(days=30), device="dev-a"),
        event("sign_in", T0 + timedelta(days=121), device="dev-a"),
    ]
    got, _ = run(history)
    assert [g["new_device"] for g in got] == [True, False, True]


def test_a_client_fingerprint_stands_in_for_a_missing_device_id() -> None:
    history = [
        event("sign_in", T0, fingerprint="fp-1"),
        event("purchase", T0 + timedelta(minutes=1), fingerprint="fp-1"),
        event("purchase", T0 + timedelta(minutes=2), fingerprint="fp-2"),
    ]
    got, _ = run(history)
    assert [g["new_device"] for g in got] == [True, False, True]


def test_the_country_comes_from_the_ip_first_then_the_address_then_the_user() -> None:
    history = [
        event("sign_in", T0, country="US", address_country="GB", ip_country="DE"),
        event("sign_in", T0 + timedelta(minutes=1), country="US", address_country="GB"),
        event("sign_in", T0 + timedelta(minutes=2), country="us"),
        event("sign_in", T0 + timedelta(minutes=3), country="not a country"),
    ]
    got, profile = run(history)
    assert [g["new_country"] for g in got] == [True, True, True, False]
    assert profile is not None
    assert profile["countries"] == ["DE", "GB", "US"]


# -------------------------------------------------------------------------- idempotence


def test_an_event_version_applied_twice_is_counted_once_with_the_same_signals() -> None:
    history = scripted_history()
    first, profile = run(history)
    assert profile is not None
    for body, expected in zip(history[-3:], first[-3:], strict=True):
        again, after = apply(profile, body)
        assert again == expected
        assert after is profile


def test_a_later_version_of_an_event_is_not_another_occurrence() -> None:
    failure = event("sign_in_failure", T0, event_id="evt-f", risk=10)
    update = {**failure, "version": 2, "user": {"country": None, "risk_score": 90}}
    got, profile = run([failure, update])
    assert [g["failed_sign_ins_1h"] for g in got] == [1, 1]
    assert [g["velocity_1h"] for g in got] == [1, 1]
    assert got[1]["current_risk_score"] == 90.0
    assert profile is not None
    assert len(profile["failed_sign_ins"]) == 1
    assert list(zip(profile["applied_event_ids"], profile["applied_versions"], strict=True)) == [
        ("evt-f", 1),
        ("evt-f", 2),
    ]


def test_updated_leaves_the_profile_it_was_given_as_it_was() -> None:
    _, profile = run(scripted_history()[:-1])
    assert profile is not None
    kept = copy.deepcopy(profile)
    updated(profile, scripted_history()[-1], LIMITS, now_ms=2)
    assert profile == kept


# ------------------------------------------------------------------------ out of order


def test_an_event_older_than_those_applied_counts_only_what_came_before_it() -> None:
    history = [
        event("sign_in_failure", T0 + timedelta(minutes=30)),
        event("sign_in_failure", T0 + timedelta(minutes=50)),
        event("sign_in_failure", T0 + timedelta(minutes=10)),  # late
        event("purchase", T0 + timedelta(minutes=55)),
    ]
    got, profile = run(history)
    assert [g["failed_sign_ins_1h"] for g in got] == [1, 2, 1, 3]
    assert got[2]["last_seen_at"] == T0 + timedelta(minutes=50)
    assert got[3]["first_seen_at"] == T0 + timedelta(minutes=10)
    assert profile is not None
    assert profile["failed_sign_ins"] == sorted(profile["failed_sign_ins"])
    assert profile["last_seen_at"] == to_ms(T0 + timedelta(minutes=55))


def test_a_late_sign_up_becomes_the_registration() -> None:
    history = [
        event("purchase", T0 + timedelta(days=3)),
        event("sign_up", T0),
        event("purchase", T0 + timedelta(days=5)),
    ]
    got, _ = run(history)
    assert [(g["registration_source"], g["days_since_registration"]) for g in got] == [
        ("first_seen", 0),
        ("sign_up", 0),
        ("sign_up", 5),
    ]


def test_the_initial_risk_score_is_the_earliest_and_the_current_the_latest() -> None:
    history = [
        event("sign_in", T0 + timedelta(hours=2), risk=50),
        event("sign_up", T0, risk=10),  # late, but the earliest
        event("sign_in", T0 + timedelta(hours=1), risk=30),  # late, not the latest
        event("sign_in", T0 + timedelta(hours=3)),  # no score
    ]
    got, _ = run(history)
    assert [(g["initial_risk_score"], g["current_risk_score"]) for g in got] == [
        (50.0, 50.0),
        (10.0, 50.0),
        (10.0, 50.0),
        (10.0, 50.0),
    ]


# ----------------------------------------------------------------------------- sessions


def test_session_age_follows_the_last_successful_sign_in() -> None:
    start = T0 - timedelta(minutes=5)
    history = [
        event("sign_in", T0, session_id="s-1", session_started=start),
        event("purchase", T0 + timedelta(minutes=10), session_id="s-1"),
        event("purchase", T0 + timedelta(minutes=11)),  # no session id: the last one
        event("purchase", T0 + timedelta(minutes=12), session_id="s-other"),
        event("purchase", T0 + timedelta(minutes=13), session_started=T0),  # its own start
        event("sign_out", T0 + timedelta(minutes=20), session_id="s-1"),
        event("purchase", T0 + timedelta(minutes=21), session_id="s-1"),
    ]
    got, _ = run(history)
    assert [g["seconds_since_session_start"] for g in got] == [
        300,
        900,
        960,
        None,
        780,
        1500,
        None,
    ]


def test_a_session_that_starts_after_the_event_gives_no_age() -> None:
    history = [
        event("sign_in", T0, session_started=T0),
        event("purchase", T0 - timedelta(minutes=1)),
    ]
    got, _ = run(history)
    assert got[1]["seconds_since_session_start"] is None


# ------------------------------------------------------------------------- properties


kinds = st.sampled_from(["sign_up", "sign_in", "sign_in_failure", "sign_out", "purchase"])
histories = st.lists(
    st.tuples(
        kinds,
        st.integers(min_value=0, max_value=3 * 24 * 3600),
        st.sampled_from([None, "dev-a", "dev-b", "dev-c"]),
        st.sampled_from([None, "US", "GB", "DE"]),
        st.one_of(st.none(), st.integers(0, 100)),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(histories)
def test_any_history_keeps_the_profile_consistent_and_bounded(
    steps: list[tuple[str, int, str | None, str | None, int | None]],
) -> None:
    limits = ProfileLimits(max_failed_sign_ins=4, max_devices=2, max_kind_events=3, max_applied=5)
    bodies = [
        event(
            kind,
            T0 + timedelta(seconds=s),
            event_id=f"e{i}",
            device=device,
            country=country,
            risk=risk,
        )
        for i, (kind, s, device, country, risk) in enumerate(steps)
    ]
    got, profile = run(bodies, limits)
    schema = signals_schema()
    for one in got:
        avro_bytes(schema, one)
        assert one["failed_sign_ins_1h"] <= one["failed_sign_ins_24h"]
        assert one["velocity_1h"] >= 1
        days = one["days_since_registration"]
        assert days is None or days >= 0
    if profile is None:
        assert not bodies
        return
    assert avro_round_trip("profile", profile) == profile
    assert len(profile["failed_sign_ins"]) <= 4
    assert profile["failed_sign_ins"] == sorted(profile["failed_sign_ins"])
    assert len(profile["devices"]) <= 2
    assert len(profile["devices_seen_at"]) == len(profile["devices"])
    assert profile["devices_seen_at"] == sorted(profile["devices_seen_at"])
    assert len(set(profile["devices"])) == len(profile["devices"])
    assert len(profile["recent_times"]) == len(profile["recent_kinds"])
    assert all(0 < len(times) <= 3 for times in profile["recent_times"])
    assert all(times == sorted(times) for times in profile["recent_times"])
    assert len(profile["applied_event_ids"]) == len(profile["applied_signals"]) <= 5
    times = [to_ms(b["occurred_at"]) for b in bodies]
    assert (profile["first_seen_at"], profile["last_seen_at"]) == (min(times), max(times))


@pytest.mark.parametrize("version", [1, 2])
def test_applied_signals_match_event_id_and_version(version: int) -> None:
    body = event("sign_in", T0, event_id="evt-x", version=version)
    _, profile = apply(None, body)
    assert applied_signals(profile, "evt-x", version) is not None
    assert applied_signals(profile, "evt-x", version + 1) is None
    assert applied_signals(profile, "evt-y", version) is None
    assert applied_signals(None, "evt-x", version) is None
