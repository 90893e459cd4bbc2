"""The JSON result: versioned, schema-valid, the same facts as the text report."""

from __future__ import annotations

import json

import jsonschema
import pytest
import test_reports_samples as samples

from gate.reports.jsonreport import load_schema, render_json, write_json


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("name", sorted(samples.ALL))
def test_every_sample_validates(name: str, validator) -> None:
    validator.validate(json.loads(render_json(samples.ALL[name]())))


def test_schema_rejects_a_wrong_document(validator) -> None:
    doc = json.loads(render_json(samples.passing()))
    doc["overall"] = "MAYBE"
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(doc)


def test_failing_document_fields() -> None:
    doc = json.loads(render_json(samples.failing_l1()))
    assert doc["schema"] == "promotion-gate/result/v1"
    assert (doc["overall"], doc["exit_code"], doc["failed_level"]) == ("FAIL", 1, 1)
    assert doc["verdict"] == "FAIL at Level 1"
    assert doc["started_at"] == "2026-11-23T10:00:00Z" and doc["finished_at"] is None
    assert [lv["status"] for lv in doc["levels"]] == ["FAIL", "SKIPPED", "SKIPPED", "SKIPPED"]
    bad = doc["levels"][0]["checks"][1]
    assert bad["observed"] == "2/3 pods Ready" and len(bad["evidence"]) == 12 and bad["attempts"] == 12
    assert doc["action_required"] == "Look at the grafana pod logs."


def test_durations_are_rounded_and_text_is_cleaned() -> None:
    doc = json.loads(render_json(samples.nasty()))
    level = doc["levels"][0]
    assert level["duration"] == 0.7
    assert [c["duration"] for c in level["checks"]] == [0.3, 0.3, 0.0]
    assert level["checks"][1]["time_to_pass"] == 0.3
    assert level["checks"][0]["name"] == """a<b & "c" 'd' red bell nul end"""
    assert level["checks"][0]["output"] == "line1\na<b & \"c\" 'd' red bell nul end\nline3"


def test_sections_context_notes_and_interrupted() -> None:
    doc = json.loads(render_json(samples.with_sections()))
    assert doc["sections"][0]["title"] == "Pre-promotion" and doc["post_sections"][0]["rows"]
    assert doc["context"] == {"promotion": "prod.01abc"} and doc["project"] == "shop"
    assert doc["notes"] == ["Kargo verification is not configured"]
    stopped = json.loads(render_json(samples.interrupted()))
    assert stopped["interrupted"] is True and stopped["overall"] == "ERROR" and stopped["exit_code"] == 3


def test_write_json(tmp_path) -> None:
    target = tmp_path / "out" / "result.json"
    write_json(samples.passing(), target)
    assert json.loads(target.read_text())["overall"] == "PASS"
