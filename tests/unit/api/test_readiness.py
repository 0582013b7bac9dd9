"""/readyz and /metrics expose the view's lag behind the state topic (a real view's lag
on a real broker: tests/integration/api/test_view_lag.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis

from riskrelay.api.app import create_app
from riskrelay.state.view_lag import ViewLag
from tests.unit.api.conftest import DictView, Served


class LaggingView(DictView):
    def __init__(self) -> None:
        super().__init__()
        self.behind = ViewLag()

    def lag(self) -> ViewLag:
        return self.behind


@pytest.fixture
def lagging() -> Iterator[tuple[Served, LaggingView]]:
    view = LaggingView()
    served = Served(create_app(view))
    yield served, view
    served.stop()


def _documented(served: Served, body: object, status: int) -> None:
    schema = schemathesis.openapi.from_dict(served.client.get("/openapi.json").json())
    response = served.client.get("/readyz")
    schema["/readyz"]["GET"].validate_response(response)
    assert (response.status_code, response.json()) == (status, body)


def test_readyz_shows_the_lag_while_catching_up_and_once_ready(
    lagging: tuple[Served, LaggingView],
) -> None:
    served, view = lagging
    view.ready.clear()
    view.behind = ViewLag({0: 120, 1: 0, 2: 7}, expected=3, last_record_age_s=42.5)
    catching_up = {
        "status": "catching up with the state topic",
        "events": 0,
        "accepted_unseen": 0,
        "lag": {
            "records": 127,
            "partitions": {"0": 120, "1": 0, "2": 7},
            "last_record_age_s": 42.5,
        },
    }
    _documented(served, catching_up, 503)

    view.ready.set()
    view.behind = ViewLag({0: 0, 1: 0, 2: 0}, expected=3, last_record_age_s=None)
    ready = {
        "status": "ready",
        "events": 0,
        "accepted_unseen": 0,
        "lag": {"records": 0, "partitions": {"0": 0, "1": 0, "2": 0}, "last_record_age_s": None},
    }
    _documented(served, ready, 200)


def test_readyz_lag_is_null_for_a_partition_whose_end_is_not_known_yet(
    lagging: tuple[Served, LaggingView],
) -> None:
    served, view = lagging
    view.behind = ViewLag({0: 5}, expected=2)
    assert served.client.get("/readyz").json()["lag"] == {
        "records": None,
        "partitions": {"0": 5},
        "last_record_age_s": None,
    }


def test_metrics_export_the_lag_per_partition(lagging: tuple[Served, LaggingView]) -> None:
    served, view = lagging
    view.behind = ViewLag({0: 120, 1: 0}, expected=2)
    text = served.client.get("/metrics").text
    assert "# TYPE riskrelay_api_state_lag_records gauge" in text
    assert 'riskrelay_api_state_lag_records{partition="0"} 120.0' in text
    assert 'riskrelay_api_state_lag_records{partition="1"} 0.0' in text
    view.behind = ViewLag({0: 3, 1: 1}, expected=2)
    assert (
        'riskrelay_api_state_lag_records{partition="0"} 3.0' in served.client.get("/metrics").text
    )


def test_a_view_without_lag_tracking_shows_none() -> None:
    served = Served(create_app(DictView()))
    try:
        assert served.client.get("/readyz").json()["lag"] is None
        text = served.client.get("/metrics").text
    finally:
        served.stop()
    assert "# TYPE riskrelay_api_state_lag_records gauge" in text
    assert "riskrelay_api_state_lag_records{" not in text
