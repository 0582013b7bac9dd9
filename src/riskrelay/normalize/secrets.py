"""Credentials that ride on an event for one provider call and must go no further.

A redeem carries the end user's Coinflow auth (wallet + blockchain, or a session key):
the Coinflow adapter sends them as headers; the normalized topic, the delivery results
and the event state (read back over the API) get the event without them.
"""

from __future__ import annotations

from riskrelay.models import AvroRecord

REDEEM_SECRETS = ("auth_wallet", "auth_blockchain", "auth_session_key")


def without_secrets(body: AvroRecord) -> AvroRecord:
    """``body`` with the redeem auth fields nulled (the same object when it has none)."""
    payment = body.get("payment")
    if payment is None:
        return body
    redeem = payment.get("redeem")
    if not redeem or not any(redeem.get(name) for name in REDEEM_SECRETS):
        return body
    clean = {**redeem, **dict.fromkeys(REDEEM_SECRETS)}
    return {**body, "payment": {**payment, "redeem": clean}}
