"""API keys: the configuration format, its one-line errors, and matching."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from riskrelay.api.auth import ApiKeys, Scope, load_keys, parse_keys
from riskrelay.errors import ConfigError
from riskrelay.settings import ApiSettings

SECRET_A = "aaaaaaaaaaaaaaaa-1"
SECRET_B = "bbbb:bbbb:bbbb:bbbb"  # colons are allowed in the secret


@pytest.fixture(autouse=True)
def _no_keys_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RISKRELAY_API_KEYS", raising=False)
    monkeypatch.delenv("RISKRELAY_API_KEYS_FILE", raising=False)


def test_entries_name_scopes_and_secrets() -> None:
    keys = ApiKeys(parse_keys(f"svc:ingest+read:{SECRET_A}, dash:read:{SECRET_B}", "env"))
    assert keys.names == ["svc", "dash"]
    svc, dash = keys.authenticate(SECRET_A), keys.authenticate(SECRET_B)
    assert svc is not None and svc.scopes == {Scope.INGEST, Scope.READ}
    assert dash is not None and (dash.name, dash.scopes) == ("dash", {Scope.READ})
    for wrong in (None, "", SECRET_A[:-1], SECRET_A + "x", SECRET_A.upper()):
        assert keys.authenticate(wrong) is None


def test_only_digests_are_kept() -> None:
    (key,) = parse_keys(f"svc:read:{SECRET_A}", "env")
    assert SECRET_A.encode() not in repr(key).encode()
    assert len(key.digest) == 32


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("svc-read-secret", "env entry 1: expected name:scope[+scope]:secret"),
        (f"svc:read:{SECRET_A},bad", "env entry 2: expected name:scope[+scope]:secret"),
        (f"sv c:read:{SECRET_A}", "env entry 1: the name must be 1-64 of"),
        (
            f"svc:admin:{SECRET_A}",
            "env entry 1 (svc): unknown scope 'admin' (scopes: ingest, read)",
        ),
        (f"svc::{SECRET_A}", "env entry 1 (svc): unknown scope ''"),
        ("svc:read:short", "env entry 1 (svc): the secret must be at least 16 visible ASCII"),
        ("svc:read:has space in it here", "the secret must be at least 16"),
    ],
)
def test_bad_entries_are_one_line_errors_that_never_show_the_secret(
    text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_keys(text, "env")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert SECRET_A not in str(caught.value) and "short" not in str(caught.value)


def test_names_and_secrets_are_unique() -> None:
    with pytest.raises(ConfigError, match="'svc' is configured twice"):
        ApiKeys(parse_keys(f"svc:read:{SECRET_A},svc:ingest:{SECRET_B}", "env"))
    with pytest.raises(ConfigError, match="same secret"):
        ApiKeys(parse_keys(f"a:read:{SECRET_A},b:ingest:{SECRET_A}", "env"))


def test_keys_come_from_the_variable_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"# one per line\ndash:read:{SECRET_B}  # the dashboard\n\n")
    settings = ApiSettings(keys=SecretStr(f"svc:ingest:{SECRET_A}"), keys_file=str(path))
    assert load_keys(settings).names == ["svc", "dash"]
    assert load_keys(ApiSettings(keys_file=str(path))).names == ["dash"]


def test_no_keys_or_an_unreadable_file_stop_the_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^no API keys: set RISKRELAY_API_KEYS"):
        load_keys(ApiSettings())
    with pytest.raises(ConfigError, match="No such file"):
        load_keys(ApiSettings(keys_file=str(tmp_path / "missing")))
    empty = tmp_path / "empty"
    empty.write_text("# nothing\n")
    with pytest.raises(ConfigError, match="no API keys"):
        load_keys(ApiSettings(keys_file=str(empty)))


def test_settings_read_the_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKRELAY_API_KEYS", f"svc:read:{SECRET_A}")
    settings = ApiSettings()
    assert SECRET_A not in repr(settings)
    assert load_keys(settings).names == ["svc"]
