from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskrelay.enrich.phone import PhoneSignal, is_region, parse_phone, phone_record


@pytest.mark.parametrize(
    ("raw", "region", "e164", "country"),
    [
        ("+1 415 555 2671", None, "+14155552671", "US"),
        ("(415) 555-2671", "US", "+14155552671", "US"),
        ("+44 20 7946 0958", "US", "+442079460958", "GB"),
        ("020 7946 0958", "GB", "+442079460958", "GB"),
        ("+81 3-1234-5678", None, "+81312345678", "JP"),
        ("+14155552671", "FR", "+14155552671", "US"),
    ],
)
def test_valid_numbers_become_e164(raw: str, region: str | None, e164: str, country: str) -> None:
    assert parse_phone(raw, region) == PhoneSignal(raw, e164, True, country)


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("(415) 555-2671", None),  # national format, no region to read it in
        ("not a phone", "US"),
        ("", "US"),
        ("+1", None),
        ("+1 200 555 0100", None),  # 200 is not a US area code
        ("12", "US"),
        ("0" * 300, "US"),
    ],
)
def test_invalid_numbers_are_kept_raw_and_not_valid(raw: str, region: str | None) -> None:
    signal = parse_phone(raw, region)
    assert (signal.raw, signal.e164, signal.valid) == (raw, None, False)


def test_results_are_memoized() -> None:
    parse_phone.cache_clear()
    first = parse_phone("+1 415 555 2671", None)
    assert parse_phone("+1 415 555 2671", None) is first
    assert parse_phone.cache_info().hits == 1


def test_regions() -> None:
    assert is_region("US")
    assert not is_region("us")
    assert not is_region("XX")
    assert not is_region(None)


@settings(deadline=None)
@given(st.text(), st.sampled_from([None, "US", "GB", "IN"]))
def test_any_text_gives_a_signal_not_an_exception(raw: str, region: str | None) -> None:
    signal = parse_phone(raw, region)
    assert signal.raw == raw
    assert signal.valid == (signal.e164 is not None)
    if signal.e164 is not None:
        assert signal.e164.startswith("+")
        assert signal.e164[1:].isdigit()


def test_the_record_of_a_number_is_shared_and_read_only() -> None:
    record = phone_record("+1 415 555 2671", None)
    assert record == parse_phone("+1 415 555 2671", None).as_record()
    assert phone_record("+1 415 555 2671", None) is record
    with pytest.raises(TypeError):
        record["valid"] = False
