"""Canonical money ``{"amount_minor": int, "currency": "USD"}`` and its renderings.

Providers want the same amount in different shapes (Unit21 a float in major units,
Dataspike a decimal string, Stripe minor units with a lower-case code); all of them
derive from the currency's ISO 4217 minor-unit exponent, so arithmetic stays in integers
and ``Decimal`` and only Unit21's final value is a float.

The exponents come from the ``iso4217`` package: it ships the ISO 4217 list as
published by its maintenance agency (SIX) and is re-released when that list changes.
CLDR-based tables (``babel.numbers.get_currency_precision``) describe how currencies
are *displayed* and differ from ISO 4217 for thirteen codes (IQD: 0 decimals in CLDR,
3 in ISO 4217; ALL, IRR, LBP, RSD, YER, ...: 0 against 2), which would shift amounts by
powers of ten. ``pycountry`` has the codes but not the exponents.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Context, Decimal
from types import MappingProxyType
from typing import Any

from iso4217 import Currency

from riskrelay.errors import ValidationError

# Code -> exponent; None for codes ISO 4217 gives no minor unit (gold, SDR, XXX, ...).
_EXPONENTS: Mapping[str, int | None] = MappingProxyType(
    {currency.code: currency.exponent for currency in Currency}
)


def is_currency(code: str) -> bool:
    """True for an upper-case ISO 4217 code that has a minor unit (money, not metals)."""
    return _EXPONENTS.get(code) is not None


def exponent(currency: str) -> int:
    """Minor-unit exponent of an upper-case ISO 4217 code (USD 2, JPY 0, KWD 3)."""
    places = _EXPONENTS.get(currency)
    if places is None:
        if currency in _EXPONENTS:
            raise ValidationError(f"currency: {currency!r} has no minor unit in ISO 4217")
        raise ValidationError(f"currency: {currency!r} is not an ISO 4217 code")
    return places


def to_major(money: Mapping[str, Any]) -> Decimal:
    """Exact amount in major units: ``{"amount_minor": 1050, "currency": "USD"}`` → 10.50."""
    # A long has at most 19 digits, well inside Decimal's default 28-digit precision.
    return Decimal(int(money["amount_minor"])).scaleb(-exponent(money["currency"]))


# Wide enough for any long in minor units at any exponent, so scaling never rounds.
_EXACT = Context(prec=60)


def to_minor(major: Decimal, currency: str) -> int:
    """Exact minor units of an amount in major units: Decimal("10.50") USD → 1050. An
    amount finer than the currency's minor unit (10.505 USD, 1.5 JPY) is refused, not
    rounded: which way to round is a business decision, never a conversion's."""
    places = exponent(currency)
    if not major.is_finite():
        raise ValidationError(f"amount: {major} is not a finite number")
    scaled = major.scaleb(places, context=_EXACT)
    if scaled != scaled.to_integral_value(context=_EXACT):
        raise ValidationError(f"amount: {major} is finer than {currency}'s {places} decimals")
    return int(scaled)


def decimal_string(money: Mapping[str, Any]) -> str:
    """Major units with exactly the currency's decimals: "560.00" USD, "560" JPY."""
    return f"{to_major(money):f}"


def major_float(money: Mapping[str, Any]) -> float:
    """Major units as the nearest float, for providers whose API takes a JSON number."""
    return float(to_major(money))


def lower_currency(money: Mapping[str, Any]) -> str:
    """The code in lower case, as Stripe and Coinflow spell it."""
    return str(money["currency"]).lower()


def normalize_currency(value: str, path: str) -> str:
    """``value`` trimmed and upper-cased, or ``ValidationError`` naming ``path``."""
    code = value.strip().upper()
    if not is_currency(code):
        if code in _EXPONENTS:
            raise ValidationError(f"{path}: {value!r} has no minor unit in ISO 4217")
        raise ValidationError(f"{path}: {value!r} is not an ISO 4217 code")
    return code


def normalize_money(money: Mapping[str, Any], path: str) -> dict[str, Any]:
    """Canonical copy of ``money``: non-negative minor units, known upper-case code."""
    amount = money["amount_minor"]
    if amount < 0:
        raise ValidationError(f"{path}.amount_minor: {amount} is negative")
    return {
        "amount_minor": amount,
        "currency": normalize_currency(money["currency"], f"{path}.currency"),
    }
