"""The routing file: loading (YAML and TOML), one-line errors, precedence, and routing."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from riskrelay.deliver.dispatcher import Dispatcher, Provider, build_provider
from riskrelay.deliver.providers.unit21 import Unit21Adapter
from riskrelay.dev.demo import lifecycle_event
from riskrelay.errors import ConfigError
from riskrelay.metrics import WorkerMetrics
from riskrelay.models import Envelope, Family, SourcePosition
from riskrelay.normalize import normalize
from riskrelay.routing import (
    DEFAULT_ROUTES,
    WILDCARD,
    RouteTable,
    family_kinds,
    load_routing,
    probe_envelope,
)
from riskrelay.settings import (
    DataspikeSettings,
    ProvidersSettings,
    Settings,
    StripeSettings,
    Unit21Settings,
    load_settings,
)

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "routing.yaml"
WHEN = datetime(2026, 11, 21, 12, 0, 30, tzinfo=UTC)

YAML = """\
providers:
  unit21:
    timeout_s: 7
    rate_limit_per_s: 200
    api_key_env: ROUTING_TEST_UNIT21_KEY
  stripe:
    enabled: false
    options:
      stripe_version: 2026-01-28.preview
routes:
  lifecycle:
    sign_up: [coinflow, unit21]
    "*": [unit21]
  payment:
    purchase:
      - unit21
      - stripe
    refund: []
"""

TOML = """\
[providers.unit21]
timeout_s = 7
rate_limit_per_s = 200
api_key_env = "ROUTING_TEST_UNIT21_KEY"

[providers.stripe]
enabled = false
options = { stripe_version = "2026-01-28.preview" }

[routes.lifecycle]
sign_up = ["coinflow", "unit21"]
"*" = ["unit21"]

[routes.payment]
purchase = ["unit21", "stripe"]
refund = []
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_kinds_are_the_contracts_event_types_lower_cased() -> None:
    assert len(family_kinds(Family.LIFECYCLE)) == 17
    assert {"sign_up", "sign_in_failure", "user_access"} <= set(family_kinds(Family.LIFECYCLE))
    assert {"purchase", "redeem", "loan_payment"} <= set(family_kinds(Family.PAYMENT))
    assert family_kinds(Family.EVALUATION) == (
        "dispute_opened",
        "early_fraud_warning_received",
        "refunded",
        "user_intervention_raised",
        "user_intervention_resolved",
    )
    # The kind normalization gives a real event is one of them.
    record = lifecycle_event(random.Random(1), "user-1", "SIGN_IN_FAILURE", WHEN)
    event = normalize(Family.LIFECYCLE, record, SourcePosition("t", 0, 0), WHEN)
    assert event.envelope.kind in family_kinds(Family.LIFECYCLE)


@pytest.mark.parametrize(("name", "text"), [("routing.yaml", YAML), ("routing.toml", TOML)])
def test_yaml_and_toml_load_the_same_routing(tmp_path: Path, name: str, text: str) -> None:
    routing = load_routing(write(tmp_path, name, text))
    routes = routing.routes
    assert routes.names(Family.LIFECYCLE, "sign_up") == ("coinflow", "unit21")
    assert routes.names(Family.LIFECYCLE, "sign_out") == ("unit21",)  # the wildcard
    assert routes.names(Family.PAYMENT, "purchase") == ("unit21", "stripe")
    assert routes.names(Family.PAYMENT, "refund") == ()
    assert routes.names(Family.PAYMENT, "deposit") == ()  # named family, no wildcard
    assert routes.names(Family.EVALUATION, "refunded") is None  # family left to the default
    assert routing.provider_values == {
        "unit21": {
            "timeout_s": 7,
            "rate_limit_per_s": 200,
            "api_key_env": "ROUTING_TEST_UNIT21_KEY",
        },
        "stripe": {"enabled": False, "stripe_version": "2026-01-28.preview"},
    }


def test_yml_extension_and_an_empty_file_mean_the_default_routing(tmp_path: Path) -> None:
    routing = load_routing(write(tmp_path, "empty.yml", "# nothing yet\n"))
    assert routing.routes == DEFAULT_ROUTES and not routing.provider_values
    assert load_routing(None).routes.names(Family.PAYMENT, "purchase") is None


