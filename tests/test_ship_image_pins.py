"""Two builds of one image tag get the same bits, and CI builds the image: the base is pinned by digest,
the dependencies come from requirements/image.txt (the set CI tests), every pull request builds the image
and runs `gate --version` and `gate demo` in it, and the release publishes to the index only after the
image, with attestations for the wheel and sdist. (No Docker engine here: these read the files that
hadolint and actionlint also check; the image itself is built by the CI job.)"""

from __future__ import annotations

import re
from importlib.metadata import distribution
from pathlib import Path

import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "requirements" / "image.txt"


def _pins() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not an exact pin: {line}"
            pins[canonicalize_name(name)] = version
    return pins


def _runtime_closure() -> dict[str, Requirement]:
    """promotion-gate's dependencies and theirs, as installed here (markers evaluated, no extras)."""
    env = {**default_environment(), "extra": ""}
    seen: dict[str, Requirement] = {}
    todo = [Requirement(r) for r in distribution("promotion-gate").requires or []]
    while todo:
        req = todo.pop()
        if req.marker and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen[name] = req
        todo += [Requirement(r) for r in distribution(req.name).requires or []]  # installed, or an error
    return seen


def test_constraints_pin_every_runtime_dependency_as_tested() -> None:
    pins, closure = _pins(), _runtime_closure()
    assert set(closure) <= set(pins), f"unpinned: {sorted(set(closure) - set(pins))}"
    for name, req in closure.items():
        assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} breaks {req}"
        # the suite runs with the pinned set (.ci/run installs with --constraint requirements/image.txt)
        assert distribution(name).version == pins[name], f"{name}: tested {distribution(name).version}"


def test_dockerfile_pins_the_base_by_digest_and_installs_with_the_constraints() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"(?m)^ARG PYTHON_IMAGE=python:3\.12-slim-bookworm@sha256:[0-9a-f]{64}$", text)
    assert "--constraint /src/requirements/image.txt" in text
    assert "!requirements/image.txt" in (ROOT / ".dockerignore").read_text().splitlines()
    assert "--constraint requirements/image.txt" in (ROOT / ".ci/run").read_text()
    bot = yaml.safe_load((ROOT / ".github/dependabot.yml").read_text())["updates"]
    kept = {(u["package-ecosystem"], u["directory"]) for u in bot}
    assert {("docker", "/"), ("pip", "/requirements")} <= kept


def test_every_pull_request_builds_the_image_and_runs_the_demo_in_it() -> None:
    wf = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    assert "pull_request" in wf[True]  # PyYAML reads the key `on` as True
    steps = wf["jobs"]["image"]["steps"]
    (build,) = [s for s in steps if s.get("uses", "").startswith("docker/build-push-action@")]
    assert build["with"]["push"] is False and build["with"]["load"] is True
    assert any(s.get("uses", "").startswith("docker/setup-buildx-action@") for s in steps)
    run = "\n".join(s.get("run", "") for s in steps)
    tag = build["with"]["tags"]
    assert f"docker run --rm {tag} --version" in run
    assert re.search(rf"docker run --rm --read-only --tmpfs /tmp --user 10001:10001 {tag} demo$", run, re.M)


def test_release_attests_and_publishes_the_index_after_the_image() -> None:
    jobs = yaml.safe_load((ROOT / ".github/workflows/release.yml").read_text())["jobs"]
    assert "image" in jobs["pypi"]["needs"]
    (publish,) = [s for s in jobs["pypi"]["steps"] if "gh-action-pypi-publish@" in s.get("uses", "")]
    assert publish["with"]["attestations"] is True
    text = (ROOT / ".github/workflows/release.yml").read_text()
    tag = re.search(r"gh-action-pypi-publish@[0-9a-f]{40} # v(\d+)\.(\d+)", text)
    assert tag and (int(tag[1]), int(tag[2])) >= (1, 11), "PEP 740 attestations came with v1.11"
    (attest,) = [s for s in jobs["build"]["steps"] if "attest-build-provenance@" in s.get("uses", "")]
    assert attest["with"]["subject-path"] == "dist/*"
    assert jobs["build"]["permissions"]["attestations"] == "write"
    (meta,) = [s for s in jobs["image"]["steps"] if s.get("id") == "meta"]
    tags = meta["with"]["tags"]
    assert "type=raw,value=latest" in tags and "pattern={{major}}.{{minor}}" in tags
