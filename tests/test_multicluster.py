"""Destination clusters end to end: the gate connected to the control plane only, verifying a Stage in
the cluster Argo CD deploys it to (`cluster:`), against simulated clusters that each have their own
HTTPS endpoint, CA, store and RBAC (gate/sim/multicluster.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from gate.sim.server import start

CONFIG = Path(__file__).resolve().parents[1] / "gate/demo/config.yaml"
TOKEN = "prod-eu-bearer-7f3a9c1e5b2d8f4a6c0e9b7d5f3a1c8e"  # long enough to be masked in every form
READER_RULES = [
    {"apiGroups": [""], "resources": ["pods", "pods/log", "events", "services", "persistentvolumeclaims"],
     "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "daemonsets", "replicasets"],
     "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews"], "verbs": ["create"]},
]
SPEC = """
defaults: {{timeout: {timeout}, interval: 0.3s, max_interval: 0.6s}}
stages:
  prod:
    cluster: {cluster}
    levels:
      1:
        - argocd_apps: {{names: [shop]}}
        - pods: {{namespace: shop}}
        - workloads: {{namespace: shop}}
        - kargo_stage: {{}}
"""


def stage_spec(cluster: str, checks: str, level: int = 1, timeout: str = "3s") -> str:
    """A spec whose stage prod reads `cluster` and runs `checks` (YAML list items) at `level`."""
    items = "".join(f"        {line}\n" for line in checks.strip().splitlines())
    return (f"defaults: {{timeout: {timeout}, interval: 0.3s}}\nstages:\n  prod:\n    cluster: {cluster}\n"
            f"    levels:\n      {level}:\n{items}")


def gate(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gate", *args], capture_output=True, text=True, timeout=timeout)


def world(base: str = "multicluster-healthy", **block: Any) -> dict:
    """The scenario `base` with its cluster prod-eu's block replaced by `block` (token, rules, config...)."""
    prod = {"secret": "cluster-prod-eu", "token": TOKEN, "rbac": READER_RULES,
            "user": "system:serviceaccount:kube-system:argocd-manager", **block}
    return {"name": f"{base}-variant", "extends": base, "clusters": {"prod-eu": prod}}


def verify(sim: Any, tmp: Path, cluster: str = "{from_app: shop, secret: cluster-prod-eu}", timeout: str = "3s",
           spec: str | None = None, extra: tuple[str, ...] = ()) -> tuple[subprocess.CompletedProcess, dict, str]:
    path = tmp / "gate.yaml"
    path.write_text(spec or SPEC.format(cluster=cluster, timeout=timeout))
    junit = tmp / "junit.xml"
    proc = gate("verify", "--stage", "prod", "--spec", str(path), "--config", str(CONFIG), "--kubeconfig",
                sim.kubeconfig, "--json", str(tmp / "r.json"), "--junit", str(junit), *extra)
    result = json.loads((tmp / "r.json").read_text()) if (tmp / "r.json").exists() else {}
    return proc, result, junit.read_text() if junit.exists() else ""


def rows(result: dict) -> dict[str, dict]:
    return {c["name"]: c for level in result.get("levels", []) for c in level["checks"]}


