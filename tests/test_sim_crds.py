"""The CRDs the simulator ships are verbatim copies of the reference ones, and it enforces them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.sim import scenario
from gate.sim.schema import validate

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
COPIES = {
    "kargo.akuity.io_stages.yaml": "kargo/crds/kargo.akuity.io_stages.yaml",
    "kargo.akuity.io_freights.yaml": "kargo/crds/kargo.akuity.io_freights.yaml",
    "kargo.akuity.io_promotions.yaml": "kargo/crds/kargo.akuity.io_promotions.yaml",
    "kargo.akuity.io_projects.yaml": "kargo/crds/kargo.akuity.io_projects.yaml",
    "kargo.akuity.io_warehouses.yaml": "kargo/crds/kargo.akuity.io_warehouses.yaml",
    "kargo.akuity.io_projectconfigs.yaml": "kargo/crds/kargo.akuity.io_projectconfigs.yaml",
    "legacy/kargo.akuity.io_stages.yaml": "kargo/crds/v1.4.4-legacy/kargo.akuity.io_stages.yaml",
    "legacy/kargo.akuity.io_freights.yaml": "kargo/crds/v1.4.4-legacy/kargo.akuity.io_freights.yaml",
    "legacy/kargo.akuity.io_promotions.yaml": "kargo/crds/v1.4.4-legacy/kargo.akuity.io_promotions.yaml",
    "application-crd.yaml": "argocd/crds/application-crd.yaml",
    "applicationset-crd.yaml": "argocd/crds/applicationset-crd.yaml",
    "appproject-crd.yaml": "argocd/crds/appproject-crd.yaml",
    "analysis-template-crd.yaml": "argo-rollouts/crds/analysis-template-crd.yaml",
    "cluster-analysis-template-crd.yaml": "argo-rollouts/crds/cluster-analysis-template-crd.yaml",
    "analysis-run-crd.yaml": "argo-rollouts/crds/analysis-run-crd.yaml",
}


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="no ../shared/reference checkout next to the repo")
@pytest.mark.parametrize("name", sorted(COPIES))
def test_vendored_crd_is_byte_identical(name: str) -> None:
    assert (scenario.CRD_DIR / name).read_bytes() == (REFERENCE / COPIES[name]).read_bytes()


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
