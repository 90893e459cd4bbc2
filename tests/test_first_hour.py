"""The first hour with the gate (issue 9): discovery feeds every command, checks that need no cluster run
without one, every spec error of a file in one run, cluster errors that name the kubeconfig, context and
server, and reports that say each thing once and tell the reader what to do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gate.sim.scenario import resolve
from gate.sim.server import start

ROOT = Path(__file__).resolve().parents[1]
ENV = {**{k: v for k, v in os.environ.items() if not k.startswith(("GATE_", "KARGO_")) and k != "KUBECONFIG"},
       "PYTHONPATH": str(ROOT)}


def gate(*args: str, cwd: Path, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gate", *args], capture_output=True, text=True, cwd=cwd,
                          env={**ENV, "HOME": str(cwd), **(env or {})}, timeout=timeout)


KARGO_ONLY = """
defaults: {timeout: 3s, interval: 0.3s}
stages:
  monitoring:
    levels:
      1:
        - kargo_stage: {}
"""


# -- 1. discovery feeds every command --------------------------------------------------------------
def test_verify_uses_the_discovered_kargo_namespace(tmp_path: Path) -> None:
    """No .gitops-config.yaml: `gate discover` finds the project `platform`; verify must use it too."""
    (tmp_path / "gate.yaml").write_text(KARGO_ONLY)
    with start("healthy") as sim:
        proc = gate("verify", "--stage", "monitoring", "--kubeconfig", sim.kubeconfig,
                    "--json", "r.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["levels"][0]["checks"][0]["status"] == "PASS"
    assert result["project"] == "platform"


def test_a_setting_neither_set_nor_discoverable_is_exit_2_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "gate.yaml").write_text(KARGO_ONLY)
    world = resolve("healthy")
    world["objects"] = [o for o in world["objects"] if o.get("kind") not in ("Project", "Stage")]
    with start(world) as sim:  # nothing points to a Kargo project
        proc = gate("verify", "--stage", "monitoring", "--kubeconfig", sim.kubeconfig, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "kargo_namespace" in proc.stderr
    assert "GATE_KARGO_NAMESPACE" in proc.stderr and ".gitops-config.yaml" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_precheck_uses_the_discovered_project(tmp_path: Path) -> None:
    with start("healthy") as sim:
        proc = gate("precheck", "--stage", "monitoring", "--freight", "nonexistent-freight",
                    "--kubeconfig", sim.kubeconfig, cwd=tmp_path)
    assert "no Kargo project" not in proc.stderr, proc.stderr
    assert 'in project "platform" does not exist' in proc.stderr  # looked up in the discovered project


# -- 2. checks that need no cluster run without one -----------------------------------------------
NO_CLUSTER = """
defaults: {timeout: 2s, interval: 0.2s}
stages:
  web:
    levels:
      2:
        - command: {run: ["true"]}
        - tcp: {host: 127.0.0.1, port: 9}
"""


def test_a_spec_without_cluster_checks_needs_no_cluster_credentials(tmp_path: Path) -> None:
    (tmp_path / "gate.yaml").write_text(NO_CLUSTER)
    proc = gate("verify", "--stage", "web", "--levels", "2", "--json", "r.json", cwd=tmp_path)
    assert "no cluster credentials" not in proc.stderr, proc.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    statuses = {c["kind"]: c["status"] for c in result["levels"][0]["checks"]}
    assert statuses["command"] == "PASS"
    assert statuses["tcp"] == "FAIL"  # nothing listens on port 9: a real verdict, not a setup error
    assert proc.returncode == 1


def test_no_cluster_spec_asks_the_cluster_nothing(tmp_path: Path) -> None:
    """With a kubeconfig at hand, a spec that needs no cluster still sends it no request (no preflight)."""
    (tmp_path / "gate.yaml").write_text(NO_CLUSTER.replace("- tcp: {host: 127.0.0.1, port: 9}\n", ""))
    log = tmp_path / "requests.jsonl"
    with start("healthy", request_log=str(log)) as sim:
        proc = gate("verify", "--stage", "web", "--kubeconfig", sim.kubeconfig, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    requests = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    assert requests == []


# -- 3. errors ------------------------------------------------------------------------------------
THREE_MISTAKES = """
stages:
  web:
    levels:
      1:
        - podz: {namespace: a}
      2:
        - tcp: {host: 127.0.0.1, port: "${NOPE}"}
        - http: {url: "http://127.0.0.1:9/", expect: {status: 2000}}
        - tls: {host: example.com, min_days_left: -3, colour: blue}
"""


def test_every_spec_error_of_a_file_in_one_run(tmp_path: Path) -> None:
    (tmp_path / "gate.yaml").write_text(THREE_MISTAKES)
    proc = gate("verify", "--stage", "web", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr
    assert "problems in gate.yaml" in err
    for where in ("gate.yaml:6 at stages.web.levels.1[1].podz", "gate.yaml:8 at stages.web.levels.2[1].tcp.port",
                  "gate.yaml:9 at stages.web.levels.2[2].http.expect.status", "gate.yaml:10 at "
                  "stages.web.levels.2[3].tls.colour"):
        assert where in err, err
    assert "Traceback" not in err


def test_spec_errors_are_capped(tmp_path: Path) -> None:
    items = "".join(f"        - tcp: {{host: h, port: {i}, bogus{i}: 1}}\n" for i in range(25))
    (tmp_path / "gate.yaml").write_text(f"stages:\n  web:\n    levels:\n      2:\n{items}")
    proc = gate("verify", "--stage", "web", cwd=tmp_path)
    assert proc.returncode == 2
    assert "25 problems in gate.yaml" in proc.stderr
    assert proc.stderr.count("unknown key 'bogus") == 20
    assert "…and 5 more" in proc.stderr


CLUSTER_SPEC = """
defaults: {timeout: 2s, interval: 0.2s}
stages:
  s:
    levels:
      1:
        - crds: [prometheuses.monitoring.coreos.com]
