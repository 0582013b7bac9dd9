"""``riskrelay schemas register|check`` against the project's registry on the real broker:
a breaking change is refused with the subject and the field named, and nothing lands."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from riskrelay.ops.schemas import (
    RegistryApi,
    bundled_schema_dir,
    check_schemas,
    register_schemas,
    schema_files,
)
from riskrelay.settings import RegistrySettings, Settings
from tests.integration.ops.cli import one_error_line, run


@pytest.fixture
def registry_settings(settings: Settings, registry_url: str) -> Settings:
    return settings.model_copy(update={"registry": RegistrySettings(url=registry_url)})


def edited(tmp_path: Path, name: str, field: dict[str, object]) -> Path:
    """A copy of the bundled contracts with one field appended to ``name``."""
    folder = tmp_path / f"schemas-{uuid.uuid4().hex[:8]}"
    shutil.copytree(bundled_schema_dir(), folder)
    path = folder / f"{name}.avsc"
    schema = json.loads(path.read_text())
    schema["fields"].append(field)
    path.write_text(json.dumps(schema, indent=2))
    return folder


REQUIRED = {"name": "risk_flag", "type": "string", "doc": "a new field without a default"}
OPTIONAL = {"name": "channel_hint", "type": ["null", "string"], "default": None}


def test_register_then_check_then_refuse_a_breaking_change(
    registry_settings: Settings, tmp_path: Path
) -> None:
    topics = registry_settings.topics
    assert registry_settings.registry.url
    lifecycle_subject = f"{topics.prefix}risk.lifecycle.v1-value"
    with RegistryApi(registry_settings.registry.url) as api:
        first = register_schemas(api, schema_files(bundled_schema_dir(), topics))
        assert {r.status for r in first} == {"registered"}
        assert all(r.version == 1 and r.schema_id for r in first)
        again = check_schemas(api, schema_files(bundled_schema_dir(), topics))
        assert {r.status for r in again} == {"unchanged"}

        broken = edited(tmp_path, "lifecycle", REQUIRED)
        checked = {r.subject: r for r in check_schemas(api, schema_files(broken, topics))}
        result = checked[lifecycle_subject]
        assert result.status == "incompatible" and result.latest_version == 1
        assert any("risk_flag" in m for m in result.messages), result.messages
        assert result.level == "BACKWARD"

        # One breaking file stops the whole release, the compatible change included.
        both = edited(tmp_path, "payment", OPTIONAL)
        shutil.copy(broken / "lifecycle.avsc", both / "lifecycle.avsc")
        refused = {r.subject: r for r in register_schemas(api, schema_files(both, topics))}
        payment_subject = f"{topics.prefix}risk.payment.v1-value"
        assert refused[lifecycle_subject].failed
        assert refused[payment_subject].status == "compatible"
        assert api.latest(payment_subject) is not None
        assert api.latest(payment_subject)[0] == 1  # type: ignore[index]

        compatible = edited(tmp_path, "payment", OPTIONAL)
        landed = {r.subject: r for r in register_schemas(api, schema_files(compatible, topics))}
        assert landed[payment_subject].status == "registered"
        assert landed[payment_subject].version == 2
        assert landed[lifecycle_subject].status == "unchanged"


def test_cli_check_exits_1_naming_subject_and_field(
    registry_settings: Settings, tmp_path: Path
) -> None:
    registered = run(registry_settings, "schemas", "register", "--json")
    assert registered.returncode == 0, registered.stderr
    subjects = json.loads(registered.stdout.splitlines()[-1])["subjects"]
    assert {s["status"] for s in subjects} == {"registered"}

    broken = edited(tmp_path, "lifecycle", REQUIRED)
    checked = run(registry_settings, "schemas", "check", "--dir", str(broken))
    assert checked.returncode == 1
    line = one_error_line(checked)
    subject = f"{registry_settings.topics.prefix}risk.lifecycle.v1-value"
    assert line.startswith(f"riskrelay: {subject}: not BACKWARD compatible: ")
    assert "risk_flag" in line and "no default value" in line
    assert "INCOMPATIBLE" in checked.stdout

    as_json = run(registry_settings, "schemas", "check", "--dir", str(broken), "--json")
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["compatible"] is False
    [bad] = [s for s in report["subjects"] if s["status"] == "incompatible"]
    assert bad["subject"] == subject


def test_cli_without_a_registry_says_so_in_one_line(registry_settings: Settings) -> None:
    result = run(
        registry_settings, "schemas", "check", RISKRELAY_SCHEMA_REGISTRY_URL="http://127.0.0.1:9"
    )
    assert result.returncode == 2
    assert "schema registry unreachable at http://127.0.0.1:9" in one_error_line(result)
