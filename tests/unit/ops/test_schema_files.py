"""Which subject each contract goes under, and the registry's messages made readable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from riskrelay.errors import ConfigError
from riskrelay.ops.schemas import bundled_schema_dir, readable, schema_files
from riskrelay.settings import TopicSettings


def test_every_bundled_contract_has_a_subject_named_after_its_topic() -> None:
    topics = TopicSettings(prefix="staging.")
    files = {f.name: f.subject for f in schema_files(bundled_schema_dir(), topics)}
    assert files["lifecycle"] == "staging.risk.lifecycle.v1-value"
    assert files["delivery_result"] == "staging.risk.deliveries.v1-value"
    assert files["identity"] == "staging.risk.identities.v1-value"
    assert files["dlq"] == "staging.risk.dlq.v1-value"
    assert None not in files.values(), files


def test_a_schema_without_a_topic_has_no_subject(tmp_path: Path) -> None:
    (tmp_path / "orphan.avsc").write_text(json.dumps({"type": "string"}))
    [orphan] = schema_files(tmp_path, TopicSettings())
    assert orphan.subject is None


def test_an_invalid_schema_is_a_one_line_config_error(tmp_path: Path) -> None:
    (tmp_path / "lifecycle.avsc").write_text('{"type": "record", "name": "X"}')
    with pytest.raises(ConfigError, match=r"lifecycle\.avsc: not a valid Avro schema"):
        schema_files(tmp_path, TopicSettings())


def test_confluent_verbose_messages_become_sentences() -> None:
    messages = [
        "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'risk_flag' "
        "at path '/fields/10/type' in the new schema has no default value and is missing in "
        "the old schema', additionalInfo:'risk_flag'}",
        "{oldSchemaVersion: 1}",
        '{oldSchema: \'{"type":"record"}\'}',
        "{compatibility: 'BACKWARD'}",
        "version 1 (BACKWARD): READER_FIELD_MISSING_DEFAULT_VALUE at '/fields/3'",
    ]
    assert readable(messages) == [
        "The field 'risk_flag' at path '/fields/10/type' in the new schema has no default "
        "value and is missing in the old schema",
        "version 1 (BACKWARD): READER_FIELD_MISSING_DEFAULT_VALUE at '/fields/3'",
    ]
