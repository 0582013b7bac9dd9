from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskrelay.enrich.ip import (
    IpCountryLookup,
    NoCountryLookup,
    RirCountryLookup,
    classify_ip,
    ip_signal,
)

RIR = RirCountryLookup()


@pytest.mark.parametrize(
    ("raw", "version", "country"),
    [
        ("8.8.8.8", 4, "US"),  # Google, ARIN
        ("1.0.16.1", 4, "JP"),  # APNIC
        ("2001:4860:4860::8888", 6, "US"),
        ("::ffff:8.8.8.8", 6, "US"),  # IPv4-mapped: the IPv4 address is looked up
    ],
)
def test_public_addresses_get_a_country(raw: str, version: int, country: str) -> None:
    assert ip_signal(raw, RIR) == {
        "valid": True,
        "version": version,
        "private": False,
        "reserved": False,
        "country": country,
    }


@pytest.mark.parametrize(
    "raw",
    [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",  # carrier-grade NAT
        "198.51.100.7",  # documentation
        "fc00::1",  # unique local
        "::ffff:192.168.1.1",
    ],
)
def test_private_addresses(raw: str) -> None:
    signal = ip_signal(raw, RIR)
    assert (signal["valid"], signal["private"], signal["reserved"]) == (True, True, False)
    assert signal["country"] is None


@pytest.mark.parametrize(
    "raw",
    [
        "127.0.0.1",
        "::1",
        "169.254.10.1",
        "fe80::1",
        "224.0.0.1",
        "ff02::1",
        "240.0.0.1",
        "0.0.0.0",
        "::",
    ],
)
def test_reserved_addresses(raw: str) -> None:
    signal = ip_signal(raw, RIR)
    assert (signal["valid"], signal["private"], signal["reserved"]) == (True, False, True)
    assert signal["country"] is None


@pytest.mark.parametrize("raw", ["999.1.1.1", "1.2.3", "", "localhost", "1.2.3.4/24", "::g"])
def test_invalid_addresses(raw: str) -> None:
    assert ip_signal(raw, RIR) == {
        "valid": False,
        "version": None,
        "private": False,
        "reserved": False,
        "country": None,
    }


def test_canonical_form() -> None:
    assert classify_ip("2001:0DB8:0000::0001").address == "2001:db8::1"
    assert classify_ip(" 8.8.8.8 ").address == "8.8.8.8"


class Fixed:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def country(self, address: str) -> str | None:
        self.asked.append(address)
        return "ZZ"


def test_lookups_are_pluggable_and_asked_only_about_public_addresses() -> None:
    lookup = Fixed()
    plugged: IpCountryLookup = lookup
    assert ip_signal("81.2.69.142", plugged)["country"] == "ZZ"
    assert ip_signal("10.0.0.1", plugged)["country"] is None
    assert ip_signal("nope", plugged)["country"] is None
    assert lookup.asked == ["81.2.69.142"]
    assert ip_signal("81.2.69.142", NoCountryLookup())["country"] is None
    assert ip_signal("81.2.69.142", None)["country"] is None


@settings(deadline=None)
@given(st.one_of(st.text(), st.ip_addresses().map(str)))
def test_any_text_gives_a_signal_not_an_exception(raw: str) -> None:
    signal = ip_signal(raw, RIR)
    assert signal["version"] in (None, 4, 6)
    assert not (signal["private"] and signal["reserved"])
    assert signal["country"] is None or len(signal["country"]) == 2