# -- the demo world: crash loop in prod-eu, seen from the control plane ------------------------------
@pytest.fixture(scope="module")
def crashloop(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    tmp = tmp_path_factory.mktemp("mc")
    with start("multicluster") as sim:
        proc, result, junit = verify(sim, tmp)
        control, dest = list(sim.requests), list(sim.destinations["prod-eu"].requests)
    return proc, result, junit, control, dest


def test_crash_loop_in_the_destination_fails_level_1_naming_pod_and_cluster(crashloop: tuple) -> None:
    proc, result, _, _, _ = crashloop
    assert proc.returncode == 1, proc.stdout + proc.stderr
    pods = rows(result)["[prod-eu] Pods ready in shop"]
    assert pods["status"] == "FAIL"
    assert any("web-5f7d9c8b6-h4k2m" in e and "CrashLoopBackOff" in e for e in pods["evidence"])
    assert "[prod-eu] Pods ready in shop" in proc.stdout
    # Kargo and Argo CD are read in the control plane, and their rows say so
    assert rows(result)["[control-plane] Kargo Stage prod healthy and ready"]["status"] == "PASS"
    assert rows(result)["[control-plane] Argo CD apps synced and healthy: shop"]["status"] == "PASS"


def test_junit_testcase_names_carry_the_cluster(crashloop: tuple) -> None:
    _, _, junit, _, _ = crashloop
    names = [tc.get("name") for tc in ET.fromstring(junit).iter("testcase")]
    assert any(n and "[prod-eu] Pods ready in shop" in n for n in names), names


def fix_lines(stdout: str) -> list[str]:
    """The DIAGNOSIS' Recommended Fix lines (Verify included), as printed, without their numbers."""
    block = stdout.split("Recommended Fix:\n", 1)[1].split("\n\n", 1)[0]
    return [line.strip().split(". ", 1)[1] for line in block.splitlines()]


def test_diagnosis_fix_lines_for_a_destinations_pods_name_that_cluster(crashloop: tuple) -> None:
    """Copied from the DIAGNOSIS, a kubectl line for prod-eu's pods must not run against the control plane:
    it names the Argo CD cluster and its server (no kubeconfig context is known for it)."""
    proc = crashloop[0]
    lines = fix_lines(proc.stdout)
    where = r"in cluster prod-eu \(https://127\.0\.0\.1:\d+\): "
    assert re.fullmatch(where + r"kubectl logs web-5f7d9c8b6-h4k2m -n shop -c web --previous --tail=100",
                        lines[0]), lines
    assert re.fullmatch(where + "kubectl describe pod web-5f7d9c8b6-h4k2m -n shop", lines[1]), lines
    assert re.fullmatch("Verify: " + where + "kubectl rollout status deployment/web -n shop --timeout=5m",
                        lines[-1]), lines
    assert all("kubectl" not in line or "in cluster prod-eu (" in line for line in lines), lines


def test_diagnosis_fix_lines_for_the_default_cluster_are_unchanged(tmp_path: Path) -> None:
    spec = tmp_path / "gate.yaml"
    spec.write_text("stages:\n  s:\n    levels:\n      1:\n        - pods: {namespace: monitoring, timeout: 3s}\n")
    with start("crashloop") as sim:
        proc = gate("verify", "--stage", "s", "--spec", str(spec), "--config", str(CONFIG), "--kubeconfig",
                    sim.kubeconfig, "--timeout", "60s")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert fix_lines(proc.stdout) == [
        "kubectl logs grafana-7c9d8f6b5-x2k4p -n monitoring -c grafana --previous --tail=100",
        "kubectl describe pod grafana-7c9d8f6b5-x2k4p -n monitoring",
        "fix what the log names (configuration, a volume's permissions, a dependency) in git; let Argo CD sync it",
        "Verify: kubectl rollout status deployment/grafana -n monitoring --timeout=5m"], proc.stdout


def test_destination_objects_are_read_in_the_destination_only(crashloop: tuple) -> None:
    _, _, _, control, dest = crashloop
    assert not [r["path"] for r in control if "/namespaces/shop/" in r["path"]]
    assert {r["identity"] for r in dest} == {"system:serviceaccount:kube-system:argocd-manager"}
    assert any(r["path"] == "/api/v1/namespaces/shop/pods" for r in dest)
    # the destination is found as the spec names it: the Application, then its Secret by name
    gets = [r["path"] for r in control if r["method"] == "GET"]
    assert "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/shop" in gets
    assert "/api/v1/namespaces/argocd/secrets/cluster-prod-eu" in gets
    assert "/api/v1/namespaces/argocd/secrets" not in gets  # no list of every Secret when it is named
    assert not [r for r in dest if "kargo" in r["path"] or "argoproj" in r["path"]]


def test_demo_multicluster_and_its_twin(tmp_path: Path) -> None:
    failing = gate("demo", "--scenario", "multicluster", "--junit", str(tmp_path / "junit.xml"), timeout=120)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "Level 1 (Infrastructure): FAIL" in failing.stdout
    assert "[prod-eu] Pods ready in shop" in failing.stdout and "web-5f7d9c8b6-h4k2m" in failing.stdout
    import xmlschema
    from refdata import JUNIT_XSD

    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(tmp_path / "junit.xml"))
    twin = gate("demo", "--scenario", "multicluster-healthy", timeout=120)
    assert twin.returncode == 0, twin.stdout + twin.stderr
    assert "[prod-eu] Pods ready in shop: 1/1 pods Ready" in twin.stdout


