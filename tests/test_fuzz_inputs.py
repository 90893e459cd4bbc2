"""Fuzz target for the files a user hands the gate: spec, settings (.gitops-config.yaml), kubeconfig.

Hypothesis writes random YAML structures (shaped like the real file and not), random bytes, deep
nesting, aliases, NUL bytes, huge numbers and wrong types, and runs `gate verify` in-process. Whatever
the file holds, the gate answers with a verdict or a usage error (exit 2), never "internal error" (exit 3
from a bug) or a traceback. No cluster is needed: the checks that run are `command: true`, without the
preflight, and the kubeconfig points at a closed port on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate import redact
from gate.cli import cli
from gate.entry import run
from gate.errors import ConfigError
from gate.sim.tokens import shapes
from gate.spec import yamlpos
from gate.spec.settings import KEYS

KINDS = ["pods", "workloads", "crds", "secret", "pvcs", "argocd_apps", "http", "tcp", "tls", "command",
         "prometheus_query", "prometheus_targets", "loki_query", "alertmanager", "kargo_stage"]
OK_SPEC = "stages:\n  s:\n    levels:\n      1:\n        - command: {run: ['true']}\n"
OK_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: fuzz-token-123456}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""
# The suite runs a fixed 40 examples per file kind (about 5 s); GATE_FUZZ_EXAMPLES=2000 explores afresh.
EXPLORE = int(os.environ.get("GATE_FUZZ_EXAMPLES") or 0)
FAST = settings(max_examples=EXPLORE or 40, deadline=None, derandomize=not EXPLORE,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**20, max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["5m", "0s", "-1s", "1e400", "${KARGO_NS}", "${env:NOPE}", "${", "$${x}", "a=b,c!=d",
                     "../x?y#z", "\x00", "1-2", "==0", ">= 1", "https://127.0.0.1:9/", "[", "*", "&a"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.one_of(st.text(max_size=8), st.integers(-3, 5)), inner, max_size=4),
                      max_leaves=16)


@st.composite
def spec_shaped(draw: st.DrawFn) -> Any:
    checks = draw(st.lists(st.builds(lambda kind, value: {kind: value}, st.sampled_from(KINDS), values),
                           max_size=3))
    level = draw(st.one_of(st.sampled_from(["1", "2", "4"]), st.integers(-1, 6), st.text(max_size=3)))
    body: dict[str, Any] = {"levels": {level: draw(st.one_of(st.just(checks), values))}}
    if draw(st.booleans()):
        body["defaults"] = draw(values)
    return {"defaults": draw(st.one_of(st.none(), values)), "stages": {"s": body}}


@st.composite
def settings_shaped(draw: st.DrawFn) -> Any:
    keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=10))
    return draw(st.dictionaries(keys, st.one_of(st.text(max_size=20), values), max_size=5))


# Credentials as real deployments carry them (gate.sim.tokens.shapes: ServiceAccount, OIDC and EKS tokens
# of 900-2,000 characters, a PEM private key, a base64 key file), base64-encoded as *-data fields hold them,
# and exec plugins of both API versions.
REAL = shapes(random.Random(24))
real_credentials = st.sampled_from(sorted(REAL.values()))
real_data = real_credentials.map(lambda v: __import__("base64").b64encode(v.encode()).decode())
exec_plugins = st.fixed_dictionaries({
    "apiVersion": st.sampled_from(["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"]),
    "command": st.sampled_from(["true", "false", "gke-gcloud-auth-plugin-not-installed"]),
    "interactiveMode": st.sampled_from(["Never", "IfAvailable"])})


@st.composite
def kubeconfig_shaped(draw: st.DrawFn) -> Any:
    b64 = st.one_of(st.binary(max_size=30).map(lambda b: __import__("base64").b64encode(b).decode()), values,
                    real_credentials, real_data, exec_plugins)
    user = draw(st.dictionaries(st.sampled_from(["token", "client-key-data", "client-certificate-data",
                                                 "username", "password", "tokenFile", "exec", "auth-provider"]),
                                b64, max_size=3))
    cluster = draw(st.dictionaries(st.sampled_from(["server", "certificate-authority-data",
                                                    "insecure-skip-tls-verify", "proxy-url", "tls-server-name"]),
                                   st.one_of(st.just("https://127.0.0.1:9"), b64), max_size=3))
    doc = {"apiVersion": "v1", "kind": "Config", "clusters": [{"name": "c", "cluster": cluster}],
           "users": [{"name": "u", "user": user}],
           "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}], "current-context": "x"}
    for key in draw(st.lists(st.sampled_from(list(doc)), max_size=2)):
        doc[key] = draw(values)  # a wrong type where a structure was expected
    return doc


# One valid parameter set per check kind; the fuzzer breaks one key at a time (and adds the common keys).
VALID_PARAMS: dict[str, Any] = {
    "pods": {"namespace": "x", "selector": "a=b", "min_ready": 1},
    "workloads": {"namespace": "x"},
    "crds": ["a.b.c"],
    "secret": {"namespace": "x", "name": "y", "keys": ["a"]},
    "pvcs": {"namespace": "x"},
    "argocd_apps": {"names": ["a"]},
    "http": {"url": "http://127.0.0.1:9/", "expect": {"status": 200, "json": {"a": 1}, "body_regex": "ok"}},
    "tcp": {"host": "127.0.0.1", "port": 9},
    "tls": {"host": "127.0.0.1", "port": 9, "min_days_left": 1},
    "command": {"run": ["true"], "env": {"A": "b"}},
    "prometheus_query": {"url": "http://127.0.0.1:9", "query": "up", "expect": ">= 1"},
    "prometheus_targets": {"url": "http://127.0.0.1:9", "min_up": 1},
    "loki_query": {"url": "http://127.0.0.1:9", "query": '{a="b"}', "since": "5m", "min_lines": 1},
    "alertmanager": {"url": "http://127.0.0.1:9"},
    "kargo_stage": {"stage": "s"},
    "sso_redirect": {"url": "http://127.0.0.1:9/"},
}


@st.composite
def broken_check(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(VALID_PARAMS)))
    params = VALID_PARAMS[kind]
    if isinstance(params, dict):
        params = dict(params)
        key = draw(st.sampled_from([*params, "name", "timeout", "interval", "max_interval", "expect", "x"]))
        params[key] = draw(values)
    else:
        params = draw(st.one_of(values, st.lists(values, max_size=3)))
    return {kind: params}


def _dump(value: Any) -> str:
    return yaml.safe_dump(value, allow_unicode=True, sort_keys=False)


@st.composite
def yaml_files(draw: st.DrawFn, shaped: st.SearchStrategy[Any]) -> bytes:
    """A file's bytes: a (mostly) well-formed document, or one of the hostile shapes."""
    how = draw(st.sampled_from(["shaped", "shaped", "shaped", "random", "bytes", "deep", "alias", "nul",
                                "bigint", "cut"]))
    if how == "shaped":
        return _dump(draw(shaped)).encode()
    if how == "random":
        return _dump(draw(values)).encode()
    if how == "bytes":
        return draw(st.binary(max_size=200))
    if how == "deep":
        depth = draw(st.integers(50, 600))
        opener, closer = draw(st.sampled_from([("[", "]"), ("{a: ", "}"), ("- ", "")]))
        if opener == "- ":
            return "".join("  " * i + "-\n" for i in range(depth)).encode()
        return ("stages: " + opener * depth + "1" + closer * depth + "\n").encode()
    if how == "alias":
        width, levels = draw(st.integers(2, 12)), draw(st.integers(1, 9))
        lines = ["a0: &a0 [" + ", ".join(['"x"'] * width) + "]"]
        lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
        return ("\n".join(lines) + "\n").encode()
    text = _dump(draw(shaped))
    if how == "nul":
        at = draw(st.integers(0, len(text)))
        return (text[:at] + "\x00" + text[at:]).encode()
    if how == "bigint":
        digits = "9" * draw(st.integers(10, 6000))
        return f"stages: {{s: {{levels: {{1: [{{tcp: {{host: a, port: {digits}}}}}]}}}}}}\n".encode()
    return text.encode()[: draw(st.integers(0, len(text)))]  # cut anywhere, even inside a character


