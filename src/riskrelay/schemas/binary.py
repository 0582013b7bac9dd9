"""Avro binary encoding of single values in plain Python, byte for byte what fastavro
writes, for the hand-written writers of ``riskrelay.schemas.writers``.

Each function takes only the exact Python types whose fastavro encoding it reproduces
and raises ``Unsupported`` for anything else, so that the caller can have fastavro
write the whole record, which accepts or refuses the value by its own rules.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from operator import itemgetter
from typing import Any, NoReturn

import fastavro

Write = Callable[[Any], bytes]

NULL = b"\x00"
"""The null branch of a ``["null", T]`` union; also an empty array, and false."""
PRESENT = b"\x02"
"""The second branch of a ``["null", T]`` union (zig-zag 1)."""
TRUE = b"\x01"
_SMALL = tuple(bytes((n,)) for n in range(128))
_DOUBLE = struct.Struct("<d").pack
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


class Unsupported(Exception):
    """A value these functions do not write exactly as fastavro would: let fastavro."""


class FrozenRecord(dict[str, Any]):
    """A record value that does not change once made: shared by the events it describes
    (the signal of a repeated phone number), or made with its own Avro bytes. A dict,
    so that every reader takes it as one (adapters, orjson, fastavro); its mutating
    methods raise, so that neither the sharers nor the bytes can be surprised. A copy
    (``dict(r)``, ``{**r}``, ``copy``, pickling) is a plain dict.

    ``avro``: its bytes as written in a ``["null", record]`` field (the branch, then
    the record), set by whoever wrote it first, so that it is written once."""

    __slots__ = ("avro",)

    def __init__(
        self,
        fields: Mapping[str, Any] | Iterable[tuple[str, Any]],
        avro: bytes | None = None,
    ) -> None:
        super().__init__(fields)
        self.avro = avro

    def _frozen(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a FrozenRecord does not change: change a copy (dict(record))")

    __setitem__ = _frozen
    __delitem__ = _frozen
    __ior__ = _frozen
    clear = _frozen
    pop = _frozen
    popitem = _frozen
    setdefault = _frozen
    update = _frozen

    def __reduce__(self) -> tuple[type[dict[str, Any]], tuple[dict[str, Any]]]:
        return dict, (dict(self),)


def varint(n: int) -> bytes:
    """Unsigned LEB128, Avro's variable-length integer (0 <= ``n`` < 2**64). The sizes
    met most are spelled out: small counts, and the six bytes of a zig-zagged
    epoch-millisecond time (mid-1970 to 2039), which the loop takes twice as long to
    write."""
    if n < 0x80:
        return _SMALL[n]
    if n < 0x4000:
        return bytes((n & 0x7F | 0x80, n >> 7))
    if 1 << 35 <= n < 1 << 42:
        return bytes(
            (
                n & 0x7F | 0x80,
                n >> 7 & 0x7F | 0x80,
                n >> 14 & 0x7F | 0x80,
                n >> 21 & 0x7F | 0x80,
                n >> 28 & 0x7F | 0x80,
                n >> 35,
            )
        )
    if n >= 1 << 64:
        raise Unsupported(f"{n} does not fit 64 bits")
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def long_bytes(value: Any) -> bytes:
    """Avro ``long`` (zig-zag, then varint)."""
    if type(value) is not int:
        raise Unsupported(f"not an Avro long: {value!r}")
    return varint(value << 1 if value >= 0 else ((-value) << 1) - 1)


def int_bytes(value: Any) -> bytes:
    """Avro ``int``: a long in the 32-bit range (fastavro's union validation checks it)."""
    if type(value) is not int or not _INT_MIN <= value <= _INT_MAX:
        raise Unsupported(f"not an Avro int: {value!r}")
    return varint(value << 1 if value >= 0 else ((-value) << 1) - 1)


def string_bytes(value: Any) -> bytes:
    if type(value) is not str:
        raise Unsupported(f"not a string: {value!r}")
    encoded = value.encode()
    return varint(len(encoded) << 1) + encoded


def double_bytes(value: Any) -> bytes:
    if type(value) is not float:
        raise Unsupported(f"not a float: {value!r}")
    return _DOUBLE(value)


def millis(value: Any) -> int:
    """Epoch milliseconds of an aware datetime, floored (fastavro's reading), or of epoch
    milliseconds. fastavro reads a naive datetime as local time: that is left to it."""
    if type(value) is datetime and value.tzinfo is not None:
        return (value - _EPOCH) // _MS
    if type(value) is int:
        return value
    raise Unsupported(f"not an aware datetime or epoch milliseconds: {value!r}")


def array_bytes(write: Write, values: Any) -> bytes:
    """An array, in one block (fastavro's layout: count, items, end)."""
    if type(values) is not list:
        raise Unsupported(f"not a list: {values!r}")
    if not values:
        return NULL
    return b"".join([varint(len(values) << 1), *map(write, values), NULL])


class Names:
    """Memoized bytes of strings drawn from a small set (event kinds, country codes,
    registration sources): at most ``size``, the memo starts over when full."""

    def __init__(self, size: int = 1024) -> None:
        self._memo: dict[str, bytes] = {}
        self._size = size

    def __call__(self, value: Any) -> bytes:
        found = self._memo.get(value) if type(value) is str else None
        if found is None:
            found = string_bytes(value)
            if len(self._memo) >= self._size:
                self._memo.clear()
            self._memo[value] = found
        return found


def memoized_record(schema: Any, size: int) -> Write:
    """The writer of a ``["null", record]`` union whose records are pure functions of a
    value that repeats per subject (a phone number, an e-mail address, a user agent, an
    IP address: the enrichers memoize them the same way). ``schema`` is the record's
    parsed schema; fastavro writes a record the first time. A ``FrozenRecord`` keeps
    its bytes; a dict is found by its values in field order, so a value of the wrong
    type that compares equal to a right one (1.0 for 1) would get the right one's bytes
    where fastavro refuses it; values of the right types are written exactly."""
    names = tuple(field["name"] for field in schema["fields"])
    if len(names) < 2:
        raise ValueError("a memoized record needs two fields or more")
    values = itemgetter(*names)

    @lru_cache(maxsize=size)
    def written(key: tuple[Any, ...]) -> bytes:
        buffer = io.BytesIO()
        buffer.write(PRESENT)
        fastavro.schemaless_writer(buffer, schema, dict(zip(names, key, strict=True)))
        return buffer.getvalue()

    def write(value: Any) -> bytes:
        if value is None:
            return NULL
        kind = type(value)
        if kind is FrozenRecord:
            found: bytes | None = value.avro
            if found is None:
                found = value.avro = written(values(value))
            return found
        if kind is not dict:
            raise Unsupported(f"not a dict: {value!r}")
        return written(values(value))

    return write
