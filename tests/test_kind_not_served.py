"""A kind the cluster does not serve (its CRD not installed): what kube-apiserver answers, and what the gate says.

kube-apiserver v1.36 (measured on this machine) answers a path no API serves with plain text, not a
Status: `404 page not found` for a group it does not know, and for a version or resource a CRD-served
group does not have (Argo Rollouts' kinds on a cluster with Argo CD alone); a built-in group answers a
Status. The gate reads either as "not served", never as a missing object and never as a verdict.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import urllib3
from capture_support import gate

from gate.sim.server import start

WORLD = {  # Argo CD's CRDs, not Kargo's
    "name": "no-kargo", "crds": ["argocd"], "controllers": False,
    "objects": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in ("shop", "argocd")],
}


@pytest.mark.parametrize(("path", "text"), [
    ("/apis/kargo.akuity.io/v1alpha1/namespaces/shop/stages", True),  # a group it does not know
    ("/apis/kargo.akuity.io", True),
    ("/apis/argoproj.io/v1alpha1/namespaces/argocd/rollouts", True),  # a CRD-served group's unknown resource
    ("/apis/argoproj.io/v9/namespaces/argocd/applications", True),  # ... and unknown version
    ("/nothing", True),
    ("/apis/apps/v1/namespaces/shop/nopes", False),  # a built-in group answers a Status
    ("/api/v1/namespaces/shop/nopes", False),
    ("/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/nope", False),  # served kind, no such object
])
def test_a_path_no_api_serves_is_plain_text_as_kube_apiserver_answers_it(path: str, text: bool) -> None:
    with start(WORLD) as sim:
        pool = urllib3.PoolManager(ca_certs=sim.ca_file)
        resp = pool.request("GET", sim.url + path, headers={"Authorization": f"Bearer {sim.admin_token}"})
    assert resp.status == 404
    if text:
        assert resp.headers["Content-Type"].startswith("text/plain") and resp.data == b"404 page not found\n"
    else:
        assert resp.headers["Content-Type"] == "application/json" and resp.json()["kind"] == "Status"


def test_a_check_on_a_kind_not_served_could_not_evaluate_and_says_why(tmp_path: Path, capsys) -> None:
    """On a cluster without Kargo: a Stage check could not evaluate (exit 3), its row names the kind and
    asks whether its CRD is installed; beside it, an Application that does not exist (a served kind,
    a Status 404) is judged as missing, which closes the gate (exit 1)."""
    spec = tmp_path / "gate.yaml"
    spec.write_text("""defaults: {timeout: 2s, interval: 1s}
stages:
  shop:
    levels:
      1:
        - kargo_stage: {stage: shop, namespace: shop}
""")
    with start(WORLD, workdir=str(tmp_path / "sim")) as sim:
        base = ["--stage", "shop", "--kubeconfig", sim.admin_kubeconfig, "--no-preflight"]
        code, out = gate("verify", *base, "--spec", str(spec), capsys=capsys)
        spec.write_text(spec.read_text() + "        - argocd_apps: {names: [shop]}\n")
        code2, out2 = gate("verify", *base, "--spec", str(spec), capsys=capsys)
    assert code == 3, out
    row = "Kargo Stage shop healthy and ready: could not evaluate: the cluster does not serve " \
          "stages.kargo.akuity.io (kargo.akuity.io/v1alpha1): is its CRD installed? ERROR (could not evaluate)"
    assert row in out, out
    assert code2 == 1, out2
    assert row in out2 and "- argocd/shop: not found" in out2, out2
    assert "Traceback" not in out + out2
