from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskrelay.enrich.user_agent import UserAgentParser, default_parser

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


@pytest.fixture(scope="module")
def parser() -> UserAgentParser:
    return default_parser()


def test_a_full_parse(parser: UserAgentParser) -> None:
    assert parser.parse(IPHONE).as_record() == {
        "browser": "Mobile Safari",
        "browser_version": "17.5",
        "os": "iOS",
        "os_version": "17.5",
        "device_brand": "Apple",
        "device_model": "iPhone",
        "device_class": "mobile",
    }


@pytest.mark.parametrize(
    ("agent", "device_class", "browser", "os"),
    [
        (IPHONE, "mobile", "Mobile Safari", "iOS"),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/125.0.0.0 Mobile Safari/537.36",
            "mobile",
            "Chrome Mobile",
            "Android",
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "tablet",
            "Mobile Safari",
            "iOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/125.0.0.0 Safari/537.36",
            "tablet",
            "Chrome",
            "Android",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0",
            "desktop",
            "Firefox",
            "Windows",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.4 Safari/605.1.15",
            "desktop",
            "Safari",
            "Mac OS X",
        ),
        (
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/125.0.0.0 Safari/537.36",
            "desktop",
            "Chrome",
            "Chrome OS",
        ),
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "bot",
            "Googlebot",
            None,
        ),
        ("curl/8.5.0", "bot", "curl", None),
        ("python-requests/2.31.0", "bot", "Python Requests", None),
        (
            "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) "
            "SamsungBrowser/4.0 Chrome/76.0.3809.146 TV Safari/537.36",
            "other",
            "Samsung Internet",
            "Tizen",
        ),
    ],
)
def test_device_classes(
    parser: UserAgentParser, agent: str, device_class: str, browser: str, os: str | None
) -> None:
    signal = parser.parse(agent)
    assert (signal.device_class, signal.browser, signal.os, signal.known) == (
        device_class,
        browser,
        os,
        True,
    )


@pytest.mark.parametrize("agent", ["", "   ", "garbage", "x" * 5000])
def test_unrecognized_agents_are_unknown(parser: UserAgentParser, agent: str) -> None:
    signal = parser.parse(agent)
    assert not signal.known
    assert signal.as_record() == {
        "browser": None,
        "browser_version": None,
        "os": None,
        "os_version": None,
        "device_brand": None,
        "device_model": None,
        "device_class": "other",
    }


def test_records_are_memoized_per_parser() -> None:
    parser = UserAgentParser(cache_size=4)
    first = parser.parse_record(IPHONE)
    assert parser.parse_record(IPHONE) is first
    assert parser.parse_record.cache_info().hits == 1
    assert default_parser() is default_parser()


@settings(deadline=None)
@given(st.text())
def test_any_text_gives_a_signal_not_an_exception(agent: str) -> None:
    signal = default_parser().parse(agent)
    assert signal.device_class in {"desktop", "mobile", "tablet", "bot", "other"}


def test_the_record_of_a_user_agent_is_shared_read_only_with_whether_it_was_known() -> None:
    parser = UserAgentParser(cache_size=4)
    record, known = parser.parse_record(IPHONE)
    assert (record, known) == (parser.parse(IPHONE).as_record(), True)
    assert parser.parse_record(IPHONE)[0] is record
    with pytest.raises(TypeError):
        record["os"] = None
    assert parser.parse_record("???")[1] is False
