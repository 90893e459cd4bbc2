"""`gate demo` end to end, as a user runs it: a real process, the built-in simulator, real exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from refdata import JUNIT_XSD as XSD


def gate(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gate", *args], capture_output=True, text=True,
                          timeout=timeout)


def assert_valid_junit(path: Path) -> None:
    import xmlschema

    xmlschema.XMLSchema(str(XSD)).validate(str(path))


def test_demo_passes_all_four_levels(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    proc = gate("demo", "--junit", str(junit), "--json", str(tmp_path / "r.json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "VERIFICATION REPORT" in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-2] == "Overall: PASS"
    for n, title in [(1, "Infrastructure"), (2, "Service Health"), (3, "Ingress & Auth"), (4, "Functional")]:
        assert f"Level {n} ({title}): PASS" in proc.stdout
    assert f"JUnit report: {junit}" in proc.stderr
    assert_valid_junit(junit)
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["overall"] == "PASS" and result["exit_code"] == 0


def test_demo_names_its_default_junit_path() -> None:
    proc = gate("demo", "--scenario", "healthy", "--keep")  # without --keep the demo's temp dir goes
    assert proc.returncode == 0
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("JUnit report: "))
    path = Path(line.removeprefix("JUnit report: "))
    assert path.exists()
    assert_valid_junit(path)
    shutil.rmtree(path.parent)


def test_crashloop_fails_level_1_and_names_the_pod(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    proc = gate("demo", "--scenario", "crashloop", "--timeout", "4s", "--junit", str(junit))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "Level 1 (Infrastructure): FAIL" in out
    assert "Overall: FAIL at Level 1" in out
    for n in (2, 3, 4):
        assert f"Level {n} (" in out and "): SKIPPED" in out.split(f"Level {n} (")[1].splitlines()[0]
    assert "grafana-7c9d8f6b5-x2k4p" in out and "CrashLoopBackOff" in out
    assert "Traceback" not in proc.stderr
    assert_valid_junit(junit)


def test_stale_argocd_does_not_pass_while_the_status_is_stale() -> None:
    # Scenario time at a tenth of real speed: the refresh (at 4 s scenario time) comes after the deadline.
    proc = gate("demo", "--scenario", "stale-argocd", "--speed", "0.1", "--timeout", "3s")
    assert proc.returncode == 1, proc.stdout
    assert "Overall: FAIL at Level 1" in proc.stdout
    assert "reconciledAt" in proc.stdout and "loki" in proc.stdout


def test_stale_argocd_passes_once_the_timeline_refreshes_it(tmp_path: Path) -> None:
    """The scenario's refresh is applied once the gate has been seen waiting on the stale status (its
    progress line), not at 4 s after the simulator started: on a loaded machine the gate's first look
    came after that moment, and it passed at once without ever seeing loki stale."""
    from kubernetes import client, config

    from gate.sim.scenario import render_time, resolve

    refresh = next(e["patch"] for e in resolve("stale-argocd")["timeline"] if e["patch"]["metadata"]["name"] == "loki")
    # a thousandth of real speed: the timeline's own refresh never comes during the run; this test applies it
    args = ["demo", "--scenario", "stale-argocd", "--speed", "0.001", "--timeout", "60s",
            "--json", str(tmp_path / "r.json")]
    with open(tmp_path / "stdout", "w") as stdout:
        proc = subprocess.Popen([sys.executable, "-m", "gate", *args], stdout=stdout, stderr=subprocess.PIPE,
                                text=True, env={**os.environ, "TMPDIR": str(tmp_path)})
        try:
            assert proc.stderr is not None
            seen = next((line for line in iter(proc.stderr.readline, "")
                         if "L1 Argo CD apps" in line and "1/2 apps ready" in line), None)
            assert seen, "the gate never said it was waiting on the stale app"
            admin = next(tmp_path.glob("gate-demo-*/admin-kubeconfig"))  # the simulator's, in the demo's dir
            client.CustomObjectsApi(config.new_client_from_config(str(admin))).patch_namespaced_custom_object(
                "argoproj.io", "v1alpha1", "argocd", "applications", "loki", render_time(refresh))
            assert proc.wait(timeout=60) == 0, (tmp_path / "stdout").read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    result = json.loads((tmp_path / "r.json").read_text())
    apps = next(c for c in result["levels"][0]["checks"] if c["kind"] == "argocd_apps")
    assert apps["status"] == "PASS"
    assert apps["attempts"] > 1, "the first look saw the stale status and did not pass"
    # The pass came after the refresh, which came after the progress line (printed after 5 s of waiting).
    assert apps["time_to_pass"] > 5


def test_rbac_forbidden_exits_3_naming_the_permission() -> None:
    proc = gate("demo", "--scenario", "rbac-forbidden")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "list pods in namespace monitoring" in proc.stdout
    assert "Overall: PASS" not in proc.stdout


@pytest.mark.parametrize(("scenario", "level", "words"), [
    ("l2-no-targets", 2, ["down"]),
    ("l3-sso-broken", 3, ["302 to https://evil.example/", "^https://auth"]),
    ("l3-cert-expiring", 3, ["expires in 3 days", "14"]),
])
def test_failing_demo_scenarios_fail_at_their_level(scenario: str, level: int, words: list[str]) -> None:
    proc = gate("demo", "--scenario", scenario, "--timeout", "20s")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"Overall: FAIL at Level {level}" in proc.stdout
    for word in words:
        assert word in proc.stdout
    if level < 4:
        assert "Level 4 (Functional): SKIPPED" in proc.stdout


def test_version_and_help_are_fast_and_do_not_import_kubernetes() -> None:
    code = ("import sys; from gate.entry import run; from gate.cli import cli; rc = run(cli, ['--help']); "
            "print('kubernetes' in sys.modules); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    assert proc.stdout.strip().endswith("False")
    assert "verify" in proc.stdout and "demo" in proc.stdout
    version = gate("--version")
    assert version.returncode == 0 and "gate, version" in version.stdout
