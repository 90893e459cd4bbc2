"""Big answers travel gzipped, as between client-go and kube-apiserver.

kube-apiserver gzips an answer over 128 KiB when the client sends `Accept-Encoding: gzip`
(responsewriters/writers.go:155-159, 262-266, v1.36), never a watch; client-go asks by default. On a
real server 20,000 pods are 128 MB plain and 6.5 MB gzipped, and the gate's reads cost about half the
CPU (docs/semantics.md "Reading big lists"). The simulator does the same, so the gate's inflating reader
is what every list test exercises; here: the simulator's rules, and verdicts read through gzip.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import sys
from pathlib import Path

import pytest
import urllib3

from gate.cluster.kube import connect
from gate.cluster.lightclient import LightApi
from gate.cluster.resources import PODS
from gate.sim.scenario import generate
from gate.sim.server import GZIP_MIN, start

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import benchlib  # noqa: E402
import load  # noqa: E402

PODS_PATH = "/api/v1/namespaces/apps/pods"


def _world(count: int) -> dict:
    """`count` Ready pods as a real server stores them, and one crashing."""
    broken = generate({"count": 1, "template": load.pod_template()})[0]
    broken["metadata"].update(name="broken-0", labels={"app": "broken"})
    broken["status"]["conditions"] = [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}]
    broken["status"]["containerStatuses"][0].update(
        ready=False, state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}}, restartCount=7)
    return {"name": "gzip", "controllers": False,
            "objects": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}, broken],
            "generate": [{"count": count, "template": load.pod_template()}]}


def _get(sim, path: str, encoding: str | None, query: str = "") -> urllib3.BaseHTTPResponse:
    """The answer as it came over the wire (not inflated)."""
    pool = urllib3.PoolManager(ca_certs=sim.ca_file)
    headers = {"Authorization": f"Bearer {sim.admin_token}"}
    if encoding is not None:
        headers["Accept-Encoding"] = encoding
    return pool.request("GET", sim.url + path + query, headers=headers, decode_content=False,
                        preload_content=False)


def test_simulator_gzips_big_answers_only_when_asked_as_kube_apiserver() -> None:
    with start(_world(300)) as sim:
        big = _get(sim, PODS_PATH, "gzip")
        raw = big.read()
        assert big.headers.get("Content-Encoding") == "gzip" and big.headers.get("Vary") == "Accept-Encoding"
        plain = json.loads(gzip.decompress(raw))
        assert len(plain["items"]) == 301 and len(raw) < len(json.dumps(plain)) / 5
        for asked in (None, "identity", "br", "gzip;q=1"):  # Go compares each token whole: "gzip;q=1" is not gzip
            answer = _get(sim, PODS_PATH, asked)
            assert answer.headers.get("Content-Encoding") is None, asked
            assert json.loads(answer.read())["items"] == plain["items"]
        small = _get(sim, PODS_PATH + "/broken-0", "gzip")  # one pod: under 128 KiB, sent as it is
        assert small.headers.get("Content-Encoding") is None
        assert json.loads(small.read())["metadata"]["name"] == "broken-0"
        assert len(json.dumps(plain)) > GZIP_MIN
        watch = _get(sim, PODS_PATH, "gzip", "?watch=1&timeoutSeconds=1&resourceVersion=0")
        assert watch.headers.get("Content-Encoding") is None  # a watch is never compressed
        events = [json.loads(line) for line in watch.read().splitlines() if line.strip()]
        assert len(events) == 301 and {e["type"] for e in events} == {"ADDED"}
        assert [r.get("encoding") for r in sim.requests if r["path"] == PODS_PATH][0] == "gzip"


def test_gate_reads_a_gzipped_list_to_the_same_objects_and_verdict(tmp_path: Path) -> None:
    """The gate asks for gzip; what it reads inflated is what the plain answer holds, and the verdict names
    the one crashing pod among 1,500 (a read that lost or garbled bytes would not)."""
    spec = tmp_path / "gate.yaml"
    spec.write_text("defaults: {timeout: 20s, interval: 1s}\nstages:\n  s:\n    levels:\n      1:\n"
                    "        - pods: {namespace: apps}\n")
    with start(_world(1500)) as sim:
        kube = connect(sim.admin_kubeconfig)
        read = kube.list(PODS, "apps")  # in pages of 500, each ~3 MB
        lists = [r for r in sim.requests if r["path"] == PODS_PATH]
        plain = json.loads(_get(sim, PODS_PATH, None).read())["items"]
        assert [(p["metadata"]["name"], p["metadata"]["resourceVersion"]) for p in read] == \
            [(p["metadata"]["name"], p["metadata"]["resourceVersion"]) for p in plain]
        assert [p["status"] for p in read] == [p["status"] for p in plain]
        # three full pages gzipped; the last holds one pod, under 128 KiB, and comes as it is
        assert [r.get("encoding") for r in lists] == ["gzip", "gzip", "gzip", None]

        env = {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}
        env.update(KUBECONFIG=sim.admin_kubeconfig, NO_COLOR="1",
                   PYTHONPATH=os.pathsep.join([str(benchlib._BLOCK), str(ROOT)]))
        before = len(sim.requests)
        _, _, code, out = benchlib.run_child(
            [sys.executable, "-m", "gate", "verify", "--stage", "s", "--spec", str(spec), "--no-preflight",
             "--timeout", "5s"], env, cwd=tmp_path)
        report = out.decode()
        assert code == 1, report
        assert "1500/1501 pods Ready" in report and "apps/broken-0: CrashLoopBackOff (restarts: 7)" in report, report
        first = next(r for r in sim.requests[before:] if r["path"] == PODS_PATH)
        assert first["query"].get("resourceVersion") == "0" and first.get("encoding") == "gzip"


def _pods_list_encodings(sim, kube) -> list:
    before = len(sim.requests)
    kube.request("GET", PODS_PATH, query={"resourceVersion": "0"})
    return [r.get("encoding") for r in sim.requests[before:] if r["path"] == PODS_PATH]


def test_disable_compression_in_the_kubeconfig_or_the_argocd_cluster_secret_is_honoured(
        tmp_path: Path, monkeypatch) -> None:
    """kubectl's opt-out for fast networks (kubeconfig cluster `disable-compression: true`, client-go
    tools/clientcmd/api/v1/types.go:91-95; Argo CD's `disableCompression`, argo-cd types.go:2535): the gate
    then asks for the answer as it is. Both kubeconfig readers (the light one and the library's), and the
    selected context's cluster only."""
    import yaml

    from gate.cluster import argocd_clusters

    with start(_world(300)) as sim:
        config = yaml.safe_load(Path(sim.admin_kubeconfig).read_text())
        cluster = config["clusters"][0]
        other = {"name": "other", "cluster": {**cluster["cluster"], "disable-compression": True}}
        config["clusters"].append(other)
        config["contexts"].append({"name": "slow", "context": {**config["contexts"][0]["context"], "cluster": "other"}})
        path = tmp_path / "kubeconfig"
        path.write_text(yaml.safe_dump(config))
        for client, light in (("auto", True), ("library", False)):
            monkeypatch.setenv("GATE_KUBE_CLIENT", client)
            kube = connect(str(path), context="slow")
            assert isinstance(kube.api, LightApi) is light
            assert _pods_list_encodings(sim, kube) == [None], client
            assert _pods_list_encodings(sim, connect(str(path))) == ["gzip"], client
        monkeypatch.delenv("GATE_KUBE_CLIENT")

        token = config["users"][0]["user"]["token"]
        ca = base64.b64encode(Path(sim.ca_file).read_bytes()).decode()
        for extra, expected in (({}, "gzip"), ({"disableCompression": True}, None)):
            settings = {"bearerToken": token, "tlsClientConfig": {"caData": ca}, **extra}
            argo = argocd_clusters.ArgoCluster(secret="argocd/c", name="c", server=sim.url, config=settings)
            assert _pods_list_encodings(sim, argocd_clusters.client_for(argo, "c")) == [expected], extra


def test_a_broken_or_cut_gzip_answer_is_unreadable_never_a_verdict(tmp_path: Path) -> None:
    """A proxy or a dying server that breaks the gzip stream: the read fails as a transient error (retried,
    then the check says it could not read), and a gzip stream that ends cleanly inside the JSON is an
    unreadable answer; neither is a list of fewer pods."""
    from gate.errors import TransientError
    from gate.sim.http import SimResponse

    with start(_world(300)) as sim:
        whole = json.dumps(json.loads(_get(sim, PODS_PATH, None).read())).encode()
        good = gzip.compress(whole, compresslevel=1)
        answers = {
            "corrupt": good[:20] + bytes(b ^ 0x5A for b in good[20:4000]) + good[4000:],
            "cut": gzip.compress(whole[: len(whole) // 2], compresslevel=1),  # a whole gzip of half the JSON
        }
        for name, body in answers.items():
            sim.add_route(f"/api/v1/namespaces/{name}/pods", lambda req, body=body: SimResponse(
                200, body, {"Content-Type": "application/json", "Content-Encoding": "gzip"}))
        kube = connect(sim.admin_kubeconfig)
        kube.retry_budget = 0.5
        for name in answers:
            with pytest.raises(TransientError):
                kube.list(PODS, name)

        spec = tmp_path / "gate.yaml"
        spec.write_text("defaults: {timeout: 6s, interval: 1s}\nstages:\n  s:\n    levels:\n      1:\n"
                        "        - pods: {namespace: corrupt}\n        - pods: {namespace: cut}\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}
        env.update(KUBECONFIG=sim.admin_kubeconfig, NO_COLOR="1",
                   PYTHONPATH=os.pathsep.join([str(benchlib._BLOCK), str(ROOT)]))
        _, _, code, out = benchlib.run_child(
            [sys.executable, "-m", "gate", "verify", "--stage", "s", "--spec", str(spec), "--no-preflight",
             "--timeout", "20s"], env, cwd=tmp_path)
        report = out.decode()
        assert code not in (0, 1), report  # not a verdict either way: the gate could not read the cluster
        assert "Traceback" not in report
        assert "Pods ready in corrupt: could not evaluate" in report and "failed to decode it" in report
        assert "Pods ready in cut: could not evaluate" in report and "do not parse as JSON" in report
