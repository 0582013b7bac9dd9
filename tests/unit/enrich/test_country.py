from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskrelay.enrich.country import clean_country, country_flag, is_country


@pytest.mark.parametrize("code", ["US", "GB", "DE", "JP", "BR", "NG", "AQ", "SS"])
def test_assigned_codes_are_countries(code: str) -> None:
    assert is_country(code)


@pytest.mark.parametrize("code", ["XX", "UK", "EU", "USA", "U", "", "us", "1X", "ZZ"])
def test_other_codes_are_not(code: str) -> None:
    assert not is_country(code)


def test_clean_and_flag() -> None:
    assert clean_country(" gb ") == "GB"
    assert country_flag("payment.card.country") == "country_invalid:payment.card.country"


@settings(deadline=None)
@given(st.text())
def test_any_text_is_answered_without_an_exception(value: str) -> None:
    if is_country(clean_country(value)):
        assert len(clean_country(value)) == 2