# -- how the destination is named -------------------------------------------------------------------
@pytest.mark.parametrize("cluster", ["{argocd: prod-eu}", "{from_app: shop}", "{from_app: argocd/shop}"])
def test_destination_by_name_through_the_labelled_cluster_secrets(tmp_path: Path, cluster: str) -> None:
    with start("multicluster-healthy") as sim:
        proc, result, _ = verify(sim, tmp_path, cluster)
        lists = [r for r in sim.requests if r["path"] == "/api/v1/namespaces/argocd/secrets"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert rows(result)["[prod-eu] Pods ready in shop"]["status"] == "PASS"
    assert lists and lists[0]["query"].get("labelSelector") == "argocd.argoproj.io/secret-type=cluster"


def test_from_app_with_a_server_destination_and_argocd_by_server_url(tmp_path: Path) -> None:
    with start("multicluster") as sim:
        url = sim.destinations["prod-eu"].url
        sim.apply_change({"patch": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                                    "metadata": {"name": "shop", "namespace": "argocd"},
                                    "spec": {"destination": {"name": None, "server": url + "/"}}}})
        by_app, result, _ = verify(sim, tmp_path, "{from_app: shop}")
        by_url, result2, _ = verify(sim, tmp_path, f"{{argocd: '{url}'}}")
    for proc, res in ((by_app, result), (by_url, result2)):
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert any("web-5f7d9c8b6-h4k2m" in e for e in rows(res)["[prod-eu] Pods ready in shop"]["evidence"])


@pytest.mark.parametrize("cluster", ["{argocd: in-cluster}", "{argocd: 'https://kubernetes.default.svc'}",
                                     "{from_app: kube-prometheus-stack}"])
def test_in_cluster_is_the_control_plane_itself(tmp_path: Path, cluster: str) -> None:
    spec = stage_spec(cluster, "- pods: {namespace: monitoring}")
    with start("multicluster-healthy") as sim:
        proc, result, _ = verify(sim, tmp_path, spec=spec)
        dest = list(sim.destinations["prod-eu"].requests)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert rows(result)["[in-cluster] Pods ready in monitoring"]["status"] == "PASS"
    assert not dest


def test_a_check_overrides_the_stage_cluster(tmp_path: Path) -> None:
    spec = stage_spec("{argocd: prod-eu}", """
- pods: {namespace: shop}
- pods: {namespace: monitoring, cluster: {argocd: in-cluster}}
""")
    with start("multicluster-healthy") as sim:
        proc, result, _ = verify(sim, tmp_path, spec=spec)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(rows(result)) == {"[prod-eu] Pods ready in shop", "[in-cluster] Pods ready in monitoring"}


# -- a destination that cannot be read is never a PASS, and never the control plane -----------------
def test_unreachable_destination_is_an_error_naming_cluster_and_secret(tmp_path: Path) -> None:
    with start(world(serve=False, server="https://127.0.0.1:9")) as sim:
        proc, result, _ = verify(sim, tmp_path, timeout="2s", extra=("--no-preflight",))
        control = list(sim.requests)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    row = rows(result)["[prod-eu] Pods ready in shop"]
    assert row["status"] == "ERROR"
    assert "prod-eu" in row["reason"] and "argocd/cluster-prod-eu" in row["reason"], row["reason"]
    assert not [r for r in control if "/namespaces/shop/" in r["path"]]


def test_unauthorised_destination_is_an_error_naming_cluster_and_secret(tmp_path: Path) -> None:
    with start(world(config={"bearerToken": "not-the-prod-eu-token-0123456789"})) as sim:
        proc, result, _ = verify(sim, tmp_path, extra=("--no-preflight",))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    row = rows(result)["[prod-eu] Pods ready in shop"]
    assert row["status"] == "ERROR" and "401" in row["reason"]
    assert "cluster prod-eu" in row["reason"] and "argocd/cluster-prod-eu" in row["reason"], row["reason"]


@pytest.mark.parametrize("cluster, label, words", [
    ("{argocd: prod-us}", "prod-us", "no Argo CD cluster Secret in namespace argocd has name prod-us"),
    ("{from_app: nowhere}", "nowhere", "Application argocd/nowhere not found"),
    ("{argocd: prod-eu, secret: argocd-secret}", "prod-eu", "is not an Argo CD cluster Secret"),
])
def test_missing_destination_is_an_error_never_the_control_plane(tmp_path: Path, cluster: str, label: str,
                                                                 words: str) -> None:
    with start("multicluster-healthy") as sim:
        proc, result, _ = verify(sim, tmp_path, cluster)
        control = list(sim.requests)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    row = rows(result)[f"[{label}] Pods ready in shop"]
    assert row["status"] == "ERROR" and words in row["reason"], row["reason"]
    assert not [r for r in control if "/namespaces/shop/" in r["path"]]


