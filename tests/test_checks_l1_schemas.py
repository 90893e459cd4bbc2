"""The Level-1 kinds' parameter schemas, shorthands and names: what a spec author can and cannot write."""

from __future__ import annotations

import importlib

import jsonschema
import pytest

L1 = ("pods", "workloads", "crds", "secret", "pvcs", "argocd_apps", "kargo_stage")


def kind_class(module: str):
    mod = importlib.import_module(f"gate.checks.{module}")
    from gate.checks.base import Check

    found = [v for v in vars(mod).values()
             if isinstance(v, type) and issubclass(v, Check) and v.__module__ == mod.__name__]
    assert len(found) == 1
    return found[0]


def valid(kind: str, value) -> bool:
    cls = kind_class(kind)
    schema = cls.schema if not isinstance(value, list) else cls.shorthand
    return schema is not None and jsonschema.Draft202012Validator(schema).is_valid(value)


@pytest.mark.parametrize("module", L1)
def test_each_module_defines_one_kind_named_after_it(module: str):
    cls = kind_class(module)
    assert cls.kind == module
    assert cls.schema["additionalProperties"] is False
    assert not {"timeout", "interval"} & set(cls.schema["properties"])
    assert cls.summary
    jsonschema.Draft202012Validator.check_schema(cls.schema)


@pytest.mark.parametrize(("kind", "value", "ok"), [
    ("pods", {"namespace": "monitoring", "selector": "a=b", "min_ready": 3}, True),
    ("pods", {"namespace": "monitoring", "min_ready": 0}, False),
    ("pods", {"selector": "a=b"}, False),
    ("workloads", {"namespace": "m", "kinds": ["Deployment", "DaemonSet"], "allow_empty": True}, True),
    ("workloads", {"namespace": "m", "kinds": ["Job"]}, False),
    ("crds", ["prometheuses.monitoring.coreos.com"], True),
    ("crds", ["Prometheus"], False),
    ("crds", {"names": []}, False),
    ("secret", {"namespace": "m", "name": "grafana-admin", "keys": ["admin-user"]}, True),
    ("secret", {"namespace": "m", "name": "x", "value": "nope"}, False),
    ("pvcs", {"namespace": "m", "names": ["data-0"]}, True),
    ("pvcs", {"namespace": "m", "bogus": 1}, False),
    ("argocd_apps", ["kube-prometheus-stack", "loki"], True),
    ("argocd_apps", {"selector": "stage=monitoring", "revision": {"loki": "abc1234"}}, True),
    ("argocd_apps", {"namespace": "argocd"}, False),
    ("argocd_apps", {"names": ["a"], "revision": 5}, False),
    ("kargo_stage", {}, True),
    ("kargo_stage", {"stage": "monitoring", "project": "platform", "freight": "brave-badger"}, True),
    ("kargo_stage", {"phase": "Verified"}, False),
])
def test_schema_accepts_and_rejects(kind: str, value, ok: bool):
    assert valid(kind, value) is ok


def test_shorthands_normalize_to_params():
    assert kind_class("crds").normalize(["a.b"]) == {"names": ["a.b"]}
    assert kind_class("argocd_apps").normalize(["loki"]) == {"names": ["loki"]}
    assert kind_class("pods").normalize({"namespace": "m"}) == {"namespace": "m"}


def test_idents_tell_checks_of_one_kind_apart():
    pods = kind_class("pods")
    a = pods({"namespace": "monitoring", "selector": "app=grafana"})
    b = pods({"namespace": "monitoring", "selector": "app=loki"})
    assert a.ident() == "monitoring.grafana" and b.ident() == "monitoring.loki"
    secret = kind_class("secret")({"namespace": "m", "name": "grafana-admin"})
    assert secret.ident() == "m.grafana-admin" and secret.name == "Secret m/grafana-admin exists"
