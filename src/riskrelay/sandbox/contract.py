"""Field checks shared by the provider sandboxes: each raises ``Invalid`` with the field
path and the reason, which the sandbox answers as its provider's 400 error."""

from __future__ import annotations

import datetime
import ipaddress
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import pycountry
from aiohttp import web

COUNTRIES = frozenset(country.alpha_2 for country in pycountry.countries)
CURRENCIES = frozenset(currency.alpha_3 for currency in pycountry.currencies)
_INTEGER_TEXT = re.compile(r"-?[0-9]+")
_SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")


class Invalid(Exception):
    """One contract violation; ``str()`` is the 400 message ``"<path>: <reason>"``."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


Check = Callable[[Any, str], None]


def kind(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}
    return "null" if value is None else names.get(type(value), "object")


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def typed(*types: type, what: str) -> Check:
    def check(value: Any, path: str) -> None:
        if type(value) not in types:
            raise Invalid(path, f"must be {what}, got {kind(value)}")

    return check


string = typed(str, what="a string")
boolean = typed(bool, what="a boolean")
json_object = typed(dict, what="an object")
number = typed(int, float, what="a number")


def nonempty(value: Any, path: str) -> None:
    string(value, path)
    if not value.strip():
        raise Invalid(path, "must not be empty")


def enum(*choices: str) -> Check:
    allowed = frozenset(choices)
    listed = ", ".join(repr(choice) for choice in choices)

    def check(value: Any, path: str) -> None:
        if type(value) is not str or value not in allowed:
            raise Invalid(path, f"must be one of {listed}, got {shown(value)}")

    return check


def non_negative(value: Any, path: str) -> None:
    number(value, path)
    if value < 0:
        raise Invalid(path, f"must be >= 0, got {value}")


def positive(value: Any, path: str) -> None:
    number(value, path)
    if value <= 0:
        raise Invalid(path, f"must be > 0, got {value}")


def strings(value: Any, path: str) -> None:
    if type(value) is not list:
        raise Invalid(path, f"must be an array of strings, got {kind(value)}")
    for index, item in enumerate(value):
        nonempty(item, f"{path}[{index}]")


def currency(value: Any, path: str) -> None:
    string(value, path)
    if not (3 <= len(value) <= 10 and value.isascii() and value.isalnum()):
        raise Invalid(path, f"must be a currency code, got {shown(value)}")


def ip_address(value: Any, path: str) -> None:
    string(value, path)
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise Invalid(path, f"not a valid IP address: {shown(value)}") from None


def country(value: Any, path: str) -> None:
    if type(value) is not str or value not in COUNTRIES:
        raise Invalid(path, f"must be an ISO 3166-1 alpha-2 code, got {shown(value)}")


def iso_currency(*, lower: bool) -> Check:
    """An ISO 4217 code in one case only (lower: Stripe; upper: Coinflow)."""
    case = "lower" if lower else "upper"

    def check(value: Any, path: str) -> None:
        string(value, path)
        cased = value.lower() if lower else value.upper()
        if value != cased or value.upper() not in CURRENCIES:
            raise Invalid(path, f"must be a {case}-case ISO 4217 currency code, got {shown(value)}")

    return check


def integer_text(then: Check | None = None) -> Check:
    """A form-encoded integer (decimal digits, optional ``-``), then ``then`` on its value.

    Form values are strings, so ``number``-style checks apply to the parsed ``int``.
    """

    def check(value: Any, path: str) -> None:
        string(value, path)
        if not _INTEGER_TEXT.fullmatch(value):
            raise Invalid(path, f"must be an integer, got {shown(value)}")
        if then is not None:
            then(int(value), path)

    return check


def snake_case(value: Any, path: str) -> None:
    string(value, path)
    if not _SNAKE_CASE.fullmatch(value):
        raise Invalid(path, f"must be snake_case, got {shown(value)}")


@dataclass(frozen=True, slots=True)
class Obj:
    """An object's contract: a check per field, the required ones, whether others pass."""

    fields: Mapping[str, Check]
    required: tuple[str, ...] = ()
    open: bool = False

    def __call__(self, value: Any, path: str) -> None:
        if type(value) is not dict:
            raise Invalid(path or "body", f"must be an object, got {kind(value)}")
        prefix = f"{path}." if path else ""
        for name in self.required:
            if name not in value:
                raise Invalid(prefix + name, "required")
        for name, item in value.items():
            check = self.fields.get(name)
            if check is not None:
                check(item, prefix + name)
            elif not self.open:
                raise Invalid(prefix + name, "unknown field")


# Checks added for the Coinflow and Dataspike sandboxes.

integer = typed(int, what="an integer")


def int_range(low: int | None = None, high: int | None = None) -> Check:
    """An integer (never a float or boolean) within ``[low, high]`` (either end open)."""

    def check(value: Any, path: str) -> None:
        integer(value, path)
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"between {low} and {high}" if low is not None and high is not None else ""
            bounds = bounds or (f">= {low}" if low is not None else f"<= {high}")
            raise Invalid(path, f"must be {bounds}, got {value}")

    return check


def matching(regex: str, what: str) -> Check:
    """A string whose whole value matches ``regex``; else ``must be <what>, got ...``."""
    compiled = re.compile(regex)

    def check(value: Any, path: str) -> None:
        string(value, path)
        if compiled.fullmatch(value) is None:
            raise Invalid(path, f"must be {what}, got {shown(value)}")

    return check


decimal_string = matching(r"\d+(\.\d+)?", 'a non-negative decimal string such as "560.00"')
email = matching(r"[^@\s]+@[^@\s]+\.[^@\s.]+", "a valid email address")
hex_data = matching(r"0x([0-9a-fA-F]{2})*", "0x-prefixed hex data")
evm_address = matching(r"0x[0-9a-fA-F]{40}", "an EVM address (0x and 40 hex digits)")


def digits(count: int) -> Check:
    """A string of exactly ``count`` ASCII digits (card BINs, codes)."""
    return matching(f"[0-9]{{{count}}}", f"a string of exactly {count} digits")


def iso_date(value: Any, path: str) -> None:
    """A calendar date ``YYYY-MM-DD`` that exists."""
    string(value, path)
    try:
        if len(value) != 10:
            raise ValueError(value)
        datetime.date.fromisoformat(value)
    except ValueError:
        raise Invalid(path, f"must be a date YYYY-MM-DD, got {shown(value)}") from None


def uuid_string(value: Any, path: str) -> None:
    """A UUID in its canonical hyphenated text form (any case)."""
    string(value, path)
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise Invalid(path, f"must be a UUID, got {shown(value)}") from None
    if str(parsed) != value.lower():
        raise Invalid(path, f"must be a UUID in 8-4-4-4-12 form, got {shown(value)}")


async def read_json(request: web.Request) -> Any:
    """The request's JSON body; ``Invalid`` when not ``application/json`` or not JSON."""
    if request.content_type != "application/json":
        raise Invalid("body", f"Content-Type must be application/json, got {request.content_type}")
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise Invalid("body", "not valid JSON") from None