def test_forbidden_destination_is_exit_3_naming_permission_and_cluster(tmp_path: Path) -> None:
    rules = [r for r in READER_RULES if "pods" not in r["resources"]]
    rules.append({"apiGroups": [""], "resources": ["pods/log", "events"], "verbs": ["get", "list"]})
    with start(world(rbac=rules)) as sim:
        proc, result, _ = verify(sim, tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    preflight = [s for s in result["sections"] if s["title"] == "RBAC preflight"][0]
    names = [c["name"] for c in preflight["rows"]]
    assert "[prod-eu] Permission: list pods in namespace shop" in names, names
    assert preflight["rows"][0]["output"].startswith("# in cluster prod-eu:\n---\n")
    assert "in cluster prod-eu" in proc.stdout


# -- the shapes of Argo CD's cluster Secrets ---------------------------------------------------------
def test_insecure_secret_is_honoured_with_a_warning(tmp_path: Path) -> None:
    with start(world(config={"tlsClientConfig": {"insecure": True, "caData": None}})) as sim:
        proc, result, _ = verify(sim, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any("NOT verified" in n and "prod-eu" in n for n in result["notes"]), result["notes"]
    assert "NOT verified" in proc.stdout


def test_server_name_is_used_for_tls(tmp_path: Path) -> None:
    with start(world(config={"tlsClientConfig": {"serverName": "localhost"}})) as sim:
        good, _, _ = verify(sim, tmp_path)
    with start(world(config={"tlsClientConfig": {"serverName": "wrong.example"}})) as sim:
        bad, result, _ = verify(sim, tmp_path, extra=("--no-preflight",))
    assert good.returncode == 0, good.stdout + good.stderr
    assert bad.returncode == 3, bad.stdout + bad.stderr
    assert rows(result)["[prod-eu] Pods ready in shop"]["status"] == "ERROR"


def test_another_ca_is_not_trusted(tmp_path: Path) -> None:
    with start("healthy") as other:
        foreign = Path(other.ca_file).read_bytes()
        import base64

        with start(world(config={"tlsClientConfig": {"caData": base64.b64encode(foreign).decode()}})) as sim:
            proc, result, _ = verify(sim, tmp_path, extra=("--no-preflight",))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert rows(result)["[prod-eu] Pods ready in shop"]["status"] == "ERROR"


@pytest.mark.parametrize("config, words", [
    ({"execProviderConfig": {"command": "no-such-credential-plugin", "apiVersion":
                             "client.authentication.k8s.io/v1beta1"}},
     ["execProviderConfig", "no-such-credential-plugin"]),
    ({"awsAuthConfig": {"clusterName": "prod-eu"}}, ["awsAuthConfig", "argocd-k8s-auth"]),
    ({"execProviderConfig": {"command": "argocd-k8s-auth", "args": ["azure"],  # Argo CD's Azure workload identity
                             "apiVersion": "client.authentication.k8s.io/v1beta1"}},
     ["execProviderConfig", "argocd-k8s-auth"]),
])
def test_credentials_this_image_cannot_use_are_exit_2_at_start(tmp_path: Path, config: dict,
                                                               words: list[str]) -> None:
    with start(world(config=config)) as sim:
        proc, _, _ = verify(sim, tmp_path)
        dest = list(sim.destinations["prod-eu"].requests)
        control = list(sim.requests)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "cluster prod-eu" in proc.stderr and "argocd/cluster-prod-eu" in proc.stderr
    for word in words:
        assert word in proc.stderr
    assert not dest and not [r for r in control if "/namespaces/shop/" in r["path"]]


def test_a_plain_exec_plugin_the_image_can_run(tmp_path: Path) -> None:
    plugin = tmp_path / "prod-eu-credentials"
    plugin.write_text("#!/bin/sh\nprintf '%s' '" + json.dumps({
        "apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
        "status": {"token": TOKEN}}) + "'\n")
    plugin.chmod(0o755)
    config = {"bearerToken": None, "execProviderConfig": {
        "command": str(plugin), "apiVersion": "client.authentication.k8s.io/v1beta1"}}
    spec = stage_spec("{argocd: prod-eu}", "- pods: {namespace: shop}\n"
                      "- command: {run: [sh, -c, 'echo $(" + str(plugin) + ")']}")
    with start(world(config=config)) as sim:
        proc, result, junit = verify(sim, tmp_path, spec=spec)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert rows(result)["[prod-eu] Pods ready in shop"]["status"] == "PASS"
    assert TOKEN not in proc.stdout + proc.stderr + json.dumps(result) + junit  # the plugin's token is masked


def test_client_certificate_secret(tmp_path: Path) -> None:
    """certData/keyData are the client certificate TLS presents: prod-eu authenticates it (the Secret holds
    no token); a certificate prod-eu's client CA did not sign is refused (ERROR, never a PASS); a key that
    does not belong to the certificate is exit 2 naming the Secret, before any request."""
    import base64

    with start(world(auth="client-certificate")) as sim:
        secret = next(o for o in sim.store.list("", "secrets", "argocd") if o["metadata"]["name"] == "cluster-prod-eu")
        config = json.loads(base64.b64decode(secret["data"]["config"]))
        proc, result, _ = verify(sim, tmp_path)
        seen = {r["identity"] for r in sim.destinations["prod-eu"].requests}
        key = base64.b64decode(config["tlsClientConfig"]["keyData"]).decode()
    assert "bearerToken" not in config and config["tlsClientConfig"]["certData"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert seen == {"system:serviceaccount:kube-system:argocd-manager"}
    assert key.strip().splitlines()[1] not in proc.stdout + proc.stderr + json.dumps(result)

    cert, own_key, other_key = _client_pair()
    foreign = {"bearerToken": None, "tlsClientConfig": {"certData": base64.b64encode(cert).decode(),
                                                        "keyData": base64.b64encode(own_key).decode()}}
    with start(world(auth="client-certificate", config=foreign)) as sim:
        refused, result, _ = verify(sim, tmp_path, extra=("--no-preflight",))
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert rows(result)["[prod-eu] Pods ready in shop"]["status"] == "ERROR"
    mismatched = {"tlsClientConfig": {"certData": base64.b64encode(cert).decode(),
                                      "keyData": base64.b64encode(other_key).decode()}}
    with start(world(config=mismatched)) as sim:
        bad, _, _ = verify(sim, tmp_path)
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert "argocd/cluster-prod-eu" in bad.stderr and "client certificate" in bad.stderr


def _client_pair() -> tuple[bytes, bytes, bytes]:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def pem_key(k: Any) -> bytes:
        return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())

    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "argocd-manager")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM), pem_key(key), pem_key(other)


