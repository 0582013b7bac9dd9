"""The view's lag figures from end offsets and positions (the offsets themselves come
from a real broker in tests/integration/api/test_view_lag.py)."""

from __future__ import annotations

from riskrelay.state.view_lag import ViewLag, records_behind


def test_records_behind_counts_from_the_next_offset_to_the_end() -> None:
    ends = {0: 10, 1: 7, 2: 5}
    assert records_behind(ends, {0: 10, 1: 3, 2: 5}, {}) == {0: 0, 1: 4, 2: 0}


def test_a_partition_without_a_position_is_behind_from_its_start() -> None:
    # Nothing read yet and no checkpoint: everything the topic still holds is to be read.
    assert records_behind({0: 10, 1: 10}, {1: 4}, {0: 3}) == {0: 7, 1: 6}
    assert records_behind({0: 10}, {}, {}) == {0: 10}


def test_a_position_past_a_stale_end_is_not_negative_lag() -> None:
    # The end was asked before the view read the newest records.
    assert records_behind({0: 10}, {0: 12}, {}) == {0: 0}


def test_partitions_without_an_end_are_left_out() -> None:
    assert records_behind({0: 4}, {0: 1, 1: 9}, {}) == {0: 3}


def test_the_total_is_known_only_once_every_partition_is() -> None:
    assert ViewLag({0: 2, 1: 3}, expected=2).records == 5
    assert ViewLag({0: 2}, expected=2).records is None
    assert ViewLag({}, expected=0).records is None
    assert ViewLag({0: 0, 1: 0}, expected=2).records == 0


def test_the_body_names_partitions_as_strings_in_order() -> None:
    lag = ViewLag({1: 3, 0: 2}, expected=2, last_record_age_s=1.23456)
    assert lag.body() == {
        "records": 5,
        "partitions": {"0": 2, "1": 3},
        "last_record_age_s": 1.235,
    }
    assert ViewLag().body() == {"records": None, "partitions": {}, "last_record_age_s": None}
