"""The hand-written Avro values must be fastavro's bytes, or refuse (``Unsupported``)."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import fastavro
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskrelay.schemas.binary import (
    NULL,
    PRESENT,
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
)
from tests.fixtures.avro import avro_bytes

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
EPOCH_MS = st.integers(-62_135_596_800_000, 253_402_300_799_999)  # datetime's whole range


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.integers(LONG_MIN, LONG_MAX),
        st.integers(-(2**42), 2**42),
        st.integers(-300, 300),
        EPOCH_MS,
    )
)
def test_longs_are_fastavros(value: int) -> None:
    assert long_bytes(value) == avro_bytes("long", value)


@pytest.mark.parametrize("value", [LONG_MAX + 1, LONG_MIN - 1, 2**80, True, 1.0, "1", None])
def test_what_is_not_a_long_is_refused(value: Any) -> None:
    with pytest.raises(Unsupported):
        long_bytes(value)


@settings(deadline=None)
@given(st.integers(-(2**31), 2**31 - 1))
def test_ints_are_fastavros(value: int) -> None:
    assert int_bytes(value) == avro_bytes("int", value)


@pytest.mark.parametrize("value", [2**31, -(2**31) - 1, False])
def test_ints_out_of_range_are_refused(value: Any) -> None:
    with pytest.raises(Unsupported):
        int_bytes(value)


@settings(deadline=None)
@given(st.text())
def test_strings_are_fastavros(value: str) -> None:
    try:
        expected = avro_bytes("string", value)
    except UnicodeEncodeError:  # a lone surrogate: neither writes it
        with pytest.raises(UnicodeEncodeError):
            string_bytes(value)
        return
    assert string_bytes(value) == expected


@settings(deadline=None)
@given(st.floats())
def test_doubles_are_fastavros(value: float) -> None:
    assert double_bytes(value) == avro_bytes("double", value)


def test_a_double_must_be_a_float() -> None:
    for value in (1, True, "1.0"):
        with pytest.raises(Unsupported):
            double_bytes(value)


MILLIS = {"type": "long", "logicalType": "timestamp-millis"}


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(0))]),
    )
)
def test_aware_datetimes_are_fastavros_milliseconds(value: datetime) -> None:
    assert long_bytes(millis(value)) == avro_bytes(MILLIS, value)


@settings(deadline=None)
@given(EPOCH_MS)
def test_epoch_milliseconds_pass_as_they_are(value: int) -> None:
    assert long_bytes(millis(value)) == avro_bytes(MILLIS, value)


def test_a_naive_datetime_is_left_to_fastavro() -> None:
    with pytest.raises(Unsupported):
        millis(datetime(2026, 11, 21, 12, 0))


@settings(deadline=None)
@given(st.lists(st.text(max_size=5)))
def test_arrays_are_one_block_like_fastavros(values: list[str]) -> None:
    values = [value.encode("utf-8", "replace").decode() for value in values]
    expected = avro_bytes({"type": "array", "items": "string"}, values)
    assert array_bytes(string_bytes, values) == expected


def test_an_array_must_be_a_list() -> None:
    with pytest.raises(Unsupported):
        array_bytes(string_bytes, ("a",))


def test_names_are_memoized_strings() -> None:
    names = Names(size=2)
    assert names("US") == string_bytes("US")
    assert names("US") is names("US")
    for value in ("a", "b", "c"):  # past the size, the memo starts over
        assert names(value) == string_bytes(value)
    with pytest.raises(Unsupported):
        names(5)


def test_a_frozen_record_does_not_change_and_its_copies_are_plain_dicts() -> None:
    record = FrozenRecord({"a": 1, "b": [2]}, b"\x02x")
    changes = [
        lambda: record.__setitem__("a", 2),
        lambda: record.__delitem__("a"),
        lambda: record.update(a=2),
        lambda: record.pop("a"),
        lambda: record.popitem(),
        lambda: record.setdefault("c", 3),
        record.clear,
    ]
    for change in changes:
        with pytest.raises(TypeError):
            change()
    with pytest.raises(TypeError):
        record |= {"c": 3}
    assert record == {"a": 1, "b": [2]}
    assert orjson.dumps({"x": record}) == b'{"x":{"a":1,"b":[2]}}'
    for copied in (
        dict(record),
        {**record},
        record | {},
        copy.copy(record),
        copy.deepcopy(record),
        pickle.loads(pickle.dumps(record)),
    ):
        assert type(copied) is dict
        assert copied == record


SIGNAL = {
    "type": "record",
    "name": "Signal",
    "fields": [
        {"name": "valid", "type": "boolean"},
        {"name": "domain", "type": ["null", "string"], "default": None},
    ],
}


def test_memoized_records_are_written_once_by_value() -> None:
    write = memoized_record(fastavro.parse_schema(SIGNAL), 16)
    expected = PRESENT + avro_bytes(SIGNAL, {"valid": True, "domain": "example.com"})
    assert write({"valid": True, "domain": "example.com"}) == expected
    assert write({"domain": "example.com", "valid": True}) == expected  # by field, not order
    assert write(None) == NULL
    frozen = FrozenRecord({"valid": True, "domain": "example.com"})
    assert write(frozen) == expected
    assert frozen.avro == expected  # kept on the record: the next event finds it there
    with pytest.raises(Unsupported):
        write(("Signal", {"valid": True, "domain": None}))
    with pytest.raises(KeyError):
        write({"valid": True})
