"""Bad input never reaches "internal error" (issue 8, items 6 and 7): every user file and flag that the
gate cannot use is exit 2 with a message naming it (and the line, where there is one), before any
cluster access; YAML is bounded before it is built; report paths are checked before the run.

The gate runs in-process (gate.entry.run), so each case takes milliseconds; the simulator's request log
shows that nothing reached the cluster.
"""

from __future__ import annotations

import base64
import os
import stat
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_kargo_support import CONFIG, F2, SPEC, kargo_sim

from gate.cli import cli
from gate.entry import run
from gate.errors import ConfigError
from gate.sim.server import SimHandle, start
from gate.spec import yamlpos

OK_SPEC = "stages:\n  s:\n    levels:\n      1:\n        - tcp: {host: 127.0.0.1, port: 9}\n"
DEEP = "stages:\n  s:\n    levels:\n      1:\n        - crds: " + "[" * 500 + "]" * 500 + "\n"
# 237 bytes that expand to 9^6 (531441) strings: "billion laughs" (issue 8 measured 366 MB for 307).
BOMB = ('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        + "".join(f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcde", "bcdef", strict=True)))
NUL = "stages:\n  s:\x00\n"
# a check that reads the cluster, so the kubeconfig is read (a spec of tcp checks alone never reads it)
CLUSTER_SPEC = "stages:\n  s:\n    levels:\n      1:\n        - crds: [prometheuses.monitoring.coreos.com]\n"
BIG_INT = "defaults: {timeout: " + "9" * 5000 + "}\nstages: {}\n"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimHandle]:
    with start("healthy", workdir=str(tmp_path_factory.mktemp("sim"))) as handle:
        yield handle


