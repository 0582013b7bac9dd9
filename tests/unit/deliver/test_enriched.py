"""The adapters' one check for malformed values: the enrichment flags, or without them
the same checks the enrichers run (the two must agree)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskrelay.deliver.providers.enriched import (
    COUNTRY_PATHS,
    INVALID_FLAGS,
    flagged,
    usable,
    value_at,
)
from riskrelay.enrich.stateless import EnrichOptions, enrich
from riskrelay.models import AvroRecord

OPTIONS = EnrichOptions(ip_country=None)

# Values each field may hold, valid and malformed; the enrichers decide which is which.
SAMPLES: dict[str, list[str]] = {
    "user.email": ["ann@example.com", "not-an-email", "a@b", "ann@exa mple.com", "@x.io"],
    "user.phone": ["+1 415 555 0007", "020 7946 0018", "+44 20 7946 0018", "12", "phone"],
    "session.ip_address": ["203.0.113.9", "::1", "10.0.0.1", "999.1.1.1", "localhost"],
    "payment.card.bin": ["424242", "41111111", "12345", "4242x2", "123456789"],
    **{path: ["US", "GB", "ZZ", "EU", "USA", "gb"] for path in COUNTRY_PATHS},
}


def put(body: AvroRecord, path: str, value: Any) -> AvroRecord:
    section: Any = body
    *parents, name = path.split(".")
    for key in parents:
        section = section.setdefault(key, {})
    section[name] = value
    return body


def body_with(path: str, value: Any, country: str | None = None) -> AvroRecord:
    """A minimal normalized body holding ``value`` at ``path`` (and ``user.country``)."""
    body: AvroRecord = {
        "user": {"country": country},
        "payment": {"card": {"bin": "424242"}},
        "enrichment": None,
    }
    return put(body, path, value)


def test_every_field_has_samples_and_a_flag() -> None:
    assert SAMPLES.keys() == INVALID_FLAGS.keys()


@pytest.mark.parametrize("path", sorted(SAMPLES))
def test_without_enrichment_the_enrichers_checks_decide_alike(path: str) -> None:
    outcomes = set()
    for value in SAMPLES[path]:
        for country in (None, "GB", "US"):
            body = body_with(path, value, country)
            verdict = flagged(body, path)
            assert verdict == flagged(enrich(body, OPTIONS), path), (value, country)
            outcomes.add(verdict)
    assert outcomes == {True, False}, "each field's samples must include both kinds"


@settings(deadline=None, max_examples=200)
@given(
    path=st.sampled_from(sorted(SAMPLES)), value=st.text(max_size=24), country=st.text(max_size=3)
)
def test_the_fallback_agrees_with_enrichment_on_any_text(
    path: str, value: str, country: str
) -> None:
    body = body_with(path, value, country or None)
    assert flagged(body, path) == flagged(enrich(body, OPTIONS), path)


def test_every_country_flag_enrichment_raises_names_a_known_path() -> None:
    """A country field the enrichment stage checks but this module does not know would
    never be left out; so every path it flags must be one of ours."""
    body = body_with("user.country", "ZZ")
    for path in COUNTRY_PATHS:
        put(body, path, "ZZ")
    flags = enrich(body, OPTIONS)["enrichment"]["flags"]
    countries = [flag for flag in flags if flag.startswith("country_invalid:")]
    assert sorted(countries) == sorted(INVALID_FLAGS[path] for path in COUNTRY_PATHS)


def test_with_enrichment_the_flags_alone_decide() -> None:
    body = enrich(body_with("user.email", "ann@example.com"), OPTIONS)
    assert not flagged(body, "user.email")
    marked = {**body, "enrichment": {**body["enrichment"], "flags": ["email_invalid"]}}
    assert flagged(marked, "user.email")
    unmarked = {**body_with("user.email", "nope"), "enrichment": {"flags": []}}
    assert not flagged(unmarked, "user.email")
    assert not flagged({**unmarked, "enrichment": {"flags": None}}, "user.email")


def test_usable_is_the_value_unless_absent_blank_or_malformed() -> None:
    assert usable(body_with("user.email", "ann@example.com"), "user.email") == "ann@example.com"
    assert usable(body_with("user.email", "nope"), "user.email") is None
    assert usable(body_with("user.email", None), "user.email") is None
    assert usable(body_with("user.email", "  "), "user.email") is None
    assert usable({"user": None, "enrichment": None}, "user.email") is None
    assert usable({"payment": None}, "payment.shipping_address.country") is None
    assert not flagged({"payment": None, "enrichment": None}, "payment.card.bin")


def test_a_field_without_a_flag_is_a_mistake() -> None:
    with pytest.raises(ValueError, match=r"session\.user_agent: no enrichment flag"):
        flagged({"session": {"user_agent": "x"}}, "session.user_agent")


def test_value_at_follows_the_path_through_absent_sections() -> None:
    body = {"payment": {"card": {"bin": "424242"}, "bank_account": None}}
    assert value_at(body, "payment.card.bin") == "424242"
    assert value_at(body, "payment.bank_account.country") is None
    assert value_at(body, "user.email") is None
