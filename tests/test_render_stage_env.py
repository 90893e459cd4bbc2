"""The rendered verification Job starts: it references only the Secret keys its stage uses, and the offline
output has no `${` left outside the embedded spec, so it applies as it is.

Validated against the real Argo Rollouts AnalysisTemplate CRD (gate/sim/crds, byte-for-byte the upstream
file: tests/data/upstream-crds.sha256) and the Kubernetes 1.32 strict JSON schemas (kubernetes-validate).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from gate.sim.schema import validate

ROOT = Path(__file__).resolve().parents[1]
CRD = ROOT / "gate" / "sim" / "crds" / "analysis-template-crd.yaml"
K8S = "1.32.0"
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SPEC = """\
# ${env:HEADER_TOKEN} in a comment at the top is no reference
stages:
  uat:
    levels:
      1:
        - argocd_apps: {names: [web, api]}
        - pods: {namespace: "${APP_NS}"}
      2:
        # - http: {url: "https://old.${DOMAIN}/", headers: {Authorization: "Bearer ${env:OLD_TOKEN}"}}
        - http:
            url: "https://uat.${DOMAIN}/health"
            headers: {Authorization: "Bearer ${env:UAT_TOKEN}", X-Literal: "$${env:NOT_A_REFERENCE}"}
            expect: {status: 200}
  prod:
    levels:
      2:
        - http:
            url: "https://prod.${DOMAIN}/health"
            headers: {Authorization: "Bearer ${env:PROD_TOKEN}"}
            expect: {status: 200}
