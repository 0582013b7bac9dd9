"""Every record writer must write fastavro's bytes: the hand-written tail of the
normalized event (enrichment and profile signals) over real enriched events and random
sections, and fastavro itself for whatever the tail does not take."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskrelay.dev.demo import demo_stream
from riskrelay.enrich.stateless import EnrichOptions
from riskrelay.models import SourcePosition
from riskrelay.normalize import normalize, without_secrets
from riskrelay.schemas import SCHEMA_NAMES, parsed_schema, schema_text
from riskrelay.schemas.binary import FrozenRecord
from riskrelay.schemas.writers import (
    SIGNAL_FIELDS,
    FastavroWriter,
    NormalizedTail,
    NormalizedWriter,
    record_writer,
    signals_bytes,
)
from riskrelay.state.profiles import signals_record
from tests.fixtures.avro import avro_bytes
from tests.fixtures.enrichment import WHEN, memory_enrichment

KEY = b"analytics-key-0123456789abcdef"
WRITER = NormalizedWriter()


def assert_written_like_fastavro(record: dict[str, Any]) -> None:
    """By the hand-written tail (no fallback), to fastavro's bytes."""
    WRITER.tail(record)  # raises where the whole record would go to fastavro
    assert WRITER(record) == avro_bytes("normalized", record)


def enriched_stream(options: EnrichOptions, count: int = 240) -> list[dict[str, Any]]:
    """The demo traffic through the enrichment stage (30 subjects, eight events each),
    as the normalized topic gets it."""
    stage = memory_enrichment(options)
    bodies = []
    for offset, (family, record) in enumerate(demo_stream(count, seed=5)):
        body = normalize(family, record, SourcePosition("t", 0, offset), WHEN).body
        if offset % 5 == 0:
            body = odd(body)
        enriched = stage.apply({**body, "version": 1, "operation": "CREATE"}, 0)
        bodies.append(stage.for_analytics(without_secrets(enriched)))
    return bodies


def odd(body: dict[str, Any]) -> dict[str, Any]:
    """Values the enrichers flag, and unicode."""
    user, session = body.get("user"), body.get("session")
    if user is not None:
        user = {**user, "phone": "tel. 555 ☎", "email": "jäne@@exämple", "country": "zz"}
    if session is not None:
        session = {**session, "ip_address": "999.1.1.1", "user_agent": "curl/8.4.0 ü"}
    return {**body, "user": user, "session": session}


@pytest.mark.parametrize(
    "options", [EnrichOptions(), EnrichOptions(pii_key=KEY)], ids=["clear", "minimized"]
)
def test_enriched_demo_events_are_written_like_fastavro(options: EnrichOptions) -> None:
    bodies = enriched_stream(options)
    assert any(body["enrichment"]["flags"] for body in bodies)
    assert all(type(body["profile"]) is FrozenRecord for body in bodies)
    for body in bodies:
        assert_written_like_fastavro(body)
        # The same record of plain dicts (a replay's recorded signals) too.
        plain = copy.deepcopy(body)
        assert type(plain["profile"]) is dict
        assert_written_like_fastavro(plain)


def test_events_without_enrichment_are_written_like_fastavro() -> None:
    for offset, (family, record) in enumerate(demo_stream(40, seed=2)):
        body = normalize(family, record, SourcePosition("t", 0, offset), WHEN).body
        assert_written_like_fastavro({**body, "version": 2, "operation": "UPDATE"})


# Random sections, field by field from the schema's types.
def optional(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | values


TEXT = st.text(max_size=12).map(lambda text: text.encode("utf-8", "replace").decode())
AWARE = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
)
COUNT = st.integers(-(2**31), 2**31 - 1)
SCORE = st.floats() | st.sampled_from([0.0, -0.0, 100.0])
PHONE = st.fixed_dictionaries(
    {
        "raw": optional(TEXT),
        "e164": optional(TEXT),
        "valid": st.booleans(),
        "region": optional(TEXT),
    }
)
EMAIL = st.fixed_dictionaries({"valid": st.booleans(), "domain": optional(TEXT)})
AGENT = st.fixed_dictionaries(
    {
        "browser": optional(TEXT),
        "browser_version": optional(TEXT),
        "os": optional(TEXT),
        "os_version": optional(TEXT),
        "device_brand": optional(TEXT),
        "device_model": optional(TEXT),
        "device_class": TEXT,
    }
)
IP = st.fixed_dictionaries(
    {
        "valid": st.booleans(),
        "version": optional(st.sampled_from([4, 6])),
        "private": st.booleans(),
        "reserved": st.booleans(),
        "country": optional(TEXT),
    }
)
HASHES = st.fixed_dictionaries(
    {"email": optional(TEXT), "phone": optional(TEXT), "ip": optional(TEXT)}
)


