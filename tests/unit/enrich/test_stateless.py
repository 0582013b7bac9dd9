from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from fastavro.validation import validate
from hypothesis import given, settings
from hypothesis import strategies as st

from riskrelay.dev.demo import demo_stream
from riskrelay.enrich import EnrichOptions, enrich, for_analytics
from riskrelay.enrich.ip import NoCountryLookup
from riskrelay.enrich.pii import pii_hash
from riskrelay.models import SourcePosition
from riskrelay.normalize import normalize
from riskrelay.schemas import parsed_schema
from riskrelay.schemas.binary import FrozenRecord

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
KEY = b"analytics-key-0123456789abcdef"
OPTIONS = EnrichOptions(default_phone_region="US")
MINIMIZED = EnrichOptions(default_phone_region="US", pii_key=KEY)
KNOWN_FLAGS = {
    "phone_invalid",
    "email_invalid",
    "ip_invalid",
    "user_agent_unknown",
    "bin_invalid",
    "bin_unknown",
}


def demo_bodies(count: int) -> list[dict[str, Any]]:
    return [
        normalize(family, record, SourcePosition("t", 0, i), NOW).body
        for i, (family, record) in enumerate(demo_stream(count, seed=3))
    ]


def assert_valid(body: dict[str, Any]) -> None:
    """``body`` is a record of the normalized schema, every field set."""
    validate(
        {**body, "version": 1, "operation": "CREATE"}, parsed_schema("normalized"), strict=True
    )


def sign_in(**user: Any) -> dict[str, Any]:
    """A minimal normalized lifecycle body with the user and session fields under test."""
    return {
        "user": {"email": "jane@example.com", "phone": "+14155552671", "country": "US", **user},
        "session": {
            "ip_address": "8.8.8.8",
            "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 "
            "Firefox/126.0",
        },
        "payment": None,
    }


def test_enriched_demo_events_fit_the_normalized_schema() -> None:
    bodies = demo_bodies(400)
    for body in bodies:
        enriched = enrich(body, OPTIONS)
        assert_valid(enriched)
        assert_valid(for_analytics(enriched, MINIMIZED))
        assert enriched["enrichment"]["flags"] == []
    families = {body["family"] for body in bodies}
    assert families == {"LIFECYCLE", "PAYMENT", "EVALUATION"}


def test_the_input_body_is_left_as_it_was() -> None:
    for body in demo_bodies(80):
        before = copy.deepcopy(body)
        for_analytics(enrich(body, OPTIONS), MINIMIZED)
        assert body == before


def test_signals_of_a_well_formed_event() -> None:
    body = sign_in(phone="(415) 555-2671")
    enriched = enrich(body, OPTIONS)
    assert enriched["user"]["phone"] == "+14155552671"
    assert enriched["enrichment"] == {
        "phone": {"raw": "(415) 555-2671", "e164": "+14155552671", "valid": True, "region": "US"},
        "email": {"valid": True, "domain": "example.com"},
        "user_agent": {
            "browser": "Firefox",
            "browser_version": "126.0",
            "os": "Windows",
            "os_version": "10",
            "device_brand": None,
            "device_model": None,
            "device_class": "desktop",
        },
        "ip": {"valid": True, "version": 4, "private": False, "reserved": False, "country": "US"},
        "card_network": None,
        "flags": [],
        "pii_hashes": None,
    }


def test_national_numbers_are_read_in_the_users_country_first() -> None:
    enriched = enrich(sign_in(phone="020 7946 0958", country="GB"), OPTIONS)
    assert enriched["user"]["phone"] == "+442079460958"
    # Without a country of the user, the configured default region applies.
    enriched = enrich(sign_in(phone="(415) 555-2671", country=None), OPTIONS)
    assert enriched["user"]["phone"] == "+14155552671"
    enriched = enrich(sign_in(phone="(415) 555-2671", country=None), EnrichOptions())
    assert enriched["user"]["phone"] == "(415) 555-2671"
    assert enriched["enrichment"]["flags"] == ["phone_invalid"]


def test_every_malformed_value_is_kept_and_flagged() -> None:
    body = {
        "user": {"email": "nobody", "phone": "call me", "country": "USA"},
        "session": {"ip_address": "999.1.1.1", "user_agent": "???"},
        "address": {"country": "1X"},
        "payment": {
            "card": {"bin": "000000", "network": None, "country": "XX"},
            "bank_account": {"country": "ZZ"},
            "billing_address": {"country": "U"},
            "shipping_address": {"country": "GB"},
        },
    }
    enriched = enrich(body, OPTIONS)
    assert enriched["enrichment"]["flags"] == [
        "country_invalid:user.country",
        "country_invalid:address.country",
        "country_invalid:payment.card.country",
        "country_invalid:payment.bank_account.country",
        "country_invalid:payment.billing_address.country",
        "phone_invalid",
        "email_invalid",
        "ip_invalid",
        "user_agent_unknown",
        "bin_unknown",
    ]
    assert enriched["user"] == body["user"]
    assert enriched["session"] == body["session"]
    assert enriched["payment"] == body["payment"]


def test_card_network_comes_from_the_bin_when_absent() -> None:
    card = {"bin": "222100", "last4": "0000", "network": None, "country": "US"}
    enriched = enrich({"payment": {"card": card}}, OPTIONS)
    assert enriched["payment"]["card"]["network"] == "mastercard"
    assert enriched["enrichment"]["card_network"] == "mastercard"
    # A network the upstream named is kept; the BIN's is still reported.
    named = enrich({"payment": {"card": {**card, "network": "maestro"}}}, OPTIONS)
    assert named["payment"]["card"]["network"] == "maestro"
    assert named["enrichment"]["card_network"] == "mastercard"
    odd = enrich({"payment": {"card": {**card, "bin": "12ab"}}}, OPTIONS)
    assert odd["enrichment"]["flags"] == ["bin_invalid"]


