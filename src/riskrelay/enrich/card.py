"""Card network from the BIN by IIN ranges.

A table, not a library: of the maintained PyPI packages, ``pycreditcard`` has only
two-digit prefixes (it calls every 62 card Discover and every 22-27 card Mastercard, and
knows no Maestro, Mir or RuPay), and ``creditcard-identifier`` ships a 42 MB JSON of
per-issuer data and resolves overlaps with per-brand regexes and priorities; neither is
tested per range. The networks' IIN ranges are public, change a few times a decade,
and fit in the table below, where each range can be checked at its boundaries.

Ranges nest (Discover's 622126-622925 inside UnionPay's 62, Verve and RuPay blocks inside
Discover's 65): the narrowest range containing the BIN wins. They are flattened once at
import into disjoint intervals over 8-digit BINs, searched by bisection.

Left out on purpose: co-badged ranges that the table cannot tell apart from the
network that owns the wider block (RuPay-JCB 353/356 inside JCB, Dankort 4571 inside
Visa); they resolve to the wider network.
"""

from __future__ import annotations

from bisect import bisect_right

BIN_INVALID = "bin_invalid"
BIN_UNKNOWN = "bin_unknown"
_WIDTH = 8

# (first prefix, last prefix, network): every BIN starting with a prefix between the two,
# inclusive and compared at equal length, belongs to the network.
IIN_RANGES: tuple[tuple[str, str, str], ...] = (
    ("1", "1", "uatp"),
    ("2200", "2204", "mir"),
    ("2221", "2720", "mastercard"),
    ("300", "305", "diners"),
    ("3095", "3095", "diners"),
    ("34", "34", "amex"),
    ("3528", "3589", "jcb"),
    ("36", "36", "diners"),
    ("37", "37", "amex"),
    ("38", "39", "diners"),
    ("4", "4", "visa"),
    ("5018", "5018", "maestro"),
    ("5020", "5020", "maestro"),
    ("5038", "5038", "maestro"),
    ("506099", "506198", "verve"),
    ("507865", "507964", "verve"),
    ("508500", "508999", "rupay"),
    ("51", "55", "mastercard"),
    ("5893", "5893", "maestro"),
    ("6011", "6011", "discover"),
    ("606985", "607984", "rupay"),
    ("608001", "608500", "rupay"),
    ("62", "62", "unionpay"),
    ("622126", "622925", "discover"),
    ("6304", "6304", "maestro"),
    ("644", "649", "discover"),
    ("65", "65", "discover"),
    ("650002", "650027", "verve"),
    ("652150", "653149", "rupay"),
    ("6759", "6759", "maestro"),
    ("6761", "6763", "maestro"),
    ("81", "81", "unionpay"),
    ("9792", "9792", "troy"),
)


def _flatten(
    ranges: tuple[tuple[str, str, str], ...],
) -> tuple[list[int], list[str | None]]:
    """Disjoint intervals (as sorted starts, each with its network or None) where the
    narrowest containing range decides."""
    spans = [
        (int(first.ljust(_WIDTH, "0")), int(last.ljust(_WIDTH, "9")), network)
        for first, last, network in ranges
    ]
    cuts = sorted({low for low, _, _ in spans} | {high + 1 for _, high, _ in spans} | {0})
    starts: list[int] = []
    networks: list[str | None] = []
    for cut in cuts:
        covering = [(high - low, network) for low, high, network in spans if low <= cut <= high]
        network = min(covering)[1] if covering else None
        if not networks or networks[-1] != network:
            starts.append(cut)
            networks.append(network)
    return starts, networks


_STARTS, _NETWORKS = _flatten(IIN_RANGES)


def is_bin(value: str) -> bool:
    return 6 <= len(value) <= _WIDTH and value.isascii() and value.isdigit()


def card_network(bin_: str) -> str | None:
    """Network of a 6- to 8-digit BIN, or None when no range holds it (or it is not a
    BIN)."""
    if not is_bin(bin_):
        return None
    return _NETWORKS[bisect_right(_STARTS, int(bin_.ljust(_WIDTH, "0"))) - 1]
