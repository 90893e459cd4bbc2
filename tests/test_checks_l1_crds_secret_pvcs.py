"""crds, secret and pvcs checks against an in-memory view; the secret check never leaks a value."""

from __future__ import annotations

import base64
import dataclasses
import json

import pytest
from gate.checks.base import Clients
from gate.checks.crds import CrdsCheck
from gate.checks.pvcs import PvcsCheck
from gate.checks.secret import SecretCheck

from gate import redact
from gate.cluster.kube import Permission
from gate.cluster.resources import CRDS, PVCS, SECRETS
from tests.fakeview import FakeView, meta

PROM = "prometheuses.monitoring.coreos.com"
ALERT = "alertmanagers.monitoring.coreos.com"


def crd(name: str, established: str = "True", names_accepted: str | None = "True") -> dict:
    conds = [{"type": "Established", "status": established,
              **({} if established == "True" else {"reason": "Installing", "message": "the initial names "
                                                   "have not yet been accepted"})}]
    if names_accepted:
        conds.append({"type": "NamesAccepted", "status": names_accepted,
                      **({} if names_accepted == "True" else {
                          "reason": "ListKindConflict", "message": '"PrometheusList" is already in use'})})
    return {"kind": "CustomResourceDefinition", "metadata": meta(name), "status": {"conditions": conds}}


# -- crds ----------------------------------------------------------------------------------------------
def test_crds_shorthand_and_pass():
    params = CrdsCheck.normalize([PROM, ALERT])
    assert params == {"names": [PROM, ALERT]}
    check = CrdsCheck(params)
    view = FakeView().add(CRDS, crd(PROM), crd(ALERT))
    obs = check.observe(Clients(view=view))
    assert obs.ok and obs.observed == "2/2 CRDs established" and obs.expected == "all established (2)"
    assert view.calls == [("get", "customresourcedefinitions", None, PROM),
                          ("get", "customresourcedefinitions", None, ALERT)]
    assert check.permissions() == [
        Permission("get", "customresourcedefinitions", "apiextensions.k8s.io", None, PROM),
        Permission("get", "customresourcedefinitions", "apiextensions.k8s.io", None, ALERT)]
    assert check.name == f"CRDs established: {PROM}, {ALERT}"


def test_crds_missing_and_not_established_are_named():
    view = FakeView().add(CRDS, crd(PROM, established="False"))
    obs = CrdsCheck({"names": [PROM, ALERT]}).observe(Clients(view=view))
    assert not obs.ok and obs.observed == "0/2 CRDs established"
    assert obs.evidence == [f"{PROM}: Established=False: Installing "
                            "the initial names have not yet been accepted",
                            f"{ALERT}: not installed"]
    assert obs.hint


def test_crds_names_not_accepted_and_no_conditions():
    no_status = {"kind": "CustomResourceDefinition", "metadata": meta(ALERT)}
    view = FakeView().add(CRDS, crd(PROM, names_accepted="False"), no_status)
    obs = CrdsCheck({"names": [PROM, ALERT]}).observe(Clients(view=view))
    assert obs.evidence == [f'{PROM}: NamesAccepted=False: ListKindConflict '
                            '"PrometheusList" is already in use',
                            f"{ALERT}: not Established yet (no Established condition)"]


def test_crds_established_without_names_accepted_condition_passes():
    view = FakeView().add(CRDS, crd(PROM, names_accepted=None))
    assert CrdsCheck({"names": [PROM]}).observe(Clients(view=view)).ok


# -- secret --------------------------------------------------------------------------------------------
USER, PASSWORD = "admin", "s3cr3t-Pa55w0rd!"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(data: dict[str, str]) -> dict:
    return {"kind": "Secret", "metadata": meta("grafana-admin", "monitoring"), "type": "Opaque",
            "data": {k: b64(v) for k, v in data.items()}}


@pytest.fixture(autouse=True)
def _clean_redaction():
    redact.clear()
    yield
    redact.clear()


def all_text(obs) -> str:
    return json.dumps(dataclasses.asdict(obs))


def secret_check(keys=("admin-user", "admin-password")) -> SecretCheck:
    return SecretCheck({"namespace": "monitoring", "name": "grafana-admin", "keys": list(keys)})


def test_secret_with_all_keys_passes_and_never_shows_values():
    view = FakeView().add(SECRETS, secret({"admin-user": USER, "admin-password": PASSWORD}))
    check = secret_check()
    obs = check.observe(Clients(view=view))
    assert obs.ok and obs.observed == "2/2 keys present and non-empty"
    assert obs.expected == "exists with 2 non-empty keys"
    text = all_text(obs)
    assert PASSWORD not in text and b64(PASSWORD) not in text and b64(USER) not in text
    assert view.calls == [("get", "secrets", "monitoring", "grafana-admin")]
    assert check.permissions() == [Permission("get", "secrets", "", "monitoring", "grafana-admin")]
    assert check.name == "Secret monitoring/grafana-admin has admin-user, admin-password"