# -- secrets ------------------------------------------------------------------------------------------
def test_no_credential_of_a_cluster_secret_in_any_output(tmp_path: Path) -> None:
    """The destination's token reaches a command check's output and an error message; no report shows it."""
    import base64

    spec = stage_spec("{argocd: prod-eu}", f"""
- pods: {{namespace: shop}}
- command: {{run: [sh, -c, "echo token {TOKEN}; exit 1"]}}
""", timeout="2s")
    with start(world("multicluster")) as sim:
        proc, result, junit = verify(sim, tmp_path, spec=spec)
        secret = next(o for o in sim.store.list("", "secrets", "argocd") if o["metadata"]["name"] == "cluster-prod-eu")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    everything = proc.stdout + proc.stderr + json.dumps(result) + junit
    assert TOKEN not in everything
    assert base64.b64encode(TOKEN.encode()).decode()[:24] not in everything
    assert secret["data"]["config"] not in everything


# -- the spec -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("stage_cluster, line, words", [
    ("{argocd: prod-eu, context: kind-prod}", 5, "exactly one of argocd, from_app, context"),
    ("{argocd: prod-eu, cluster_secret: x}", 5, "unknown key 'cluster_secret'"),
    ("{context: kind-prod, secret: cluster-prod-eu}", 5, "goes with argocd or from_app"),
    ("{argocd: prod-eu, secret: Bad/Name}", 5, "is not a valid Secret name"),
    ("{argocd: ''}", 5, "expected at least 1 character"),
])
def test_spec_errors_name_file_and_line(tmp_path: Path, stage_cluster: str, line: int, words: str) -> None:
    spec = tmp_path / "gate.yaml"
    spec.write_text(SPEC.format(cluster=stage_cluster, timeout="3s"))
    proc = gate("verify", "--stage", "prod", "--spec", str(spec), "--config", str(CONFIG))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{spec}:{line}" in proc.stderr and words in proc.stderr, proc.stderr


