"""E-mail addresses: trimmed, lower-cased, checked for shape, domain extracted.

The shape is the WHATWG HTML "valid e-mail address" (what browsers' ``type=email``
fields accept, so what sign-up forms let through) plus a dot in the domain, since every
provider we deliver to rejects dotless domains. Deliverability (DNS) is out of scope: no
I/O per event. A library such as ``email-validator`` adds IDNA and quoted local parts
that upstream forms never produce, at a multiple of the cost.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, NamedTuple

from riskrelay.schemas.binary import FrozenRecord

EMAIL_INVALID = "email_invalid"
# RFC 5321: 254 characters is the longest address a mail server accepts.
_MAX_LENGTH = 254
_CACHE_SIZE = 8_192  # values repeat per active subject; bounded for the worker's memory budget
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_SHAPE = re.compile(rf"[a-z0-9.!#$%&'*+/=?^_`{{|}}~-]+@{_LABEL}(?:\.{_LABEL})+")


class EmailSignal(NamedTuple):
    valid: bool
    domain: str | None

    def as_record(self) -> dict[str, Any]:
        return {"valid": self.valid, "domain": self.domain}


def clean_email(value: str) -> str:
    """The form addresses are compared and hashed in: trimmed, lower case."""
    return value.strip().lower()


@lru_cache(maxsize=_CACHE_SIZE)
def email_signal(value: str) -> EmailSignal:
    """Memoized like the other per-subject signals: a subject sends the same address
    again and again."""
    email = clean_email(value)
    _, at, domain = email.rpartition("@")
    valid = len(email) <= _MAX_LENGTH and _SHAPE.fullmatch(email) is not None
    return EmailSignal(valid, domain if at and domain else None)


@lru_cache(maxsize=_CACHE_SIZE)
def email_record(value: str) -> FrozenRecord:
    """The enrichment's ``email`` record of ``value``, shared read-only by the events
    that carry the address (as ``phone_record``). Built from the memoized signal that the
    providers' checks read too, so an address is looked at once."""
    return FrozenRecord(email_signal(value).as_record())
