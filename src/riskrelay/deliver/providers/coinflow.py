"""Coinflow: chargeback-protection events and EVM credits authorization (providers.md §1-2,
seeds 000 and 001; ``docs/providers.md`` has the field mapping).

Lifecycle events become ``POST /api/events`` reports under the merchant key. A redeem
payment becomes ``POST /api/redeem/evm/creditsAuthMsg`` under the *end user's* credentials
carried on the event; its answer (the EIP-712 message the user must sign) is the useful
output, published with the delivery record. Coinflow has no event time, update call or
idempotency key: every version is reported as it is processed.

A malformed ``country`` or ``email`` (kept by normalization, flagged by enrichment) is left
out of the event rather than sent: Coinflow would refuse the whole event for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from riskrelay.deliver.providers.enriched import usable
from riskrelay.deliver.request import ProviderRequest, ProviderResponse
from riskrelay.errors import PermanentDeliveryError
from riskrelay.models import AvroRecord, Envelope, Family
from riskrelay.state.identities import Identity, IdentityLookup

EVENTS_PATH = "/api/events"
CREDITS_AUTH_PATH = "/api/redeem/evm/creditsAuthMsg"
REDEEM_KIND = "redeem"

# Lifecycle kind → Coinflow eventType (seed 000's four documented members).
EVENT_TYPES: dict[str, str] = {
    "sign_up": "SignUp",
    "sign_in": "SignIn",
    "sign_in_failure": "SignInFailure",
    "buyer_challenge": "BuyerChallenge",
}

AUTH_HEADER = "Authorization"
WALLET_HEADER = "x-coinflow-auth-wallet"
BLOCKCHAIN_HEADER = "x-coinflow-auth-blockchain"
SESSION_KEY_HEADER = "x-coinflow-auth-session-key"
DROPPED = ""
"""Per-request value of an auth header that must not go with this call (the merchant key on
the end-user credits call): at worst an empty header, never the key."""


@dataclass(frozen=True, slots=True)
class ChallengeFields:
    """Names of the BuyerChallenge fields, which Coinflow does not document (ours, kept
    configurable so a documented contract can be followed without a code change)."""

    challenge_type: str = "challengeType"
    outcome: str = "outcome"


DEFAULT_CHALLENGE_FIELDS = ChallengeFields()


def _compact(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not None}


def _upper(value: str | None) -> str | None:
    return None if value is None else value.upper()


def to_coinflow_event(
    body: AvroRecord, challenge_fields: ChallengeFields = DEFAULT_CHALLENGE_FIELDS
) -> dict[str, Any]:
    """A normalized lifecycle event as a Coinflow chargeback-protection event."""
    kind = body["kind"]
    event_type = EVENT_TYPES.get(kind)
    if event_type is None:
        raise PermanentDeliveryError(f"coinflow: no event type for lifecycle kind {kind!r}")
    user = body.get("user") or {}
    if event_type == "BuyerChallenge":
        challenge = (body.get("lifecycle") or {}).get("challenge")
        if not challenge:
            raise PermanentDeliveryError("lifecycle.challenge: required for a BuyerChallenge")
        return {
            "eventType": event_type,
            "customerId": body["subject_id"],
            challenge_fields.challenge_type: challenge["kind"],
            challenge_fields.outcome: challenge["outcome"],
        }
    event = {
        "eventType": event_type,
        "customerId": body["subject_id"],
        "country": _upper(usable(body, "user.country")),
        "email": usable(body, "user.email"),
    }
    if event_type == "SignUp":
        event |= {
            "username": user.get("username"),
            "firstName": user.get("first_name"),
            "lastName": user.get("last_name"),
        }
    return _compact(event)


def _subtotal(redeem: AvroRecord) -> dict[str, Any]:
    kind = redeem["subtotal_kind"]
    field = {"FIAT": "fiat_subtotal", "CENTS": "cents_subtotal", "TOKEN": "token_subtotal"}
    value = redeem.get(field.get(kind, ""))
    if value is None:
        name = field.get(kind, "subtotal_kind")
        raise PermanentDeliveryError(f"payment.redeem.{name}: required for subtotal_kind {kind}")
    if kind == "FIAT":
        return {"cents": int(value["amount_minor"]), "currency": value["currency"].upper()}
    if kind == "CENTS":
        return {"cents": int(value)}
    return _compact(
        {
            "address": value["token_address"],
            "amount": value["token_amount"],
            "decimals": value.get("token_decimals"),
        }
    )


def _transaction_data(data: AvroRecord) -> dict[str, Any]:
    """extra_json's keys, then ``transaction {to, data}`` and ``type`` from the typed
    fields over them (the typed fields are what validation vouched for)."""
    extra: Any = {}
    if data.get("extra_json"):
        try:
            extra = orjson.loads(data["extra_json"])
        except orjson.JSONDecodeError:
            extra = None
    if not isinstance(extra, dict):
        raise PermanentDeliveryError(
            "payment.redeem.transaction_data.extra_json: must be a JSON object"
        )
    rendered: dict[str, Any] = dict(extra)
    kind = data["kind"]
    transaction = _compact({"to": data.get("to"), "data": data.get("data")})
    if kind == "TRANSACTION" and "to" not in transaction:
        raise PermanentDeliveryError(
            "payment.redeem.transaction_data.to: required for kind TRANSACTION"
        )
    if transaction:
        rendered["transaction"] = transaction
    if kind == "SAFE_MINT":
        rendered["type"] = "safeMint"
    if not rendered:
        raise PermanentDeliveryError(
            "payment.redeem.transaction_data: kind OTHER needs extra_json or to/data"
        )
    return rendered


def to_credits_request(redeem: AvroRecord) -> dict[str, Any]:
    """A normalized redeem request as the creditsAuthMsg body."""
    request = {
        "merchantId": redeem["merchant_id"],
        "subtotal": _subtotal(redeem),
        "transactionData": _transaction_data(redeem["transaction_data"]),
    }
    if redeem.get("usdc_amount") is not None:
        request["usdcAmount"] = {"cents": int(redeem["usdc_amount"])}
    return request


def end_user_headers(redeem: AvroRecord) -> dict[str, str]:
    """The end user's Coinflow credentials, in place of the merchant key.

    The credits call authenticates the user, never the merchant, so the merchant key is
    dropped rather than handed to an endpoint that has no use for it. A session key wins
    when both forms are present (it is the credential Coinflow issued for the user).
    The error messages name the fields, never their values.
    """
    session_key = redeem.get("auth_session_key")
    if session_key:
        return {SESSION_KEY_HEADER: session_key, AUTH_HEADER: DROPPED}
    wallet, chain = redeem.get("auth_wallet"), redeem.get("auth_blockchain")
    if wallet and chain:
        return {WALLET_HEADER: wallet, BLOCKCHAIN_HEADER: chain, AUTH_HEADER: DROPPED}
    if wallet or chain:
        missing = "auth_blockchain" if wallet else "auth_wallet"
        raise PermanentDeliveryError(
            f"payment.redeem.{missing}: required with the other wallet credential"
            " for Coinflow creditsAuthMsg"
        )
    raise PermanentDeliveryError(
        "payment.redeem: no end-user auth for Coinflow creditsAuthMsg"
        " (auth_wallet + auth_blockchain, or auth_session_key)"
    )


class CoinflowAdapter:
    name = "coinflow"
    batch_format = None  # one call per event: no batch endpoint

    def __init__(self, challenge_fields: ChallengeFields = DEFAULT_CHALLENGE_FIELDS) -> None:
        self.challenge_fields = challenge_fields

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {AUTH_HEADER: api_key}  # the raw key: Coinflow refuses "Bearer <key>"

    def accepts(self, envelope: Envelope) -> bool:
        if envelope.family is Family.LIFECYCLE:
            return envelope.kind in EVENT_TYPES
        return envelope.family is Family.PAYMENT and envelope.kind == REDEEM_KIND

    def build_request(
        self, body: AvroRecord, version: int, identities: IdentityLookup
    ) -> ProviderRequest:
        if body["family"] == Family.PAYMENT and body["kind"] == REDEEM_KIND:
            redeem = (body.get("payment") or {}).get("redeem")
            if not redeem:
                raise PermanentDeliveryError("payment.redeem: required for a redeem")
            return ProviderRequest(
                "POST",
                CREDITS_AUTH_PATH,
                json=to_credits_request(redeem),
                headers=end_user_headers(redeem),
            )
        if body["family"] != Family.LIFECYCLE:
            raise PermanentDeliveryError(
                f"coinflow: takes no {body['family']} event of kind {body['kind']!r}"
            )
        return ProviderRequest(
            "POST", EVENTS_PATH, json=to_coinflow_event(body, self.challenge_fields)
        )

    def learn(
        self, body: AvroRecord, request: ProviderRequest, response: ProviderResponse
    ) -> list[Identity]:
        return []

    def response_ref(self, response: ProviderResponse) -> str | None:
        """The credits message's nonce (events answer ``{}``: no reference)."""
        try:
            ref = orjson.loads(response.body).get("nonce")
        except (orjson.JSONDecodeError, AttributeError):
            return None
        return ref if isinstance(ref, str) else None
