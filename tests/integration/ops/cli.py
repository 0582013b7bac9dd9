"""Run ``riskrelay`` as a user does: a subprocess with the test's settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from riskrelay.settings import Settings

RISKRELAY = str(Path(sys.executable).with_name("riskrelay"))


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKRELAY_")}
    assert settings.kafka.bootstrap
    env.update(
        {
            "RISKRELAY_KAFKA_BOOTSTRAP": settings.kafka.bootstrap,
            "RISKRELAY_KAFKA_PARTITIONS": str(settings.kafka.partitions),
            "RISKRELAY_TOPIC_PREFIX": settings.topics.prefix,
            "RISKRELAY_TOPIC_SCHEMAS": settings.topics.schemas,
        }
    )
    if settings.registry.url:
        env["RISKRELAY_SCHEMA_REGISTRY_URL"] = settings.registry.url
    env.update(extra)
    return env


def run(settings: Settings, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RISKRELAY, *args],
        env=env_for(settings, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The readable line a failing command ends with; never a traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("riskrelay: ")]
    assert lines, result.stderr
    return lines[0]