YAML_ERRORS = [
    (
        "routes:\n  payment:\n    purchase:\n      - unit21\n      - stirpe\n",
        "line 5: routes.payment.purchase[1]: unknown provider 'stirpe' "
        "(known: coinflow, dataspike, stripe, unit21)",
    ),
    (
        "routes:\n  lifecycle:\n    sign_up: [unit21]\n  payment:\n    purchse: [unit21]\n",
        "line 5: routes.payment.purchse: unknown payment kind 'purchse' (known: purchase, "
        "deposit, withdrawal, refund, redeem, transfer, reversal, debit, loan_issued, "
        "loan_payment, or '*' for every other kind)",
    ),
    (
        "routes:\n  lifecycle:\n    refunded: [stripe]\n",
        "line 3: routes.lifecycle.refunded: unknown lifecycle kind 'refunded' (known: sign_up, "
        "sign_in, sign_in_failure, buyer_challenge, sign_out, profile_change, account_blocked, "
        "account_suspended, account_closed, account_activated, account_deleted, "
        "forgot_password, password_reset, promo_code_use, referral, communication, "
        "user_access, or '*' for every other kind)",
    ),
    (
        "routes:\n  lifecycle: {}\n  payments: {}\n",
        "line 3: routes.payments: unknown family 'payments' (known: evaluation, lifecycle, "
        "payment)",
    ),
    (
        "providers:\n  unit21: {}\n  stirpe:\n    timeout_s: 1\n",
        "line 3: providers.stirpe: unknown provider 'stirpe' "
        "(known: coinflow, dataspike, stripe, unit21)",
    ),
    (
        "providers:\n  unit21:\n    timout_s: 3\n",
        "line 3: providers.unit21.timout_s: unknown unit21 setting 'timout_s' (known: "
        "api_key_env, base_url, batch_linger_ms, batch_max_events, breaker_error_ratio, "
        "breaker_failure_threshold, "
        "breaker_half_open_probes, breaker_min_requests, breaker_open_s, breaker_window_s, "
        "credentials_probe_interval_s, enabled, max_attempts, max_concurrency, options, "
        "rate_limit_per_s, retry_initial_delay_s, retry_max_delay_s, retry_max_elapsed_s, "
        "timeout_s)",
    ),
    (
        "providers:\n  stripe:\n    options:\n      merchant_id: m-1\n",
        "line 4: providers.stripe.options.merchant_id: unknown stripe option 'merchant_id' "
        "(known: stripe_version)",
    ),
    (
        "providers:\n  unit21:\n    base_url: https://example.test\n    api_key: abc\n",
        "line 4: providers.unit21.api_key: the routing file holds no secrets: name the "
        "variable that holds the key in api_key_env",
    ),
    (
        "providers:\n  unit21:\n    timeout_s: -1\n",
        "line 3: providers.unit21.timeout_s: Input should be greater than 0 (got -1)",
    ),
    (
        "providers:\n  dataspike:\n    enabled: maybe\n",
        "line 3: providers.dataspike.enabled: Input should be a valid boolean, unable to "
        "interpret input (got 'maybe')",
    ),
    (
        "routes:\n  payment:\n    purchase: unit21\n",
        "line 3: routes.payment.purchase: Input should be a valid list (got 'unit21')",
    ),
    (
        "routes:\n  payment:\n    purchase: [unit21, stripe, unit21]\n",
        "line 3: routes.payment.purchase: 'unit21' is listed twice",
    ),
    (
        "routes:\n  payment:\n    purchase: [unit21]\n    refund: []\n    purchase: [stripe]\n",
        "line 5: routes.payment.purchase: duplicate key (first on line 3)",
    ),
    (
        "rutes:\n  payment: {}\n",
        "line 1: rutes: unknown section 'rutes' (known: providers, routes)",
    ),
    (
        "- unit21\n",
        "(top level): the file must be a mapping with the sections providers and routes",
    ),
    (
        "routes:\n  payment: [\n",
        "line 3: invalid YAML: expected the node content, but found '<stream end>'",
    ),
]


@pytest.mark.parametrize(("text", "expected"), YAML_ERRORS)
def test_each_mistake_is_one_line_with_its_yaml_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, "routing.yaml", text)
    with pytest.raises(ConfigError) as caught:
        load_routing(path)
    assert str(caught.value) == f"{path}: {expected}"
    assert "\n" not in str(caught.value)


