from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from riskrelay.enrich.pii import pii_hash


def test_rfc_4231_test_case_2() -> None:
    """HMAC-SHA256 known-answer test from RFC 4231."""
    assert (
        pii_hash(b"Jefe", "what do ya want for nothing?")
        == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_the_key_matters() -> None:
    assert pii_hash(b"key-1", "jane@example.com") != pii_hash(b"key-2", "jane@example.com")
    assert pii_hash(b"key-1", "jane@example.com") == pii_hash(b"key-1", "jane@example.com")


@settings(deadline=None)
@given(st.binary(min_size=1), st.text())
def test_any_value_hashes_to_64_hex_digits(key: bytes, value: str) -> None:
    digest = pii_hash(key, value)
    assert len(digest) == 64
    int(digest, 16)