def gate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = run(cli, list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


def verify(capsys: pytest.CaptureFixture[str], tmp: Path, *, spec: str = OK_SPEC, config: str | None = None,
           kubeconfig: str, extra: tuple[str, ...] = ()) -> tuple[int, str]:
    (tmp / "gate.yaml").write_text(spec)
    args = ["verify", "--stage", "s", "--spec", str(tmp / "gate.yaml"), "--kubeconfig", kubeconfig,
            "--timeout", "3s", *extra]
    if config is not None:
        (tmp / "settings.yaml").write_text(config)
        args += ["--config", str(tmp / "settings.yaml")]
    return gate(capsys, *args)


def assert_usage_error(code: int, text: str, *words: str) -> None:
    assert code == 2, text
    assert "internal error" not in text and "Traceback" not in text, text
    for word in words:
        assert word in text, text


# -- YAML, in every user file ---------------------------------------------------------------------------
@pytest.mark.parametrize(("content", "words"), [
    (DEEP, ["gate.yaml:5", "nested more than"]),
    (NUL, ["gate.yaml:2", "#x0000"]),
    (BOMB, ["gate.yaml:1", "aliases are expanded"]),
    (BIG_INT, ["gate.yaml", "cannot be read"]),
    (b"\xff\xfe\x00binary", ["gate.yaml:1", "not UTF-8"]),
])
def test_bad_spec_file_exits_2_before_the_cluster(capsys, tmp_path: Path, sim: SimHandle, content,
                                                    words: list[str]) -> None:
    before = len(sim.requests)
    if isinstance(content, bytes):
        (tmp_path / "gate.yaml").write_bytes(content)
        code, text = gate(capsys, "verify", "--stage", "s", "--spec", str(tmp_path / "gate.yaml"),
                          "--kubeconfig", sim.kubeconfig)
    else:
        code, text = verify(capsys, tmp_path, spec=content, kubeconfig=sim.kubeconfig)
    assert_usage_error(code, text, *words)
    assert len(sim.requests) == before, "a bad spec reached the cluster"


@pytest.mark.parametrize(("content", "words"), [
    (DEEP.replace("stages", "domain", 1), ["settings.yaml:5", "nested more than"]),
    (NUL, ["settings.yaml:2", "#x0000"]),
    (BOMB, ["settings.yaml:1", "aliases are expanded"]),
    ("domain: [unclosed\n", ["settings.yaml:2", "not valid YAML"]),
])
def test_bad_settings_file_exits_2(capsys, tmp_path: Path, sim: SimHandle, content: str,
                                   words: list[str]) -> None:
    code, text = verify(capsys, tmp_path, config=content, kubeconfig=sim.kubeconfig)
    assert_usage_error(code, text, *words)


def test_alias_bomb_is_refused_within_a_few_megabytes() -> None:
    assert len(BOMB.encode()) < 310
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match="aliases are expanded"):
            yamlpos.loads(BOMB, "bomb.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * 1024 * 1024, f"{peak / 1e6:.1f} MB to refuse a {len(BOMB)}-byte file"


def test_aliases_within_the_limits_still_load() -> None:
    data, _ = yamlpos.loads("base: &b {timeout: 5s}\nother: *b\nmerged: {<<: *b, interval: 1s}\n", "f.yaml")
    assert data["other"] == {"timeout": "5s"} and data["merged"]["interval"] == "1s"


# -- kubeconfig -----------------------------------------------------------------------------------------
def _kubeconfig(user: str) -> str:
    return ("apiVersion: v1\nkind: Config\n"
            "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9', insecure-skip-tls-verify: true}}]\n"
            f"users: [{{name: u, user: {user}}}]\n"
            "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n")


@pytest.mark.parametrize(("content", "words"), [
    (None, ["/etc/passwd", "not a kubeconfig"]),
    ("apiVersion: v1\nclusters: [\n", ["kubeconfig.yaml:3", "not valid YAML"]),
    (_kubeconfig("{client-certificate-data: Zm9v, client-key-data: '!!!notbase64'}"),
     ["kubeconfig", "base64"]),
    (_kubeconfig(f"{{client-certificate-data: {base64.b64encode(b'junk').decode()}, "
                 f"client-key-data: {base64.b64encode(b'not a key').decode()}}}"),
     ["client certificate or key"]),
    (_kubeconfig("{token: t}").replace("insecure-skip-tls-verify: true", "tls-server-name: true"),
     ["tls-server-name must be a host name, not bool"]),  # found by tests/test_fuzz_inputs.py
    (_kubeconfig("{token: t}").replace("insecure-skip-tls-verify: true", "tls-server-name: \"\\uFFF9\""),
     ["tls-server-name is not a valid host name"]),  # found by tests/test_fuzz_inputs.py
    (BOMB, ["kubeconfig.yaml:1", "aliases are expanded"]),
    (NUL, ["kubeconfig.yaml:2", "#x0000"]),
    ("clusters: 5\n", ["kubeconfig.yaml:1", "clusters", "expected a list"]),
    ("- a\n- b\n", ["not a kubeconfig"]),
])
def test_bad_kubeconfig_exits_2(capsys, tmp_path: Path, content: str | None, words: list[str]) -> None:
    path = "/etc/passwd"
    if content is not None:
        path = str(tmp_path / "kubeconfig.yaml")
        Path(path).write_text(content)
    code, text = verify(capsys, tmp_path, kubeconfig=path, spec=CLUSTER_SPEC)
    assert_usage_error(code, text, *words)


@pytest.mark.parametrize("client", ["auto", "library"])
@pytest.mark.parametrize(("token", "words"), [
    ("canary-tok3n\n", ["token contains a line break", "use `|-`"]),
    ("canary-tok3n\r\nX-Injected: 1", ["token contains a line break"]),
    ("canary-tok3n\x00", ["U+0000"]),
    ("canary-tok3n\u20ac", ["U+20AC"]),
])
def test_a_token_http_cannot_carry_exits_2_without_quoting_it(
        capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sim: SimHandle, client: str, token: str,
        words: list[str]) -> None:
    """Through either way of reading the kubeconfig (gate/cluster/lightclient.py or the library); before,
    http.client's refusal of the header surfaced as an internal error at the first request."""
    import yaml

    monkeypatch.setenv("GATE_KUBE_CLIENT", client)
    path = tmp_path / "kubeconfig.yaml"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": sim.url, "certificate-authority": sim.ca_file}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]}))
    code, text = verify(capsys, tmp_path, kubeconfig=str(path), spec=CLUSTER_SPEC)
    assert_usage_error(code, text, "kubeconfig's credentials cannot be sent", *words)
    assert "canary-tok3n" not in text


@pytest.mark.parametrize("client", ["auto", "library"])
def test_a_server_host_that_is_no_host_name_exits_2(capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    client: str) -> None:
    """Through either kubeconfig path: before, urllib3's IDNA refusal was an internal error in the check."""
    monkeypatch.setenv("GATE_KUBE_CLIENT", client)
    path = tmp_path / "kubeconfig.yaml"
    path.write_text(_kubeconfig("{token: t}").replace("server: 'https://127.0.0.1:9', insecure-skip-tls-verify: "
                                                      "true", 'server: "https://\\uFFF9:6443"'))
    code, text = verify(capsys, tmp_path, kubeconfig=str(path), spec=CLUSTER_SPEC)
    assert_usage_error(code, text, "cluster server is not a URL")


def test_a_token_with_latin_1_letters_is_still_sent(capsys, tmp_path: Path, sim: SimHandle) -> None:
    """Not every non-ASCII token is refused: one HTTP can carry reaches the cluster (which says 401)."""
    path = tmp_path / "kubeconfig.yaml"
    path.write_text(f"apiVersion: v1\nkind: Config\ncurrent-context: x\nclusters: [{{name: c, cluster: "
                    f"{{server: '{sim.url}', certificate-authority: '{sim.ca_file}'}}}}]\n"
                    "users: [{name: u, user: {token: 'tök-canary'}}]\n"
                    "contexts: [{name: x, context: {cluster: c, user: u}}]\n")
    code, text = verify(capsys, tmp_path, kubeconfig=str(path), spec=CLUSTER_SPEC)
    assert code == 3 and "rejected the gate's credentials (401)" in text, text
    assert "tök-canary" not in text


# -- scenario files (the simulator) ------------------------------------------------------------------------
@pytest.mark.parametrize(("content", "words"), [
    ("name: x\nobjects: 5\n", ["--scenario", "not a usable scenario"]),
    ("objects:\n  - {kind: Pod, metadata: 3}\n", ["--scenario", "not a usable scenario"]),
    (BOMB, ["scenario.yaml:1", "aliases are expanded"]),
    ("objects: [\n", ["scenario.yaml:2", "not valid YAML"]),
    (DEEP, ["scenario.yaml:5", "nested more than"]),
    ("- just\n- a list\n", ["holds one mapping"]),
])
def test_scenario_the_simulator_rejects_exits_2(capsys, tmp_path: Path, content: str,
                                                words: list[str]) -> None:
    (tmp_path / "scenario.yaml").write_text(content)
    code, text = gate(capsys, "sim", "serve", "--scenario", str(tmp_path / "scenario.yaml"))
    assert_usage_error(code, text, *words)


def test_demo_with_a_scenario_file_is_a_usage_error(capsys, tmp_path: Path) -> None:
    (tmp_path / "scenario.yaml").write_text(BOMB)
    code, text = gate(capsys, "demo", "--scenario", str(tmp_path / "scenario.yaml"))
    assert_usage_error(code, text, "--scenario")


# -- report paths ---------------------------------------------------------------------------------------
def private_device(tmp: Path) -> str:
    """A character device like /dev/full (1, 7) in the test's own directory: the gate of old replaced
    whatever was at the path, and as root that turned the real /dev/full into a regular file."""
    path = tmp / "full"
    if not path.exists():
        try:
            os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
        except (PermissionError, OSError):
            pytest.skip("cannot create a device node here (needs CAP_MKNOD)")
    return str(path)


def _report_cases(tmp: Path) -> dict[str, tuple[str, str]]:
    target = tmp / "elsewhere.xml"
    target.write_text("keep me\n")
    (tmp / "link.xml").symlink_to(target)
    readonly = tmp / "ro"
    readonly.mkdir()
    readonly.chmod(0o555)
    return {"symlink": (str(tmp / "link.xml"), "symbolic link"), "device": (private_device(tmp), "a device"),
            "proc": ("/proc/version", "cannot be written"), "directory": (str(tmp), "a directory"),
            "missing under a file": (str(target / "x.xml"), "Not a directory"),
            "read-only dir": (str(readonly / "sub" / "r.xml"), "cannot be written")}


# root may write into a read-only directory, so that case exists only for other users (CI runs as root)
REPORT_CASES = ["symlink", "device", "proc", "directory", "missing under a file"] + (
    ["read-only dir"] if os.geteuid() != 0 else [])


@pytest.mark.parametrize("case", REPORT_CASES)
@pytest.mark.parametrize("flag", ["--junit", "--json"])
def test_unusable_report_path_exits_2_before_any_cluster_access(capsys, tmp_path: Path, sim: SimHandle,
                                                                flag: str, case: str) -> None:
    path, words = _report_cases(tmp_path)[case]
    before = len(sim.requests)
    code, text = verify(capsys, tmp_path, kubeconfig=sim.kubeconfig, extra=(flag, path))
    assert_usage_error(code, text, flag, words)
    assert len(sim.requests) == before, "the run started although the report path is unusable"
    assert (tmp_path / "elsewhere.xml").read_text() == "keep me\n"
    assert Path(private_device(tmp_path)).is_char_device()


def test_report_path_from_the_environment_is_checked_too(capsys, tmp_path: Path, sim: SimHandle,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    device = private_device(tmp_path)
    monkeypatch.setenv("GATE_JUNIT", device)
    code, text = verify(capsys, tmp_path, kubeconfig=sim.kubeconfig)
    assert_usage_error(code, text, "--junit", device)
    assert Path(device).is_char_device()


def test_reports_replace_a_regular_file_atomically(capsys, tmp_path: Path, sim: SimHandle) -> None:
    junit = tmp_path / "out" / "junit.xml"
    junit.parent.mkdir()
    junit.write_text("old")
    code, text = verify(capsys, tmp_path, kubeconfig=sim.kubeconfig,
                        extra=("--junit", str(junit), "--json", str(tmp_path / "new" / "r.json"), "--no-preflight"))
    assert code == 1, text
    assert junit.read_text().startswith("<?xml")
    assert (tmp_path / "new" / "r.json").is_file()
    assert sorted(p.name for p in junit.parent.iterdir()) == ["junit.xml"], "a temp file was left behind"


def test_write_never_replaces_a_link_that_appeared_after_the_check(tmp_path: Path) -> None:
    from gate.reports.common import write_atomic

    target = tmp_path / "precious"
    target.write_text("keep")
    (tmp_path / "r.xml").symlink_to(target)
    with pytest.raises(ConfigError, match="no longer a regular file"):
        write_atomic(tmp_path / "r.xml", "report")
    assert target.read_text() == "keep" and (tmp_path / "r.xml").is_symlink()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# -- Kargo without its API ------------------------------------------------------------------------------
@pytest.fixture
def no_kargo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KARGO_API_ADDRESS", "KARGO_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def test_precheck_without_kargo_address_reads_kargo_through_kubernetes(capsys, tmp_path: Path,
                                                                       no_kargo_env: None) -> None:
    with kargo_sim("promote-ok", tmp_path) as kit:
        code, text = gate(capsys, "precheck", "--stage", "monitoring", "--freight", F2, "--config", CONFIG,
                          "--kubeconfig", kit.sim.kubeconfig, "--json", str(tmp_path / "r.json"))
        kargo_paths = {r["path"] for r in kit.sim.requests if r["path"].startswith("/apis/kargo.akuity.io")}
        rest = [r for r in kit.sim.requests if r["path"].startswith("/v1beta1")]
    assert code == 0, text
    assert "internal error" not in text
    assert "Kargo API: kubernetes" in text
    assert "No Promotion in progress" in text
    assert any("/stages/monitoring" in p for p in kargo_paths) and any("/promotions" in p for p in kargo_paths)
    assert rest == [], "no Kargo API was configured"


def test_promote_without_kargo_address_exits_2_before_anything(capsys, tmp_path: Path,
                                                               no_kargo_env: None) -> None:
    with kargo_sim("promote-ok", tmp_path) as kit:
        code, text = gate(capsys, "promote", "--stage", "monitoring", "--freight", F2, "--config", CONFIG,
                          "--spec", SPEC, "--kubeconfig", kit.sim.kubeconfig)
        requests = list(kit.sim.requests)
    assert_usage_error(code, text, "KARGO_API_ADDRESS", "kargo CLI")
    assert requests == []


@pytest.mark.parametrize(("token", "words"), [("kargo-canary\n", ["a line break"]),
                                              ("kargo-canary\u20ac", ["U+20AC"])])
def test_a_kargo_token_http_cannot_carry_exits_2_without_quoting_it(
        capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: str, words: list[str]) -> None:
    """Before: an internal error (U+20AC) or an ERROR blaming the cluster's reachability (a line break)."""
    with kargo_sim("promote-ok", tmp_path) as kit:
        monkeypatch.setenv("KARGO_API_ADDRESS", kit.sim.url)
        monkeypatch.setenv("KARGO_API_TOKEN", token)
        code, text = gate(capsys, "precheck", "--stage", "monitoring", "--freight", F2, "--config", CONFIG,
                          "--kubeconfig", kit.sim.kubeconfig, "--kargo-ca", kit.sim.ca_file)
    assert_usage_error(code, text, "Kargo API token cannot be sent", *words)
    assert "kargo-canary" not in text


# -- the internal-error path stays for bugs ---------------------------------------------------------------
def test_internal_error_prints_a_traceback_only_with_debug(capsys, tmp_path: Path, sim: SimHandle,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import gate.commands.verify as verify_module

    def bug(*_: object, **__: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(verify_module, "run_verify", bug)
    monkeypatch.delenv("GATE_DEBUG", raising=False)
    code, text = verify(capsys, tmp_path, kubeconfig=sim.kubeconfig)
    assert code == 3 and "internal error: RuntimeError: a bug" in text and "Traceback" not in text
    assert "--debug" in text
    (tmp_path / "gate.yaml").write_text(OK_SPEC)
    code, text = gate(capsys, "--debug", "verify", "--stage", "s", "--spec", str(tmp_path / "gate.yaml"))
    assert code == 3 and "Traceback" in text and "a bug" in text
    monkeypatch.setenv("GATE_DEBUG", "1")
    code, text = verify(capsys, tmp_path, kubeconfig=sim.kubeconfig)
    assert code == 3 and "Traceback" in text


@pytest.mark.parametrize(("flag", "path", "words"), [
    ("--spec", "/etc/passwd", ["/etc/passwd:1", "expected a mapping, got text"]),
    ("--spec", "/dev/zero", ["/dev/zero", "not a regular file"]),
    ("--config", "/dev/zero", ["/dev/zero", "not a regular file"]),
    ("--config", "/etc/passwd", ["/etc/passwd:1", "expected a mapping of settings"]),
])
def test_a_file_that_is_not_what_the_flag_wants_is_named(capsys, tmp_path: Path, flag: str, path: str,
                                                         words: list[str]) -> None:
    (tmp_path / "gate.yaml").write_text(OK_SPEC)
    args = {"--spec": str(tmp_path / "gate.yaml"), "--kubeconfig": str(tmp_path / "none"), flag: path}
    code, text = gate(capsys, "verify", "--stage", "s", *[x for kv in args.items() for x in kv])
    assert_usage_error(code, text, *words)
    assert len(text) < 400, "the message quotes the file instead of naming it"


def test_discover_write_to_a_device_or_link_exits_2_before_the_cluster(capsys, tmp_path: Path,
                                                                       sim: SimHandle) -> None:
    (tmp_path / "target").write_text("kargo_project: keep\n")
    (tmp_path / "link.yaml").symlink_to(tmp_path / "target")
    device = private_device(tmp_path)
    for path, words in ((device, "a device"), (str(tmp_path / "link.yaml"), "symbolic link")):
        before = len(sim.requests)
        code, text = gate(capsys, "discover", "--write", "--config", path, "--kubeconfig", sim.kubeconfig)
        assert_usage_error(code, text, "--config", words)
        assert len(sim.requests) == before
    assert (tmp_path / "target").read_text() == "kargo_project: keep\n"
    assert Path(device).is_char_device()
