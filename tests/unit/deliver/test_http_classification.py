from __future__ import annotations

import email.utils

import pytest

from riskrelay.deliver.http import classify, parse_retry_after
from riskrelay.deliver.request import ProviderResponse
from riskrelay.errors import CredentialsError, PermanentDeliveryError, TransientDeliveryError


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_transient(status: int) -> None:
    error = classify(ProviderResponse(status, "busy", {"Retry-After": "3"}))
    assert isinstance(error, TransientDeliveryError)
    assert error.retry_after_s == 3.0
    assert error.status == status


@pytest.mark.parametrize("status", [400, 404, 409, 410, 412, 422, 501])
def test_other_errors_are_permanent(status: int) -> None:
    assert type(classify(ProviderResponse(status, "no", {}))) is PermanentDeliveryError


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_are_credentials_errors(status: int) -> None:
    assert isinstance(classify(ProviderResponse(status, "bad key", {})), CredentialsError)


def test_success_is_not_an_error() -> None:
    assert classify(ProviderResponse(201, "{}", {})) is None


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = 1_800_000_000.0
    assert parse_retry_after("17", now) == 17.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(date, now) == pytest.approx(30.0)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
