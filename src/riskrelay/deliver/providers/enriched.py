"""Which values of a normalized event may go to a provider: not the malformed ones.

Normalization keeps a malformed e-mail, phone, country, IP or BIN so that one bad
descriptive field does not cost the event, and the enrichment stage names it in
``enrichment.flags`` (docs/enrichment.md, "Flags"). Providers refuse such values, and a
refusal fails the whole event, so adapters leave them out through ``usable``.

The flags are the one judgment. An event that went through no enrichment stage (it is
turned off) carries none; the enrichers' own checks then decide, so an adapter sends the
same thing either way. A phone written without ``+`` is read in the user's country
there, as the enricher does (it also knows the deployment's default region, which
adapters do not).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from riskrelay.enrich.card import BIN_INVALID, is_bin
from riskrelay.enrich.country import clean_country, country_flag, is_country
from riskrelay.enrich.email import EMAIL_INVALID, email_signal
from riskrelay.enrich.ip import IP_INVALID, classify_ip
from riskrelay.enrich.phone import PHONE_INVALID, is_region, parse_phone
from riskrelay.models import AvroRecord

COUNTRY_PATHS: tuple[str, ...] = (
    "user.country",
    "address.country",
    "payment.card.country",
    "payment.bank_account.country",
    "payment.billing_address.country",
    "payment.shipping_address.country",
)
"""The country fields the enrichment stage checks (``country_invalid:<path>``)."""

INVALID_FLAGS: Mapping[str, str] = {
    "user.email": EMAIL_INVALID,
    "user.phone": PHONE_INVALID,
    "session.ip_address": IP_INVALID,
    "payment.card.bin": BIN_INVALID,
    **{path: country_flag(path) for path in COUNTRY_PATHS},
}
"""Field path → the flag saying its value is malformed."""


def value_at(body: AvroRecord, path: str) -> Any:
    """The value at a dotted path (``payment.card.bin``); None where a section is absent."""
    value: Any = body
    for key in path.split("."):
        if value is None:
            return None
        value = value.get(key)
    return value


def flagged(body: AvroRecord, path: str) -> bool:
    """Whether the value at ``path`` is malformed: named in ``enrichment.flags``, or, on an
    event without enrichment, failing the check its enricher runs. An absent value is not."""
    flag = INVALID_FLAGS.get(path)
    if flag is None:
        raise ValueError(f"{path}: no enrichment flag says whether this field is valid")
    enrichment = body.get("enrichment")
    if enrichment is not None:
        return flag in (enrichment.get("flags") or ())
    value = value_at(body, path)
    if value is None:
        return False
    if not isinstance(value, str):
        return True
    return not _CHECKS.get(flag, _country_valid)(value, body)


def ip_address(value: Any) -> str | None:
    """An IP address in canonical form; None unless it is one (providers refuse the
    event otherwise, and the normalizer keeps a malformed one for enrichment to flag)."""
    if not isinstance(value, str):
        return None
    kind = classify_ip(value)
    return kind.address if kind.valid else None


def country_code(value: Any) -> str | None:
    """An ISO 3166-1 alpha-2 code, upper case; None otherwise (providers refuse others)."""
    if not isinstance(value, str):
        return None
    code = clean_country(value)
    return code if is_country(code) else None


def usable(body: AvroRecord, path: str) -> Any:
    """The value at ``path`` for a provider: None when it is absent, blank or malformed."""
    value = value_at(body, path)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return None if flagged(body, path) else value


def _email_valid(value: str, body: AvroRecord) -> bool:
    return email_signal(value).valid


def _phone_valid(value: str, body: AvroRecord) -> bool:
    country = value_at(body, "user.country")
    region = clean_country(country) if isinstance(country, str) else None
    return parse_phone(value, region if is_region(region) else None).valid


def _ip_valid(value: str, body: AvroRecord) -> bool:
    return classify_ip(value).valid


def _bin_valid(value: str, body: AvroRecord) -> bool:
    return is_bin(value)


def _country_valid(value: str, body: AvroRecord) -> bool:
    return is_country(clean_country(value))


_CHECKS: Mapping[str, Callable[[str, AvroRecord], bool]] = {
    EMAIL_INVALID: _email_valid,
    PHONE_INVALID: _phone_valid,
    IP_INVALID: _ip_valid,
    BIN_INVALID: _bin_valid,
}
"""The enrichers' checks by flag; every other flag in ``INVALID_FLAGS`` is a country's."""
