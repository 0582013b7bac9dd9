"""How each contract's records are written to Avro binary (the body of the wire format):
fastavro, except for the enrichment's sections of the normalized event, which the worker
writes for every event and which are written by hand here, byte for byte fastavro's.

An Avro record's encoding is its fields' encodings in order, and ``enrichment`` and
``profile`` are the normalized record's last fields: fastavro writes the fields before
them, ``NormalizedTail`` those two. fastavro costs ~0.45 µs per value and validates a
nullable record against its branch before writing it; here the stateless signal records
(pure functions of a phone, e-mail, user agent or IP address, which repeat per subject)
are written once per distinct record (the enrichers share one ``FrozenRecord`` per value,
which keeps its bytes), the profile signals come with their bytes (``signals_bytes``,
written from the epoch-ms values they are made of), and the rest is straight-line code.
Measured on the bench's enriched events (thread time): the two sections cost 20-30 µs a
record by fastavro, ~2 µs so, plus ~3 µs where the signals are made.

A record with a value the hand-written code does not take as is (``Unsupported``: an
unusual type; or a missing field) is written by fastavro whole, which writes or refuses
it by its own rules.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

import fastavro

from riskrelay.schemas import parsed_schema, schema_text, union_hints, with_union_hints
from riskrelay.schemas.binary import (
    NULL,
    PRESENT,
    TRUE,
    FrozenRecord,
    Names,
    Unsupported,
    array_bytes,
    double_bytes,
    int_bytes,
    long_bytes,
    memoized_record,
    millis,
    string_bytes,
    varint,
)

RecordWriter = Callable[[dict[str, Any]], bytes]

MEMO_SIZE = 8_192
"""Signal records memoized per kind (the enrichers' own cache size: values repeat per
active subject, and the worker has a memory budget)."""
_FALLBACK = (Unsupported, LookupError, TypeError, ValueError)
"""What the hand-written code raises on a record it does not write as fastavro would."""


class FastavroWriter:
    """fastavro, with union branches named (``with_union_hints``)."""

    def __init__(self, schema: Any) -> None:
        self._schema = schema
        self._hints = union_hints(schema)

    def __call__(self, record: dict[str, Any]) -> bytes:
        buffer = io.BytesIO()
        hinted = with_union_hints(record, self._hints) if self._hints else record
        fastavro.schemaless_writer(buffer, self._schema, hinted)
        return buffer.getvalue()


def _record(schema: Any, name: str) -> Any:
    """The JSON form of the record type ``name`` defined inside ``schema``."""
    if isinstance(schema, list):
        for branch in schema:
            if (found := _record(branch, name)) is not None:
                return found
    elif isinstance(schema, dict):
        if schema.get("type") == "record":
            if schema["name"] == name:
                return schema
            for field in schema["fields"]:
                if (found := _record(field["type"], name)) is not None:
                    return found
        elif schema.get("type") == "array":
            return _record(schema["items"], name)
    return None


def _fields(schema: Any, name: str, expected: tuple[str, ...]) -> Any:
    """Record ``name`` of ``schema``, checked to have the fields the hand-written code
    writes, in its order: a contract changed without it fails at start, not in bytes."""
    record = _record(schema, name)
    found = tuple(field["name"] for field in record["fields"]) if record else None
    if found != expected:
        raise ValueError(f"{name}: fields {found} are not the written {expected}")
    return record


ENRICHMENT_FIELDS = (
    "phone",
    "email",
    "user_agent",
    "ip",
    "card_network",
    "flags",
    "pii_hashes",
)
SIGNAL_FIELDS = (
    "registered_at",
    "registration_source",
    "first_seen_at",
    "last_seen_at",
    "days_since_registration",
    "session_started_at",
    "seconds_since_session_start",
    "failed_sign_ins_1h",
    "failed_sign_ins_24h",
    "new_device",
    "new_ip",
    "new_country",
    "velocity_1h",
    "initial_risk_score",
    "current_risk_score",
    "countries",
)
SIGNAL_TIMES = frozenset(("registered_at", "first_seen_at", "last_seen_at", "session_started_at"))
_SIGNAL_TIME_INDEXES = tuple(i for i, name in enumerate(SIGNAL_FIELDS) if name in SIGNAL_TIMES)


_signals = itemgetter(*SIGNAL_FIELDS)
_enrichment = itemgetter(*ENRICHMENT_FIELDS)
_SMALL_INTS = tuple(varint(n << 1) for n in range(64))
_BOOLEANS = (NULL, TRUE)
"""Indexed by a bool (or by 0 and 1, which fastavro writes alike); anything else raises."""


def _count(value: Any) -> bytes:
    """An Avro int that is most often a small count."""
    if type(value) is int and 0 <= value < 64:
        return _SMALL_INTS[value]
    return int_bytes(value)


class NormalizedTail:
    """``enrichment`` and ``profile`` of a normalized record, written by hand: the
    signal records once per distinct value, the rest straight-line (one lookup for a
    section's values, union branches inline)."""

    def __init__(self, schema: Any, memo_size: int = MEMO_SIZE) -> None:
        enrichment = _fields(schema, "Enrichment", ENRICHMENT_FIELDS)
        _fields(schema, "ProfileSignals", SIGNAL_FIELDS)
        names = [field["name"] for field in schema["fields"]]
        if names[-2:] != ["enrichment", "profile"]:
            raise ValueError(f"{schema['name']}: enrichment and profile are not its last fields")

        def memoized(field: str) -> Callable[[Any], bytes]:
            (branch,) = (f["type"][1] for f in enrichment["fields"] if f["name"] == field)
            return memoized_record(fastavro.parse_schema(branch, named_schemas={}), memo_size)

        self._phone = memoized("phone")
        self._email = memoized("email")
        self._agent = memoized("user_agent")
        self._ip = memoized("ip")
        self._hashes = memoized("pii_hashes")
        # Card networks, flags, countries and registration sources: a few hundred values.
        self._names = Names()

    def __call__(self, record: dict[str, Any]) -> bytes:
        return self.enrichment(record["enrichment"]) + self.profile(record["profile"])

    def enrichment(self, section: Any) -> bytes:
        if section is None:
            return NULL
        if type(section) is not dict:
            raise Unsupported(f"enrichment is not a dict: {section!r}")
        phone, email, agent, ip, network, flags, hashes = _enrichment(section)
        names = self._names
        return b"".join(
            (
                PRESENT,
                self._phone(phone),
                self._email(email),
                self._agent(agent),
                self._ip(ip),
                NULL if network is None else PRESENT + names(network),
                array_bytes(names, flags),
                self._hashes(hashes),
            )
        )

    def profile(self, section: Any) -> bytes:
        if section is None:
            return NULL
        if type(section) is FrozenRecord and section.avro is not None:
            return section.avro  # made with its bytes (``signals_record``)
        if type(section) is not dict:
            raise Unsupported(f"profile is not a dict: {section!r}")
        values = list(_signals(section))
        for index in _SIGNAL_TIME_INDEXES:
            if values[index] is not None:
                values[index] = millis(values[index])
        if type(values[-1]) is not list:  # signals_bytes writes any empty value as []
            raise Unsupported(f"countries is not a list: {values[-1]!r}")
        return signals_bytes(values)


def signals_bytes(values: Sequence[Any]) -> bytes:
    """The ``ProfileSignals`` record of ``values`` (in ``SIGNAL_FIELDS`` order, times as
    epoch milliseconds) as the present branch of the normalized ``profile`` field: the
    bytes fastavro writes for the record of datetimes made from them. Written where the
    values are made, the times need no converting back."""
    (
        registered,
        source,
        first_seen,
        last_seen,
        days,
        started,
        seconds,
        failed_short,
        failed_long,
        new_device,
        new_ip,
        new_country,
        velocity,
        initial,
        current,
        countries,
    ) = values
    registered_bytes = NULL if registered is None else _present_millis(registered)
    return b"".join(
        (
            PRESENT,
            registered_bytes,
            _SOURCES.get(source) or string_bytes(source),
            # Until a sign-up is seen, registration is the first sighting: written once.
            registered_bytes
            if first_seen == registered
            else (NULL if first_seen is None else _present_millis(first_seen)),
            NULL if last_seen is None else _present_millis(last_seen),
            NULL if days is None else PRESENT + _count(days),
            NULL if started is None else _present_millis(started),
            NULL if seconds is None else PRESENT + long_bytes(seconds),
            _count(failed_short),
            _count(failed_long),
            _BOOLEANS[new_device],
            _BOOLEANS[new_ip],
            _BOOLEANS[new_country],
            _count(velocity),
            NULL if initial is None else PRESENT + double_bytes(initial),
            NULL if current is None else PRESENT + double_bytes(current),
            array_bytes(_COUNTRIES, countries) if countries else NULL,
        )
    )


_SOURCES = {source: string_bytes(source) for source in ("sign_up", "first_seen")}
_COUNTRIES = Names()
"""Country codes (a few hundred): a bounded memo, like the enrichers' caches."""


def _present_millis(ms: Any) -> bytes:
    """The present branch of a nullable timestamp-millis given as epoch ms, in one
    ``bytes`` call for the times of mid-1970 to 2039 (six varint bytes)."""
    if type(ms) is int and 1 << 34 <= ms < 1 << 41:
        z = ms << 1
        return bytes(
            (
                2,
                z & 0x7F | 0x80,
                z >> 7 & 0x7F | 0x80,
                z >> 14 & 0x7F | 0x80,
                z >> 21 & 0x7F | 0x80,
                z >> 28 & 0x7F | 0x80,
                z >> 35,
            )
        )
    return PRESENT + long_bytes(ms)


class NormalizedWriter:
    """fastavro for the event's own fields, ``NormalizedTail`` for the enrichment's."""

    def __init__(self) -> None:
        schema = json.loads(schema_text("normalized"))
        self.tail = NormalizedTail(schema)
        head = {**schema, "fields": schema["fields"][:-2]}
        self._head = FastavroWriter(fastavro.parse_schema(head, named_schemas={}))
        self._whole = FastavroWriter(parsed_schema("normalized"))

    def __call__(self, record: dict[str, Any]) -> bytes:
        try:
            tail = self.tail(record)
        except _FALLBACK:
            return self._whole(record)
        return self._head(record) + tail


def record_writer(name: str) -> RecordWriter:
    """The writer of contract ``name``'s records (a new one: its memos are its own)."""
    if name == "normalized":
        return NormalizedWriter()
    return FastavroWriter(parsed_schema(name))
