"""The light kubeconfig path (gate/cluster/lightclient.py) against the kubernetes library, its reference.

For every kubeconfig the light path takes, it must read what `kubernetes.config.load_kube_config` reads
(server, Authorization header, trusted CA, TLS settings); everything else it must leave to the library.
A named corpus pins the cases one by one; a seeded campaign of random combinations checks the same
rule on kubeconfigs nobody wrote by hand. Then whole runs against the simulator: a verify through the
light path and one through the library (GATE_KUBE_CLIENT=library) give the same report and send the
same requests, in passing, failing, refused and untrusted cases.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from gate.cluster import lightclient
from gate.cluster.kube import _check_kubeconfig_file, connect
from gate.cluster.resources import PODS
from gate.errors import AuthError, ConfigError
from gate.sim.server import start
from gate.sim.tls import make_certs
from gate.sim.tokens import shapes

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "gate/demo/config.yaml")
SERVER = "https://127.0.0.1:6443"
REAL = shapes(random.Random(24))  # credentials in the shapes real deployments carry (gate/sim/tokens.py)
REAL_TOKENS = [REAL[k] for k in ("serviceaccount", "serviceaccount-bound", "oidc-2000", "eks")]


@pytest.fixture(scope="module")
def pems(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """Two different CA certificates in PEM (the simulator's certificate maker, in two directories)."""
    first = Path(make_certs(tmp_path_factory.mktemp("ca1"))[0]).read_text()
    second = Path(make_certs(tmp_path_factory.mktemp("ca2"))[0]).read_text()
    return first, second


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _doc(cluster: dict, user: dict, context: dict | None = None, **top: Any) -> dict:
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "main",
           "clusters": [{"name": "c", "cluster": cluster}], "users": [{"name": "u", "user": user}],
           "contexts": [{"name": "main", "context": {"cluster": "c", "user": "u", **(context or {})}}]}
    doc.update(top)
    return doc


def _library(path: Path, context: str | None) -> dict | str:
    """What the kubernetes library makes of the file: the settings a request depends on, or its error."""
    from kubernetes import client, config

    cfg = client.Configuration()
    try:
        config.load_kube_config(config_file=str(path), context=context, client_configuration=cfg,
                                persist_config=False)
    except Exception as exc:  # noqa: BLE001 - any refusal is an answer here
        return f"refused: {type(exc).__name__}"
    headers: dict[str, str] = {}
    client.ApiClient(cfg).update_params_for_auth(headers, [], ["BearerToken"], "/api", "GET", None)
    return {"host": cfg.host, "authorization": headers.get("authorization"),
            "ca": Path(cfg.ssl_ca_cert).read_text() if cfg.ssl_ca_cert else None,
            "verify": bool(cfg.verify_ssl), "client_cert": cfg.cert_file, "client_key": cfg.key_file,
            "tls_server_name": cfg.tls_server_name, "assert_hostname": cfg.assert_hostname,
            "proxy": cfg.proxy}


def _light(path: Path, context: str | None) -> dict | None:
    api = lightclient.load(str(path), _check_kubeconfig_file(str(path)), context)
    if api is None:
        return None
    c = api.configuration
    headers: dict[str, str] = {}
    api.update_params_for_auth(headers, [], ["BearerToken"], "/api", "GET", None)
    pool = api.pool.connection_pool_kw
    return {"host": c.host, "authorization": headers.get("authorization"),
            "ca": c.ca_cert_data or (Path(c.ssl_ca_cert).read_text() if c.ssl_ca_cert else None),
            "verify": pool["cert_reqs"] == "CERT_REQUIRED", "client_cert": c.cert_file, "client_key": c.key_file,
            "tls_server_name": pool.get("server_hostname"), "assert_hostname": pool.get("assert_hostname"),
            "proxy": None}


def _write(tmp: Path, doc: Any, name: str = "kubeconfig") -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump(doc) if not isinstance(doc, str) else doc)
    return path