def _gate(*args: str) -> tuple[int, str]:
    redact.clear()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(cli, list(args))
    return code, out.getvalue() + err.getvalue()


def _verify(tmp: Path, *, spec: bytes | None = None, config: bytes | None = None,
            kubeconfig: bytes | None = None) -> tuple[int, str]:
    files = {"gate.yaml": spec or OK_SPEC.encode(), "settings.yaml": config if config is not None else b"{}\n",
             "kubeconfig": kubeconfig if kubeconfig is not None else OK_KUBECONFIG.encode()}
    for name, data in files.items():
        (tmp / name).write_bytes(data)
    return _gate("verify", "--stage", "s", "--no-preflight", "--timeout", "2s", "--spec", str(tmp / "gate.yaml"),
                 "--config", str(tmp / "settings.yaml"), "--kubeconfig", str(tmp / "kubeconfig"))


def _no_bug(code: int, text: str, allowed: set[int]) -> None:
    assert "internal error" not in text and "Traceback" not in text, text
    assert code in allowed, f"exit {code}: {text}"


@FAST
@given(yaml_files(spec_shaped()))
def test_fuzzed_spec_is_a_verdict_or_a_usage_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        code, text = _verify(Path(tmp), spec=data)
    # 1/3: a spec that happens to be valid runs its checks (against a closed port).
    _no_bug(code, text, {0, 1, 2, 3})
    if code == 3:
        assert "could not evaluate" in text.lower() or "ERROR" in text, text


