"""Valid Unit21 events to start each test (and each rejection case) from."""

from __future__ import annotations

from typing import Any

EVENT_TIME = 1_700_000_000


def action_event(event_id: str = "evt-action-1", **options: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "general_data": {
            "event_id": event_id,
            "event_type": "action",
            "event_time": EVENT_TIME,
            "event_subtype": "user_login",
            "tags": ["channel:web", "risk:low"],
        },
        "action_data": {
            "entity_id": "user-42",
            "entity_type": "user",
            "action_type": "LOGIN",
            "action_details": "password",
        },
        "digital_data": {"ip_address": "203.0.113.9", "client_fingerprint": "fp-1"},
        "location_data": {"city": "Lisbon", "country": "PT", "postal_code": "1100-148"},
    }
    if options:
        event["options"] = options
    return event


def transaction_event(
    event_id: str = "evt-tx-1", amount: float = 12.5, **options: Any
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "general_data": {
            "event_id": event_id,
            "event_type": "transaction",
            "event_time": EVENT_TIME,
            "event_subtype": "purchase",
            "status": "settled",
            "parents": ["order-9"],
        },
        "transaction_data": {
            "amount": amount,
            "sent_amount": amount,
            "sent_currency": "usd",
            "received_amount": 11.0,
            "received_currency": "EUR",
            "sender_entity_id": "user-42",
            "sender_entity_type": "user",
            "receiver_entity_id": "merchant-7",
            "receiver_entity_type": "business",
            "exchange_rate": 0.88,
            "internal_fee": 0.25,
            "external_fee": 0,
            "transaction_hash": "0xabc",
        },
        "digital_data": {"ip_address": "2001:db8::1"},
        "custom_data": {"basket": {"items": 3}},
    }
    if options:
        event["options"] = options
    return event
