"""The recorder: masking, bounded memory, since/limit paging, stats."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request

from riskrelay.sandbox.recorder import Recorder, mask


def _add(
    recorder: Recorder,
    path: str = "/v1/x",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> None:
    request: Any = make_mocked_request("POST", path, headers=headers or {})
    recorder.add(request, path, b'{"a": 1}', status, b"not json", 1.5)


@pytest.mark.parametrize(
    ("value", "masked"),
    [("sandbox-unit21-key", "**************-key"), ("abcd", "****"), ("", "")],
)
def test_mask_keeps_only_the_last_four(value: str, masked: str) -> None:
    assert mask(value) == masked


def test_record_is_decoded_with_credentials_masked() -> None:
    recorder = Recorder()
    _add(recorder, headers={"U21-Key": "secret-value-1234", "X-Trace": "t1"})
    [record] = recorder.requests()
    assert record["headers"]["u21-key"] == "*************1234"
    assert record["headers"]["x-trace"] == "t1"
    assert record["json"] == {"a": 1} and record["body"] is None
    assert record["response"] == "not json"
    assert (record["seq"], record["method"], record["status"]) == (1, "POST", 200)


def test_bounded_memory_keeps_the_last_n_but_counts_all() -> None:
    recorder = Recorder(max_records=3)
    for _ in range(10):
        _add(recorder)
    assert [r["seq"] for r in recorder.requests()] == [8, 9, 10]
    stats = recorder.stats()
    assert stats["total"] == 10 and stats["retained"] == 3


def test_since_and_limit_page_through_records() -> None:
    recorder = Recorder()
    for _ in range(6):
        _add(recorder)
    assert [r.seq for r in recorder.records(since=2, limit=3)] == [3, 4, 5]
    assert [r.seq for r in recorder.records(since=5)] == [6]
    assert recorder.records(since=6) == []


def test_clear_forgets_but_sequence_continues() -> None:
    recorder = Recorder()
    _add(recorder)
    recorder.clear()
    assert recorder.requests() == [] and recorder.stats()["total"] == 0
    _add(recorder)
    assert [r["seq"] for r in recorder.requests()] == [2]


def test_stats_count_per_path_and_status() -> None:
    recorder = Recorder()
    _add(recorder, "/a", 200)
    _add(recorder, "/a", 400)
    _add(recorder, "/b", 200)
    stats = recorder.stats()
    assert stats["by_path"] == {"/a": {"200": 1, "400": 1}, "/b": {"200": 1}}
    assert stats["by_status"] == {"200": 2, "400": 1}
