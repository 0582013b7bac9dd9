from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskrelay.errors import ValidationError
from riskrelay.normalize.money import (
    decimal_string,
    exponent,
    is_currency,
    lower_currency,
    major_float,
    normalize_currency,
    normalize_money,
    to_major,
)


@pytest.mark.parametrize(
    ("currency", "places"),
    [("USD", 2), ("EUR", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3), ("IQD", 3)],
)
def test_exponent_is_the_iso_4217_minor_unit(currency: str, places: int) -> None:
    assert exponent(currency) == places


@pytest.mark.parametrize(
    ("currency", "message"),
    [
        ("ZZZ", "'ZZZ' is not an ISO 4217 code"),
        ("usd", "'usd' is not an ISO 4217 code"),
        ("", "'' is not an ISO 4217 code"),
        ("XAU", "'XAU' has no minor unit"),
    ],
)
def test_exponent_refuses_what_is_not_money(currency: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        exponent(currency)


@pytest.mark.parametrize(
    ("amount", "currency", "major", "text"),
    [
        (56000, "USD", Decimal("560.00"), "560.00"),
        (1050, "EUR", Decimal("10.50"), "10.50"),
        (7, "USD", Decimal("0.07"), "0.07"),
        (0, "USD", Decimal("0"), "0.00"),
        (560, "JPY", Decimal("560"), "560"),
        (1234, "KWD", Decimal("1.234"), "1.234"),
        (5, "KWD", Decimal("0.005"), "0.005"),
        (9_223_372_036_854_775_807, "USD", Decimal("92233720368547758.07"), "92233720368547758.07"),
    ],
)
def test_renderings_follow_the_exponent(
    amount: int, currency: str, major: Decimal, text: str
) -> None:
    money = {"amount_minor": amount, "currency": currency}
    assert to_major(money) == major
    assert decimal_string(money) == text
    assert major_float(money) == float(major)


def test_float_is_the_nearest_to_the_exact_amount() -> None:
    # 0.1 + 0.2 in floats is 0.30000000000000004; the exact route gives 0.3.
    assert major_float({"amount_minor": 30, "currency": "USD"}) == 0.3
    assert major_float({"amount_minor": 1999, "currency": "USD"}) == 19.99


@given(st.integers(min_value=0, max_value=2**63 - 1), st.sampled_from(["USD", "JPY", "KWD"]))
def test_decimal_string_round_trips_to_minor_units(amount: int, currency: str) -> None:
    text = decimal_string({"amount_minor": amount, "currency": currency})
    places = exponent(currency)
    whole, _, fraction = text.partition(".")
    assert len(fraction) == places
    assert int(whole + fraction) == amount


def test_lower_currency() -> None:
    assert lower_currency({"amount_minor": 1, "currency": "USD"}) == "usd"


def test_normalize_money_upper_cases_and_checks() -> None:
    assert normalize_money({"amount_minor": 5, "currency": " eur "}, "fee") == {
        "amount_minor": 5,
        "currency": "EUR",
    }
    assert is_currency("EUR")
    assert not is_currency("eur")
    with pytest.raises(ValidationError, match=r"fee\.amount_minor: -1 is negative"):
        normalize_money({"amount_minor": -1, "currency": "USD"}, "fee")
    with pytest.raises(ValidationError, match=r"amount\.currency: 'usd1' is not an ISO 4217 code"):
        normalize_currency("usd1", "amount.currency")
    with pytest.raises(ValidationError, match=r"amount\.currency: 'XAG' has no minor unit"):
        normalize_currency("XAG", "amount.currency")
