"""``riskrelay dev`` serves the API with the configured keys or a generated one."""

from __future__ import annotations

from riskrelay.api.auth import ApiKeys, Scope, parse_keys
from riskrelay.dev.stack import dev_api_key


def test_without_configured_keys_a_fresh_key_with_both_scopes_is_generated() -> None:
    env: dict[str, str] = {}
    secret = dev_api_key(env)
    assert secret is not None and len(secret) >= 32
    key = ApiKeys(parse_keys(env["RISKRELAY_API_KEYS"], "env")).authenticate(secret)
    assert key is not None and key.scopes == {Scope.INGEST, Scope.READ}
    assert dev_api_key({}) != secret


def test_configured_keys_are_used_as_they_are() -> None:
    for name in ("RISKRELAY_API_KEYS", "RISKRELAY_API_KEYS_FILE"):
        env = {name: "given"}
        assert dev_api_key(env) is None
        assert env == {name: "given"}
