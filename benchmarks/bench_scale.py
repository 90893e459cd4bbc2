"""Benchmark: Level 1 over a big cluster (20,000 pods + 2,000 Argo CD apps at full size), gate vs kubectl.

    python benchmarks/bench_scale.py [--kubeconfig K [--no-load]] [--pods N] [--apps N] [--pairs N]
                                     [--no-kubectl] [--gate-src DIR]

Against the server of `--kubeconfig` (a real kube-apiserver: benchmarks/README.md; the pods and apps put
there by benchmarks/load.py unless --no-load), or by default the simulator started in this process with a
scenario that generates them. It prints the server and the extras installed, then:

- the floor it measures itself: the raw bytes of the same three lists read from the API server's watch
  cache (`resourceVersion=0` with gzip accepted; the bytes counted as they arrive, not inflated, not
  parsed), concurrently as the gate's checks read them, twice: in JSON (what a JSON client such as kubectl
  reads) and as the gate asks (pods in protobuf, which the server encodes in half the time);
- for the default install first (then with the extras, when installed): `gate verify --levels 1` over three
  L1 checks that read every object, wall, CPU and peak RSS (VmHWM, polled); each gate run beside a floor read
  (who goes first alternating: the server's pace moves 1.0-2.2 s between minutes, so a floor taken once
  and a gate run taken later compare two different servers), and interleaved pair by pair with the
  operations guide's way (one `kubectl get -o json` per check, evaluated in Python); for each, the
  per-pair ratio (median, min, max).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "benchmarks"))

import benchlib  # noqa: E402
import load  # noqa: E402
from load import app_template, pod_template  # noqa: E402

from gate.sim.server import start  # noqa: E402

SELECTORS = 20  # pods carry app=svc-{i%20}


def scenario(pods: int, apps: int) -> dict:
    return {
        "name": "scale", "crds": ["argocd"], "controllers": False,
        "tokens": {"gate-token": {"user": "bench", "groups": ["system:masters", "system:authenticated"]}},
        "objects": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in ("apps", "argocd")],
        "generate": [{"count": pods, "template": pod_template()}, {"count": apps, "template": app_template()}],
    }


SPEC = {"defaults": {"timeout": "120s", "interval": "1s"},
        "stages": {"scale": {"levels": {1: [
            {"pods": {"namespace": "apps"}},
            {"pods": {"namespace": "apps", "selector": "app=svc-3"}},
            {"argocd_apps": {"namespace": "argocd", "selector": "bench=scale"}},
        ]}}}}

KUBECTL = [  # the same checks, the operations guide's way: one kubectl call per check
    ("pods", ["get", "pods", "-n", "apps", "-o", "json"]),
    ("pods", ["get", "pods", "-n", "apps", "-l", "app=svc-3", "-o", "json"]),
    ("apps", ["get", "applications.argoproj.io", "-n", "argocd", "-l", "bench=scale", "-o", "json"]),
]


def pods_ok(items: list[dict]) -> bool:
    pods = [p for p in items if p["status"].get("phase") != "Succeeded"]
    return bool(pods) and all(any(c["type"] == "Ready" and c["status"] == "True"
                                  for c in p["status"].get("conditions") or []) for p in pods)


def apps_ok(items: list[dict]) -> bool:
    return bool(items) and all(a["status"]["sync"]["status"] == "Synced" and
                               a["status"]["health"]["status"] == "Healthy" for a in items)


def floor(kubeconfig: str, protobuf: bool = False) -> tuple[float, int, int]:
    """(wall, bytes on the wire, answers gzipped) of the raw lists the three checks read, from the watch
    cache, concurrently (gzip accepted, as client-go's, unless the kubeconfig says disable-compression),
    their bytes counted as they arrive, not inflated, not parsed. In JSON, or with `protobuf` as the gate
    asks (pods in protobuf, gate.cluster.protobody; Applications, a CRD, in JSON)."""
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import urlencode

    from gate.cluster.kube import ACCEPT_GZIP, ACCEPT_PROTOBUF, connect

    kube = connect(kubeconfig)
    paths = [("/api/v1/namespaces/apps/pods", None), ("/api/v1/namespaces/apps/pods", "app=svc-3"),
             ("/apis/argoproj.io/v1alpha1/namespaces/argocd/applications", "bench=scale")]

    def raw(path: str, selector: str | None) -> tuple[int, int]:
        accept = ACCEPT_PROTOBUF if protobuf and path.endswith("/pods") else "application/json"
        headers = {"Accept": accept, **(ACCEPT_GZIP if kube.compression else {})}
        kube.api.update_params_for_auth(headers, [], ["BearerToken"], path, "GET", None)
        query = urlencode({"resourceVersion": "0", **({"labelSelector": selector} if selector else {})})
        resp = kube.api.call_api("GET", f"{kube.host}{path}?{query}", header_params=headers,
                                 _request_timeout=(300, 300)).response
        wire = sum(map(len, resp.read_chunked(decode_content=False))) if resp.chunked \
            else len(resp.read(decode_content=False))
        gzipped = resp.headers.get("Content-Encoding") == "gzip"
        resp.release_conn()
        return wire, gzipped

    started = time.perf_counter()
    with ThreadPoolExecutor(len(paths)) as pool:
        reads = list(pool.map(lambda p: raw(*p), paths))
    return time.perf_counter() - started, sum(w for w, _ in reads), sum(g for _, g in reads)


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's children that have exited: the gate's own, by
    difference around one run (the floor reads in this process, not a child)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def plain_kubeconfig(kubeconfig: str, work: Path) -> str:
    """The kubeconfig with `disable-compression: true` on every cluster (certificate paths made absolute)."""
    data = yaml.safe_load(Path(kubeconfig).read_text())
    base = Path(kubeconfig).resolve().parent
    for entry in data.get("clusters") or []:
        cluster = entry["cluster"]
        cluster["disable-compression"] = True
        if cluster.get("certificate-authority"):
            cluster["certificate-authority"] = str(base / cluster["certificate-authority"])
    path = work / "kubeconfig-plain"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def kubectl_checks(kubectl: str, env: dict[str, str]) -> tuple[float, float, bool]:
    """The guide's way: one kubectl call per check, evaluated here; (wall, largest peak RSS MB, passed)."""
    total, peak, verdicts = 0.0, 0.0, []
    for what, argv in KUBECTL:
        t = time.perf_counter()
        _, krss, kcode, out = benchlib.run_child([kubectl, *argv], env)
        items = json.loads(out)["items"] if kcode == 0 else []
        verdicts.append(kcode == 0 and (pods_ok(items) if what == "pods" else apps_ok(items)))
        del items, out
        total += time.perf_counter() - t
        peak = max(peak, krss)
    return total, peak, all(verdicts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kubeconfig", help="an API server's kubeconfig (default: the simulator, in process)")
    ap.add_argument("--no-load", action="store_true", help="the data is loaded already (benchmarks/load.py)")
    ap.add_argument("--pods", type=int, default=20000)
    ap.add_argument("--apps", type=int, default=2000)
    ap.add_argument("--pairs", type=int, default=3, help="gate/kubectl pairs (median of per-pair ratios)")
    ap.add_argument("--no-kubectl", action="store_true", help="measure the gate only")
    ap.add_argument("--no-protobuf", action="store_true",
                    help="hide the protobuf package from the gate: pods read as JSON (a before/after)")
    ap.add_argument("--disable-compression", action="store_true",
                    help="a copy of the kubeconfig whose clusters say disable-compression: true (gate and kubectl "
                         "then read lists as they are, not gzipped; for an API server on the same machine)")
    ap.add_argument("--gate-src", type=Path, default=ROOT,
                    help="run the gate from this source tree (e.g. an older checkout, for a before/after)")
    args = ap.parse_args()
    if args.no_protobuf:
        benchlib.hide_protobuf()
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    (work / "gate.yaml").write_text(yaml.safe_dump(SPEC))
    handle = None
    try:
        kubeconfig = args.kubeconfig
        t0 = time.perf_counter()
        if kubeconfig is None:
            handle = start(scenario(args.pods, args.apps))
            kubeconfig = handle.kubeconfig
        elif not args.no_load:
            load.load(kubeconfig, pods=args.pods, apps=args.apps, workers=32)
        if args.disable_compression:
            kubeconfig = plain_kubeconfig(kubeconfig, work)
        print(benchlib.describe_server(kubeconfig))
        print(benchlib.describe_extras())
        print(f"objects: {args.pods} pods + {args.apps} Argo CD apps (ready in {time.perf_counter() - t0:.1f} s), "
              f"{len(KUBECTL)} L1 checks that read all of them", flush=True)
        _, wire, gzipped = floor(kubeconfig)  # warms the server's caches once
        _, own_wire, _ = floor(kubeconfig, protobuf=not args.no_protobuf)
        print(f"floor: raw bytes of the same lists from the watch cache: {wire / 1e6:.1f} MB on the wire in JSON, "
              f"{own_wire / 1e6:.1f} MB as the gate asks{'' if args.no_protobuf else ' (pods in protobuf)'} "
              f"({gzipped} of 3 answers gzipped), "
              f"both read beside each gate run", flush=True)
        env = {**os.environ, "KUBECONFIG": kubeconfig, "NO_COLOR": "1"}
        gate_cmd = [sys.executable, "-m", "gate", "verify", "--stage", "scale", "--levels", "1",
                    "--spec", str(work / "gate.yaml"), "--no-preflight", "--timeout", "5m"]
        kubectl = shutil.which("kubectl") if not args.no_kubectl else None
        ok = True
        for label, install_env in benchlib.installs():
            gate_env = {**install_env, "KUBECONFIG": kubeconfig, "NO_COLOR": "1"}
            if args.gate_src != ROOT:
                gate_env["PYTHONPATH"] = gate_env["PYTHONPATH"].replace(str(ROOT), str(args.gate_src.resolve()))
            runs: list[tuple] = []
            floors: list[float] = []
            cpus: list[float] = []

            own: list[float] = []

            def gate(runs: list[tuple] = runs, floors: list[float] = floors, cpus: list[float] = cpus,
                     own: list[float] = own, gate_env: dict[str, str] = gate_env) -> None:
                """One gate run and the two floor reads beside it (JSON, and as the gate asks), who goes first
                alternating."""
                if len(runs) % 2 == 0:
                    floors.append(floor(kubeconfig)[0])
                    own.append(floor(kubeconfig, protobuf=not args.no_protobuf)[0])
                cpu = children_cpu()
                runs.append(benchlib.run_child(gate_cmd, gate_env, cwd=work)[:3])
                cpus.append(children_cpu() - cpu)
                if len(runs) % 2 == 0:
                    own.append(floor(kubeconfig, protobuf=not args.no_protobuf)[0])
                    floors.append(floor(kubeconfig)[0])

            peers: list[tuple] = []

            def peer(peers: list[tuple] = peers) -> None:
                peers.append(kubectl_checks(kubectl, env))

            if kubectl:
                benchlib.interleaved(gate, peer, args.pairs, warm=False)
            else:
                for _ in range(args.pairs):
                    gate()
            wall = statistics.median(w for w, _, _ in runs)
            rss = statistics.median(r for _, r, _ in runs)
            ok = ok and all(code == 0 for _, _, code in runs)
            print(f"gate, {label}: wall {wall:.2f} s, CPU {statistics.median(cpus):.2f} s, peak RSS {rss:.0f} MB, "
                  f"exit {runs[0][2]} "
                  f"(runs: {', '.join(f'{w:.2f} s {r:.0f} MB' for w, r, _ in runs)})")
            beside = [(w, f) for (w, _, _), f in zip(runs, floors, strict=True)]
            print(f"  {benchlib.ratio_line(beside, 'floor')} (the floor in JSON)", flush=True)
            beside = [(w, f) for (w, _, _), f in zip(runs, own, strict=True)]
            asks = "all JSON: --no-protobuf" if args.no_protobuf else "pods in protobuf"
            print(f"  {benchlib.ratio_line(beside, 'floor')} (the floor of the gate's own requests: {asks})",
                  flush=True)
            if kubectl:
                kwall = statistics.median(w for w, _, _ in peers)
                krss = max(r for _, r, _ in peers)
                print(f"kubectl: wall {kwall:.2f} s, peak RSS {krss:.0f} MB (largest kubectl), "
                      f"passed {all(p for _, _, p in peers)}")
                walls = [(w, k) for (w, _, _), (k, _, _) in zip(runs, peers, strict=True)]
                print(f"  {benchlib.ratio_line(walls)}; peak RSS {rss / krss:.2f}x", flush=True)
        if handle is not None:
            print(f"requests made (simulator's log): {len(handle.requests)} in all")
        return 0 if ok else 1
    finally:
        if handle is not None:
            handle.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
