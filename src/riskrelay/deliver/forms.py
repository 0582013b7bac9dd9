"""Nested parameters as an ``application/x-www-form-urlencoded`` body in bracket notation,
the way Stripe takes them (``sandbox.forms.parse_form`` reads them back).

``{"events": [{"type": "refunded"}], "metadata": {"order": "7"}}`` becomes
``[("events[0][type]", "refunded"), ("metadata[order]", "7")]``. Lists take explicit
indexes (what Stripe's own libraries send; ``[]`` is ambiguous for lists of objects).
``None`` leaves a parameter out, as do an empty mapping or list: posting ``""`` to
Stripe *unsets* a value, so "nothing to say" must not be sent as an empty string.
An empty list *item* is refused, as it would shift the indexes after it.
Booleans are ``true``/``false``. Floats are refused: Stripe takes amounts as integers
in minor units, and ``str(float)`` could send ``1e-05``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

FormPairs = list[tuple[str, str]]


def _scalar(value: Any, name: str) -> str:
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    raise TypeError(f"{name}: cannot form-encode a {type(value).__name__}")


def _encode(value: Any, name: str, pairs: FormPairs) -> None:
    if value is None:
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                raise TypeError(f"{name}: parameter names must be non-empty strings")
            _encode(item, f"{name}[{key}]", pairs)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for index, item in enumerate(value):
            before = len(pairs)
            _encode(item, f"{name}[{index}]", pairs)
            if len(pairs) == before:  # a gap Stripe would read as a shorter list
                raise ValueError(f"{name}[{index}]: a list item must not be empty")
    else:
        pairs.append((name, _scalar(value, name)))


def encode_form(params: Mapping[str, Any]) -> FormPairs:
    """The (name, value) pairs of ``params``, in the order given (deterministic, so the
    same event always yields the same body, which idempotent replays compare)."""
    pairs: FormPairs = []
    for key, value in params.items():
        if not isinstance(key, str) or not key:
            raise TypeError("parameter names must be non-empty strings")
        _encode(value, key, pairs)
    return pairs