def test_control_plane_kinds_take_no_cluster(tmp_path: Path) -> None:
    spec = tmp_path / "gate.yaml"
    spec.write_text("stages:\n  prod:\n    levels:\n      1:\n"
                    "        - argocd_apps: {names: [shop], cluster: {argocd: prod-eu}}\n")
    proc = gate("verify", "--stage", "prod", "--spec", str(spec), "--config", str(CONFIG))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{spec}:5" in proc.stderr and "control plane" in proc.stderr


# -- gate diagnose --------------------------------------------------------------------------------------
def diagnose(sim: Any) -> subprocess.CompletedProcess[str]:
    return gate("diagnose", "--stage", "prod", "--kubeconfig", sim.kubeconfig, "--config", str(CONFIG))


def test_diagnose_reads_the_apps_pods_logs_and_events_in_its_destination() -> None:
    with start("multicluster") as sim:
        proc = diagnose(sim)
        control, dest = list(sim.requests), list(sim.destinations["prod-eu"].requests)
    assert "Root Cause: pod shop/web-5f7d9c8b6-h4k2m crash-loops" in proc.stdout, proc.stdout + proc.stderr
    assert "(check: [prod-eu] pods of Application shop)" in proc.stdout
    assert 'msg="cannot reach payments"' in proc.stdout  # its log, read in prod-eu with --previous
    assert "Event BackOff x40 on Pod web-5f7d9c8b6-h4k2m" in proc.stdout
    assert all("in cluster prod-eu (https://" in line for line in fix_lines(proc.stdout) if "kubectl" in line)
    paths = [r["path"] for r in dest]
    assert "/api/v1/namespaces/shop/pods/web-5f7d9c8b6-h4k2m/log" in paths
    assert "/api/v1/namespaces/shop/events" in paths
    assert not [r for r in control if "/namespaces/shop/" in r["path"]]


def test_diagnose_of_the_healthy_twin_has_no_pod_leaf_and_an_unreachable_one_says_so() -> None:
    with start("multicluster-healthy") as sim:
        healthy = diagnose(sim)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "pods of Application" not in healthy.stdout
    with start(world("multicluster", serve=False, server="https://127.0.0.1:9")) as sim:
        unreachable = diagnose(sim)
        control = list(sim.requests)
    unread = unreachable.stdout.split("Could not read:", 1)[1]
    assert "- pods/shop:" in unread and "cluster prod-eu, Argo CD Secret argocd/cluster-prod-eu" in unread, unread
    assert not [r for r in control if "/namespaces/shop/" in r["path"]]


def test_readme_example_plans_with_each_checks_cluster(tmp_path: Path) -> None:
    from gate.spec.load import load_spec
    from gate.spec.settings import load_settings

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("## Destination clusters", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "gate.yaml").write_text(block)
    plan = load_spec(str(tmp_path / "gate.yaml"), load_settings(str(CONFIG), {}, env={}), env={}).plan("prod")
    where = {p.check.name: p.cluster and p.cluster.key for p in plan.levels[1]}
    assert where == {"Argo CD apps synced and healthy: shop": None,
                     "Pods ready in shop": "from_app:shop@cluster-prod-eu",
                     "Pods ready in monitoring": "argocd:in-cluster", "Kargo Stage prod healthy and ready": None}


def test_sim_serve_names_every_cluster(tmp_path: Path) -> None:
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "gate", "sim", "serve", "--scenario", "multicluster",
                             "--kubeconfig-out", str(tmp_path / "kubeconfig")], stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("destination cluster prod-eu" in ln for ln in lines):
            lines.append(proc.stdout.readline())  # type: ignore[union-attr]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert any(ln.startswith("destination cluster prod-eu listening on https://127.0.0.1:") for ln in lines), lines


