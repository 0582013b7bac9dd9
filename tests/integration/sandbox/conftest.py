"""A Unit21 sandbox per test module (real HTTP on a free port), reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from riskrelay.sandbox import SandboxConfig, SandboxThread
from riskrelay.sandbox.unit21 import DEFAULT_API_KEY

PROCESSING_DELAY_S = 0.3


@pytest.fixture(scope="module")
def unit21_box() -> Iterator[SandboxThread]:
    with SandboxThread(
        "unit21", config=SandboxConfig(processing_delay_s=PROCESSING_DELAY_S)
    ) as box:
        yield box


@pytest.fixture
def unit21(unit21_box: SandboxThread) -> SandboxThread:
    unit21_box.reset()
    return unit21_box


@pytest.fixture
def client(unit21: SandboxThread) -> Iterator[httpx.Client]:
    headers = {"u21-key": DEFAULT_API_KEY}
    with httpx.Client(base_url=unit21.base_url, headers=headers, timeout=10) as http:
        yield http
