"""ISO 3166-1 alpha-2 country codes, checked against ``pycountry``'s copy of the ISO list."""

from __future__ import annotations

import pycountry

COUNTRY_INVALID = "country_invalid"
_ALPHA_2 = frozenset(country.alpha_2 for country in pycountry.countries)


def clean_country(value: str) -> str:
    """The canonical spelling: trimmed, upper case."""
    return value.strip().upper()


def is_country(code: str) -> bool:
    """Whether ``code`` (already cleaned) is an assigned ISO 3166-1 alpha-2 code."""
    return code in _ALPHA_2


def country_flag(path: str) -> str:
    """The flag naming the field whose country code is not ISO 3166-1 alpha-2."""
    return f"{COUNTRY_INVALID}:{path}"