@FAST
@given(yaml_files(settings_shaped()))
def test_fuzzed_settings_are_used_or_a_usage_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        code, text = _verify(Path(tmp), config=data)
    _no_bug(code, text, {0, 2})


@FAST
@given(yaml_files(kubeconfig_shaped()))
def test_fuzzed_kubeconfig_is_used_or_a_usage_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        code, text = _verify(Path(tmp), kubeconfig=data)
    _no_bug(code, text, {0, 2})


@settings(max_examples=EXPLORE or 300, deadline=None, derandomize=not EXPLORE)
@given(st.lists(broken_check(), min_size=1, max_size=3), st.one_of(st.none(), values))
def test_fuzzed_check_parameters_plan_or_config_error(checks: list[dict[str, Any]], defaults: Any) -> None:
    """Each check kind's own validation (normalize, the constructor, durations, regexes) with one
    parameter broken: a plan or a ConfigError, nothing else. No run, so valid plans cost nothing."""
    from gate.spec.load import load_spec
    from gate.spec.settings import Settings

    doc = {"defaults": defaults, "stages": {"s": {"levels": {"1": checks}}}}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gate.yaml"
        path.write_text(_dump(doc))
        try:
            load_spec(str(path), Settings(), env={}).plan("s")
        except ConfigError as exc:
            assert exc.file == str(path)