def test_secret_values_are_registered_for_redaction():
    data = {"admin-user": USER, "admin-password": PASSWORD, "other": "tok-123456"}
    view = FakeView().add(SECRETS, secret(data))
    secret_check().observe(Clients(view=view))
    leaked = f"login with {PASSWORD} or {b64(PASSWORD)} or tok-123456"
    assert redact.redact(leaked) == "login with *** or *** or ***"


def test_secret_missing_and_empty_keys():
    view = FakeView().add(SECRETS, secret({"admin-user": "", "unrelated": PASSWORD}))
    obs = secret_check().observe(Clients(view=view))
    assert not obs.ok and obs.observed == "0/2 keys present and non-empty"
    assert obs.evidence == ["monitoring/grafana-admin: key admin-password: missing",
                            "monitoring/grafana-admin: key admin-user: empty"]
    assert PASSWORD not in all_text(obs) and b64(PASSWORD) not in all_text(obs)


def test_secret_string_data_counts():
    obj = {"kind": "Secret", "metadata": meta("grafana-admin", "monitoring"),
           "stringData": {"admin-user": USER, "admin-password": PASSWORD}}
    obs = secret_check().observe(Clients(view=FakeView().add(SECRETS, obj)))
    assert obs.ok and PASSWORD not in all_text(obs)
    assert redact.redact(PASSWORD) == "***"


def test_secret_not_found():
    obs = secret_check().observe(Clients(view=FakeView()))
    assert not obs.ok and obs.observed == "Secret not found"
    assert obs.evidence == ["monitoring/grafana-admin: not found"]


def test_secret_without_keys_only_needs_to_exist():
    view = FakeView().add(SECRETS, secret({}))
    obs = secret_check(keys=()).observe(Clients(view=view))
    assert obs.ok and obs.observed == "Secret exists" and obs.expected == "exists"


# -- pvcs ----------------------------------------------------------------------------------------------
def pvc(name: str, phase: str = "Bound", labels: dict | None = None) -> dict:
    return {"kind": "PersistentVolumeClaim", "metadata": meta(name, "monitoring", labels or {"app": "loki"}),
            "spec": {"storageClassName": "standard", "resources": {"requests": {"storage": "10Gi"}}},
            "status": {"phase": phase}}


def test_pvcs_all_bound():
    view = FakeView().add(PVCS, pvc("storage-loki-0"), pvc("prometheus-db-0"))
    check = PvcsCheck({"namespace": "monitoring"})
    obs = check.observe(Clients(view=view))
    assert obs.ok and obs.observed == "2/2 PVCs Bound" and obs.expected == "all Bound (2)"
    assert check.permissions() == [Permission("list", "persistentvolumeclaims", "", "monitoring")]
    assert check.name == "PVCs bound in monitoring"


def test_pvcs_unbound_are_listed_with_phase():
    view = FakeView().add(PVCS, pvc("storage-loki-0", "Pending"), pvc("prometheus-db-0"), pvc("old", "Lost"))
    obs = PvcsCheck({"namespace": "monitoring"}).observe(Clients(view=view))
    assert not obs.ok and obs.observed == "1/3 PVCs Bound"
    assert obs.evidence == ["monitoring/storage-loki-0: Pending (storageClass: standard, 10Gi)",
                            "monitoring/old: Lost (storageClass: standard, 10Gi)"]
    assert obs.hint == "See why: kubectl describe pvc -n monitoring storage-loki-0"


def test_pvcs_selector_names_and_empty():
    view = FakeView().add(PVCS, pvc("a"), pvc("b", "Pending", labels={"app": "other"}))
    obs = PvcsCheck({"namespace": "monitoring", "selector": "app=loki"}).observe(Clients(view=view))
    assert obs.ok and obs.observed == "1/1 PVCs Bound"
    obs = PvcsCheck({"namespace": "monitoring", "names": ["a", "zzz"]}).observe(Clients(view=view))
    assert not obs.ok and obs.evidence == ["monitoring/zzz: not found"]
    obs = PvcsCheck({"namespace": "empty"}).observe(Clients(view=view))
    assert not obs.ok and obs.evidence == ["no PVCs in namespace empty"]
    obs = PvcsCheck({"namespace": "empty", "allow_empty": True}).observe(Clients(view=view))
    assert obs.ok and obs.expected == "none required"