def test_the_first_mistake_in_file_order_is_reported_with_a_count_of_the_rest(
    tmp_path: Path,
) -> None:
    text = "providers:\n  unit21:\n    timeout_s: 0\nroutes:\n  payment:\n    refund: [x, y]\n"
    path = write(tmp_path, "routing.yaml", text)
    with pytest.raises(ConfigError) as caught:
        load_routing(path)
    assert str(caught.value) == (
        f"{path}: line 3: providers.unit21.timeout_s: Input should be greater than 0 (got 0) "
        "(and 2 more)"
    )


def test_anchors_and_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    text = (
        "providers:\n  unit21: &defaults\n    timeout_s: 5\n    max_attempts: 3\n"
        "  dataspike:\n    <<: *defaults\n    timeout_s: 9\n"
    )
    routing = load_routing(write(tmp_path, "routing.yaml", text))
    assert routing.provider_values["dataspike"] == {"timeout_s": 9, "max_attempts": 3}


TOML_ERRORS = [
    (
        '[routes.payment]\npurchase = ["unit21", "stirpe"]\n',
        "routes.payment.purchase[1]: unknown provider 'stirpe' "
        "(known: coinflow, dataspike, stripe, unit21)",
    ),
    (
        "[providers.unit21]\nmax_concurrency = 0\n",
        "providers.unit21.max_concurrency: Input should be greater than or equal to 1 (got 0)",
    ),
    ('[routes]\nlifecycle = { "*" = ["unit21"], bogus = [] }\n', "routes.lifecycle.bogus: "),
    (
        "[routes\n",
        "invalid TOML: Expected ']' at the end of a table declaration (at line 1, column 8)",
    ),
]