@settings(max_examples=EXPLORE or 300, deadline=None, derandomize=not EXPLORE)
@given(st.one_of(yaml_files(values), st.binary(max_size=300).map(bytes)))
def test_yaml_loader_answers_data_or_config_error(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    try:
        yamlpos.loads(text, "f.yaml")
        yamlpos.loads_all(text, "f.yaml")
    except ConfigError as exc:
        assert exc.file == "f.yaml"


# Settings that checks use (the settings fuzz above runs only `command: true`, which reads none of them):
# `kargo_namespace: ${` was an "internal error in kargo_stage check", printed on stdout.
USING_SETTINGS_SPEC = ("stages:\n  s:\n    levels:\n      1:\n        - kargo_stage: {stage: s}\n"
                       "        - pods: {namespace: '${APP_NS}', selector: a=b}\n"
                       "        - tcp: {host: 'x.${DOMAIN}', port: 9}\n")
name_like = st.one_of(st.text(max_size=12), st.sampled_from(["${", "${KARGO_NS}", "Big", "a_b", "-a", "ok",
                                                             "a" * 64, "ü", "a.b", "x/y"]))


@FAST
@given(st.dictionaries(st.sampled_from(["kargo_namespace", "kargo_project", "app_namespace", "domain"]),
                       name_like, min_size=1, max_size=4))
def test_fuzzed_settings_used_by_checks_are_a_verdict_or_a_usage_error(config: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        code, text = _verify(Path(tmp), spec=USING_SETTINGS_SPEC.encode(), config=_dump(config).encode())
    # text is stdout and stderr: a check's "internal error" is a report line on stdout
    _no_bug(code, text, {1, 2, 3})


@FAST
@given(st.dictionaries(st.one_of(st.text(min_size=1, max_size=8), st.sampled_from(["ünï", "X-Ok", "a b", "a:b",
                                                                                     "\u2028", "é"])),
                       st.one_of(st.text(max_size=8), st.sampled_from(["ü", "€", "a\nb", "\x7f", "ok"])),
                       min_size=1, max_size=3))
def test_fuzzed_http_headers_are_sent_or_a_usage_error(headers: dict[str, str]) -> None:
    """Header names and values run through the http check itself (against a closed port): a name that is
    not a token or a value HTTP cannot carry is exit 2 at load naming the file and line, never an internal
    error inside the check (`ünï` was UnicodeEncodeError in http.client)."""
    spec = {"defaults": {"timeout": "1s", "interval": "0.2s"},
            "stages": {"s": {"levels": {"2": [{"http": {"url": "http://127.0.0.1:9/", "headers": headers}}]}}}}
    with tempfile.TemporaryDirectory() as tmp:
        code, text = _verify(Path(tmp), spec=_dump(spec).encode())
    _no_bug(code, text, {1, 2, 3})
    if code == 2:
        assert "gate.yaml:" in text and "headers" in text, text


# -- the commands added since: lint, scaffold, diagnose, status, init -----------------------------------
@st.composite
def manifest_shaped(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["Stage", "Warehouse", "Project", "PromotionTask", "AnalysisTemplate",
                                 "Application", "ApplicationSet", "ConfigMap", 7, None]))
    group = draw(st.sampled_from(["kargo.akuity.io/v1alpha1", "argoproj.io/v1alpha1", "v1", "x/y/z", None]))
    docs = [{"apiVersion": group, "kind": kind, "metadata": draw(st.one_of(
        st.fixed_dictionaries({"name": st.text(max_size=10), "namespace": st.text(max_size=6)}), values)),
        "spec": draw(values)} for _ in range(draw(st.integers(1, 3)))]
    return docs if draw(st.booleans()) else docs[0]


def _files(tmp: Path, **files: bytes) -> dict[str, str]:
    paths = {}
    for name, data in files.items():
        (tmp / name).write_bytes(data)
        paths[name] = str(tmp / name)
    return paths


@FAST
@given(yaml_files(manifest_shaped()), yaml_files(settings_shaped()))
def test_fuzzed_manifests_lint_or_usage_error(manifest: bytes, config: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = _files(Path(tmp), **{"stage.yaml": manifest, "settings.yaml": config})
        code, text = _gate("lint", paths["stage.yaml"], "--config", paths["settings.yaml"])
    _no_bug(code, text, {0, 1, 2})


@FAST
@given(yaml_files(settings_shaped()), yaml_files(spec_shaped()))
def test_fuzzed_files_scaffold_or_usage_error(config: bytes, spec: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = _files(Path(tmp), **{"settings.yaml": config, "gate.yaml": spec})
        code, text = _gate("scaffold", "stage", "s", "--app", "a", "--config", paths["settings.yaml"],
                           "--spec", paths["gate.yaml"])
    _no_bug(code, text, {0, 2})


@FAST
@given(st.sampled_from(["diagnose", "status"]), st.sampled_from(["spec", "config", "kubeconfig"]),
       st.data())
def test_fuzzed_files_diagnose_and_status_or_usage_error(command: str, which: str, data: st.DataObject) -> None:
    shaped = {"spec": spec_shaped(), "config": settings_shaped(), "kubeconfig": kubeconfig_shaped()}[which]
    files = {"gate.yaml": OK_SPEC.encode(), "settings.yaml": b"kargo_project: p\n",
             "kubeconfig": OK_KUBECONFIG.encode()}
    files[{"spec": "gate.yaml", "config": "settings.yaml", "kubeconfig": "kubeconfig"}[which]] = \
        data.draw(yaml_files(shaped))
    with tempfile.TemporaryDirectory() as tmp:
        paths = _files(Path(tmp), **files)
        code, text = _gate(command, "--timeout", "2s", "--spec", paths["gate.yaml"], "--config",
                           paths["settings.yaml"], "--kubeconfig", paths["kubeconfig"])
    # the kubeconfig points at a closed port: a readable set of files ends "could not evaluate" (3)
    _no_bug(code, text, {2, 3})


@FAST
@given(yaml_files(kubeconfig_shaped()), st.booleans())
def test_fuzzed_kubeconfig_init_or_usage_error(kubeconfig: bytes, existing: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = _files(Path(tmp), kubeconfig=kubeconfig)
        out = Path(tmp) / "out"
        code, text = _gate("init", "--kubeconfig", paths["kubeconfig"], "--spec", str(out / "gate.yaml"),
                           "--config", str(out / "settings.yaml"))
    _no_bug(code, text, {0, 2, 3})


# -- kubeconfigs that are used: each run connects, through the light path or the library ---------------
CLUSTER_SPEC = "stages:\n  s:\n    levels:\n      1:\n        - crds: [prometheuses.monitoring.coreos.com]\n"


@pytest.fixture(scope="module")
def fuzz_sim() -> Iterator[Any]:
    from gate.sim.server import start

    with start("healthy") as sim:
        yield sim


@st.composite
def connecting_kubeconfig(draw: st.DrawFn, url: str, ca: str, token: str) -> Any:
    """A kubeconfig aimed at the simulator, its values drawn from the right ones, odd ones and hostile ones.
    No exec or auth-provider plugin and no proxy-url: those would run commands or reach other addresses."""
    b64 = st.binary(max_size=40).map(lambda b: __import__("base64").b64encode(b).decode())
    pieces = st.one_of(b64, values, st.text(max_size=20))
    cluster: dict[str, Any] = {"server": draw(st.one_of(st.sampled_from([url, url + "/", url + "/x/"]), pieces))}
    if draw(st.booleans()):
        cluster["certificate-authority-data"] = draw(st.one_of(st.just(ca), pieces))
    for key in draw(st.lists(st.sampled_from(["insecure-skip-tls-verify", "tls-server-name",
                                              "certificate-authority"]), max_size=2, unique=True)):
        cluster[key] = draw(st.one_of(st.booleans(), pieces))
    user: dict[str, Any] = {"token": draw(st.one_of(st.just(token), st.text(max_size=24), pieces,
                                                    real_credentials))}
    for key in draw(st.lists(st.sampled_from(["client-key-data", "client-certificate-data", "username",
                                              "password", "tokenFile", "as"]), max_size=2, unique=True)):
        user[key] = draw(st.one_of(pieces, real_data) if key.endswith("-data") else pieces)
    return {"apiVersion": "v1", "kind": "Config", "current-context": "x",
            "clusters": [{"name": "c", "cluster": cluster}], "users": [{"name": "u", "user": user}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]}


@FAST
@given(data=st.data(), client=st.sampled_from(["auto", "library"]))
def test_fuzzed_kubeconfig_that_connects_is_a_verdict_or_a_usage_error(fuzz_sim: Any, data: st.DataObject,
                                                                         client: str) -> None:
    """The first request is where a kubeconfig value the transport cannot use (a token HTTP cannot carry,
    a CA that is not one) would surface as a bug: it must be a verdict, an ERROR or exit 2."""
    import base64

    ca = base64.b64encode(Path(fuzz_sim.ca_file).read_bytes()).decode()
    doc = data.draw(connecting_kubeconfig(fuzz_sim.url, ca, fuzz_sim.token))
    before = os.environ.get("GATE_KUBE_CLIENT")
    os.environ["GATE_KUBE_CLIENT"] = client
    try:
        with tempfile.TemporaryDirectory() as tmp:
            code, text = _verify(Path(tmp), spec=CLUSTER_SPEC.encode(), kubeconfig=_dump(doc).encode())
    finally:
        os.environ.pop("GATE_KUBE_CLIENT") if before is None else os.environ.update(GATE_KUBE_CLIENT=before)
    _no_bug(code, text, {0, 2, 3})