def test_ip_country_can_be_switched_off() -> None:
    options = EnrichOptions(ip_country=None)
    assert enrich(sign_in(), options)["enrichment"]["ip"]["country"] is None
    options = EnrichOptions(ip_country=NoCountryLookup())
    assert enrich(sign_in(), options)["enrichment"]["ip"]["country"] is None


def test_without_a_key_the_analytics_copy_is_the_body() -> None:
    enriched = enrich(sign_in(), OPTIONS)
    assert for_analytics(enriched, OPTIONS) is enriched


def test_with_a_key_clear_pii_is_replaced_by_keyed_hashes() -> None:
    enriched = enrich(sign_in(email="Jane@Example.com", phone="(415) 555-2671"), MINIMIZED)
    analytics = for_analytics(enriched, MINIMIZED)
    assert (analytics["user"]["email"], analytics["user"]["phone"]) == (None, None)
    assert analytics["session"]["ip_address"] is None
    assert analytics["enrichment"]["pii_hashes"] == {
        "email": pii_hash(KEY, "jane@example.com"),
        "phone": pii_hash(KEY, "+14155552671"),
        "ip": pii_hash(KEY, "8.8.8.8"),
    }
    assert analytics["enrichment"]["phone"] == {
        "raw": None,
        "e164": None,
        "valid": True,
        "region": "US",
    }
    # What else analytics needs stays.
    assert analytics["user"]["country"] == "US"
    assert analytics["enrichment"]["ip"]["country"] == "US"
    # The providers' copy keeps the clear values.
    assert enriched["user"]["phone"] == "+14155552671"
    assert enriched["session"]["ip_address"] == "8.8.8.8"


def test_the_same_person_hashes_the_same_across_events() -> None:
    one = for_analytics(enrich(sign_in(phone="+1 415 555 2671"), MINIMIZED), MINIMIZED)
    two = for_analytics(enrich(sign_in(phone="(415) 555-2671"), MINIMIZED), MINIMIZED)
    assert one["enrichment"]["pii_hashes"] == two["enrichment"]["pii_hashes"]


def test_an_unenriched_body_is_minimized_too() -> None:
    analytics = for_analytics({**sign_in(), "enrichment": None}, MINIMIZED)
    assert analytics["user"]["email"] is None
    assert analytics["enrichment"]["pii_hashes"]["phone"] == pii_hash(KEY, "+14155552671")
    assert analytics["enrichment"]["flags"] == []


def test_bad_options_fail_at_startup() -> None:
    with pytest.raises(ValueError, match="default_phone_region"):
        EnrichOptions(default_phone_region="XX")
    with pytest.raises(ValueError, match="pii_key"):
        EnrichOptions(pii_key=b"")


maybe_text = st.none() | st.text(max_size=80)


@settings(max_examples=300, deadline=None)
@given(
    email=maybe_text,
    phone=maybe_text,
    country=maybe_text,
    ip=maybe_text,
    agent=maybe_text,
    bin_=st.text(max_size=12),
    card_country=maybe_text,
)
def test_any_descriptive_values_give_flags_never_an_exception(
    email: str | None,
    phone: str | None,
    country: str | None,
    ip: str | None,
    agent: str | None,
    bin_: str,
    card_country: str | None,
) -> None:
    body = {
        "user": {"email": email, "phone": phone, "country": country},
        "session": {"ip_address": ip, "user_agent": agent},
        "payment": {"card": {"bin": bin_, "network": None, "country": card_country}},
    }
    enriched = enrich(body, MINIMIZED)
    flags = enriched["enrichment"]["flags"]
    assert {f for f in flags if not f.startswith("country_invalid:")} <= KNOWN_FLAGS
    assert ("phone_invalid" in flags) == (
        phone is not None and not enriched["enrichment"]["phone"]["valid"]
    )
    analytics = for_analytics(enriched, MINIMIZED)
    assert analytics["user"]["email"] is None


def test_signal_records_are_shared_read_only_per_value() -> None:
    """One record per phone number, address and user agent, shared by the events that
    carry it (the normalized writer keeps its bytes on it): so nobody may change it."""
    first, second = enrich(sign_in(), OPTIONS), enrich(sign_in(), OPTIONS)
    for name in ("phone", "email", "user_agent", "ip"):
        record = first["enrichment"][name]
        assert isinstance(record, FrozenRecord)
        assert second["enrichment"][name] is record
        with pytest.raises(TypeError):
            record["valid"] = False
    # The analytics copy changes a copy of the phone record, never the shared one.
    analytics = for_analytics(first, MINIMIZED)
    assert analytics["enrichment"]["phone"]["raw"] is None
    assert first["enrichment"]["phone"]["raw"] == "+14155552671"


def test_an_unknown_user_agent_is_flagged_whatever_its_record() -> None:
    enriched = enrich({**sign_in(), "session": {"ip_address": None, "user_agent": "???"}}, OPTIONS)
    assert enriched["enrichment"]["flags"] == ["user_agent_unknown"]
    assert enriched["enrichment"]["user_agent"]["device_class"] == "other"


def test_an_ip_lookup_that_cannot_be_a_cache_key_is_asked_every_time() -> None:
    class Lookup:
        __hash__ = None  # type: ignore[assignment]

        def __init__(self) -> None:
            self.asked = 0

        def country(self, address: str) -> str | None:
            self.asked += 1
            return "ZZ"

    lookup = Lookup()
    options = EnrichOptions(ip_country=lookup)
    for _ in range(2):
        assert enrich(sign_in(), options)["enrichment"]["ip"]["country"] == "ZZ"
    assert lookup.asked == 2
