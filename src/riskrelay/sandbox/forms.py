"""``application/x-www-form-urlencoded`` bodies in bracket notation, as Stripe takes them.

``events[0][type]=refunded&metadata[order]=7`` parses to
``{"events": [{"type": "refunded"}], "metadata": {"order": "7"}}``. Values stay strings
(checks such as ``contract.integer_text`` read numbers out of them). Strict, so clients
cannot rely on leniency the real API may not have:

- a container whose keys are all canonical integers (``0``, ``1``, not ``01``) is a list,
  and its indexes must be contiguous from 0; so ``metadata[0]=x`` alone is a list;
- ``[]`` (append) is not supported: give explicit indexes;
- a parameter given twice, or both as a value and as a container, is rejected.

Errors are ``contract.Invalid`` with the parameter in bracket notation.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from riskrelay.sandbox.contract import Invalid

_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def bracket(path: str) -> str:
    """A ``contract`` path (``events[0].refunded.reason``) in bracket notation
    (``events[0][refunded][reason]``), the way Stripe names parameters."""
    return re.sub(r"\.([^.\[]+)", r"[\1]", path)


def _segments(key: str) -> list[str]:
    match = _KEY.fullmatch(key)
    if match is None:
        raise Invalid(key or "body", "malformed parameter name")
    segments = [match.group(1), *_SEGMENT.findall(match.group(2))]
    if "" in segments:
        raise Invalid(key, "'[]' is not supported; give explicit array indexes")
    return segments


def _is_index(segment: str) -> bool:
    return segment.isascii() and segment.isdigit() and str(int(segment)) == segment


def _listify(node: Any, path: str) -> Any:
    if type(node) is not dict:
        return node
    items = {key: _listify(value, f"{path}[{key}]" if path else key) for key, value in node.items()}
    if path and items and all(_is_index(key) for key in items):
        indexes = sorted(int(key) for key in items)
        if indexes != list(range(len(indexes))):
            shown = ", ".join(str(index) for index in indexes)
            raise Invalid(path, f"array indexes must be contiguous from 0, got [{shown}]")
        return [items[str(index)] for index in indexes]
    return items


def parse_form(body: bytes) -> dict[str, Any]:
    """The nested parameters of a form body; ``Invalid`` when it is malformed."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except UnicodeDecodeError:
        raise Invalid("body", "not valid UTF-8") from None
    except ValueError:
        raise Invalid("body", "not a valid application/x-www-form-urlencoded body") from None
    root: dict[str, Any] = {}
    for key, value in pairs:
        segments = _segments(key)
        node = root
        for depth, segment in enumerate(segments[:-1]):
            child = node.setdefault(segment, {})
            if type(child) is not dict:
                where = segments[0] + "".join(f"[{s}]" for s in segments[1 : depth + 1])
                raise Invalid(where, "given both as a value and with sub-parameters")
            node = child
        last = segments[-1]
        if last in node:
            nested = type(node[last]) is dict
            raise Invalid(
                key, "given both as a value and with sub-parameters" if nested else "given twice"
            )
        node[last] = value
    result = _listify(root, "")
    assert type(result) is dict
    return result
