"""A Recorder's reading as a scenario file the simulator serves (gate/sim/scenario.py).

Every RFC 3339 time in an object becomes `${now-Ns}` / `${now+Ns}` relative to the moment that object
was read, so a replay, whenever it runs, sees the ages the run saw. The simulated controllers are off
(`controllers: false`): the world stays as it was captured. What the capture adds to the scenario format
lives under `capture:` (the header, the spec, the HTTP answers, the observations); the simulator keeps
unknown blocks and ignores them.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

import yaml

from gate.capture.record import Attr, Recorder
from gate.capture.scrub import Scrubber, walk

FORMAT = 1
BLOCK_OBJECTS = 1000  # more objects than this are written one JSON line each
_LEGACY = {"subscriptions", "promotionMechanisms"}  # a Stage of Kargo before v1.5
GATE_USER = "capture:gate"
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_BUILTIN_GROUPS = {"", "apps", "batch", "networking.k8s.io", "apiextensions.k8s.io", "rbac.authorization.k8s.io",
                   "authorization.k8s.io"}
_CRD_SETS = {("argoproj.io", "applications"): "argocd", ("argoproj.io", "appprojects"): "argocd",
             ("argoproj.io", "applicationsets"): "argocd", ("argoproj.io", "analysisruns"): "rollouts",
             ("argoproj.io", "analysistemplates"): "rollouts",
             ("argoproj.io", "clusteranalysistemplates"): "rollouts"}


def relative_times(value: Any, read_at: float) -> Any:
    """Timestamps as offsets from `read_at` (epoch seconds): `${now-300s}`."""

    def one(text: str) -> str:
        m = _RFC3339.match(text)
        if not m:
            return text
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return text
        delta = round(read_at - when)
        return f"${{now-{delta}s}}" if delta >= 0 else f"${{now+{-delta}s}}"

    return walk(value, one)


def build(rec: Recorder, scrub: Scrubber, header: dict[str, Any], *, spec_text: str | None = None,
          config_text: str | None = None) -> dict[str, Any]:
    """The scenario dict (already scrubbed)."""
    objects = [scrub.obj(relative_times(obj, at)) for obj, at in rec.world_objects()]
    crds, synthesized = _crds(rec, objects)
    capture = {
        "format": FORMAT,
        **header,
        "objects": len(objects),
        "kargo_api": rec.kargo_api,
        "spec": scrub.shapes(spec_text) if spec_text is not None else None,
        "config": scrub.shapes(config_text) if config_text is not None else None,
        "http": {k: _http(v, scrub) for k, v in sorted(rec.http.items())},
        "observations": scrub.value(dict(sorted(rec.observations.items()))),
        "not_recorded": dict(sorted(rec.not_recorded.items())),
        "notes": scrub.value(sorted(set(rec.notes))),
    }
    scenario: dict[str, Any] = {
        "name": "capture",
        "description": f"captured {header.get('captured_at', '')} by {header.get('command', 'gate')}",
        "capture": {k: v for k, v in capture.items() if v not in (None, {}, [])},
        "controllers": False,
        "crds": crds,
        "tokens": {"gate-token": {"user": GATE_USER, "groups": ["system:authenticated"]}},
        "rbac": {GATE_USER: rbac_rules(rec)},
        "logs": scrub.value(dict(sorted(rec.logs.items()))),
        "faults": [_fault(path, f, scrub) for path, f in sorted(rec.faults.items())],
        "objects": synthesized + objects,
    }
    if rec.kargo_api:
        scenario["kargo"] = {"version": rec.kargo_version or "v1.11.2"}
    return scenario


def _http(answer: dict, scrub: Scrubber) -> dict:
    from gate.httpclient import SENSITIVE_HEADERS

    out = dict(answer)
    if "headers" in out:
        out["headers"] = {k: v for k, v in out["headers"].items() if k.lower() not in SENSITIVE_HEADERS}
    return scrub.value(out)


def _fault(path: str, fault: dict, scrub: Scrubber) -> dict:
    fault = dict(fault)
    method = fault.pop("method", None) or (None if "/akuity.io.kargo.service" in path else "GET")
    out = {"path": "^" + re.escape(path) + "$", **({"method": method} if method else {}), **scrub.value(fault)}
    if out.get("status") in (401, 403):
        out["message"] = "recorded: the answer the captured run got"
    return out


def rbac_rules(rec: Recorder) -> list[dict]:
    """What the gate's own token may do in the replay: what it was allowed, never what it was denied.

    A resource the run was never refused stays readable everywhere (a replay reading a little more
    than the run, say one more list, is not refused for it); one it was refused on somewhere is allowed
    exactly where the run was allowed."""
    refused = {(a.group, a.resource) for a in rec.denied}
    rules: list[dict] = [{"apiGroups": ["authorization.k8s.io"],
                          "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]}]
    if not refused:
        rules.append({"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]})
        return _reviewed(rec, rules)
    groups: dict[str, set[str]] = {}
    for group, resource, *_ in _every_resource(rec):
        if (group, resource) not in refused:
            groups.setdefault(group, set()).add(resource)
    rules += [{"apiGroups": [g], "resources": sorted(r), "verbs": ["get", "list", "watch"]}
              for g, r in sorted(groups.items())]
    for attr in sorted(rec.allowed - rec.denied, key=lambda a: (a.group, a.resource, a.verb, a.namespace, a.name)):
        if (attr.group, attr.resource) in refused:
            rules.append(_rule(attr))
    return _reviewed(rec, rules)


def _reviewed(rec: Recorder, rules: list[dict]) -> list[dict]:
    """In a namespace the run asked a SelfSubjectRulesReview about, the replay grants exactly the rules that
    review listed (the preflight judged every permission there by them); the broad rules above keep to the
    other namespaces the run met and to the cluster scope ("")."""
    if not rec.reviewed:
        return rules
    met = {a.namespace for a in rec.allowed | rec.denied} | {ident[2] for ident in rec.objects}
    others = sorted(met - set(rec.reviewed) - {""}) + [""]
    out = [rules[0]] + [rule if rule.get("namespaces") else {**rule, "namespaces": others} for rule in rules[1:]]
    for namespace, granted in sorted(rec.reviewed.items()):
        for rule in granted:
            out.append({"apiGroups": list(rule.get("apiGroups") or []), "resources": list(rule.get("resources") or []),
                        "verbs": list(rule.get("verbs") or []), "namespaces": [namespace],
                        **({"resourceNames": list(rule["resourceNames"])} if rule.get("resourceNames") else {})})
    return out


def _every_resource(rec: Recorder) -> set[tuple[str, str]]:
    seen = {(a.group, a.resource) for a in rec.allowed | rec.denied}
    seen |= {(g, p) for g, _, p, _ in rec.served}
    seen |= {("", "pods/log"), ("", "services/proxy")}
    return seen


def _rule(attr: Attr) -> dict:
    rule: dict[str, Any] = {"apiGroups": [attr.group], "resources": [attr.resource],
                            "verbs": [attr.verb] + (["watch"] if attr.verb == "list" else [])}
    if attr.namespace:
        rule["namespaces"] = [attr.namespace]
    if attr.name and attr.verb == "get":
        rule["resourceNames"] = [attr.name]
    return rule


def _crds(rec: Recorder, objects: list[dict]) -> tuple[list[str], list[dict]]:
    """The vendored CRD sets for what was served, and a minimal CRD for any other custom kind read."""
    sets: set[str] = set()
    synthesized: list[dict] = []
    names = {(o.get("metadata") or {}).get("name") for o in objects if o.get("kind") == "CustomResourceDefinition"}
    kinds = {(str(o.get("apiVersion", "")).rpartition("/")[0], o.get("kind")) for o in objects}
    for group, version, plural, namespaced in sorted(rec.served):
        if group == "kargo.akuity.io":
            legacy = any(o.get("kind") == "Stage" and _LEGACY & set(o.get("spec") or {}) for o in objects)
            sets.add("kargo-legacy" if legacy else "kargo")
        elif (group, plural) in _CRD_SETS:
            sets.add(_CRD_SETS[(group, plural)])
        elif group not in _BUILTIN_GROUPS and f"{plural}.{group}" not in names:
            kind = next((k for g, k in kinds if g == group and k and k.lower() + "s" == plural),
                        plural[:-1].capitalize() if plural.endswith("s") else plural.capitalize())
            names.add(f"{plural}.{group}")
            synthesized.append(_crd(group, version, plural, str(kind), namespaced))
    if rec.kargo_api:
        sets.add("kargo")
    if "kargo-legacy" in sets:
        sets.discard("kargo")
    return sorted(sets), synthesized


def _crd(group: str, version: str, plural: str, kind: str, namespaced: bool) -> dict:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "scope": "Namespaced" if namespaced else "Cluster",
                     "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural,
                               "singular": kind.lower()},
                     "versions": [{"name": version, "served": True, "storage": True,
                                   "subresources": {"status": {}},
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                                                  "x-kubernetes-preserve-unknown-fields": True}}}]}}


def dump(scenario: dict) -> str:
    """The file's text: a comment saying what it is and how to replay it, then the YAML."""
    cap = scenario.get("capture") or {}
    head = [
        "# Promotion Gate capture: the world a verdict was made on, as a simulator scenario.",
        f"# captured {cap.get('captured_at', '?')} by {cap.get('command', 'gate')}",
        "# Replay offline:   gate <verify|precheck|diagnose|status> ... --replay THIS_FILE",
        "# Serve it:         gate sim serve --scenario THIS_FILE",
        "# Scan it:          gate capture --check THIS_FILE",
    ]
    objects = scenario.get("objects") or []
    if len(objects) <= BLOCK_OBJECTS:
        body = yaml.dump(scenario, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120,
                         allow_unicode=True)
        return "\n".join(head) + "\n" + body
    # Many objects: one JSON line each (YAML's flow style), written and read back in C.
    rest = {k: v for k, v in scenario.items() if k != "objects"}
    body = yaml.dump(rest, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120,
                     allow_unicode=True)
    lines = "".join(f"- {json.dumps(o, ensure_ascii=False, separators=(', ', ': '))}\n" for o in objects)
    return "\n".join(head) + "\n" + body + "objects:\n" + lines


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """The C emitter (a capture of 20,000 pods is ~10 MB of YAML); multi-line strings (the spec, logs,
    HTTP bodies) as literal blocks, readable in a diff; never an anchor or alias (replay refuses them)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    literal = "\n" in value and not any(c in value for c in "\t\r") and not value.startswith(" ")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if literal else None)


_Dumper.add_representer(str, _str)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