"""
USES = ["UAT_TOKEN"]


def gate(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GATE_", "KUBECONFIG"))}
    environ.update(PYTHONPATH=str(ROOT), KUBECONFIG=str(cwd / "no-such-kubeconfig"), **env)
    return subprocess.run([sys.executable, "-m", "gate", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=60, env=environ)


def render(tmp_path: Path, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "gate.yaml").write_text(SPEC)
    return gate("render", "analysis-template", "--stage", "uat", "--image", "ghcr.io/o/promotion-gate:0.1.0",
                *extra, cwd=tmp_path, **env)


GIVEN = ("--offline", "--project", "platform", "--set", "ARGOCD_NS=argocd", "--set", "app_namespace=shop",
         "--set", "DOMAIN=example.com")


@pytest.fixture
def docs(tmp_path: Path) -> list[dict]:
    proc = render(tmp_path, *GIVEN)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def _container(docs: list[dict]) -> dict:
    (template,) = [d for d in docs if d["kind"] == "AnalysisTemplate"]
    (container,) = template["spec"]["metrics"][0]["provider"]["job"]["spec"]["template"]["spec"]["containers"]
    return container


def test_secret_keys_are_the_stage_s_own(docs: list[dict]) -> None:
    refs = [e["valueFrom"]["secretKeyRef"] for e in _container(docs)["env"] if "secretKeyRef" in e.get("valueFrom", {})]
    assert sorted(r["key"] for r in refs) == USES  # not OLD_TOKEN, HEADER_TOKEN (comments), PROD_TOKEN (prod)
    assert {r["name"] for r in refs} == {"promotion-gate-uat-secrets"}
    assert all(r.get("optional") is not True for r in refs)  # required: a missing key is seen at once


def test_offline_output_has_no_reference_left_outside_the_spec(docs: list[dict]) -> None:
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap"]
    assert cm["data"]["gate.yaml"] == SPEC  # the embedded spec stays untouched, its references with it
    assert "${" not in yaml.safe_dump([d for d in docs if d["kind"] != "ConfigMap"])
    assert "${" not in cm["data"]["gitops-config.yaml"]
    for doc in docs:
        meta = doc["metadata"]
        assert DNS1123.match(meta.get("namespace", "ns")), meta
    roles = {d["metadata"]["namespace"] for d in docs if d["kind"] == "Role"}
    assert {"argocd", "shop", "platform"} <= roles


def test_given_values_reach_the_job(docs: list[dict]) -> None:
    """The Job reads the settings the RBAC was rendered for, not what it might discover."""
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap"]
    config = yaml.safe_load(cm["data"]["gitops-config.yaml"])
    assert config["argocd_namespace"] == "argocd" and config["app_namespace"] == "shop"
    assert config["domain"] == "example.com" and config["kargo_project"] == "platform"
    env = {e["name"]: e.get("value") for e in _container(docs)["env"]}
    assert env["GATE_CONFIG"] == "/etc/promotion-gate/gitops-config.yaml"


def test_validates_against_the_crd_and_the_kubernetes_schemas(docs: list[dict]) -> None:
    crd = yaml.safe_load(CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    kinds = set()
    for doc in docs:
        kinds.add(doc["kind"])
        if doc["kind"] == "AnalysisTemplate":
            pruned, errors = validate(doc, version["schema"]["openAPIV3Schema"])
            assert errors == [] and pruned == doc
            job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x", "namespace": "platform"},
                   "spec": doc["spec"]["metrics"][0]["provider"]["job"]["spec"]}
            kubernetes_validate.validate(job, K8S, strict=True)  # raises on any error
        else:
            kubernetes_validate.validate(doc, K8S, strict=True)
    assert kinds >= {"ConfigMap", "AnalysisTemplate", "ServiceAccount", "Role", "RoleBinding"}


def test_an_unknown_field_fails_the_kubernetes_validation(docs: list[dict]) -> None:
    """The schema check above can fail: a typo in a Role is caught."""
    (role, *_) = [d for d in docs if d["kind"] == "Role"]
    role["rules"][0]["verb"] = ["get"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(role, K8S, strict=True)


SHOP_NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n"  # the app's, made first


def test_the_offline_output_applies_as_it_is(tmp_path: Path) -> None:
    """`kubectl apply` of the output, unchanged, against the simulator (strict server-side field validation
    from its /openapi/v3, the real AnalysisTemplate CRD): every object is created."""
    import shutil

    from gate.sim.server import start

    proc = render(tmp_path, *GIVEN)
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    with start("healthy") as sim:
        applied = subprocess.run([shutil.which("kubectl") or "kubectl", "--kubeconfig", sim.admin_kubeconfig,
                                  "--cache-dir", str(tmp_path / "cache"), "apply", "-f", "-"],
                                 input=SHOP_NAMESPACE + proc.stdout, capture_output=True, text=True, timeout=120)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.count(" created") == len(docs) + 1, applied.stdout
    assert "warning" not in applied.stderr.lower(), applied.stderr


def test_offline_without_the_values_stops_naming_them_all(tmp_path: Path) -> None:
    proc = render(tmp_path, "--offline")
    assert proc.returncode == 2 and proc.stdout == ""
    for named in ("argocd_namespace (${ARGOCD_NS})", "app_namespace (${APP_NS})", "domain (${DOMAIN})",
                  "kargo_project (${KARGO_PROJECT}", "--set"):
        assert named in proc.stderr, proc.stderr
    assert "PROD_TOKEN" not in proc.stderr and "monitoring_namespace" not in proc.stderr  # not this stage's


def test_values_from_the_settings_file_and_variables_count(tmp_path: Path) -> None:
    (tmp_path / ".gitops-config.yaml").write_text("kargo_project: platform\nargocd_namespace: argocd\n")
    proc = render(tmp_path, "--offline", GATE_APP_NAMESPACE="shop", GATE_DOMAIN="example.com")
    assert proc.returncode == 0, proc.stderr
    (cm,) = [d for d in yaml.safe_load_all(proc.stdout) if d and d["kind"] == "ConfigMap"]
    assert yaml.safe_load(cm["data"]["gitops-config.yaml"]) == {
        "argocd_namespace": "argocd", "app_namespace": "shop", "domain": "example.com", "kargo_project": "platform"}


def test_set_is_checked(tmp_path: Path) -> None:
    proc = render(tmp_path, "--offline", "--set", "argocd_namspace=argocd")
    assert proc.returncode == 2 and "argocd_namspace=argocd" in proc.stderr and "--set" in proc.stderr
    proc = render(tmp_path, "--set", "ARGOCD_NS=argocd")
    assert proc.returncode == 2 and "--offline" in proc.stderr


def test_a_job_of_one_stage_does_not_need_another_stage_s_secret(tmp_path: Path) -> None:
    """What the Job runs: `gate verify --stage uat` with only UAT_TOKEN set gets past the spec (here to
    the missing kubeconfig) instead of stopping on prod's PROD_TOKEN."""
    (tmp_path / "gate.yaml").write_text(SPEC)
    (tmp_path / ".gitops-config.yaml").write_text("kargo_project: platform\nargocd_namespace: argocd\n"
                                                  "app_namespace: shop\ndomain: example.com\n")
    proc = gate("verify", "--stage", "uat", cwd=tmp_path, UAT_TOKEN="t0k3n")
    assert "PROD_TOKEN" not in proc.stderr + proc.stdout
    assert "kubeconfig file" in proc.stderr, proc.stderr
    proc = gate("verify", "--stage", "uat", cwd=tmp_path)
    assert proc.returncode == 2 and "UAT_TOKEN is not set" in proc.stderr


def test_a_spec_read_for_one_stage_never_plans_another_with_unfilled_values(tmp_path: Path) -> None:
    from gate.errors import ConfigError
    from gate.spec.load import load_spec
    from gate.spec.settings import load_settings

    (tmp_path / "gate.yaml").write_text(SPEC)
    settings = load_settings(None, {"domain": "example.com", "app_namespace": "shop", "argocd_namespace": "a"})
    spec = load_spec(str(tmp_path / "gate.yaml"), settings, env={"UAT_TOKEN": "t"}, stage="uat")
    assert spec.plan("uat").levels  # its own values are all there
    assert spec.env_names("uat") == ["UAT_TOKEN"] and spec.env_names("prod") == ["PROD_TOKEN"]
    with pytest.raises(ConfigError, match="'prod' was not loaded with its values"):
        spec.plan("prod")  # PROD_TOKEN was never read: its check would send the literal reference
