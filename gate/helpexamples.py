"""One example per command's --help, as data: command path -> a command line that works as written
(tests/test_help_examples.py parses each with the command's own options). Commands whose docstring
already ends with an example (gate itself, completion, render analysis-template, sim serve) are not
listed."""

from __future__ import annotations

IMAGE = "ghcr.io/promotion-gate/promotion-gate:0.1.0"
EXAMPLES: dict[str, str] = {
    "verify": "gate verify --stage uat --levels 1-2 --junit gate.xml",
    "precheck": "gate precheck --stage prod --freight-alias calm-crane",
    "promote": "gate promote --stage prod --freight-alias calm-crane --junit gate.xml",
    "discover": "gate discover --write",
    "init": "gate init --offline --project platform --stage uat=web,api",
    "render": f"gate render analysis-template --offline --stage uat --image {IMAGE}",
    "rbac": "gate rbac check --stage uat --job",
    "rbac check": "gate rbac check --stage uat --job",
    "demo": "gate demo --scenario crashloop --keep",
    "diagnose": "gate diagnose --stage uat -o json",
    "status": "gate status --watch --interval 10s",
    "sim": "gate sim serve --scenario crashloop --kubeconfig-out sim.kubeconfig",
    "sim list": "gate sim list",
    "lint": "gate lint kargo/ argocd/ -o sarif",
    "scaffold": f"gate scaffold stage canary --upstream uat --app web-canary --image {IMAGE}",
    "scaffold stage": f"gate scaffold stage canary --upstream uat --app web-canary --image {IMAGE}",
    "capture": "gate capture --stage uat -o world.yaml",
}


def example_epilog(path: str) -> str | None:
    line = EXAMPLES.get(path)
    return f"\b\nExample:\n  {line}" if line else None
