"""Levels 2-4 through the real level runner: the demo spec against the demo servers (and the simulator's
services/proxy), the failing demo scenarios, and the 20 x 0.5 s benchmark."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml
from gate.checks import registry
from gate.checks.base import Clients

from gate import redact
from gate.demo_servers import DemoServers, switches_for
from gate.engine.plan import PlannedCheck
from gate.engine.runner import Runner
from gate.httpclient import HttpClient
from gate.model import Status

COMMON = ("name", "timeout", "interval", "max_interval")


def demo_plan(variables: dict[str, str]) -> dict[int, list[PlannedCheck]]:
    """Levels 2-4 of gate/demo/levels.yaml with `${VAR}` filled in (`${env:…}` left to the checks)."""
    spec = yaml.safe_load(resources.files("gate").joinpath("demo/levels.yaml").read_text())
    levels = spec["stages"]["monitoring"]["levels"]

    def fill(value):  # noqa: ANN001, ANN202
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, str):
            return re.sub(r"\$\{([A-Z_]+)\}", lambda m: variables[m.group(1)], value)
        return value

    kinds = registry()
    plan: dict[int, list[PlannedCheck]] = {}
    for number in (2, 3, 4):
        for index, item in enumerate(levels[number]):
            (kind, raw), = item.items()
            params = fill(kinds[kind].normalize(raw))
            name = params.pop("name", None)
            for key in COMMON:
                params.pop(key, None)
            jsonschema.validate(params, kinds[kind].schema)
            check = kinds[kind](params, name)
            plan.setdefault(number, []).append(
                PlannedCheck(check, number, f"L{number}.{kind}.{index}", timeout=2, interval=0.3,
                             max_interval=0.5))
    return plan


def run_demo(scenario: str, monkeypatch: pytest.MonkeyPatch) -> list:
    from gate.cluster.kube import connect
    from gate.sim import server

    redact.clear()
    with DemoServers(switches_for(scenario)) as demo, server.start("healthy") as sim:
        env = demo.env()
        monkeypatch.setenv("DEMO_SSO_TOKEN", env["DEMO_SSO_TOKEN"])
        sim.set_service_target("monitoring", "grafana", 3000, env["DEMO_HTTP_URL"])
        kube = connect(kubeconfig=sim.kubeconfig)
        plan = demo_plan({**env, "MONITORING_NS": "monitoring"})
        runner = Runner(Clients(kube=kube, http=HttpClient(kube, in_cluster=False)), kube)

        class _Plan:
            levels = plan

        levels = runner.run(_Plan())  # type: ignore[arg-type]
        text = json.dumps([[c.__dict__ for c in lv.checks] for lv in levels], default=str)
        assert env["DEMO_SSO_TOKEN"] not in text
        return levels


def by_kind(level, kind: str):  # noqa: ANN001, ANN201
    return next(c for c in level.checks if c.kind == kind)


def test_demo_levels_pass(monkeypatch):
    levels = run_demo("healthy", monkeypatch)
    assert [lv.status for lv in levels] == [Status.PASS] * 3, [
        (c.name, c.observed, c.reason) for lv in levels for c in lv.checks if c.status != Status.PASS]
    proxied = by_kind(levels[0], "http")
    assert "through the API server's service proxy" in proxied.evidence[0]


def test_demo_cert_expiring_fails_level_3_and_skips_4(monkeypatch):
    levels = run_demo("l3-cert-expiring", monkeypatch)
    assert [lv.status for lv in levels] == [Status.PASS, Status.FAIL, Status.SKIPPED]
    tls = by_kind(levels[1], "tls")
    assert tls.status == Status.FAIL
    assert tls.observed == "certificate expires in 3 days" and tls.expected == "at least 14 days left"


def test_demo_no_targets_fails_level_2_naming_the_target(monkeypatch):
    levels = run_demo("l2-no-targets", monkeypatch)
    assert levels[0].status == Status.FAIL and levels[1].status == Status.SKIPPED
    targets = by_kind(levels[0], "prometheus_targets")
    assert "10.42.0.17:9100 (job node-exporter) down: " in targets.observed
    assert "connection refused" in targets.observed
    assert targets.reason.startswith("still 0 of 1 target(s) up")


def test_demo_sso_broken_fails_level_3(monkeypatch):
    levels = run_demo("l3-sso-broken", monkeypatch)
    assert levels[1].status == Status.FAIL
    redirect = next(c for c in levels[1].checks if c.kind == "http")
    assert redirect.observed.startswith("302 to https://evil.example/login?")
    assert redirect.expected == r"status 302; Location matching ^https://auth\."


def test_benchmark_20_checks_of_half_a_second_under_2s():
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_http_level.py"
    out = subprocess.run([sys.executable, str(script), "--workers", "16"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    wall = float(re.search(r"pool 16: ([0-9.]+)s wall", out.stdout).group(1))
    assert wall < 2.0
    assert "20/20 PASS" in out.stdout


def test_canary_secrets_appear_nowhere_through_the_cli(nginx_server, canary_env, tmp_path):
    """bearer token, API key and basic-auth password as ${env:…}: not in stdout, stderr, JUnit or JSON."""
    from conftest_servers import CANARY_API_KEY, CANARY_PASSWORD, CANARY_TOKEN

    from gate.sim import server

    base = nginx_server.http_url
    spec = tmp_path / "gate.yaml"
    spec.write_text(f"""
stages:
  monitoring:
    levels:
      2:
        - http: {{url: "{base}/echo", headers: {{Authorization: "Bearer ${{env:GATE_TEST_TOKEN}}",
                 X-Api-Key: "${{env:GATE_TEST_API_KEY}}"}}, expect: {{body_contains: never}}, timeout: 1s}}
        - http: {{url: "{base}/app/", follow_redirects: false, timeout: 1s,
                 basic_auth: {{username: gate, password: "${{env:GATE_TEST_PASSWORD}}"}},
                 expect: {{status: 302}}}}
        - sso_redirect: {{url: "{base}/app/", idp_host: "^auth\\\\.", timeout: 1s,
                         credentials: {{bearer: "${{env:GATE_TEST_TOKEN}}"}}}}
""")
    config = resources.files("gate").joinpath("demo/config.yaml")
    with server.start("healthy") as sim:
        out = subprocess.run([sys.executable, "-c", "from gate.cli import main; main()", "verify",
                              "--stage", "monitoring", "--config", str(config), "--spec", str(spec),
                              "--kubeconfig", sim.kubeconfig, "--levels", "2",
                              "--junit", str(tmp_path / "j.xml"), "--json", str(tmp_path / "r.json")],
                             capture_output=True, text=True, timeout=120,
                             cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 1, out.stdout + out.stderr  # the checks fail: the echo body carries them
    junit, result = (tmp_path / "j.xml").read_text(), (tmp_path / "r.json").read_text()
    assert "you sent: *** ***" in out.stdout + junit + result
    for secret in (CANARY_TOKEN, CANARY_API_KEY, CANARY_PASSWORD):
        outputs = {"stdout": out.stdout, "stderr": out.stderr, "junit": junit, "json": result}
        for where, text in outputs.items():
            assert secret not in text, f"{secret} leaked into {where}"
