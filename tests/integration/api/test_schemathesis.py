"""The OpenAPI document holds: schemathesis drives every operation of the real app (real
broker, registry and state view) with generated valid and invalid requests and checks
that nothing answers 5xx and every answer matches the document.

Operations are walked here rather than with ``schema.parametrize`` / ``from_fixture``:
the app needs this test's broker namespace, and ``from_fixture`` does not work with the
pytest in use."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

from riskrelay.settings import Settings
from tests.integration.api.conftest import HEADERS, IngestApi, api_settings

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.negative_data_rejection,
    checks.ignored_auth,
]
EXAMPLES = {GenerationMode.POSITIVE: 80, GenerationMode.NEGATIVE: 40}


@pytest.fixture
def served(pipeline_settings: Settings) -> Iterator[IngestApi]:
    server = IngestApi(api_settings(pipeline_settings, max_body_bytes=16_384)).start()
    yield server
    server.stop()


def test_the_api_keeps_its_openapi_contract(served: IngestApi) -> None:
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {
        "GET /v1/events/{event_id}",
        "POST /v1/events",
        "PUT /v1/events/{event_id}",
    }
    calls = 0
    started = time.monotonic()
    for operation in operations:
        for mode, examples in EXAMPLES.items():

            @given(case=operation.as_strategy(mode))
            @settings(
                max_examples=examples,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def run(case: schemathesis.Case) -> None:
                nonlocal calls
                calls += 1
                case.call_and_validate(base_url=served.url, headers=dict(HEADERS), checks=CHECKS)

            try:
                run()
            except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert calls > 100, calls
    assert time.monotonic() - started < 120
