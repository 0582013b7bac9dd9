"""Log lines are JSON objects, carry the fields of events of interest, and hold no
personal data or secret: the lines are built from a real event full of PII, through the
same logger calls the worker makes."""

from __future__ import annotations

import io
import json
import logging
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from riskrelay.dev.demo import lifecycle_event, payment_event
from riskrelay.errors import PermanentDeliveryError
from riskrelay.logging import REDACTED, JsonFormatter, Redactor, configure_logging, log_fields

WHEN = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
API_KEY = "sk_live_51HxYzAbCdEfGhIjKlMnOp"
BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJl"
PII_EVENT: dict[str, Any] = {
    **lifecycle_event(random.Random(5), "user-00042", "SIGN_UP", WHEN),
}
PII_EVENT["user"] = {
    **PII_EVENT["user"],
    "email": "jane.doe+risk@example.co.uk",
    "phone": "+44 20 7946 0958",
    "first_name": "Jane",
    "last_name": "Doe-Smithson",
}
PII_EVENT["session"] = {**PII_EVENT["session"], "ip_address": "203.0.113.77"}
CARD_NUMBER = "4111 1111 1111 1111"  # passes the Luhn check
IBAN = "DE89370400440532013000"
IPV6 = "2001:db8:85a3::8a2e:370:7334"
US_PHONE = "(415) 555-0199"
ACCOUNT_NUMBER = "000123456789"
SECRETS = [API_KEY, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJl", "hunter2-pass"]
PII = [
    "jane.doe+risk@example.co.uk",
    "+44 20 7946 0958",
    "7946 0958",
    "Jane",
    "Doe-Smithson",
    "203.0.113.77",
    CARD_NUMBER,
    "4111111111111111",
    IBAN,
    IPV6,
    US_PHONE,
    ACCOUNT_NUMBER,
]


class Capture:
    """A logger whose lines go through ``JsonFormatter`` into a buffer."""

    def __init__(self, redactor: Redactor) -> None:
        self.buffer = io.StringIO()
        handler = logging.StreamHandler(self.buffer)
        handler.setFormatter(JsonFormatter(redactor))
        self.logger = logging.getLogger(f"test-logging-{id(self)}")
        self.logger.propagate = False
        self.logger.handlers[:] = [handler]
        self.logger.setLevel(logging.DEBUG)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.buffer.getvalue().splitlines()]

    @property
    def text(self) -> str:
        return self.buffer.getvalue()


@pytest.fixture
def capture() -> Capture:
    return Capture(Redactor())


def provider_error(event: dict[str, Any]) -> PermanentDeliveryError:
    """A 4xx whose body echoes what was sent, as providers' validation errors do."""
    echoed = json.dumps(
        {
            "error": "invalid user",
            "user": event["user"],
            "ip_address": event["session"]["ip_address"],
            "card": {"number": CARD_NUMBER},
            "bank": {"iban": IBAN, "account_number": ACCOUNT_NUMBER},
            "headers": {"Authorization": BEARER, "X-Api-Key": API_KEY},
        },
        default=str,
    )
    return PermanentDeliveryError(f"422 from unit21: {echoed}", status=422, body=echoed)


def log_like_the_worker(capture: Capture, event: dict[str, Any]) -> None:
    """The worker's lines for one event that fails: delivery failed, DLQ, and a traceback."""
    error = provider_error(event)
    capture.logger.warning(
        "delivery of %s to %s failed for good: %s",
        event["event_id"],
        "unit21",
        error,
        extra=log_fields(
            "delivery_failed",
            event_id=event["event_id"],
            provider="unit21",
            status_code=422,
            reason="provider_rejected",
            # fields a careless call might add: redacted by name
            email=event["user"]["email"],
            user=event["user"],
            api_key=API_KEY,
            password="hunter2-pass",
            client_ip=event["session"]["ip_address"],
        ),
    )
    capture.logger.warning(
        "dead-lettered %s (%s): %s",
        event["event_id"],
        "provider_rejected",
        error,
        extra=log_fields("dlq", event_id=event["event_id"], reason="provider_rejected"),
    )
    try:
        raise ValueError(f"could not map {event['user']} from {event['session']['ip_address']}")
    except ValueError:
        capture.logger.exception("mapping failed (%s, IBAN %s)", US_PHONE, IBAN)
    capture.logger.info("peer %s answered", IPV6)


def test_lines_from_an_event_with_pii_hold_none_of_it(capture: Capture) -> None:
    log_like_the_worker(capture, PII_EVENT)
    text = capture.text
    for value in PII + SECRETS:
        assert value not in text, f"{value!r} leaked into the logs"
    assert REDACTED in text
    lines = capture.lines()
    assert [line.get("event") for line in lines] == ["delivery_failed", "dlq", None, None]
    # What correlation and triage need survives.
    event_id = PII_EVENT["event_id"]
    assert lines[0]["event_id"] == lines[1]["event_id"] == event_id
    assert lines[0]["provider"] == "unit21" and lines[0]["status_code"] == 422
    assert lines[1]["reason"] == "provider_rejected"
    assert "422 from unit21" in lines[0]["msg"] and "invalid user" in lines[0]["msg"]
    assert lines[0]["email"] == REDACTED and lines[0]["api_key"] == REDACTED
    assert lines[0]["user"]["country"] == PII_EVENT["user"]["country"]  # not personal
    assert "Traceback" in lines[2]["exc"] and "ValueError" in lines[2]["exc"]


def test_a_payment_dumped_whole_loses_its_personal_data(capture: Capture) -> None:
    payment = payment_event(random.Random(2), "user-00042", "PURCHASE", WHEN)
    capture.logger.error("payment refused: %s", json.dumps(payment, default=str))
    personal = [
        str(value)
        for section in ("user", "billing_address", "session")
        for key, value in (payment.get(section) or {}).items()
        if value and Redactor().sensitive_key(key)
    ]
    assert len(personal) >= 4, personal  # the demo payment does carry personal data
    for value in personal:
        assert value not in capture.text, value
    assert payment["event_id"] in capture.text


def test_the_pii_opt_out_keeps_personal_data_but_never_secrets() -> None:
    capture = Capture(Redactor(keep_pii=True))
    log_like_the_worker(capture, PII_EVENT)
    text = capture.text
    assert "jane.doe+risk@example.co.uk" in text and "203.0.113.77" in text
    for secret in SECRETS:
        assert secret not in text


@pytest.mark.parametrize(
    "text",
    [
        "offset 1795291724278 of partition 3",  # 13 digits, not a card (Luhn fails)
        "took 0.25 s at 2026-11-21T12:00:30+00:00",
        "provider unit21 answered 503 after 3 attempts",
        "risk.lifecycle.v1[2]@1042",
        "POST /v1/events/create",
    ],
)
def test_ordinary_operational_text_is_left_alone(text: str) -> None:
    assert Redactor().text(text) == text


def test_configure_logging_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        monkeypatch.setenv("RISKRELAY_LOG_PII", "true")
        monkeypatch.setenv("RISKRELAY_LOG_LEVEL", "warning")
        configure_logging()
        (handler,) = root.handlers
        assert isinstance(handler.formatter, JsonFormatter)
        assert handler.formatter.redactor.keep_pii
        assert root.level == logging.WARNING
        monkeypatch.delenv("RISKRELAY_LOG_PII")
        configure_logging()
        (handler,) = root.handlers
        assert isinstance(handler.formatter, JsonFormatter)
        assert not handler.formatter.redactor.keep_pii
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
