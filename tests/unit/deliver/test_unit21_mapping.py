"""The Unit21 action mapping against the contract in providers.md §3."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import orjson
import pytest

from riskrelay.deliver.providers.unit21 import ACTION_TYPES, Unit21Adapter, to_unit21_action
from riskrelay.deliver.request import ProviderResponse
from riskrelay.dev.demo import LIFECYCLE_KINDS, lifecycle_event
from riskrelay.models import Family, SourcePosition
from riskrelay.normalize import normalize
from riskrelay.state.identities import NoIdentities

WHEN = datetime(2026, 11, 21, 12, 0, 30, 999000, tzinfo=UTC)
UNIT21_ACTION_TYPES = {
    "SIGNUP", "LOGIN", "LOGOUT", "BLOCK", "CLOSE", "ACTIVATE",
    "FORGOT_PASSWORD", "PASSWORD_RESET", "PROMO_CODE_USE", "PROFILE_CHANGE",
}  # fmt: skip


def body_of(kind: str) -> dict[str, object]:
    record = lifecycle_event(random.Random(3), "user-00007", kind, WHEN)
    source = SourcePosition("risk.lifecycle.v1", 0, 0)
    return normalize(Family.LIFECYCLE, record, source, WHEN).body


def test_every_unit21_action_type_has_a_lifecycle_kind() -> None:
    assert set(ACTION_TYPES.values()) == UNIT21_ACTION_TYPES


@pytest.mark.parametrize("kind", LIFECYCLE_KINDS)
def test_every_kind_maps_to_an_action_event(kind: str) -> None:
    body = body_of(kind)
    event = to_unit21_action(body)
    general = event["general_data"]
    assert general["event_id"] == body["event_id"]
    assert general["event_type"] == "action"
    assert general["event_time"] == 1795262430  # epoch seconds, milliseconds dropped
    assert isinstance(general["event_time"], int)
    assert general["tags"] == ["source:demo"]
    action = event["action_data"]
    assert action["entity_id"] == "user-00007"
    assert action["entity_type"] == "user"
    assert action.get("action_type") == ACTION_TYPES.get(kind.lower())
    assert "transaction_data" not in event
    assert event["digital_data"]["ip_address"] == body["session"]["ip_address"]  # type: ignore[index]


def test_challenge_and_profile_details_are_carried() -> None:
    challenge = to_unit21_action(body_of("BUYER_CHALLENGE"))["action_data"]["action_details"]
    assert challenge.startswith("challenge=")
    profile = to_unit21_action(body_of("PROFILE_CHANGE"))
    assert profile["action_data"]["action_details"] == "changed=address"
    assert profile["location_data"] == {
        "street_name": profile["location_data"]["street_name"],
        "city": "San Francisco",
        "state": "CA",
        "postal_code": "94103",
        "country": "US",
    }


def test_version_one_creates_with_upsert_later_versions_update() -> None:
    adapter = Unit21Adapter()
    body = body_of("SIGN_IN")
    create = adapter.build_request(body, 1, NoIdentities())
    assert (create.method, create.path) == ("POST", "/v1/events/create")
    assert create.json["options"] == {"upsert_on_conflict": True}
    update = adapter.build_request({**body, "event_id": "evt/with space"}, 2, NoIdentities())
    assert (update.method, update.path) == ("PUT", "/v1/events/evt%2Fwith%20space/update")
    assert "options" not in update.json
    assert adapter.auth_headers("k") == {"u21-key": "k"}


def test_response_ref_reads_the_event_id() -> None:
    adapter = Unit21Adapter()
    ok = ProviderResponse(200, orjson.dumps({"event_id": "e1"}).decode(), {})
    assert adapter.response_ref(ok) == "e1"
    assert adapter.response_ref(ProviderResponse(200, "not json", {})) is None