# -- `cluster: {context: …}` -----------------------------------------------------------------------------
def _two_contexts(sim: Any, path: Path) -> str:
    """One kubeconfig holding the control plane (current context `sim`) and context `kind-prod-eu`."""
    import yaml

    doc = yaml.safe_load(Path(sim.kubeconfig).read_text())
    dest = yaml.safe_load(Path(sim.destinations["prod-eu"].kubeconfig).read_text())
    doc["clusters"].append({"name": "prod-eu", "cluster": dest["clusters"][0]["cluster"]})
    doc["users"].append({"name": "prod-eu-reader", "user": dest["users"][0]["user"]})
    doc["contexts"].append({"name": "kind-prod-eu", "context": {"cluster": "prod-eu", "user": "prod-eu-reader"}})
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_a_kubeconfig_context_names_the_destination(tmp_path: Path) -> None:
    with start(world("multicluster")) as sim:
        kubeconfig = _two_contexts(sim, tmp_path / "kubeconfig")
        spec = tmp_path / "gate.yaml"
        spec.write_text(SPEC.format(cluster="{context: kind-prod-eu}", timeout="3s"))
        proc = gate("verify", "--stage", "prod", "--spec", str(spec), "--config", str(CONFIG), "--kubeconfig",
                    kubeconfig, "--json", str(tmp_path / "r.json"))
        secrets_read = [r for r in sim.requests if "/secrets" in r["path"]]
        unknown = tmp_path / "unknown.yaml"
        unknown.write_text(SPEC.format(cluster="{context: kind-nowhere}", timeout="3s"))
        bad = gate("verify", "--stage", "prod", "--spec", str(unknown), "--config", str(CONFIG), "--kubeconfig",
                   kubeconfig)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    assert any("web-5f7d9c8b6-h4k2m" in e for e in rows(result)["[kind-prod-eu] Pods ready in shop"]["evidence"])
    hint = rows(result)["[kind-prod-eu] Pods ready in shop"]["hint"]  # its kubectl aimed at the context too
    assert hint == "Read the crash: kubectl --context kind-prod-eu logs -n shop web-5f7d9c8b6-h4k2m --previous", hint
    # the DIAGNOSIS' kubectl lines aim at the context the pods were read through
    assert fix_lines(proc.stdout)[:2] == [
        "kubectl --context kind-prod-eu logs web-5f7d9c8b6-h4k2m -n shop -c web --previous --tail=100",
        "kubectl --context kind-prod-eu describe pod web-5f7d9c8b6-h4k2m -n shop"], proc.stdout
    assert not secrets_read  # no Argo CD Secret is needed for a context
    assert bad.returncode == 2 and "kind-nowhere" in bad.stderr, bad.stdout + bad.stderr


def test_a_service_target_is_reached_through_the_destinations_api_server(tmp_path: Path) -> None:
    """`http: {service: ...}` on prod-eu goes through prod-eu's services/proxy, never the control plane's."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            body = b'{"status": "ok"}'
            self.send_response(200 if self.path == "/healthz" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    spec = stage_spec("{argocd: prod-eu}", """