# -- the named corpus ----------------------------------------------------------------------------------
def taken_cases(pem: str, other: str) -> dict[str, tuple[dict, str | None]]:
    """Kubeconfigs the light path reads itself: (document, --context)."""
    base = {"server": SERVER, "certificate-authority-data": _b64(pem)}
    return {
        "token and CA data": (_doc(base, {"token": "abc.def"}), None),
        "server with a trailing slash": (_doc({**base, "server": SERVER + "/"}, {"token": "t"}), None),
        "server with a path": (_doc({**base, "server": SERVER + "/k8s/clusters/c-1/"}, {"token": "t"}), None),
        "CA file, absolute": (_doc({"server": SERVER, "certificate-authority": "{dir}/ca.crt"}, {"token": "t"}), None),
        "CA file, relative": (_doc({"server": SERVER, "certificate-authority": "ca.crt"}, {"token": "t"}), None),
        "CA file, up a directory": (_doc({"server": SERVER, "certificate-authority": "../certs/ca.crt"},
                                         {"token": "t"}), None),
        "CA data wins over the file": (_doc({**base, "certificate-authority": "other.crt"}, {"token": "t"}), None),
        "no CA: the system's": (_doc({"server": SERVER}, {"token": "t"}), None),
        "namespace and extensions": (_doc({**base, "extensions": [{"name": "x", "extension": {}}]},
                                          {"token": "t", "extensions": []}, {"namespace": "apps"}), None),
        "a token with odd characters": (_doc(base, {"token": "a b=c/d+e:f"}), None),
        "top-level extras": (_doc(base, {"token": "t"}, preferences={"colors": True}), None),
        "disable-compression (both readers honour it: tests/test_gzip_answers.py)":
            (_doc({**base, "disable-compression": True}, {"token": "t"}), None),
        "--context picks another": ({**_doc(base, {"token": "first"}),
                                     "users": [{"name": "u", "user": {"token": "first"}},
                                               {"name": "v", "user": {"token": "second"}}],
                                     "contexts": [{"name": "main", "context": {"cluster": "c", "user": "u"}},
                                                  {"name": "other", "context": {"cluster": "c", "user": "v"}}]},
                                    "other"),
        "CA data of another CA": (_doc({**base, "certificate-authority-data": _b64(other)}, {"token": "t"}), None),
        **{f"a real {name} token": (_doc(base, {"token": REAL[name]}), None)
           for name in ("serviceaccount", "serviceaccount-bound", "oidc-2000", "eks")},
    }


def declined_cases(pem: str) -> dict[str, tuple[dict | str, str | None]]:
    """Kubeconfigs the light path leaves to the library (whatever the library then makes of them)."""
    base = {"server": SERVER, "certificate-authority-data": _b64(pem)}
    token = {"token": "t"}
    return {
        "exec plugin": (_doc(base, {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                             "command": "true"}}), None),
        "exec plugin, v1 with env and args": (_doc(base, {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1", "command": "aws", "interactiveMode": "Never",
            "args": ["eks", "get-token", "--cluster-name", "shop"], "env": [{"name": "AWS_PROFILE", "value": "ci"}]}}),
            None),
        "client certificate and key of real length": (_doc(base, {"client-certificate-data": _b64(pem),
                                                                  "client-key-data": _b64(REAL["pem-key"])}), None),
        "auth-provider": (_doc(base, {"auth-provider": {"name": "oidc", "config": {"id-token": "x"}}}), None),
        "client certificate": (_doc(base, {"client-certificate-data": _b64(pem), "client-key-data": "eA=="}),
                               None),
        "token and a client certificate": (_doc(base, {**token, "client-certificate": "c.crt"}), None),
        "token file": (_doc(base, {"tokenFile": "/dev/null"}), None),
        "basic auth": (_doc(base, {"username": "a", "password": "b"}), None),
        "impersonation": (_doc(base, {**token, "as": "admin"}), None),
        "insecure-skip-tls-verify": (_doc({"server": SERVER, "insecure-skip-tls-verify": True}, token), None),
        "insecure-skip-tls-verify false": (_doc({**base, "insecure-skip-tls-verify": False}, token), None),
        "tls-server-name": (_doc({**base, "tls-server-name": "kubernetes"}, token), None),
        "proxy-url": (_doc({**base, "proxy-url": "http://127.0.0.1:3128"}, token), None),
        "http server": (_doc({"server": "http://127.0.0.1:8080"}, token), None),
        "server not a string": (_doc({"server": 6443}, token), None),
        "empty token": (_doc(base, {"token": ""}), None),
        "token not a string": (_doc(base, {"token": 12345}), None),
        "CA data not base64": (_doc({**base, "certificate-authority-data": "not base64!"}, token), None),
        "CA data folded over lines": (_doc({**base, "certificate-authority-data": _b64(pem)[:40] + "\n"
                                           + _b64(pem)[40:]}, token), None),
        "CA data empty": (_doc({**base, "certificate-authority-data": ""}, token), None),
        "CA data not PEM": (_doc({**base, "certificate-authority-data": _b64("hello")}, token), None),
        "CA file missing": (_doc({"server": SERVER, "certificate-authority": "missing.crt"}, token), None),
        "no current-context": ({k: v for k, v in _doc(base, token).items() if k != "current-context"}, None),
        "unknown context": (_doc(base, token), "nowhere"),
        "context without a user": ({**_doc(base, token), "contexts": [{"name": "main",
                                                                       "context": {"cluster": "c"}}]}, None),
        "two clusters of one name": ({**_doc(base, token), "clusters": [{"name": "c", "cluster": base},
                                                                        {"name": "c", "cluster": base}]}, None),
        "context with an unknown key": (_doc(base, token, {"extra": 1}), None),
        "a context that is not a mapping": ({**_doc(base, token), "contexts": [{"name": "main",
                                                                               "context": "c"}]}, None),
    }


