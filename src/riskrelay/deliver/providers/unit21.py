"""Unit21 events API (providers.md §3, seed 002).

Lifecycle events become *action* events. Version 1 is a create with
``upsert_on_conflict: true``: a redelivery after a crash upserts the same ``event_id``
instead of failing with 409, which makes the call effectively-once. Later versions use
``PUT /v1/events/{id}/update``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import orjson

from riskrelay.deliver.request import ProviderRequest, ProviderResponse
from riskrelay.models import AvroRecord, Envelope, Family
from riskrelay.state.identities import Identity, IdentityLookup

# Lifecycle kind → Unit21 action_type (only the kinds Unit21 has a type for).
ACTION_TYPES: dict[str, str] = {
    "sign_up": "SIGNUP",
    "sign_in": "LOGIN",
    "sign_out": "LOGOUT",
    "account_blocked": "BLOCK",
    "account_closed": "CLOSE",
    "account_activated": "ACTIVATE",
    "forgot_password": "FORGOT_PASSWORD",
    "password_reset": "PASSWORD_RESET",
    "promo_code_use": "PROMO_CODE_USE",
    "profile_change": "PROFILE_CHANGE",
}

# Lifecycle kind → event_subtype: seed 002's recommended action subtypes where one fits.
ACTION_SUBTYPES: dict[str, str] = {
    "sign_up": "user_signup",
    "sign_in": "user_login",
    "sign_in_failure": "user_login_failed",
    "buyer_challenge": "buyer_challenge",
    "sign_out": "user_logout",
    "user_access": "user_access",
    "profile_change": "user_profile_update",
    "account_deleted": "user_deletion",
    "account_blocked": "user_blocked",
    "account_suspended": "user_suspended",
    "account_closed": "user_closed",
    "account_activated": "user_activated",
    "forgot_password": "user_forgot_password",
    "password_reset": "user_password_reset",
    "promo_code_use": "promotion_applied",
    "referral": "user_referral",
    "communication": "communication",
}


def _epoch_seconds(when: datetime) -> int:
    return int(when.timestamp())


def _compact(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not None}


def _action_details(body: AvroRecord) -> str | None:
    lifecycle = body.get("lifecycle") or {}
    parts = []
    if lifecycle.get("details"):
        parts.append(lifecycle["details"])
    if lifecycle.get("failure_reason"):
        parts.append(f"failure_reason={lifecycle['failure_reason']}")
    challenge = lifecycle.get("challenge")
    if challenge:
        parts.append(f"challenge={challenge['kind'].lower()}:{challenge['outcome'].lower()}")
    if lifecycle.get("changed_fields"):
        parts.append("changed=" + ",".join(lifecycle["changed_fields"]))
    return "; ".join(parts) or None


def to_unit21_action(body: AvroRecord) -> dict[str, Any]:
    """A normalized lifecycle event as a Unit21 action event."""
    kind = body["kind"]
    session = body.get("session") or {}
    address = body.get("address") or {}
    event: dict[str, Any] = {
        "general_data": _compact(
            {
                "event_id": body["event_id"],
                "event_type": "action",
                "event_time": _epoch_seconds(body["occurred_at"]),
                "event_subtype": ACTION_SUBTYPES.get(kind, kind),
                "tags": [f"{k}:{v}" for k, v in sorted(body.get("tags", {}).items())] or None,
            }
        ),
        "action_data": _compact(
            {
                "entity_id": body["subject_id"],
                "entity_type": "user",
                "action_type": ACTION_TYPES.get(kind),
                "action_details": _action_details(body),
                "instrument_id": session.get("device_id"),
            }
        ),
    }
    digital = _compact(
        {
            "ip_address": session.get("ip_address"),
            "client_fingerprint": session.get("client_fingerprint"),
        }
    )
    if digital:
        event["digital_data"] = digital
    location = _compact(
        {
            "street_name": address.get("street"),
            "unit_number": address.get("unit"),
            "city": address.get("city"),
            "state": address.get("state"),
            "postal_code": address.get("postal_code"),
            "country": address.get("country"),
        }
    )
    if location:
        event["location_data"] = location
    return event


class Unit21Adapter:
    name = "unit21"

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"u21-key": api_key}

    def accepts(self, envelope: Envelope) -> bool:
        return envelope.family is Family.LIFECYCLE

    def build_request(
        self, body: AvroRecord, version: int, identities: IdentityLookup
    ) -> ProviderRequest:
        event = to_unit21_action(body)
        if version == 1:
            event["options"] = {"upsert_on_conflict": True}
            return ProviderRequest("POST", "/v1/events/create", json=event)
        path = f"/v1/events/{quote(body['event_id'], safe='')}/update"
        return ProviderRequest("PUT", path, json=event)

    def learn(
        self, body: AvroRecord, request: ProviderRequest, response: ProviderResponse
    ) -> list[Identity]:
        return []

    def response_ref(self, response: ProviderResponse) -> str | None:
        try:
            ref = orjson.loads(response.body).get("event_id")
        except (orjson.JSONDecodeError, AttributeError):
            return None
        return ref if isinstance(ref, str) else None