"""


def test_a_rejected_token_names_kubeconfig_context_and_server(tmp_path: Path) -> None:
    (tmp_path / "gate.yaml").write_text(CLUSTER_SPEC)
    with start("healthy") as sim:
        config = tmp_path / "kubeconfig"
        config.write_text(Path(sim.kubeconfig).read_text().replace("gate-token", "wrong-token"))
        server = next(line.split()[1] for line in config.read_text().splitlines() if "server:" in line)
        proc = gate("verify", "--stage", "s", "--kubeconfig", str(config), cwd=tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert f"kubeconfig {config}, context sim, server {server}" in proc.stderr, proc.stderr
    assert "wrong-token" not in proc.stdout + proc.stderr


def test_an_unreachable_cluster_names_kubeconfig_context_and_server(tmp_path: Path) -> None:
    (tmp_path / "gate.yaml").write_text(CLUSTER_SPEC)
    config = tmp_path / "kubeconfig"
    config.write_text("apiVersion: v1\nkind: Config\ncurrent-context: lab\n"
                      "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
                      "users: [{name: u, user: {token: t}}]\n"
                      "contexts: [{name: lab, context: {cluster: c, user: u}}]\n")
    proc = gate("verify", "--stage", "s", "--kubeconfig", str(config), "--timeout", "4s", cwd=tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert f"kubeconfig {config}, context lab, server https://127.0.0.1:9" in proc.stdout + proc.stderr


# -- 4. reports -----------------------------------------------------------------------------------
def test_promote_errored_says_the_promotion_message_once(tmp_path: Path) -> None:
    proc = gate("demo", "--scenario", "promote-errored", "--promote", cwd=tmp_path, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = proc.stdout[proc.stdout.index("VERIFICATION REPORT"):]
    assert report.count("repository not accessible: authentication required") == 1, report
    assert "(the message above)" in report
    assert "--retry-failed" in report.split("Action Required:")[1]  # the action is still there


def test_a_setup_error_states_no_empty_expectation_and_an_action(tmp_path: Path) -> None:
    (tmp_path / "gate.yaml").write_text(CLUSTER_SPEC)
    with start("healthy") as sim:
        config = tmp_path / "kubeconfig"
        config.write_text(Path(sim.kubeconfig).read_text().replace("gate-token", "wrong-token"))
        proc = gate("verify", "--stage", "s", "--kubeconfig", str(config), cwd=tmp_path)
    report = proc.stdout
    assert "(not stated)" not in report
    assert report.count("rejected the gate's credentials") == 1, report
    action = report.split("Action Required:")[1]
    assert "kubectl auth whoami" in action and "rejected" not in action


def test_action_required_is_an_action_not_the_observation(tmp_path: Path) -> None:
    (tmp_path / "gate.yaml").write_text(NO_CLUSTER)
    proc = gate("verify", "--stage", "web", cwd=tmp_path)
    action = proc.stdout.split("Action Required:")[1]
    assert "Connection refused" not in action, action
    assert "nc -vz 127.0.0.1 9" in action


def test_each_check_kind_states_an_action() -> None:
    from gate.checks.tls import Tls

    from gate.model import Observation

    tls = Tls({"host": "grafana.demo.example", "min_days_left": 14, "secret": "monitoring/grafana-tls"})
    action = tls.action(Observation(False, "certificate expires in 3 days", "at least 14 days left"))
    assert action.startswith("Renew the certificate for grafana.demo.example")
    assert "kubectl -n monitoring describe certificate" in action and "min_days_left" in action
    untrusted = tls.action(Observation(False, "not trusted: self-signed certificate", "trusted"))
    assert "ca_bundle" in untrusted


# -- 5. the README's troubleshooting snippet is true -------------------------------------------------
def test_readme_no_cluster_snippet_runs_without_any_credentials(tmp_path: Path) -> None:
    import re

    text = (ROOT / "README.md").read_text()
    snippet = re.search(r"<!-- snippet: no-cluster -->\n```yaml\n(.*?)```", text, flags=re.S)
    assert snippet, "the README lost its no-cluster snippet"
    (tmp_path / "gate.yaml").write_text(snippet.group(1))
    proc = gate("verify", "--stage", "web", cwd=tmp_path, env={"KUBECONFIG": str(tmp_path / "none")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Overall: PASS" in proc.stdout


def test_http_and_tcp_actions_name_the_command_to_run() -> None:
    from gate.checks.http import Http
    from gate.checks.tcp import Tcp

    from gate.model import Observation

    failed = Observation(False, "HTTP 503", "HTTP 200")
    http = Http({"service": "monitoring/grafana:3000", "path": "/api/health"})
    assert "kubectl get --raw /api/v1/namespaces/monitoring/services/grafana:3000/proxy/api/health" \
        in http.action(failed)
    assert "curl -sSi https://grafana.demo.example/" in Http({"url": "https://grafana.demo.example/"}).action(failed)
    assert "getent hosts nowhere.invalid" in Tcp({"host": "nowhere.invalid", "port": 80}).action(
        Observation(False, "nowhere.invalid: name does not resolve (Name or service not known)", ""))
