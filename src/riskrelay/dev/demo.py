"""Demo traffic: a seeded, realistic mix of every lifecycle event kind, a few updates,
and a few deliberately malformed records so the DLQ path shows too."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from riskrelay.models import AvroRecord

LIFECYCLE_KINDS = (
    "SIGN_UP",
    "SIGN_IN",
    "SIGN_IN_FAILURE",
    "BUYER_CHALLENGE",
    "SIGN_OUT",
    "PROFILE_CHANGE",
    "ACCOUNT_BLOCKED",
    "ACCOUNT_SUSPENDED",
    "ACCOUNT_CLOSED",
    "ACCOUNT_ACTIVATED",
    "ACCOUNT_DELETED",
    "FORGOT_PASSWORD",
    "PASSWORD_RESET",
    "PROMO_CODE_USE",
    "REFERRAL",
    "COMMUNICATION",
    "USER_ACCESS",
)
# The kinds upstreams send most, weighted like a real day's traffic.
_COMMON = ("SIGN_IN",) * 6 + ("SIGN_IN_FAILURE",) * 2 + ("BUYER_CHALLENGE", "PROFILE_CHANGE")
_COUNTRIES = ("US", "GB", "DE", "FR", "BR", "JP", "IN", "NG", "CA", "AU")
_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/125.0.0.0 Mobile Safari/537.36",
)
_CHALLENGES = ("EMAIL_LINK", "SMS_2FA", "TOTP", "KYC", "CAPTCHA", "THREE_DS")
_OUTCOMES = ("PASSED", "PASSED", "PASSED", "FAILED", "ABANDONED")


def lifecycle_event(
    rng: random.Random, subject_id: str, event_type: str, when: datetime
) -> AvroRecord:
    """One valid lifecycle event of ``event_type`` for ``subject_id``."""
    n = subject_id.rsplit("-", 1)[-1]
    country = _COUNTRIES[hash(subject_id) % len(_COUNTRIES)]
    event: AvroRecord = {
        "event_id": f"evt-{uuid.UUID(int=rng.getrandbits(128))}",
        "event_type": event_type,
        "operation": "CREATE",
        "upsert_on_conflict": False,
        "subject_id": subject_id,
        "occurred_at": when,
        "user": {
            "username": f"user{n}",
            "email": f"User{n}@Example.com",
            "phone": f"+1 415 555 {int(n) % 10000:04d}" if n.isdigit() else None,
            "first_name": "Demo",
            "last_name": f"User{n}",
            "date_of_birth": None,
            "country": country,
            "risk_score": rng.randint(0, 100),
        },
        "session": {
            "session_id": f"sess-{rng.getrandbits(48):012x}",
            "session_started_at": when - timedelta(seconds=rng.randint(0, 7200)),
            "ip_address": f"203.0.113.{rng.randint(1, 254)}",
            "user_agent": rng.choice(_AGENTS),
            "device_id": f"dev-{rng.getrandbits(32):08x}",
            "client_fingerprint": f"fp-{rng.getrandbits(64):016x}",
        },
        "address": None,
        "challenge": None,
        "failure_reason": None,
        "changed_fields": [],
        "details": None,
        "tags": {"source": "demo"},
    }
    if event_type == "BUYER_CHALLENGE":
        event["challenge"] = {"kind": rng.choice(_CHALLENGES), "outcome": rng.choice(_OUTCOMES)}
    elif event_type == "SIGN_IN_FAILURE":
        event["failure_reason"] = rng.choice(("bad_password", "unknown_user", "locked"))
    elif event_type == "PROFILE_CHANGE":
        event["changed_fields"] = ["address"]
        event["address"] = {
            "street": f"{rng.randint(1, 9999)} Market St",
            "unit": None,
            "city": "San Francisco",
            "state": "CA",
            "postal_code": "94103",
            "country": "US",
        }
    return event


def demo_events(count: int, seed: int = 7) -> Iterator[AvroRecord]:
    """``count`` events over ``count // 5`` subjects; every kind at least once, each
    subject's sign-up first, and one update (a corrected profile change) in every 25."""
    rng = random.Random(seed)
    subjects = [f"user-{i:05d}" for i in range(max(1, count // 5))]
    now = datetime.now(UTC).replace(microsecond=0)
    signed_up: set[str] = set()
    uncovered = list(LIFECYCLE_KINDS)
    last_profile_change: AvroRecord | None = None
    for i in range(count):
        subject = subjects[i % len(subjects)]
        when = now - timedelta(seconds=count - i)
        if i % 25 == 24 and last_profile_change is not None:
            update = {**last_profile_change, "operation": "UPDATE", "occurred_at": when}
            update["changed_fields"] = ["address", "phone"]
            last_profile_change = None
            yield update
            continue
        if subject not in signed_up:
            signed_up.add(subject)
            kind = "SIGN_UP"
        elif uncovered:
            kind = uncovered.pop()
        else:
            kind = rng.choice(_COMMON)
        event = lifecycle_event(rng, subject, kind, when)
        if kind == "PROFILE_CHANGE":
            last_profile_change = event
        yield event


def malformed_records() -> list[tuple[bytes, bytes]]:
    """(key, value) pairs the worker must dead-letter, not choke on."""
    return [
        (b"user-bad-1", b"this is not avro at all"),
        (b"user-bad-2", b"\x07\x00\x00\x00\x01garbage-after-a-wrong-magic-byte"),
    ]