def _materialise(tmp: Path, doc: Any, pem: str, other: str) -> Path:
    """The kubeconfig in `tmp/kube/` with its CA files beside it (ca.crt, ../certs/ca.crt, other.crt)."""
    (tmp / "kube").mkdir(exist_ok=True)
    (tmp / "certs").mkdir(exist_ok=True)
    (tmp / "kube" / "ca.crt").write_text(pem)
    (tmp / "certs" / "ca.crt").write_text(pem)
    (tmp / "kube" / "other.crt").write_text(other)
    text = yaml.safe_dump(doc) if not isinstance(doc, str) else doc
    return _write(tmp / "kube", text.replace("{dir}", str(tmp / "kube")))


@pytest.mark.parametrize("name", list(taken_cases("p", "q")))
def test_the_light_path_reads_what_the_library_reads(name: str, pems: tuple[str, str], tmp_path: Path) -> None:
    doc, context = taken_cases(*pems)[name]
    path = _materialise(tmp_path, doc, *pems)
    light = _light(path, context)
    assert light is not None, f"{name}: the light path should take this kubeconfig"
    assert light == _library(path, context)


@pytest.mark.parametrize("name", list(declined_cases("p")))
def test_the_light_path_leaves_the_rest_to_the_library(name: str, pems: tuple[str, str], tmp_path: Path) -> None:
    doc, context = declined_cases(pems[0])[name]
    path = _materialise(tmp_path, doc, *pems)
    assert _light(path, context) is None


