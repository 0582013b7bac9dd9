"""Field checks shared by the provider sandboxes: each raises ``Invalid`` with the field
path and the reason, which the sandbox answers as its provider's 400 error."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pycountry

COUNTRIES = frozenset(country.alpha_2 for country in pycountry.countries)


class Invalid(Exception):
    """One contract violation; ``str()`` is the 400 message ``"<path>: <reason>"``."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")


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
