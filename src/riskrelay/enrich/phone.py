"""Phone numbers to E.164 with ``phonenumbers`` (Google's libphonenumber metadata).

Parsing is the costliest stateless step (tens of microseconds), and a subject sends the
same number again and again, so results are memoized in a bounded LRU keyed by the raw
text and the region used for numbers written in national format.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

from riskrelay.schemas.binary import FrozenRecord

PHONE_INVALID = "phone_invalid"
# Longer than any real number written with punctuation; also bounds the parser's work.
_MAX_LENGTH = 64
_CACHE_SIZE = 8_192  # values repeat per active subject; bounded for the worker's memory budget


class PhoneSignal(NamedTuple):
    raw: str
    e164: str | None
    valid: bool
    region: str | None

    def as_record(self) -> dict[str, Any]:
        # Spelled out: built once per event, and ``_asdict`` is several times slower.
        return {"raw": self.raw, "e164": self.e164, "valid": self.valid, "region": self.region}


def is_region(code: str | None) -> bool:
    """Whether ``phonenumbers`` knows ``code`` as a region to read national numbers in."""
    return code is not None and code in phonenumbers.SUPPORTED_REGIONS


@lru_cache(maxsize=_CACHE_SIZE)
def parse_phone(raw: str, region: str | None) -> PhoneSignal:
    """``raw`` parsed as written in ``region`` when it has no ``+`` country code; an
    unparsable or invalid number comes back ``valid=False``, never as an exception."""
    if len(raw) > _MAX_LENGTH:
        return PhoneSignal(raw, None, False, None)
    try:
        number = phonenumbers.parse(raw, region)
    except NumberParseException:
        return PhoneSignal(raw, None, False, None)
    if not phonenumbers.is_valid_number(number):
        return PhoneSignal(raw, None, False, phonenumbers.region_code_for_number(number))
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return PhoneSignal(raw, e164, True, phonenumbers.region_code_for_number(number))


@lru_cache(maxsize=_CACHE_SIZE)
def phone_record(raw: str, region: str | None) -> FrozenRecord:
    """The enrichment's ``phone`` record of ``raw`` (``parse_phone``'s signal), one per
    number and region: the events that carry it share it, read-only, and the normalized
    writer keeps its Avro bytes on it (a record built per event cost ~0.3 µs, and its
    bytes a lookup by value). Built from ``parse_phone``'s memo, which the providers'
    checks read too, so a number is parsed once."""
    return FrozenRecord(parse_phone(raw, region).as_record())
