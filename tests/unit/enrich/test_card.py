"""Card network by IIN range, checked at every range's first and last BIN and the BINs
just outside it. The expectations are typed here from the networks' published ranges,
not derived from the module's table."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskrelay.enrich.card import IIN_RANGES, card_network, is_bin

# (first BIN, last BIN, network, network just below first, network just above last).
BOUNDARIES = [
    ("100000", "199999", "uatp", None, None),
    ("220000", "220499", "mir", None, None),
    ("222100", "272099", "mastercard", None, None),
    ("300000", "305999", "diners", None, None),
    ("309500", "309599", "diners", None, None),
    ("340000", "349999", "amex", None, None),
    ("352800", "358999", "jcb", None, None),
    ("360000", "369999", "diners", None, "amex"),
    ("370000", "379999", "amex", "diners", "diners"),
    ("380000", "399999", "diners", "amex", "visa"),
    ("400000", "499999", "visa", "diners", None),
    ("501800", "501899", "maestro", None, None),
    ("502000", "502099", "maestro", None, None),
    ("503800", "503899", "maestro", None, None),
    ("506099", "506198", "verve", None, None),
    ("507865", "507964", "verve", None, None),
    ("508500", "508999", "rupay", None, None),
    ("510000", "559999", "mastercard", None, None),
    ("589300", "589399", "maestro", None, None),
    ("601100", "601199", "discover", None, None),
    ("606985", "607984", "rupay", None, None),
    ("608001", "608500", "rupay", None, None),
    ("620000", "629999", "unionpay", None, None),
    ("622126", "622925", "discover", "unionpay", "unionpay"),
    ("630400", "630499", "maestro", None, None),
    ("644000", "649999", "discover", None, "discover"),
    ("650000", "650001", "discover", "discover", "verve"),
    ("650002", "650027", "verve", "discover", "discover"),
    ("650028", "652149", "discover", "verve", "rupay"),
    ("652150", "653149", "rupay", "discover", "discover"),
    ("653150", "659999", "discover", "rupay", None),
    ("675900", "675999", "maestro", None, None),
    ("676100", "676399", "maestro", None, None),
    ("810000", "819999", "unionpay", None, None),
    ("979200", "979299", "troy", None, None),
]


def _shift(bin_: str, delta: int) -> str:
    return f"{int(bin_) + delta:06d}"


@pytest.mark.parametrize(("first", "last", "network", "below", "above"), BOUNDARIES)
def test_range_boundaries(
    first: str, last: str, network: str, below: str | None, above: str | None
) -> None:
    assert card_network(first) == network
    assert card_network(last) == network
    assert card_network(_shift(first, -1)) == below
    assert card_network(_shift(last, 1)) == above


def test_every_range_of_the_table_is_checked_at_its_boundaries() -> None:
    """A range added to the table without boundary tests fails here."""
    checked = {(first, network) for first, _, network, _, _ in BOUNDARIES}
    for first, _, network in IIN_RANGES:
        assert (first.ljust(6, "0"), network) in checked, first


@pytest.mark.parametrize(
    ("bin_", "network"),
    [
        ("22210000", "mastercard"),
        ("22209999", None),
        ("2720999", "mastercard"),
        ("27210000", None),
        ("6221260", "discover"),
        ("62212599", "unionpay"),
        ("42424242", "visa"),
        ("000000", None),
        ("999999", None),
    ],
)
def test_seven_and_eight_digit_bins(bin_: str, network: str | None) -> None:
    assert card_network(bin_) == network


@pytest.mark.parametrize(
    "value",
    ["", "4242", "42424", "424242424", "4242x2", "\uff14\uff12\uff14\uff12\uff14\uff12", " 424242"],
)
def test_what_is_not_a_bin_has_no_network(value: str) -> None:
    assert not is_bin(value)
    assert card_network(value) is None


@settings(deadline=None)
@given(st.text())
def test_any_text_is_answered_without_an_exception(value: str) -> None:
    network = card_network(value)
    assert network is None or is_bin(value)
