"""A bad routing file or setting stops ``riskrelay worker`` and ``riskrelay dev`` before
anything starts: exit code 2 and one line on stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BAD_ROUTE = "routes:\n  payment:\n    purchase:\n      - unit21\n      - stirpe\n"


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RISKRELAY_")}
    clean["RISKRELAY_DEV_DATA_DIR"] = str(tmp_path / "dev")
    return subprocess.run(
        [sys.executable, "-m", "riskrelay", *args],
        env={**clean, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", [["worker"], ["dev", "--duration", "1"]])
def test_a_bad_routing_file_is_one_line_and_exit_2(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "routing.yaml").write_text(BAD_ROUTE)
    result = run(command, tmp_path, RISKRELAY_ROUTING_FILE="routing.yaml")
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        "riskrelay: routing.yaml: line 5: routes.payment.purchase[1]: unknown provider "
        "'stirpe' (known: coinflow, dataspike, stripe, unit21)\n"
    )
    assert not (tmp_path / "dev").exists()  # nothing was started


def test_a_bad_provider_variable_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "routing.toml").write_text("[providers.stripe]\ntimeout_s = 5\n")
    result = run(
        ["worker"],
        tmp_path,
        RISKRELAY_ROUTING_FILE="routing.toml",
        RISKRELAY_STRIPE_MAX_ATTEMPTS="many",
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        "riskrelay: RISKRELAY_STRIPE_MAX_ATTEMPTS: Input should be a valid integer, unable "
        "to parse string as an integer (got 'many')\n"
    )


def test_a_good_routing_file_gets_as_far_as_the_missing_broker(tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parents[2] / "config" / "routing.yaml"
    result = run(["worker"], tmp_path, RISKRELAY_ROUTING_FILE=str(shipped))
    assert result.returncode == 2
    assert result.stderr == (
        "riskrelay: the worker needs RISKRELAY_KAFKA_BOOTSTRAP and RISKRELAY_SCHEMA_REGISTRY_URL\n"
    )
