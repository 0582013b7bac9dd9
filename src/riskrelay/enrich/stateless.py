"""The stateless half of the enrichment stage: signals computed from one normalized
event alone, and the PII-minimized copy of it for the analytics topic.

Every malformed descriptive value (phone, e-mail, country, IP, user agent, BIN) is kept
as received and named in ``enrichment.flags``; nothing here raises for bad input, since
an odd phone number does not make a payment less worth screening.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from riskrelay.enrich.card import BIN_INVALID, BIN_UNKNOWN, card_network, is_bin
from riskrelay.enrich.country import clean_country, country_flag, is_country
from riskrelay.enrich.email import EMAIL_INVALID, clean_email, email_record
from riskrelay.enrich.ip import (
    IP_INVALID,
    IpCountryLookup,
    RirCountryLookup,
    classify_ip,
    ip_record,
    ip_signal,
)
from riskrelay.enrich.phone import PHONE_INVALID, is_region, phone_record
from riskrelay.enrich.pii import pii_hash
from riskrelay.enrich.user_agent import USER_AGENT_UNKNOWN, default_parser

# Sections of the body that hold an ISO 3166-1 country, by field path.
_COUNTRY_FIELDS: tuple[tuple[str, ...], ...] = (
    ("user", "country"),
    ("address", "country"),
    ("payment", "card", "country"),
    ("payment", "bank_account", "country"),
    ("payment", "billing_address", "country"),
    ("payment", "shipping_address", "country"),
)
_COUNTRY_PATHS = tuple(".".join(path) for path in _COUNTRY_FIELDS)


@dataclass(frozen=True)
class EnrichOptions:
    """``default_phone_region`` reads numbers written without a ``+`` country code when
    the user's own country is unknown; ``pii_key`` turns PII minimization of the analytics
    copy on; ``ip_country`` maps public IPs to countries (None: no lookup)."""

    default_phone_region: str | None = None
    pii_key: bytes | None = None
    ip_country: IpCountryLookup | None = field(default_factory=RirCountryLookup)

    def __post_init__(self) -> None:
        region = self.default_phone_region
        if region is not None and not is_region(region):
            raise ValueError(f"default_phone_region: {region!r} is not a phone number region")
        if self.pii_key is not None and not self.pii_key:
            raise ValueError("pii_key: empty; leave it unset to turn PII minimization off")


def enrich(body: dict[str, Any], options: EnrichOptions) -> dict[str, Any]:
    """body with `enrichment` filled, user.phone replaced by its E.164 form when valid (raw
    kept in enrichment.phone.raw), and payment.card.network derived from the BIN when
    absent."""
    flags: list[str] = []
    out = dict(body)
    user = body.get("user")
    payment = body.get("payment")
    for path, value in zip(_COUNTRY_PATHS, _countries(body, user, payment), strict=True):
        # Most codes arrive clean (the normalizer trims and upper-cases): checked as they are first.
        if (
            isinstance(value, str)
            and not is_country(value)
            and not is_country(clean_country(value))
        ):
            flags.append(country_flag(path))
    phone = email = agent = None
    ip: dict[str, Any] | None = None
    if user is not None:
        raw_phone = user.get("phone")
        if raw_phone is not None:
            phone = phone_record(raw_phone, _phone_region(user.get("country"), options))
            if phone["valid"]:
                out["user"] = {**user, "phone": phone["e164"]}
            else:
                flags.append(PHONE_INVALID)
        raw_email = user.get("email")
        if raw_email is not None:
            email = email_record(raw_email)
            if not email["valid"]:
                flags.append(EMAIL_INVALID)
    session = body.get("session")
    if session is not None:
        raw_ip = session.get("ip_address")
        if raw_ip is not None:
            try:
                ip = ip_record(raw_ip, options.ip_country)  # type: ignore[arg-type]
            except TypeError:  # a lookup that cannot be a cache key: asked every time
                ip = ip_signal(raw_ip, options.ip_country)
            if not ip["valid"]:
                flags.append(IP_INVALID)
        raw_agent = session.get("user_agent")
        if raw_agent is not None:
            agent, known = default_parser().parse_record(raw_agent)
            if not known:
                flags.append(USER_AGENT_UNKNOWN)
    network = None
    card = payment.get("card") if payment is not None else None
    if payment is not None and card is not None:
        bin_ = card.get("bin") or ""
        network = card_network(bin_)
        if network is None:
            flags.append(BIN_UNKNOWN if is_bin(bin_) else BIN_INVALID)
        elif card.get("network") is None:
            out["payment"] = {**payment, "card": {**card, "network": network}}
    out["enrichment"] = {
        "phone": phone,
        "email": email,
        "user_agent": agent,
        "ip": ip,
        "card_network": network,
        "flags": flags,
        "pii_hashes": None,
    }
    return out


def for_analytics(body: dict[str, Any], options: EnrichOptions) -> dict[str, Any]:
    """The copy for the normalized (analytics) topic: when options.pii_key is set,
    user.email, user.phone and session.ip_address are nulled and enrichment.pii_hashes
    set; otherwise body unchanged. The phone's clear forms in enrichment.phone go too
    (raw emptied, e164 nulled); its validity and region stay."""
    key = options.pii_key
    if key is None:
        return body
    out = dict(body)
    enrichment = dict(body.get("enrichment") or _EMPTY_ENRICHMENT)
    email = phone = ip = None
    user = body.get("user")
    if user is not None:
        if user.get("email") is not None:
            email = pii_hash(key, clean_email(user["email"]))
        phone_signal = enrichment.get("phone")
        clear_phone = (phone_signal or {}).get("e164") or user.get("phone")
        if clear_phone is not None:
            phone = pii_hash(key, clear_phone)
        if phone_signal is not None:
            enrichment["phone"] = {**phone_signal, "raw": None, "e164": None}
        out["user"] = {**user, "email": None, "phone": None}
    session = body.get("session")
    if session is not None:
        if session.get("ip_address") is not None:
            ip = pii_hash(key, classify_ip(session["ip_address"]).address)
        out["session"] = {**session, "ip_address": None}
    enrichment["pii_hashes"] = {"email": email, "phone": phone, "ip": ip}
    out["enrichment"] = enrichment
    return out


_EMPTY_ENRICHMENT: dict[str, Any] = {
    "phone": None,
    "email": None,
    "user_agent": None,
    "ip": None,
    "card_network": None,
    "flags": [],
    "pii_hashes": None,
}


def _countries(
    body: dict[str, Any], user: dict[str, Any] | None, payment: dict[str, Any] | None
) -> tuple[Any, ...]:
    """The values at ``_COUNTRY_FIELDS``, in that order (read directly: this runs for
    every event, and a generic path walk costs several times more)."""
    address = body.get("address")
    user_country = user.get("country") if user is not None else None
    address_country = address.get("country") if address is not None else None
    if payment is None:
        return user_country, address_country, None, None, None, None
    return (
        user_country,
        address_country,
        *(
            None if (section := payment.get(name)) is None else section.get("country")
            for name in ("card", "bank_account", "billing_address", "shipping_address")
        ),
    )


def _phone_region(country: str | None, options: EnrichOptions) -> str | None:
    """A number without ``+`` is read as written in the user's country when that is
    known, else in the configured default region."""
    if country is not None:
        if is_region(country):  # already clean, as the normalizer leaves it
            return country
        code = clean_country(country)
        if is_region(code):
            return code
    return options.default_phone_region