- http: {service: "shop/web:8080", path: /healthz, expect: {status: 200, json: {status: ok}}}
""", level=2)
    rules = [*READER_RULES, {"apiGroups": [""], "resources": ["services/proxy"], "verbs": ["get"]}]
    try:
        with start(world(rbac=rules)) as sim:
            dest = sim.destinations["prod-eu"]
            dest.apply_change({"create": {"apiVersion": "v1", "kind": "Service", "metadata": {
                "name": "web", "namespace": "shop"}, "spec": {"ports": [{"name": "http", "port": 8080}]}}})
            dest.set_service_target("shop", "web", 8080, f"http://127.0.0.1:{server.server_address[1]}")
            proc, result, _ = verify(sim, tmp_path, spec=spec)
            control, seen = list(sim.requests), list(dest.requests)
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (row,) = rows(result).values()
    assert row["name"].startswith("[prod-eu] ") and row["status"] == "PASS"
    assert "/api/v1/namespaces/shop/services/web:8080/proxy/healthz" in [r["path"] for r in seen]
    assert not [r for r in control if "/services/" in r["path"]]


def test_another_clusters_broken_secret_does_not_stop_the_lookup(tmp_path: Path) -> None:
    import base64

    broken = {"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": "cluster-staging", "namespace": "argocd", "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
        "data": {"name": base64.b64encode(b"staging").decode(), "server": base64.b64encode(b"https://x").decode(),
                 "config": base64.b64encode(b"{not json").decode()}}
    with start({**world(), "objects": [broken]}) as sim:
        good, _, _ = verify(sim, tmp_path, "{argocd: prod-eu}")
        bad, result, _ = verify(sim, tmp_path, "{argocd: prod-us}")
    assert good.returncode == 0, good.stdout + good.stderr
    assert bad.returncode == 3, bad.stdout + bad.stderr
    reason = rows(result)["[prod-us] Pods ready in shop"]["reason"]
    assert "1 could not be read" in reason and "argocd/cluster-staging" in reason, reason


def test_a_context_without_any_kubeconfig_is_exit_2_never_the_pods_own_cluster(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Inside a pod (a service account, no kubeconfig) `context:` names nothing: exit 2, not the pod's cluster."""
    import gate.cluster.kube as kube
    from gate.cli import cli
    from gate.entry import run

    spec = tmp_path / "gate.yaml"
    spec.write_text(SPEC.format(cluster="{context: kind-prod-eu}", timeout="3s"))
    (tmp_path / "sa").mkdir()
    (tmp_path / "sa" / "token").write_text("pod-token-0123456789abcdef")
    (tmp_path / "sa" / "ca.crt").write_bytes(_client_pair()[0])
    from kubernetes.config import incluster_config

    monkeypatch.setattr(kube, "SA_DIR", str(tmp_path / "sa"))
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(tmp_path / "sa" / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(tmp_path / "sa" / "ca.crt"))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "9")
    monkeypatch.setenv("GATE_PODINFO_LABELS", str(tmp_path / "no-labels"))
    assert kube.in_cluster()
    code = run(cli, ["verify", "--stage", "prod", "--spec", str(spec), "--config", str(CONFIG), "--no-preflight"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "context: kind-prod-eu" in err and "kubeconfig" in err


def test_a_destinations_lists_are_watched_and_a_change_there_passes_at_once(tmp_path: Path) -> None:
    """With an 8 s poll interval, the crash-looping pod recovering in prod-eu 2 s in passes within moments:
    the destination's lists are watched (in prod-eu) and its events wake the runner."""
    import time

    from gate.sim.scenario import resolve

    healthy = {(o["kind"], o["metadata"]["name"]): o for o in resolve("multicluster-healthy")["objects"]
               if o["kind"] in ("Pod", "Deployment") and o["metadata"].get("namespace") == "shop"}
    recovered = [{"apiVersion": o["apiVersion"], "kind": o["kind"], "metadata": {"name": o["metadata"]["name"],
                  "namespace": "shop"}, "status": {**o["status"], "unavailableReplicas": None}}
                 for o in healthy.values()]
    spec = tmp_path / "gate.yaml"
    spec.write_text(stage_spec("{argocd: prod-eu}", "- pods: {namespace: shop}\n- workloads: {namespace: shop}",
                               timeout="30s").replace("interval: 0.3s", "interval: 8s, max_interval: 10s"))
    with start(world("multicluster")) as sim:
        dest = sim.destinations["prod-eu"]
        proc = subprocess.Popen([sys.executable, "-m", "gate", "verify", "--stage", "prod", "--spec", str(spec),
                                 "--config", str(CONFIG), "--kubeconfig", sim.kubeconfig, "--no-preflight"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(r["path"] == "/api/v1/namespaces/shop/pods"
                                                      for r in dest.requests):
            time.sleep(0.1)
        time.sleep(2)
        changed_at = time.monotonic()
        dest.apply_change({"patch": recovered})
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - changed_at
        watches = [r for r in dest.requests if r["query"].get("watch") in ("1", "true")]
        control_watches = [r for r in sim.requests if "/namespaces/shop/" in r["path"]]
    assert proc.returncode == 0, out + err
    assert took < 4, f"passed {took:.1f}s after the change: the destination was polled, not watched"
    assert {r["path"] for r in watches} >= {"/api/v1/namespaces/shop/pods"}, watches
    assert not control_watches


def test_an_exec_plugin_that_fails_is_an_error_row_naming_cluster_and_secret(tmp_path: Path) -> None:
    plugin = tmp_path / "broken-credentials"
    plugin.write_text("#!/bin/sh\necho 'token service unavailable' >&2\nexit 1\n")
    plugin.chmod(0o755)
    config = {"bearerToken": None, "execProviderConfig": {
        "command": str(plugin), "apiVersion": "client.authentication.k8s.io/v1beta1"}}
    with start(world(config=config)) as sim:
        proc, result, _ = verify(sim, tmp_path)
        dest = list(sim.destinations["prod-eu"].requests)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    row = rows(result)["[prod-eu] Pods ready in shop"]
    assert row["status"] == "ERROR" and "cluster prod-eu" in row["reason"], row
    assert "argocd/cluster-prod-eu" in row["reason"] and "broken-credentials" in row["reason"], row["reason"]
    assert not dest
