from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskrelay.enrich.email import EmailSignal, clean_email, email_record, email_signal


@pytest.mark.parametrize(
    ("value", "domain"),
    [
        ("jane.doe@example.com", "example.com"),
        ("  Jane.Doe+tag@Mail.Example.CO.UK ", "mail.example.co.uk"),
        ("o'brien@example.ie", "example.ie"),
        ("a@b-c.io", "b-c.io"),
    ],
)
def test_valid_addresses(value: str, domain: str) -> None:
    assert email_signal(value) == EmailSignal(True, domain)


@pytest.mark.parametrize(
    ("value", "domain"),
    [
        ("nobody", None),
        ("nobody@", None),
        ("@example.com", "example.com"),
        ("a@localhost", "localhost"),
        ("a@@example.com", "example.com"),
        ("a b@example.com", "example.com"),
        ("a@-example.com", "-example.com"),
        ("a@example..com", "example..com"),
        ("a@exa_mple.com", "exa_mple.com"),
        ("jöhn@example.com", "example.com"),
        ("", None),
        ("x" * 250 + "@example.com", "example.com"),
    ],
)
def test_malformed_addresses_are_not_valid(value: str, domain: str | None) -> None:
    assert email_signal(value) == EmailSignal(False, domain)


def test_clean_email() -> None:
    assert clean_email("  A@B.COM\t") == "a@b.com"


@settings(deadline=None)
@given(st.text())
def test_any_text_gives_a_signal_not_an_exception(value: str) -> None:
    signal = email_signal(value)
    if signal.valid:
        assert signal.domain is not None
        assert "." in signal.domain
        assert clean_email(value).endswith("@" + signal.domain)


def test_the_record_of_an_address_is_shared_and_read_only() -> None:
    record = email_record(" Jane@Example.COM ")
    assert record == email_signal(" Jane@Example.COM ").as_record()
    assert email_record(" Jane@Example.COM ") is record
    with pytest.raises(TypeError):
        record["valid"] = False
