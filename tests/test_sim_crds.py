"""The CRDs the simulator ships are verbatim copies of the reference ones, and it enforces them."""

from __future__ import annotations

import hashlib

import pytest
from refdata import upstream_crd_digests

from gate.sim import scenario
from gate.sim.schema import validate

COPIES = upstream_crd_digests()


@pytest.mark.parametrize("name", sorted(COPIES))
def test_vendored_crd_is_byte_identical(name: str) -> None:
    """Each CRD the simulator ships still has its upstream sha256 (tests/data/upstream-crds.sha256)."""
    digest, source = COPIES[name]
    assert hashlib.sha256((scenario.CRD_DIR / name).read_bytes()).hexdigest() == digest, f"edited copy of {source}"


def test_every_crd_set_file_is_vendored() -> None:
    listed = {rel for rels in scenario.CRD_SETS.values() for rel in rels}
    assert listed == set(COPIES)


def _app_schema() -> dict:
    crd = next(
        c for c in scenario.crd_objects(["argocd-apps"]) if c["spec"]["names"]["kind"] == "Application"
    )
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_application_schema_errors_name_the_field() -> None:
    obj = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "x"},
        "spec": {"project": "default", "destination": {}, "source": {"repoURL": "r"}},
        "status": {
            "operationState": {"phase": "Succeeded", "startedAt": "t", "syncResult": {"revision": 12}}
        },
    }
    _, errors = validate(obj, _app_schema())
    found = {(e.field, e.reason) for e in errors}
    assert ("status.operationState.operation", "FieldValueRequired") in found
    assert ("status.operationState.syncResult.revision", "FieldValueTypeInvalid") in found
    text = next(e.text() for e in errors if e.field.endswith("revision"))
    assert text == (
        'status.operationState.syncResult.revision: Invalid value: "integer": '
        'status.operationState.syncResult.revision in body must be of type string: "integer"'
    )


def test_stage_enum_and_nulls() -> None:
    crd = next(c for c in scenario.crd_objects(["kargo"]) if c["spec"]["names"]["kind"] == "Stage")
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    stage = {
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": "s"},
        "spec": {
            "shard": None,
            "requestedFreight": [{"origin": {"kind": "Bucket", "name": "w"}, "sources": {"direct": True}}],
        },
    }
    pruned, errors = validate(stage, schema)
    assert "shard" not in pruned["spec"]  # nulls in non-nullable fields are dropped
    assert [e.field for e in errors] == ["spec.requestedFreight[0].origin.kind"]
    assert errors[0].reason == "FieldValueNotSupported"
