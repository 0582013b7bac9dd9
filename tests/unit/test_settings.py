"""Settings from the environment: one-line errors naming the variable, keys named by
``api_key_env``, the routing file applied by ``load_settings``."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskrelay.errors import ConfigError
from riskrelay.settings import Settings, Unit21Settings, load_settings


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "RISKRELAY_UNIT21_TIMEOUT_S",
            "abc",
            "RISKRELAY_UNIT21_TIMEOUT_S: Input should be a valid number, unable to parse "
            "string as a number (got 'abc')",
        ),
        (
            "RISKRELAY_KAFKA_PARTITIONS",
            "0",
            "RISKRELAY_KAFKA_PARTITIONS: Input should be greater than or equal to 1 (got '0')",
        ),
        (
            "RISKRELAY_WORKER_ORDERING",
            "random",
            "RISKRELAY_WORKER_ORDERING: Input should be 'subject' or 'partition' (got 'random')",
        ),
    ],
)
def test_a_bad_variable_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == expected


def test_api_key_env_names_the_variable_holding_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RISKRELAY_UNIT21_API_KEY", raising=False)
    monkeypatch.delenv("SETTINGS_TEST_KEY", raising=False)
    assert Unit21Settings(api_key_env="SETTINGS_TEST_KEY").api_key is None
    monkeypatch.setenv("SETTINGS_TEST_KEY", "from-the-named-variable")
    key = Unit21Settings(api_key_env="SETTINGS_TEST_KEY").api_key
    assert key is not None and key.get_secret_value() == "from-the-named-variable"
    monkeypatch.setenv("RISKRELAY_UNIT21_API_KEY", "from-riskrelay")
    key = Unit21Settings(api_key_env="SETTINGS_TEST_KEY").api_key
    assert key is not None and key.get_secret_value() == "from-riskrelay"
    assert "from-" not in repr(Unit21Settings(api_key_env="SETTINGS_TEST_KEY"))


def test_load_settings_applies_the_routing_file_and_reports_its_mistakes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("RISKRELAY_DATASPIKE_MAX_CONCURRENCY", raising=False)
    path = tmp_path / "routing.toml"
    path.write_text("[providers.dataspike]\nmax_concurrency = 4\n")
    monkeypatch.setenv("RISKRELAY_ROUTING_FILE", str(path))
    settings = load_settings()
    assert settings.routing_file == str(path)
    assert settings.providers.dataspike.max_concurrency == 4
    assert Settings().providers.dataspike.max_concurrency == 64  # the environment alone

    path.write_text("[providers.dataspike]\nmax_concurrency = 'four'\n")
    with pytest.raises(ConfigError, match=r"routing.toml: providers.dataspike.max_concurrency: "):
        load_settings()
