"""Real Unit21 sandboxes on free ports, started per test and stopped after it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from riskrelay.sandbox.server import SandboxConfig, SandboxThread
from tests.integration.deliver.support import KEY, SandboxFactory


@pytest.fixture
def sandbox_factory() -> Iterator[SandboxFactory]:
    started: list[SandboxThread] = []

    def start(faults: dict[str, Any] | None = None) -> SandboxThread:
        config = SandboxConfig(api_key=KEY, processing_delay_s=0, rate_limit_per_s=0)
        sandbox = SandboxThread("unit21", config=config).start()
        started.append(sandbox)
        if faults:
            sandbox.set_faults(faults)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()
