"""User agents parsed with ``ua-parser`` (the uap-core rules) into browser, OS, device.

``ua-parser`` 1.x with its ``regex`` extra runs the rules in Rust (``ua-parser-rs``), the
fastest of its backends; still, a full parse costs tens of microseconds, and a subject's
user agent repeats on every event, so whole results are memoized in a bounded LRU.

uap-core names devices but has no device class; the class is derived here from what it
does name, in this order: bot (its ``Spider`` device, or a scripted HTTP client), tablet,
mobile, desktop (by OS family), else other (TVs, consoles, unknown).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

from ua_parser import (
    BestAvailableResolver,
    Parser,
    Re2Resolver,
    RegexResolver,
    load_builtins,
    load_lazy_builtins,
)

from riskrelay.schemas.binary import FrozenRecord

USER_AGENT_UNKNOWN = "user_agent_unknown"
_CACHE_SIZE = 4_096
# Real user agents stay under 512 characters; longer ones are junk or attacks on parsers.
_MAX_LENGTH = 2_048
# Clients that uap-core recognizes as software but not as a Spider: scripts and headless
# browsers, which on a consumer sign-in are automation.
_SCRIPTED = frozenset(
    {
        "curl",
        "Wget",
        "Python Requests",
        "Python-urllib",
        "Go-http-client",
        "Apache-HttpClient",
        "HeadlessChrome",
        "PhantomJS",
    }
)
_MOBILE_OS = frozenset(
    {"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "Symbian OS", "Firefox OS"}
)
_DESKTOP_OS = frozenset(
    {
        "Windows",
        "Mac OS X",
        "Linux",
        "Ubuntu",
        "Chrome OS",
        "Fedora",
        "Debian",
        "Red Hat",
        "SUSE",
        "Linux Mint",
        "FreeBSD",
        "OpenBSD",
        "NetBSD",
        "Solaris",
    }
)


class UserAgentSignal(NamedTuple):
    browser: str | None
    browser_version: str | None
    os: str | None
    os_version: str | None
    device_brand: str | None
    device_model: str | None
    device_class: str
    known: bool  # ua-parser recognized something; False raises the unknown flag

    def as_record(self) -> dict[str, Any]:
        # Spelled out: built once per event, and ``_asdict`` is several times slower.
        return {
            "browser": self.browser,
            "browser_version": self.browser_version,
            "os": self.os,
            "os_version": self.os_version,
            "device_brand": self.device_brand,
            "device_model": self.device_model,
            "device_class": self.device_class,
        }


_UNKNOWN = UserAgentSignal(None, None, None, None, None, None, "other", False)


class UserAgentParser:
    """Loads the uap-core rules once; ``parse_record``, what the enrichment asks for, is
    memoized per instance (``parse`` is not: one cache per parser is enough)."""

    def __init__(self, cache_size: int = _CACHE_SIZE) -> None:
        fast = RegexResolver is not None or Re2Resolver is not None
        matchers = load_lazy_builtins() if fast else load_builtins()
        self._parser = Parser(BestAvailableResolver(matchers))
        self.parse_record = lru_cache(maxsize=cache_size)(self._parse_record)

    def _parse_record(self, raw: str) -> tuple[FrozenRecord, bool]:
        """The enrichment's ``user_agent`` record of ``raw`` and whether ua-parser knew
        it, the record shared read-only by the events that carry the user agent (as
        ``phone.phone_record``)."""
        signal = self.parse(raw)
        return FrozenRecord(signal.as_record()), signal.known

    def parse(self, raw: str) -> UserAgentSignal:
        if not raw.strip() or len(raw) > _MAX_LENGTH:
            return _UNKNOWN
        result = self._parser.parse(raw)
        agent, os, device = result.user_agent, result.os, result.device
        if agent is None and os is None and device is None:
            return _UNKNOWN
        browser = agent.family if agent is not None else None
        os_family = os.family if os is not None else None
        return UserAgentSignal(
            browser=browser,
            browser_version=_version(agent.major, agent.minor) if agent is not None else None,
            os=os_family,
            os_version=_version(os.major, os.minor) if os is not None else None,
            device_brand=device.brand if device is not None else None,
            device_model=device.model if device is not None else None,
            device_class=_device_class(raw, browser, os_family, device),
            known=True,
        )


def _version(major: str | None, minor: str | None) -> str | None:
    if not major:
        return None
    return f"{major}.{minor}" if minor else major


def _device_class(raw: str, browser: str | None, os: str | None, device: Any) -> str:
    family = device.family if device is not None else ""
    brand = (device.brand or "") if device is not None else ""
    if family == "Spider" or browser in _SCRIPTED:
        return "bot"
    if family in ("iPad", "Kindle") or "Tablet" in brand or "Tablet" in family:
        return "tablet"
    # Android browsers say "Mobile" on phones only (Google's own guidance to sites).
    if os == "Android" and raw.startswith("Mozilla/") and "Mobile" not in raw:
        return "tablet"
    if os in _MOBILE_OS:
        return "mobile"
    if os in _DESKTOP_OS:
        return "desktop"
    return "other"


@lru_cache(maxsize=1)
def default_parser() -> UserAgentParser:
    """One parser per process: its rules take a while to load and never change."""
    return UserAgentParser()
