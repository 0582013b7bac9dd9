"""IP addresses: validity, version, private/reserved kind, and country.

Country comes from ``iptocc``: it embeds in its wheel the delegation files of the five
Regional Internet Registries (public data, no licence key, no download at run time),
refreshed with a new release every night, and answers a lookup in about 0.1 µs from Rust.
The country is the one the block was *assigned* to, which agrees with commercial
geolocation for roughly 95% of IPv4 addresses; a deployment that has a better database
plugs it in through ``IpCountryLookup``.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

import iptocc

from riskrelay.schemas.binary import FrozenRecord

IP_INVALID = "ip_invalid"
_CACHE_SIZE = 8_192  # values repeat per active subject; bounded for the worker's memory budget
# Longer than the longest textual IPv6 address with a scope id.
_MAX_LENGTH = 64


class IpCountryLookup(Protocol):
    def country(self, address: str) -> str | None:
        """ISO 3166-1 alpha-2 country of a valid, public, canonical ``address``, or None."""
        ...


class RirCountryLookup:
    """Country from the Regional Internet Registries' delegations bundled in ``iptocc``."""

    def country(self, address: str) -> str | None:
        return iptocc.country_code(address)


class NoCountryLookup:
    """For deployments that must not ship or use any IP database."""

    def country(self, address: str) -> str | None:
        return None


class IpKind(NamedTuple):
    """What the address itself says, independent of any database."""

    address: str  # canonical form when valid, else as received
    public_form: str  # what a country database is asked: the IPv4 inside a mapped IPv6
    valid: bool
    version: int | None
    private: bool
    reserved: bool

    def signal(self, country: str | None) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "version": self.version,
            "private": self.private,
            "reserved": self.reserved,
            "country": country,
        }


@lru_cache(maxsize=_CACHE_SIZE)
def classify_ip(raw: str) -> IpKind:
    """``reserved`` is loopback, link-local, multicast, IETF-reserved or unspecified;
    ``private`` is any other address not routed on the public internet (RFC 1918, unique
    local, carrier-grade NAT, documentation ranges, ...). An IPv4-mapped IPv6 address is
    judged by the IPv4 address it carries."""
    if len(raw) > _MAX_LENGTH:
        return IpKind(raw, raw, False, None, False, False)
    try:
        address = ipaddress.ip_address(raw.strip())
    except ValueError:
        return IpKind(raw, raw, False, None, False, False)
    judged: ipaddress.IPv4Address | ipaddress.IPv6Address = address
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        judged = address.ipv4_mapped
    reserved = (
        judged.is_loopback
        or judged.is_link_local
        or judged.is_multicast
        or judged.is_reserved
        or judged.is_unspecified
    )
    private = not reserved and (judged.is_private or not judged.is_global)
    return IpKind(str(address), str(judged), True, address.version, private, reserved)


def ip_signal(raw: str, lookup: IpCountryLookup | None) -> dict[str, Any]:
    kind = classify_ip(raw)
    public = kind.valid and not (kind.private or kind.reserved)
    country = lookup.country(kind.public_form) if public and lookup is not None else None
    return kind.signal(country)


@lru_cache(maxsize=_CACHE_SIZE)
def ip_record(raw: str, lookup: IpCountryLookup | None) -> FrozenRecord:
    """The enrichment's ``ip`` record of ``raw`` (``ip_signal``), one per address and
    lookup, shared read-only by the events that carry the address (as
    ``phone.phone_record``): a lookup's answer for an address is taken as fixed for the
    life of the process, as the bundled registry data is."""
    return FrozenRecord(ip_signal(raw, lookup))
