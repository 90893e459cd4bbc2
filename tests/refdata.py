"""Where the tests find the vendored upstream reference files (tests/data/, see its README.md)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
JUNIT_XSD = DATA / "junit" / "jenkins-xunit-junit-10.xsd"  # the strict schema of the Jenkins xunit plugin
KARGO_SWAGGER = DATA / "kargo" / "swagger-v1.11.2.json"  # akuity/kargo v1.11.2 swagger.json
UPSTREAM_CRDS = DATA / "upstream-crds.sha256"  # sha256 of the upstream CRDs gate/sim/crds ships


def upstream_crd_digests() -> dict[str, tuple[str, str]]:
    """{file under gate/sim/crds: (sha256, "repo@ref:path")} from tests/data/upstream-crds.sha256."""
    rows = (line.split() for line in UPSTREAM_CRDS.read_text().splitlines() if line and not line.startswith("#"))
    return {name: (digest, source) for digest, name, source in rows}
