"""Every check parameter that becomes a URL path segment (a namespace, an object name) is validated
when the spec is loaded: a bad one is exit 2 naming the file and line, never an ERROR row that says
"internal error" after the run started. One declaration per check (`Check.segments`), one check in the
base class."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.cli import cli
from gate.entry import run
from gate.sim.server import start

CONFIG = str(Path(__file__).resolve().parents[1] / "gate" / "demo" / "config.yaml")

BAD = [
    ("pods", '{namespace: "../kube-system"}', "namespace"),
    ("pods", '{namespace: "Monitoring"}', "namespace"),
    ("argocd_apps", '{names: ["../x"], namespace: argocd}', "name"),
    ("argocd_apps", '{names: [grafana], namespace: "a/b"}', "namespace"),
    ("kargo_stage", '{stage: "../x", namespace: platform}', "stage"),
    ("kargo_stage", '{stage: monitoring, project: "x?y#z"}', "project"),
    ("kargo_stage", '{stage: monitoring, namespace: "UP"}', "namespace"),
    ("crds", '["prometheuses.monitoring.coreos.com."]', "name"),
    ("crds", '["a..b"]', "name"),
    ("tls", '{host: example.org, secret: "cert-manager/a..b"}', "secret"),
    ("workloads", '{namespace: "a b"}', "namespace"),
    ("pvcs", '{namespace: "-x"}', "namespace"),
    ("secret", '{namespace: monitoring, name: "../x"}', "name"),
]


@pytest.mark.parametrize(("kind", "value", "what"), BAD, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(BAD)])
def test_bad_path_segment_is_exit_2_with_file_and_line(kind: str, value: str, what: str, tmp_path: Path,
                                                       capsys) -> None:
    spec = tmp_path / "gate.yaml"
    spec.write_text("stages:\n  monitoring:\n    levels:\n      1:\n"
                    "        - secret: {namespace: monitoring, name: grafana-admin}\n"
                    f"        - {kind}: {value}\n")
    with start("healthy") as sim:
        code = run(cli, ["verify", "--stage", "monitoring", "--spec", str(spec), "--config", CONFIG,
                         "--kubeconfig", sim.kubeconfig, "--timeout", "3s"])
        out = capsys.readouterr()
        assert code == 2, out
        assert "gate.yaml:6" in out.err, out.err
        assert "is not a valid" in out.err and what in out.err, out.err
        assert "internal error" not in out.out + out.err
        assert "Traceback" not in out.out + out.err


def test_good_names_still_load(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "gate.yaml"
    spec.write_text("stages:\n  monitoring:\n    levels:\n      1:\n"
                    "        - crds: [prometheuses.monitoring.coreos.com]\n"
                    "        - pods: {namespace: monitoring}\n"
                    "        - argocd_apps: {names: [grafana.v2], namespace: argocd}\n")
    with start("healthy") as sim:
        code = run(cli, ["verify", "--stage", "monitoring", "--spec", str(spec), "--config", CONFIG,
                         "--kubeconfig", sim.kubeconfig, "--timeout", "3s"])
        out = capsys.readouterr()
        assert code in (0, 1), out
        assert "is not a valid" not in out.err
