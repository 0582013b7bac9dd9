"""Round trips between minor units, exact major units and decimal strings, for every
ISO 4217 currency with 0, 2 or 3 decimals: exact Decimal arithmetic, never a float."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iso4217 import Currency

from riskrelay.errors import ValidationError
from riskrelay.normalize.money import (
    decimal_string,
    exponent,
    major_float,
    to_major,
    to_minor,
)

LONG = 2**63 - 1
# Every ISO 4217 currency, grouped by its minor-unit exponent straight from the package.
BY_PLACES = {
    places: sorted(c.code for c in Currency if c.exponent == places) for places in (0, 2, 3)
}


def test_every_exponent_has_currencies() -> None:
    assert {"JPY", "KRW"} <= set(BY_PLACES[0])
    assert {"USD", "EUR"} <= set(BY_PLACES[2])
    assert {"KWD", "BHD"} <= set(BY_PLACES[3])


def currencies(places: int) -> st.SearchStrategy[str]:
    return st.sampled_from(BY_PLACES[places])


any_currency = st.sampled_from([code for codes in BY_PLACES.values() for code in codes])


@pytest.mark.parametrize("places", [0, 2, 3])
@settings(deadline=None)
@given(data=st.data())
def test_minor_to_major_and_back_is_the_identity(places: int, data: st.DataObject) -> None:
    currency = data.draw(currencies(places))
    amount = data.draw(st.integers(min_value=0, max_value=LONG))
    money = {"amount_minor": amount, "currency": currency}
    major = to_major(money)
    assert isinstance(major, Decimal)
    assert major * 10**places == amount
    assert to_minor(major, currency) == amount


@pytest.mark.parametrize("places", [0, 2, 3])
@settings(deadline=None)
@given(data=st.data())
def test_decimal_string_has_the_currencys_decimals_and_parses_back(
    places: int, data: st.DataObject
) -> None:
    currency = data.draw(currencies(places))
    amount = data.draw(st.integers(min_value=0, max_value=LONG))
    text = decimal_string({"amount_minor": amount, "currency": currency})
    whole, point, fraction = text.partition(".")
    assert whole.isdigit()
    assert (point, len(fraction)) == (("." if places else ""), places)
    assert to_minor(Decimal(text), currency) == amount


@pytest.mark.parametrize("places", [0, 2, 3])
@settings(deadline=None)
@given(data=st.data())
def test_major_amounts_at_the_minor_unit_convert_exactly(places: int, data: st.DataObject) -> None:
    currency = data.draw(currencies(places))
    major = data.draw(
        st.decimals(
            min_value=0, max_value=Decimal(LONG).scaleb(-places), places=places, allow_nan=False
        )
    )
    minor = to_minor(major, currency)
    assert to_major({"amount_minor": minor, "currency": currency}) == major


@pytest.mark.parametrize("places", [0, 2, 3])
@settings(deadline=None)
@given(data=st.data())
def test_amounts_finer_than_the_minor_unit_are_refused(places: int, data: st.DataObject) -> None:
    currency = data.draw(currencies(places))
    whole = data.draw(st.integers(min_value=0, max_value=10**12))
    extra = data.draw(st.integers(min_value=1, max_value=9))
    # One digit past the currency's last decimal, never zero: not a whole minor unit.
    major = Decimal(whole).scaleb(-places) + Decimal(extra).scaleb(-places - 1)
    with pytest.raises(ValidationError, match="finer than"):
        to_minor(major, currency)


@settings(deadline=None)
@given(st.integers(min_value=0, max_value=LONG), any_currency)
def test_the_float_rendering_is_the_nearest_float_to_the_exact_amount(
    amount: int, currency: str
) -> None:
    money = {"amount_minor": amount, "currency": currency}
    exact = to_major(money)
    rendered = major_float(money)
    # Within half a unit in the last place of the float: correctly rounded.
    assert abs(Decimal(rendered) - exact) <= Decimal(math.ulp(rendered)) / 2


@settings(deadline=None)
@given(any_currency)
def test_exponent_is_the_packages(currency: str) -> None:
    assert exponent(currency) == Currency(currency).exponent


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_amounts_are_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="not a finite number"):
        to_minor(Decimal(value), "USD")