@pytest.mark.parametrize(("text", "expected"), TOML_ERRORS)
def test_toml_mistakes_name_the_field(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, "routing.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_routing(path)
    assert str(caught.value).startswith(f"{path}: {expected}")


def test_a_missing_file_or_an_unknown_format_is_one_line(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"nope.yaml: cannot read the routing file: No such"):
        load_routing(missing)
    json_file = write(tmp_path, "routing.json", "{}")
    with pytest.raises(ConfigError, match=r"unknown routing file type '.json'"):
        load_routing(json_file)


def test_environment_beats_the_file_which_beats_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("UNIT21", "STRIPE"):
        for var in ("TIMEOUT_S", "API_KEY", "API_KEY_ENV", "STRIPE_VERSION", "ENABLED"):
            monkeypatch.delenv(f"RISKRELAY_{name}_{var}", raising=False)
    monkeypatch.setenv("RISKRELAY_ROUTING_FILE", write(tmp_path, "routing.yaml", YAML))
    monkeypatch.setenv("ROUTING_TEST_UNIT21_KEY", "key-from-the-named-variable")
    unit21 = load_settings().providers.unit21
    assert unit21.timeout_s == 7 and unit21.rate_limit_per_s == 200  # the file
    assert unit21.max_attempts == 8  # the default
    assert unit21.api_key is not None
    assert unit21.api_key.get_secret_value() == "key-from-the-named-variable"
    stripe = load_settings().providers.stripe
    assert isinstance(stripe, StripeSettings)
    assert not stripe.enabled and stripe.stripe_version == "2026-01-28.preview"

    monkeypatch.setenv("RISKRELAY_UNIT21_TIMEOUT_S", "3")
    monkeypatch.setenv("RISKRELAY_UNIT21_API_KEY", "key-from-riskrelay")
    monkeypatch.setenv("RISKRELAY_STRIPE_ENABLED", "true")
    monkeypatch.setenv("RISKRELAY_STRIPE_STRIPE_VERSION", "2027-01-01")
    settings = load_settings()
    unit21 = settings.providers.unit21
    assert unit21.timeout_s == 3 and unit21.rate_limit_per_s == 200
    assert unit21.api_key is not None
    assert unit21.api_key.get_secret_value() == "key-from-riskrelay"
    stripe = settings.providers.stripe
    assert isinstance(stripe, StripeSettings)
    assert stripe.enabled and stripe.stripe_version == "2027-01-01"
    # Applying the file again (as the worker does) changes nothing.
    again = load_routing(settings.routing_file).apply(settings.providers)
    assert again == settings.providers


def test_settings_built_in_code_beat_the_file_too(tmp_path: Path) -> None:
    routing = load_routing(write(tmp_path, "routing.yaml", YAML))
    providers = routing.apply(ProvidersSettings(unit21=Unit21Settings(timeout_s=1.5)))
    assert providers.unit21.timeout_s == 1.5 and providers.unit21.rate_limit_per_s == 200


# --- routing events to providers ---


class FamilyAdapter(Unit21Adapter):
    """An adapter that takes some families, or some kinds of them (only ``accepts``
    matters to routing), so these tables do not move as the real adapters grow."""

    def __init__(self, name: str, takes: dict[Family, set[str] | None]) -> None:
        self.name = name
        self.takes = takes

    def accepts(self, envelope: Envelope) -> bool:
        if envelope.family not in self.takes:
            return False
        kinds = self.takes[envelope.family]
        return kinds is None or envelope.kind in kinds


ADAPTERS = (
    FamilyAdapter(
        "coinflow",
        {
            Family.LIFECYCLE: {"sign_up", "sign_in", "sign_in_failure", "buyer_challenge"},
            Family.PAYMENT: {"redeem"},
        },
    ),
    FamilyAdapter("unit21", {Family.LIFECYCLE: None}),  # narrower than the real one
    FamilyAdapter("dataspike", {Family.PAYMENT: None}),
    FamilyAdapter("stripe", {Family.PAYMENT: {"purchase"}, Family.EVALUATION: None}),
)


def providers(
    routes: RouteTable, names: tuple[str, ...] = ("coinflow", "unit21", "dataspike", "stripe")
) -> list[Provider]:
    settings = Unit21Settings(base_url="http://127.0.0.1:1", api_key="k")
    return [build_provider(a, settings, routes) for a in ADAPTERS if a.name in names]


def routed(dispatcher: Dispatcher, family: Family, kind: str) -> tuple[str, ...]:
    return tuple(p.name for p in dispatcher.route(probe_envelope(family, kind)))


SHIPPED_TABLE = [
    (Family.LIFECYCLE, "sign_up", ("coinflow", "unit21")),
    (Family.LIFECYCLE, "buyer_challenge", ("coinflow", "unit21")),
    (Family.LIFECYCLE, "sign_out", ("unit21",)),
    (Family.LIFECYCLE, "user_access", ("unit21",)),
    (Family.PAYMENT, "purchase", ("dataspike", "stripe")),  # unit21's adapter takes no payments
    (Family.PAYMENT, "deposit", ("dataspike",)),
    (Family.PAYMENT, "refund", ()),
    (Family.PAYMENT, "redeem", ("coinflow",)),  # dataspike takes payments but is not routed
    (Family.EVALUATION, "refunded", ("stripe",)),
    (Family.EVALUATION, "dispute_opened", ("stripe",)),
]


@pytest.mark.parametrize(("family", "kind", "expected"), SHIPPED_TABLE)
def test_route_is_the_routes_intersected_with_what_adapters_accept(
    family: Family, kind: str, expected: tuple[str, ...]
) -> None:
    dispatcher = Dispatcher(providers(load_routing(str(SHIPPED)).routes), WorkerMetrics())
    assert routed(dispatcher, family, kind) == expected


DEFAULT_TABLE = [
    (Family.LIFECYCLE, "sign_up", ("coinflow", "unit21")),
    (Family.LIFECYCLE, "sign_out", ("unit21",)),
    (Family.PAYMENT, "purchase", ("dataspike", "stripe")),
    (Family.PAYMENT, "redeem", ("coinflow", "dataspike")),
    (Family.EVALUATION, "refunded", ("stripe",)),
]


@pytest.mark.parametrize(("family", "kind", "expected"), DEFAULT_TABLE)
def test_without_a_file_every_provider_gets_what_its_adapter_accepts(
    family: Family, kind: str, expected: tuple[str, ...]
) -> None:
    dispatcher = Dispatcher(providers(DEFAULT_ROUTES), WorkerMetrics())
    assert routed(dispatcher, family, kind) == expected


def test_route_leaves_out_providers_that_are_not_configured() -> None:
    routes = load_routing(str(SHIPPED)).routes
    dispatcher = Dispatcher(providers(routes, ("unit21", "dataspike")), WorkerMetrics())
    assert routed(dispatcher, Family.PAYMENT, "purchase") == ("dataspike",)
    assert routed(dispatcher, Family.LIFECYCLE, "sign_up") == ("unit21",)
    assert routed(Dispatcher([], WorkerMetrics()), Family.LIFECYCLE, "sign_up") == ()


class CountingAdapter(FamilyAdapter):
    def __init__(self, name: str, takes: dict[Family, set[str] | None]) -> None:
        super().__init__(name, takes)
        self.asked = 0

    def accepts(self, envelope: Envelope) -> bool:
        self.asked += 1
        return super().accepts(envelope)


def test_route_asks_no_adapter_per_event_and_copes_with_kinds_newer_than_the_contracts() -> None:
    routes = RouteTable({Family.LIFECYCLE: {"sign_up": ("coinflow",), WILDCARD: ("unit21",)}})
    counting = CountingAdapter("unit21", {Family.LIFECYCLE: None})
    settings = Unit21Settings(base_url="http://127.0.0.1:1", api_key="k")
    coinflow = build_provider(ADAPTERS[0], settings, routes)
    dispatcher = Dispatcher([coinflow, build_provider(counting, settings, routes)], WorkerMetrics())
    asked = counting.asked
    for _ in range(100):
        assert routed(dispatcher, Family.LIFECYCLE, "sign_in") == ("unit21",)
        assert routed(dispatcher, Family.LIFECYCLE, "sign_up") == ("coinflow",)
    assert counting.asked == asked  # decided when the dispatcher was built
    assert routed(dispatcher, Family.LIFECYCLE, "passkey_added") == ("unit21",)
    assert routed(dispatcher, Family.LIFECYCLE, "passkey_added") == ("unit21",)
    assert counting.asked == asked + 1  # a new kind is decided once, then looked up
    sign_in = probe_envelope(Family.LIFECYCLE, "sign_in")
    assert dispatcher.route(sign_in) is dispatcher.route(sign_in)  # nothing built per event


def test_the_shipped_file_loads_and_routes_every_kind_of_every_family() -> None:
    routing = load_routing(str(SHIPPED))
    for family in Family:
        for kind in family_kinds(family):
            names = routing.routes.names(family, kind)
            assert names, f"{family.lower()} {kind} goes nowhere"
    routes = routing.routes
    assert routes.names(Family.PAYMENT, "purchase") == ("unit21", "dataspike", "stripe")
    assert routes.names(Family.PAYMENT, "transfer") == ("unit21", "dataspike")
    assert routes.names(Family.PAYMENT, "redeem") == ("coinflow",)
    assert routes.names(Family.PAYMENT, "loan_issued") == ("unit21",)
    assert routes.names(Family.LIFECYCLE, "sign_in_failure") == ("coinflow", "unit21")
    assert routes.names(Family.LIFECYCLE, "referral") == ("unit21",)
    assert set(routes.names(Family.EVALUATION, "user_intervention_raised") or ()) == {
        "stripe",
        "unit21",
    }
    for values in routing.provider_values.values():
        assert "api_key" not in values and "base_url" not in values


def test_configured_providers_skip_routes_that_deliver_nothing_and_say_so_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from riskrelay import worker

    monkeypatch.setattr(worker, "ADAPTERS", ADAPTERS)
    url = {"base_url": "http://127.0.0.1:1", "api_key": "k"}
    settings = Settings(
        routing_file=str(SHIPPED),
        providers=ProvidersSettings(
            unit21=Unit21Settings(**url),
            dataspike=DataspikeSettings(**url),
            stripe=StripeSettings(**url, enabled=False),
        ),
    )
    with caplog.at_level(logging.WARNING, logger="riskrelay.worker"):
        configured = worker.configured_providers(settings)
    assert [p.name for p in configured] == ["unit21", "dataspike"]
    assert configured[0].lane.policy.rate_limit_per_s == 200  # from the file
    messages = [r.getMessage() for r in caplog.records]
    assert sum("coinflow" in m for m in messages) == 1
    assert any(m.startswith("routes to coinflow are skipped: it has no base URL") for m in messages)
    assert any(m.startswith("routes to stripe are skipped: it is disabled") for m in messages)
    refused = next(m for m in messages if m.startswith("routes to unit21 are skipped for "))
    assert "payment purchase" in refused and "evaluation refunded" in refused
    assert "lifecycle" not in refused


def test_a_route_to_an_unknown_provider_is_a_config_error_not_a_runtime_skip(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "routing.yaml", "routes:\n  evaluation:\n    '*': [sift]\n")
    with pytest.raises(
        ConfigError, match=r"line 3: routes.evaluation.\*\[0\]: unknown provider 'sift'"
    ):
        load_routing(path)
