"""Bracket-notation form encoding, read back by the Stripe sandbox's strict parser."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskrelay.deliver.forms import encode_form
from riskrelay.sandbox.forms import parse_form


def test_nested_mappings_and_lists_take_brackets_and_indexes() -> None:
    params = {
        "events": [
            {"occurred_at": 1795262430, "type": "refunded", "refunded": {"amount": 1050}},
            {"type": "user_intervention_raised", "user_intervention_raised": {"type": "3ds"}},
        ],
        "metadata": {"order": "o-7"},
    }
    assert encode_form(params) == [
        ("events[0][occurred_at]", "1795262430"),
        ("events[0][type]", "refunded"),
        ("events[0][refunded][amount]", "1050"),
        ("events[1][type]", "user_intervention_raised"),
        ("events[1][user_intervention_raised][type]", "3ds"),
        ("metadata[order]", "o-7"),
    ]


def test_scalars() -> None:
    params = {"yes": True, "no": False, "zero": 0, "big": 2**63, "text": "a b&c", "empty": ""}
    assert encode_form(params) == [
        ("yes", "true"),
        ("no", "false"),
        ("zero", "0"),
        ("big", "9223372036854775808"),
        ("text", "a b&c"),
        ("empty", ""),  # an explicit empty string is Stripe's "unset", kept as given
    ]


def test_none_and_empty_containers_are_left_out() -> None:
    assert encode_form({"a": None, "b": {}, "c": [], "d": {"e": None}, "f": "x"}) == [("f", "x")]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"amount": 10.5}, TypeError),
        ({"when": object()}, TypeError),
        ({"": "x"}, TypeError),
        ({"m": {1: "x"}}, TypeError),
        ({"events": [None, {"type": "refunded"}]}, ValueError),
        ({"events": [{}, {"type": "refunded"}]}, ValueError),
    ],
)
def test_refused(params: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        encode_form(params)


_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=6)
_texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
_values = st.recursive(
    _texts | st.integers() | st.booleans(),
    lambda inner: (
        st.lists(inner, min_size=1, max_size=3)
        | st.dictionaries(_names, inner, min_size=1, max_size=3)
    ),
    max_leaves=12,
)


def _as_parsed(value: Any) -> Any:
    """What the sandbox parser yields for ``value``: every scalar is text."""
    if isinstance(value, dict):
        return {k: _as_parsed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_parsed(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@given(st.dictionaries(_names, _values, max_size=4))
def test_round_trips_through_the_sandbox_parser(params: dict[str, Any]) -> None:
    body = urlencode(encode_form(params)).encode()
    assert parse_form(body) == _as_parsed(params)