@pytest.mark.parametrize("variable", [*lightclient.PROXY_VARIABLES, lightclient.ENV])
def test_a_proxy_in_the_environment_or_the_switch_sends_it_to_the_library(
        variable: str, pems: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc, _ = taken_cases(*pems)["token and CA data"]
    path = _materialise(tmp_path, doc, *pems)
    assert _light(path, None) is not None
    monkeypatch.setenv(variable, "library" if variable == lightclient.ENV else "http://127.0.0.1:3128")
    assert _light(path, None) is None


# -- a campaign of random kubeconfigs -------------------------------------------------------------------
def _pick(rng: random.Random, good: list, bad: list, bad_chance: float = 0.08) -> Any:
    return rng.choice(bad if bad and rng.random() < bad_chance else good)


def _random_kubeconfig(rng: random.Random, pem: str, other: str) -> tuple[dict, str | None]:
    """A kubeconfig assembled from pieces, most of them plain, each now and then anything but."""
    cluster: dict[str, Any] = {"server": _pick(rng, [SERVER, SERVER + "/", SERVER + "/p/", "https://[::1]:6443"],
                                               ["http://127.0.0.1:1", 443, ""])}
    if rng.random() < 0.5:
        cluster["certificate-authority-data"] = _pick(rng, [_b64(pem), _b64(other)], ["", "%%", _b64("x"), 1])
    if rng.random() < 0.4:
        cluster["certificate-authority"] = _pick(rng, ["ca.crt", "../certs/ca.crt", "{dir}/ca.crt"],
                                                 ["missing.crt", ""])
    for key, value in (("insecure-skip-tls-verify", rng.choice([True, False])), ("tls-server-name", "k"),
                       ("proxy-url", "http://127.0.0.1:3128")):
        if rng.random() < 0.03:
            cluster[key] = value
    if rng.random() < 0.2:
        cluster["extensions"] = []
    user: dict[str, Any] = {}
    if rng.random() < 0.95:
        user["token"] = _pick(rng, ["t", "a.b.c", "x y", "eyJ.abc_-=", *REAL_TOKENS], ["", 7, None])
    for key, value in (("tokenFile", "/dev/null"), ("username", "a"), ("password", "b"),
                       ("client-certificate-data", _b64(pem)), ("as", "admin"),
                       ("exec", {"command": "true", "apiVersion": "client.authentication.k8s.io/v1"})):
        if rng.random() < 0.02:
            user[key] = value
    if rng.random() < 0.2:
        user["extensions"] = []
    context: dict[str, Any] = {"cluster": "c", "user": "u"}
    if rng.random() < 0.2:
        context["namespace"] = "apps"
    if rng.random() < 0.03:
        del context[rng.choice(["cluster", "user"])]
    doc = _doc(cluster, user, {})
    doc["contexts"][0]["context"] = context
    if rng.random() < 0.3:  # a second context with its own user and cluster
        doc["clusters"].append({"name": "c2", "cluster": {"server": SERVER + "/two",
                                                          "certificate-authority-data": _b64(other)}})
        doc["users"].append({"name": "u2", "user": {"token": "second"}})
        doc["contexts"].append({"name": "two", "context": {"cluster": "c2", "user": "u2"}})
    if rng.random() < 0.03:
        del doc["current-context"]
    return doc, _pick(rng, [None, None, "main", "two"], ["nowhere"], 0.05)


def test_a_campaign_of_random_kubeconfigs_finds_no_disagreement(pems: tuple[str, str], tmp_path: Path) -> None:
    """400 seeded random kubeconfigs: wherever the light path answers, the library answers the same."""
    rng = random.Random(12)
    taken: Counter = Counter()
    for i in range(400):
        doc, context = _random_kubeconfig(rng, *pems)
        case = tmp_path / f"k{i}"
        case.mkdir()
        path = _materialise(case, copy.deepcopy(doc), *pems)
        light = _light(path, context)
        taken[light is not None] += 1
        if light is not None:
            assert light == _library(path, context), f"case {i}: {json.dumps(doc)} --context {context}"
    assert taken[True] >= 100 and taken[False] >= 100, taken  # both paths were exercised, not just one


# -- whole runs: the light path and the library, side by side ------------------------------------------
def _verify(sim: Any, spec: Path, kubeconfig: str, tmp: Path, library: bool) -> tuple[int, dict, list]:
    out = tmp / ("library.json" if library else "light.json")
    # the run's wall is far from the checks' own timeout (LEVEL_ONE): a failing check gives up at its
    # deadline and the diagnosis still has time to run, however loaded the machine (at a wall equal to
    # the checks' deadline, only the reserve was left for it, and a slow run got "no diagnosis"); and well
    # inside this harness's own 60 s, so the gate's wall, not a kill, ends a starved run
    env = {**os.environ, "GATE_TIMEOUT": "30s"}
    env.pop(lightclient.ENV, None)
    if library:
        env[lightclient.ENV] = "library"
    code = ("import sys\nsys.argv = sys.argv[1:]\nfrom gate.cli import main\ntry:\n    main()\n"
            "finally:\n    print('KUBERNETES-LOADED', 'kubernetes' in sys.modules, file=sys.stderr)")
    before = len(sim.requests)
    proc = subprocess.run([sys.executable, "-c", code, "gate", "verify", "--stage", "s", "--spec", str(spec),
                           "--config", CONFIG, "--kubeconfig", kubeconfig, "--json", str(out)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    assert f"KUBERNETES-LOADED {library}" in proc.stderr, proc.stderr[-2000:]
    # distinct: how often a failing check polls depends on the clock, and so does a watch's timeoutSeconds
    # (the time left to its deadline)
    made = {(r["method"], r["path"], json.dumps({k: v for k, v in r["query"].items()
                                                 if k not in ("resourceVersion", "timeoutSeconds")},
                                                sort_keys=True), r["status"], r["identity"])
            for r in sim.requests[before:]}
    return proc.returncode, json.loads(out.read_text()) if out.exists() else {}, sorted(made)


def _comparable(report: dict) -> Any:
    """A JSON report without what differs from run to run (times, durations, paths of this run), and
    with the seconds a failing row counts ("still 4/5 pods Ready after 5s": the wall clock) as N."""
    drop = {"started_at", "finished_at", "duration", "time_to_pass", "attempts"}

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return re.sub(r"\bafter \d+s\b", "after Ns", value)
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k not in drop}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value
    return clean(report)


LEVEL_ONE = ("stages:\n  s:\n    levels:\n      1:\n"
             "        - argocd_apps: {names: [kube-prometheus-stack, loki]}\n"
             "        - pods: {namespace: monitoring, timeout: 5s}\n"
             "        - workloads: {namespace: monitoring, timeout: 5s}\n"
             "        - crds: [prometheuses.monitoring.coreos.com]\n"
             "        - kargo_stage: {stage: monitoring}\n")


@pytest.mark.parametrize("scenario, expected", [("healthy", 0), ("crashloop", 1), ("rbac-forbidden", 3)])
def test_a_verify_is_the_same_through_either_path(scenario: str, expected: int, tmp_path: Path) -> None:
    spec = _write(tmp_path, LEVEL_ONE, "gate.yaml")
    with start(scenario) as sim:
        light = _verify(sim, spec, sim.kubeconfig, tmp_path, library=False)
        library = _verify(sim, spec, sim.kubeconfig, tmp_path, library=True)
    assert light[0] == library[0] == expected
    if expected == 1:  # both diagnosed the crash, not both skipped it
        assert light[1]["diagnosis"]["root_cause"]["rule"] == "pod-crashloop", light[1]["notes"]
    assert _comparable(light[1]) == _comparable(library[1])
    assert light[2] == library[2]  # the same requests, answered the same, for the same identity


@pytest.mark.parametrize("case", ["untrusted CA", "refused token"])
def test_a_cluster_refusal_is_the_same_error_through_either_path(case: str, pems: tuple[str, str],
                                                                  tmp_path: Path) -> None:
    spec = _write(tmp_path, LEVEL_ONE, "gate.yaml")
    with start("healthy") as sim:
        ca = _b64(pems[1]) if case == "untrusted CA" else _b64(Path(sim.ca_file).read_text())
        token = "nobody-knows" if case == "refused token" else sim.token
        kubeconfig = _write(tmp_path, _doc({"server": sim.url, "certificate-authority-data": ca},
                                           {"token": token}))
        light = _verify(sim, spec, str(kubeconfig), tmp_path, library=False)
        library = _verify(sim, spec, str(kubeconfig), tmp_path, library=True)
    assert light[0] == library[0] == 3
    assert _comparable(light[1]) == _comparable(library[1])
    assert light[2] == library[2]
    assert nobody_secret_in(light[1], token)


def nobody_secret_in(report: dict, token: str) -> bool:
    return token not in json.dumps(report)


def test_connect_names_the_context_and_server_and_follows_the_chosen_context(tmp_path: Path) -> None:
    with start("healthy") as sim:
        doc = _doc({"server": sim.url, "certificate-authority": sim.ca_file}, {"token": sim.token})
        doc["users"].append({"name": "stranger", "user": {"token": "nobody-knows"}})
        doc["contexts"].append({"name": "other", "context": {"cluster": "c", "user": "stranger"}})
        path = _write(tmp_path, doc)
        kube = connect(str(path))
        assert type(kube.api).__module__ == "gate.cluster.lightclient"
        assert kube.origin == f"kubeconfig {path}, context main, server {sim.url}"
        assert kube.get(PODS, "loki-0", "monitoring")["metadata"]["name"] == "loki-0"
        with pytest.raises(AuthError):
            connect(str(path), context="other").get(PODS, "loki-0", "monitoring")


def test_a_kubeconfig_the_library_refuses_is_still_exit_2_with_the_light_path_on(tmp_path: Path) -> None:
    """The light path declines, and the library's refusal stays a ConfigError naming the file."""
    path = _write(tmp_path, _doc({"server": SERVER, "certificate-authority": "missing.crt"}, {"token": "t"}))
    with pytest.raises(ConfigError) as err:
        connect(str(path))
    assert str(path) in str(err.value)


@pytest.mark.parametrize("value, code", [("auto", 0), ("LIBRARY", 0), ("kubectl", 2)])
def test_the_switch_takes_auto_or_library_and_names_anything_else(value: str, code: int, tmp_path: Path) -> None:
    spec = _write(tmp_path, "stages:\n  s:\n    levels:\n      1:\n"
                            "        - crds: [prometheuses.monitoring.coreos.com]\n", "gate.yaml")
    with start("healthy") as sim:
        proc = subprocess.run([sys.executable, "-m", "gate", "verify", "--stage", "s", "--spec", str(spec),
                               "--config", CONFIG, "--kubeconfig", sim.kubeconfig], capture_output=True, text=True,
                              timeout=60, cwd=ROOT, env={**os.environ, lightclient.ENV: value})
    assert proc.returncode == code, proc.stdout + proc.stderr
    if code == 2:
        assert "GATE_KUBE_CLIENT must be auto or library, not 'kubectl'" in proc.stderr
        assert "Traceback" not in proc.stdout + proc.stderr
