"""The GitLab example's job scripts, run as a GitLab runner would run them, against the simulator.

The runner concatenates `before_script` and `script` into one shell script (errexit on) in the checkout
directory, with the YAML `variables:` overridden by the project's CI/CD variables. Here the CI/CD
variables point the gate at the simulated cluster and the built-in demo spec; `gate` is this tree's CLI.
"""

from __future__ import annotations

import glob
import importlib.resources
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / ".gitlab-ci.example.yml"
SPEC = str(importlib.resources.files("gate.demo").joinpath("l1.yaml"))
CONFIG = str(importlib.resources.files("gate.demo").joinpath("config.yaml"))


def _job(name: str) -> dict:
    doc = yaml.safe_load(EXAMPLE.read_text())
    job = dict(doc[name])
    base = doc.get(job.get("extends", ""), {})
    merged = {**base, **job}
    variables = {}
    for key, value in (doc.get("variables") or {}).items():
        variables[key] = str(value["value"] if isinstance(value, dict) else value)
    variables.update({k: str(v) for k, v in (job.get("variables") or {}).items()})
    merged["variables"] = variables
    return merged


def _run_job(name: str, workdir: Path, cicd: dict[str, str]) -> subprocess.CompletedProcess[str]:
    job = _job(name)
    bindir = workdir.parent / "bin"
    bindir.mkdir(exist_ok=True)
    shim = bindir / "gate"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c "import sys; from gate.cli import main; '
                    f'sys.argv[0] = \'gate\'; main()" "$@"\n')
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GATE_", "GITHUB_", "KARGO_")) and k != "KUBECONFIG"}
    env.update({"CI": "true", "GITLAB_CI": "true", "CI_JOB_NAME": name, "CI_COMMIT_BRANCH": "main",
                "CI_DEFAULT_BRANCH": "main", "CI_PIPELINE_SOURCE": "push",
                "PATH": f"{bindir}:{env.get('PATH', '')}", "PYTHONPATH": str(ROOT)})
    env.update(job["variables"])
    env.update(cicd)  # CI/CD variables win over the YAML's, as in GitLab
    script = "\n".join(["set -eo pipefail", *job.get("before_script", []), *job["script"]])
    return subprocess.run(["bash", "-c", script], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=240)


def _junit_reports(job: dict, workdir: Path) -> list[Path]:
    pattern = job["artifacts"]["reports"]["junit"]
    return [Path(p) for p in glob.glob(str(workdir / pattern))]


@pytest.fixture
def sim():
    from gate.sim.server import start

    with start("healthy") as handle:
        yield handle


def test_verify_job_runs_against_the_simulator_and_leaves_junit(sim, tmp_path: Path) -> None:
    workdir = tmp_path / "checkout"
    workdir.mkdir()
    proc = _run_job("verify", workdir, {"KUBECONFIG": sim.kubeconfig, "GATE_SPEC": SPEC,
                                        "GATE_CONFIG": CONFIG, "VERIFY_STAGE": "monitoring"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Overall: PASS" in proc.stdout
    (report,) = _junit_reports(_job("verify"), workdir)
    assert report.name == "verify-monitoring.xml"
    root = ET.parse(report).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    assert suites and sum(int(s.get("tests", 0)) for s in suites) > 0
    assert all(int(s.get("failures", 0)) == 0 and int(s.get("errors", 0)) == 0 for s in suites)
    assert (workdir / "reports" / "verify-monitoring.json").exists()
    assert not (workdir / "reports" / "capture-verify-monitoring.yaml").exists()  # nothing on a PASS


def test_verify_job_fails_the_pipeline_and_still_leaves_junit(tmp_path: Path) -> None:
    from gate.sim.server import start

    workdir = tmp_path / "checkout"
    workdir.mkdir()
    with start("crashloop") as crash:
        proc = _run_job("verify", workdir, {"KUBECONFIG": crash.kubeconfig, "GATE_SPEC": SPEC,
                                            "GATE_CONFIG": CONFIG, "VERIFY_STAGE": "monitoring",
                                            "GATE_TIMEOUT": "3s"})
    assert proc.returncode == 1, proc.stdout + proc.stderr  # gate closed: the job fails
    assert "FAIL at Level 1" in proc.stdout
    (report,) = _junit_reports(_job("verify"), workdir)  # artifacts: when: always uploads it
    root = ET.parse(report).getroot()
    assert list(root.iter("failure")), "the failing check is a <failure> in the report"
    # The capture of the failing verdict is under reports/, which `artifacts: when: always` keeps.
    assert (workdir / "reports" / "capture-verify-monitoring.yaml").exists()


def test_promote_job_promotes_through_the_kargo_api_and_leaves_junit(tmp_path: Path) -> None:
    from gate.sim.kargo_api import mount
    from gate.sim.server import start

    workdir = tmp_path / "checkout"
    workdir.mkdir()
    with start("promote-ok") as sim:
        kargo = mount(sim)
        (freight,) = [f["metadata"]["name"] for f in sim.store.list("kargo.akuity.io", "freights")
                      if f.get("alias") == "calm-crane"
                      or (f["metadata"].get("labels") or {}).get("kargo.akuity.io/alias") == "calm-crane"]
        proc = _run_job("promote", workdir, {
            "KUBECONFIG": sim.kubeconfig, "GATE_SPEC": SPEC, "GATE_CONFIG": CONFIG,
            "PROMOTE_STAGE": "monitoring", "FREIGHT": freight, "KARGO_API_ADDRESS": kargo.address,
            "KARGO_API_TOKEN": kargo.token, "GATE_KARGO_CA": sim.ca_file})
        promotions = sim.store.list("kargo.akuity.io", "promotions")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert kargo.token not in proc.stdout + proc.stderr
    assert any(p["spec"].get("freight") == freight and p["spec"].get("stage") == "monitoring"
               for p in promotions), "a Promotion was created through the Kargo API"
    (report,) = _junit_reports(_job("promote"), workdir)
    assert report.name == "promote-monitoring.xml"
    assert ET.parse(report).getroot().tag in ("testsuites", "testsuite")


@pytest.mark.parametrize("flawed, code", [(False, 0), (True, 1)])
def test_lint_job_leaves_junit_and_fails_on_errors(tmp_path: Path, flawed: bool, code: int) -> None:
    import shutil

    workdir = tmp_path / "checkout"
    shutil.copytree(ROOT / "tests/data/lint/clean", workdir / "kargo")
    (workdir / "argocd").mkdir()
    if flawed:
        shutil.copy(ROOT / "tests/data/lint/flawed/app-auto-sync.yaml", workdir / "kargo")
    proc = _run_job("lint", workdir, {})
    assert proc.returncode == code, proc.stdout + proc.stderr
    (report,) = _junit_reports(_job("lint"), workdir)
    failures = list(ET.parse(report).getroot().iter("failure"))
    assert len(failures) == code  # one app-auto-sync finding
    assert ("[app-auto-sync]" in proc.stdout) == flawed  # readable in the job log too
