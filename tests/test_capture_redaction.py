"""What a capture never holds, and what `gate capture --check` finds.

A world with canary values planted in every place a credential hides (Secret data and stringData, a
token and a cloud key in annotations, kubectl's last-applied copy of a Secret, pod env values, a value
only `--redact` knows) is captured while the gate reads it; the file holds none of them, yet still
replays to the same verdict (key names kept, non-empty values stay non-empty). Each shape planted by hand
into a capture is found by `--check`, which names its path."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml
from capture_support import CONFIG, gate, load, rows, verdict

from gate.sim.scenario import resolve
from gate.sim.server import start

SECRET = "s3cr3t-canary-data-7f3a"
STRING_DATA = "canary-string-data-51c2"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYW5hcnktand0In0.c2lnbmF0dXJlLWNhbmFyeQ"
AWS = "AKIACANARY1234567890"
GITHUB = "ghp_" + "C4nary" * 6
ENV_VALUE = "env-canary-value-9a1b"
KEPT_ENV = "kept-env-value-3d4e"
LAST_APPLIED = "last-applied-canary-8e8e"
CUSTOM = "internal-host-4711"
REGISTERED = "registered-canary-0b0b"  # in the environment as DEPLOY_API_TOKEN: the gate masks it everywhere
CANARIES = [SECRET, STRING_DATA, JWT, AWS, GITHUB, ENV_VALUE, LAST_APPLIED, CUSTOM, REGISTERED]
SPEC = """defaults: {timeout: 5s, interval: 1s}
stages:
  monitoring:
    levels:
      1:
        - pods: {namespace: monitoring, selector: "app.kubernetes.io/part-of=kube-prometheus-stack"}
        - secret: {namespace: monitoring, name: grafana-admin, keys: [admin-user, admin-password, extra]}
"""


def _planted() -> dict:
    world = resolve("healthy")
    for obj in world["objects"]:
        meta = obj["metadata"]
        if obj["kind"] == "Secret" and meta["name"] == "grafana-admin":
            obj["data"]["extra"] = base64.b64encode(SECRET.encode()).decode()
            obj["stringData"] = {"note": STRING_DATA}
            meta["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(
                {"data": {"admin-password": LAST_APPLIED}})}
        if obj["kind"] == "Pod" and meta["name"].startswith("grafana-"):
            meta["annotations"] = {"example.com/session": JWT, "example.com/aws": f"key {AWS}",
                                   "example.com/gh": GITHUB, "example.com/host": CUSTOM,
                                   "example.com/note": f"deployed by {REGISTERED}"}
            obj["spec"]["containers"][0]["env"] = [
                {"name": "GF_SERVER_ROOT", "value": ENV_VALUE}, {"name": "LOG_LEVEL", "value": KEPT_ENV},
                {"name": "GF_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "grafana-admin", "key": "extra"}}}]
    return world


def test_a_capture_holds_no_planted_credential_and_still_replays(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("DEPLOY_API_TOKEN", REGISTERED)
    spec = tmp_path / "gate.yaml"
    spec.write_text(SPEC)
    capture = tmp_path / "world.yaml"
    with start(_planted(), workdir=str(tmp_path / "sim")) as sim:
        base = ["verify", "--stage", "monitoring", "--config", CONFIG, "--spec", str(spec)]
        code, out = gate(*base, "--kubeconfig", sim.kubeconfig, "--capture", str(capture), "--redact",
                         r"internal-host-\d+", "--keep-env", "LOG_LEVEL", "--json", str(tmp_path / "run.json"),
                         capsys=capsys)
    assert code == 0, out
    text = capture.read_text()
    for canary in CANARIES:
        assert canary not in text, canary
    assert base64.b64encode(SECRET.encode()).decode() not in text
    assert KEPT_ENV in text  # --keep-env keeps the one asked for
    world = yaml.safe_load(text)
    secret = next(o for o in world["objects"] if o["kind"] == "Secret")
    assert sorted(secret["data"]) == ["admin-password", "admin-user", "extra"]  # key names kept
    pod = next(o for o in world["objects"] if o["metadata"]["name"].startswith("grafana-"))
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    assert "value" not in env["GF_SERVER_ROOT"] and env["GF_PASSWORD"]["valueFrom"]
    assert all("managedFields" not in o["metadata"] for o in world["objects"])
    assert gate("capture", "--check", str(capture), capsys=capsys)[0] == 0
    code2, out2 = gate(*base, "--replay", str(capture), "--json", str(tmp_path / "replay.json"), capsys=capsys)
    assert code2 == 0, out2
    run, replay = load(tmp_path / "run.json"), load(tmp_path / "replay.json")
    assert verdict(replay) == verdict(run) and rows(replay) == rows(run)


PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"


@pytest.mark.parametrize(("where", "value", "what"), [
    ("objects[0].data.password", base64.b64encode(b"hunter2-hunter2").decode(), "Secret value"),
    ('objects[1].metadata.annotations["example.com/session"]', JWT, "JWT"),
    ("objects[2].data.key", PEM, "PEM private key"),
    ("objects[2].data.script", "export DEPLOY_TOKEN=abcdef123456", "*_TOKEN= value"),
    ('objects[1].metadata.annotations["example.com/aws"]', AWS, "AWS access key"),
    ("objects[1].spec.containers[0].env[0].value", "plain-looking-value", "env value of API_TOKEN"),
    ('capture.http["GET /x"].headers.x', f"Bearer {'a' * 24}", "bearer credential"),
])
def test_check_finds_each_credential_planted_by_hand(tmp_path: Path, capsys, where: str, value: str,
                                                     what: str) -> None:
    world = {
        "capture": {"http": {"GET /x": {"status": 200, "headers": {"x": "ok"}}}},
        "objects": [
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n"},
             "data": {"password": "PHJlZGFjdGVkPg=="}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "n", "annotations": {}},
             "spec": {"containers": [{"name": "c", "env": [{"name": "API_TOKEN"}]}]}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}, "data": {}},
        ],
    }
    path = tmp_path / "world.yaml"
    path.write_text(yaml.safe_dump(world))
    assert gate("capture", "--check", str(path), capsys=capsys)[0] == 0
    _plant(world, value, where)
    path.write_text(yaml.safe_dump(world))
    code, out = gate("capture", "--check", str(path), capsys=capsys)
    assert code == 1, out
    assert f"{path}: {where}: looks like a credential ({what})" in out


def _plant(world: dict, value: str, where: str) -> None:
    """Set the value at a path as --check prints it (a.b[0]["c"])."""
    import re

    parts = re.findall(r'\["([^"]+)"\]|\[(\d+)\]|\.?([^.\[]+)', where)
    keys: list = [s or (int(i) if i else k) for s, i, k in parts]
    node = world
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