def shared(records: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Plain dicts, or FrozenRecords as the enrichers share them."""
    return records | records.map(FrozenRecord)


ENRICHMENT = st.fixed_dictionaries(
    {
        "phone": optional(shared(PHONE)),
        "email": optional(shared(EMAIL)),
        "user_agent": optional(shared(AGENT)),
        "ip": optional(IP),
        "card_network": optional(TEXT),
        "flags": st.lists(TEXT, max_size=4),
        "pii_hashes": optional(HASHES),
    }
)
SIGNALS = st.fixed_dictionaries(
    {
        "registered_at": optional(AWARE),
        "registration_source": TEXT,
        "first_seen_at": optional(AWARE),
        "last_seen_at": optional(AWARE),
        "days_since_registration": optional(COUNT),
        "session_started_at": optional(AWARE),
        "seconds_since_session_start": optional(st.integers(-(2**63), 2**63 - 1)),
        "failed_sign_ins_1h": COUNT,
        "failed_sign_ins_24h": COUNT,
        "new_device": st.booleans(),
        "new_ip": st.booleans(),
        "new_country": st.booleans(),
        "velocity_1h": COUNT,
        "initial_risk_score": optional(SCORE),
        "current_risk_score": optional(SCORE),
        "countries": st.lists(TEXT, max_size=3),
    }
)
BASE = enriched_stream(EnrichOptions(), 16)[-1]


@settings(max_examples=300, deadline=None)
@given(optional(ENRICHMENT), optional(SIGNALS))
def test_random_sections_are_written_like_fastavro(
    enrichment: dict[str, Any] | None, profile: dict[str, Any] | None
) -> None:
    assert_written_like_fastavro({**BASE, "enrichment": enrichment, "profile": profile})


EPOCH_MS = st.integers(-62_135_596_800_000, 253_402_300_799_999)
VALUES = st.tuples(
    EPOCH_MS,
    st.sampled_from(["sign_up", "first_seen"]) | TEXT,
    EPOCH_MS,
    optional(EPOCH_MS),
    optional(COUNT),
    optional(EPOCH_MS),
    optional(st.integers(-(2**63), 2**63 - 1)),
    st.integers(0, 100) | COUNT,
    COUNT,
    st.booleans(),
    st.booleans(),
    st.booleans(),
    COUNT,
    optional(SCORE),
    optional(SCORE),
    st.lists(TEXT, max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_signals_made_with_their_bytes_are_written_like_fastavro(values: tuple[Any, ...]) -> None:
    signals = signals_record(list(values))
    assert type(signals) is FrozenRecord
    assert signals.avro == signals_bytes(values)
    assert_written_like_fastavro({**BASE, "profile": signals})
    plain = {**BASE, "profile": dict(signals)}
    assert WRITER(plain) == WRITER({**BASE, "profile": signals}) == avro_bytes("normalized", plain)


def test_signals_of_other_types_are_a_plain_dict_for_fastavro() -> None:
    values = list(signals_record_values())
    values[13] = 40  # an int score: fastavro's to convert, not the hand-written code's
    signals = signals_record(values)
    assert type(signals) is dict
    record = {**BASE, "profile": signals}
    assert WRITER(record) == avro_bytes("normalized", record)


def signals_record_values() -> tuple[Any, ...]:
    at = 1_795_000_000_000
    return (at, "sign_up", at, at + 5, 0, at - 7, 12, 0, 1, True, False, True, 2, 40.0, 41.5, [])


@pytest.mark.parametrize(
    "change",
    [
        {"profile": {**BASE["profile"], "registered_at": datetime(2026, 11, 21, 12, 0)}},  # naive
        {"profile": {**BASE["profile"], "velocity_1h": True}},
        {"profile": {**BASE["profile"], "initial_risk_score": 7}},
        {"profile": ("riskrelay.v1.ProfileSignals", dict(BASE["profile"]))},
        {"enrichment": {**BASE["enrichment"], "flags": ("a", "b")}},
        {"enrichment": {key: v for key, v in BASE["enrichment"].items() if key != "flags"}},
    ],
    ids=["naive", "bool-count", "int-score", "tuple", "tuple-flags", "no-flags"],
)
def test_what_the_tail_does_not_take_fastavro_writes_or_refuses(change: dict[str, Any]) -> None:
    """As the encoder did before the tail was written by hand: fastavro, union branches
    named (which writes some values that fastavro's own choice of branch refuses)."""
    record = {**BASE, **change}
    with pytest.raises(Exception):  # noqa: B017, PT011 - the tail refuses, whatever the reason
        WRITER.tail(record)
    try:
        expected = FastavroWriter(parsed_schema("normalized"))(record)
    except Exception as refused:  # then the writer refuses it alike
        with pytest.raises(type(refused)):
            WRITER(record)
    else:
        assert WRITER(record) == expected


def test_epoch_milliseconds_for_a_time_are_written_as_they_are() -> None:
    assert_written_like_fastavro(
        {**BASE, "profile": {**BASE["profile"], "last_seen_at": 1_795_000_000_123}}
    )


def test_a_contract_changed_under_the_hand_written_code_fails_at_start() -> None:
    schema = json.loads(schema_text("normalized"))
    NormalizedTail(schema)
    profile = next(f for f in schema["fields"] if f["name"] == "profile")
    signals = profile["type"][1]
    signals["fields"].append({"name": "extra", "type": "int", "default": 0})
    with pytest.raises(ValueError, match="ProfileSignals"):
        NormalizedTail(schema)
    assert tuple(f["name"] for f in signals["fields"][:-1]) == SIGNAL_FIELDS


def test_other_contracts_are_written_by_fastavro() -> None:
    assert isinstance(record_writer("normalized"), NormalizedWriter)
    for name in SCHEMA_NAMES:
        if name != "normalized":
            assert isinstance(record_writer(name), FastavroWriter)
