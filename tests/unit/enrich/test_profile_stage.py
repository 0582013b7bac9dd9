"""The enrichment settings as the stage uses them, and the signals a replay takes from its
completed snapshot."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from riskrelay.enrich.profile_stage import enrich_options, profile_limits, recorded_signals
from riskrelay.errors import ConfigError
from riskrelay.settings import EnrichSettings, load_settings


def test_settings_become_windows_bounds_and_options() -> None:
    settings = EnrichSettings(
        failed_sign_ins_1h_window_s=600,
        failed_sign_ins_24h_window_s=7200,
        velocity_1h_window_s=60,
        recent_days=2,
        max_devices=3,
        max_applied=4,
        phone_default_region="gb",
        pii_minimization=True,
        pii_hmac_key="k3y",  # type: ignore[arg-type]
    )
    limits = profile_limits(settings)
    assert (limits.windows.failed_short_ms, limits.windows.failed_long_ms) == (600_000, 7_200_000)
    assert limits.windows.velocity_ms == 60_000
    assert limits.windows.recent_ms == 2 * 86_400_000
    assert (limits.max_devices, limits.max_applied) == (3, 4)
    options = enrich_options(settings)
    assert options.default_phone_region == "GB"
    assert options.pii_key == b"k3y"


def test_a_key_without_minimization_hashes_nothing() -> None:
    options = enrich_options(EnrichSettings(pii_hmac_key="k3y"))  # type: ignore[arg-type]
    assert options.pii_key is None


def test_minimization_without_a_key_is_one_line_naming_the_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISKRELAY_ENRICH_PII_MINIMIZATION", "true")
    monkeypatch.delenv("RISKRELAY_ENRICH_PII_HMAC_KEY", raising=False)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert str(raised.value) == (
        "RISKRELAY_ENRICH_PII_HMAC_KEY: must be set when RISKRELAY_ENRICH_PII_MINIMIZATION is on"
    )


def test_a_replay_gets_the_signals_recorded_in_its_snapshot() -> None:
    registered = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    body = {
        "event_id": "evt-1",
        "profile": {
            "registered_at": registered,
            "last_seen_at": None,
            "days_since_registration": 4,
            "countries": ["US"],
        },
    }
    recorded = recorded_signals(orjson.dumps(body).decode())
    assert recorded == {
        "registered_at": registered,
        "last_seen_at": None,
        "days_since_registration": 4,
        "countries": ["US"],
    }
    assert recorded_signals(orjson.dumps({"profile": None}).decode()) is None
