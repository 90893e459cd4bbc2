"""`gate render analysis-template`: the manifests that run the gate as a Kargo verification Job.

Prints, as one YAML stream: a ConfigMap with the spec (and settings file), the AnalysisTemplate (job
provider, one measurement, no retries, a deadline from the spec's timeouts), the ServiceAccount, and
least-privilege RBAC: exactly the permissions the stage's checks declare, plus listing AnalysisRuns in
the project namespace (job mode names its AnalysisRun's stage, freight collection and promotion).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click
import yaml

from gate import jobmode
from gate.cluster.kube import Permission
from gate.cluster.rbac import LABELS, RBAC_API, all_permissions, dump_yaml, role_documents
from gate.engine.plan import Plan
from gate.errors import ConfigError
from gate.options import RunOptions, setup_options
from gate.spec.settings import KEY_OF_VARIABLE, VARIABLES, Settings, env_name, load_settings

if TYPE_CHECKING:
    from gate.spec.load import Spec

MOUNT = "/etc/promotion-gate"
STARTUP_GRACE = 120  # seconds for image pull, start-up and writing the reports
DEFAULT_TTL = 86400  # finished Jobs (and their logs) are kept a day
OFFLINE_SOURCE = "offline: left as a reference"


def dns_name(*parts: str) -> str:
    """A DNS-1123 name from parts: lower-case, [a-z0-9-], at most 63 characters."""
    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    return name[:63].rstrip("-") or "promotion-gate"


def plan_seconds(plan: Plan) -> int:
    """How long the levels may take: levels run one after another, the checks of a level together."""
    total = 0.0
    for checks in plan.levels.values():
        total += max((pc.timeout for pc in checks), default=0.0)
    return max(60, math.ceil(total))


def _read(path: str | None) -> str | None:
    if not path or not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def _given(settings: Settings, key: str) -> str | None:
    """A setting's value, None when unknown or only an offline placeholder."""
    value = settings.get(key)
    return None if value is None or settings.source(key) == OFFLINE_SOURCE else value


def _config_text(settings: Settings) -> str | None:
    """The Job's `.gitops-config.yaml`: the file as it is, or, when values came from elsewhere (--set,
    --project, GATE_* variables), the file's values with those, so the Job runs with what was rendered."""
    text = _read(settings.file)
    extra = {k for k in VARIABLES if _given(settings, k) is not None and k not in settings.file_keys
             and not settings.source(k).startswith(("default", "derived", "file"))}
    extra |= {k for k in settings.file_keys if not settings.source(k).startswith("file")}  # overridden
    if not extra:
        return text
    values = {k: _given(settings, k) for k in VARIABLES if k in extra or k in settings.file_keys}
    origin = f"{settings.file} with " if text is not None else ""
    return (f"# Written by `gate render analysis-template`: {origin}the values given to it.\n"
            + yaml.safe_dump({k: v for k, v in values.items() if v is not None}, sort_keys=False))


def unset_values(session: Any, docs: list[dict]) -> list[str]:
    """Settings the stage uses (its `${VAR}`s, what its checks need, what the manifests name) that have
    no value: an offline placeholder would leave `${VAR}` in a manifest the cluster rejects."""
    from gate.session import plan_settings

    settings, stage = session.settings, session.plan.stage
    wanted = {KEY_OF_VARIABLE[v] for v in session.spec.variable_names(stage)} | set(plan_settings(session.plan))
    text = dump_yaml([d for d in docs if d.get("kind") != "ConfigMap"])
    wanted |= {KEY_OF_VARIABLE[v] for v in re.findall(r"\$\{([A-Z_]+)\}", text) if v in KEY_OF_VARIABLE}
    return sorted(k for k in wanted if _given(settings, k) is None)


def _env(secrets: list[str], has_config: bool, secret_name: str) -> list[dict]:
    """The container's env: job mode's downward-API values, the mounted files, and one required
    `secretKeyRef` per `${env:NAME}` of the stage (a key the Secret lacks keeps the pod from starting)."""
    env: list[dict] = [
        {"name": jobmode.ENV_UID,
         "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{jobmode.UID_LABEL}']"}}},
        {"name": jobmode.ENV_NAMESPACE, "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "GATE_SPEC", "value": f"{MOUNT}/gate.yaml"},
    ]
    if has_config:
        env.append({"name": "GATE_CONFIG", "value": f"{MOUNT}/gitops-config.yaml"})
    env += [{"name": "HOME", "value": "/tmp"}, {"name": "TMPDIR", "value": "/tmp"},
            # a verdict that is not PASS keeps the world it saw in the pod (named in the log and the
            # termination message; mount a volume at /tmp to keep the file past the pod)
            {"name": "GATE_CAPTURE_ON_FAILURE", "value": "/tmp/gate-capture.yaml"}]
    for var in secrets:
        env.append({"name": var, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": var}}})
    return env


def analysis_template(*, name: str, namespace: str, stage: str, image: str, service_account: str,
                      configmap: str, env: list[dict], timeout: int, ttl: int) -> dict:
    """The AnalysisTemplate: one `job` metric whose exit code is the verdict."""
    container = {
        "name": "gate",
        "image": image,
        "args": ["verify", "--stage", "{{args.stage}}", "--levels", "{{args.levels}}",
                 "--timeout", "{{args.timeout}}"],
        "env": env,
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                            "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
        "terminationMessagePath": jobmode.TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"},
                         {"name": "spec", "mountPath": MOUNT, "readOnly": True}],
    }
    pod = {
        "serviceAccountName": service_account,
        "automountServiceAccountToken": True,
        "restartPolicy": "Never",
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001},
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                    {"name": "spec", "configMap": {"name": configmap}}],
    }
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(LABELS)},
        "spec": {
            "args": [{"name": "stage", "value": stage}, {"name": "levels", "value": "1-4"},
                     {"name": "timeout", "value": f"{timeout}s"}],
            "metrics": [{
                "name": "promotion-gate",
                "failureLimit": 0,  # no interval/count: exactly one measurement
                "provider": {"job": {
                    "metadata": {"labels": dict(LABELS)},
                    "spec": {"backoffLimit": 0, "activeDeadlineSeconds": timeout + STARTUP_GRACE,
                             "ttlSecondsAfterFinished": ttl,
                             "template": {"metadata": {"labels": dict(LABELS)}, "spec": pod}},
                }},
            }],
        },
    }


def rbac_documents(perms: list[Permission], *, name: str, namespace: str,
                   service_account: str, diagnosis: Collection[Permission] = ()) -> list[dict]:
    """ServiceAccount, then each Role/ClusterRole followed by its binding to that ServiceAccount; the
    `diagnosis` permissions in rules marked as such (a YAML comment)."""
    subject = [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}]
    docs: list[dict] = [{"apiVersion": "v1", "kind": "ServiceAccount",
                         "metadata": {"name": service_account, "namespace": namespace,
                                      "labels": dict(LABELS)}}]
    cluster_name = dns_name(name, namespace)  # ClusterRoles are cluster-wide: one per project
    for role in role_documents(perms, name, diagnosis):
        meta = role["metadata"]
        if role["kind"] == "ClusterRole":
            meta["name"] = cluster_name
            binding = {"apiVersion": RBAC_API, "kind": "ClusterRoleBinding",
                       "metadata": {"name": cluster_name, "labels": dict(LABELS)}}
        else:
            binding = {"apiVersion": RBAC_API, "kind": "RoleBinding",
                       "metadata": {"name": name, "namespace": meta["namespace"], "labels": dict(LABELS)}}
        binding["roleRef"] = {"apiGroup": "rbac.authorization.k8s.io", "kind": role["kind"],
                              "name": meta["name"]}
        binding["subjects"] = subject
        docs += [role, binding]
    return docs


def stage_snippet(template: str, stage: str) -> str:
    """The Stage's `spec.verification`, as a comment above the manifests."""
    return "\n".join([
        f"# Promotion Gate as Kargo verification for stage {stage!r}.",
        "# Add to the Stage (Kargo runs the AnalysisTemplate after every promotion; exit 0 = verified):",
        "#",
        "#   spec:",
        "#     verification:",
        "#       analysisTemplates:",
        f"#       - name: {template}",
        "#       args:                      # optional: override the template's defaults",
        "#       - name: stage",
        f"#         value: {stage}",
        "#       - name: levels",
        '#         value: "1-4"',
        "#",
        "# The pod gets GATE_ANALYSISRUN_UID and GATE_NAMESPACE from the downward API, so its report names",
        "# the AnalysisRun's stage, freight collection and promotion; the verdict is also in the pod's",
        "# termination message (kubectl get pod -o jsonpath='{..terminated.message}').",
        "",
    ])


def verification_documents(session: Any, *, stage: str, image: str, namespace: str | None = None,
                           service_account: str | None = None, template_name: str | None = None,
                           ttl: int = DEFAULT_TTL) -> tuple[str, list[dict]]:
    """(template name, documents): ConfigMap with the spec, AnalysisTemplate, ServiceAccount and RBAC."""
    opts, plan, settings = session.opts, session.plan, session.settings
    namespace = namespace or opts.project or (_given(settings, "kargo_project") if settings else None)
    if not namespace:
        raise ConfigError("the Kargo project namespace is unknown: pass --namespace (or --project, or set "
                          "kargo_project in .gitops-config.yaml)", key="--namespace")
    name = template_name or dns_name("promotion-gate", stage)
    service_account = service_account or name
    spec_path = plan.source or opts.spec or "gate.yaml"
    spec_text = _read(spec_path)
    if spec_text is None:
        raise ConfigError(f"cannot read the spec file {spec_path}", key="--spec")
    config_text = _config_text(settings)
    configmap = dns_name(name, "spec")
    data = {"gate.yaml": spec_text}
    if config_text is not None:
        data["gitops-config.yaml"] = config_text
    seconds = math.ceil(opts.timeout) if opts.timeout else plan_seconds(plan)
    from gate.cluster.destination_rbac import access_permissions, control_plane_plan  # `cluster:`

    # with the diagnosis-only ones: a full setup grants them; a destination's are rendered for it apart
    perms = all_permissions(control_plane_plan(plan), job=False)
    perms += [p for p in access_permissions(plan, settings) if p not in perms]
    perms += [p for p in jobmode.job_permissions(namespace) if p not in perms]
    docs = [
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": configmap, "namespace": namespace, "labels": dict(LABELS)}, "data": data},
        analysis_template(name=name, namespace=namespace, stage=stage, image=image,
                          service_account=service_account, configmap=configmap,
                          env=_env(session.spec.env_names(stage), config_text is not None,
                                   dns_name(name, "secrets")),
                          timeout=seconds, ttl=ttl),
        *rbac_documents(perms, name=name, namespace=namespace, service_account=service_account,
                        diagnosis=plan.optional_permissions()),
    ]
    return name, docs


@click.group()
def render() -> None:
    """Print manifests for running the gate inside the cluster."""


@render.command("analysis-template")
@click.option("--stage", envvar="GATE_STAGE", required=True, help="Stage of the spec to verify.")
@click.option("--image", required=True, help="The gate image, e.g. ghcr.io/org/promotion-gate:0.1.0.")
@click.option("--namespace", help="Kargo project namespace (default: --project / kargo_project).")
@click.option("--service-account", help="ServiceAccount the Job runs as (default: promotion-gate-STAGE).")
@click.option("--name", "template_name", help="AnalysisTemplate name (default: promotion-gate-STAGE).")
@click.option("--ttl", default="24h", show_default=True, callback=lambda c, p, v: _ttl(v),
              help="ttlSecondsAfterFinished of the Job (its logs go with it), e.g. 24h or 90m (a bare number "
                   "is seconds).")
@click.option("--offline", is_flag=True,
              help="Read no cluster and no secret: settings come from the files, GATE_* variables and --set; "
                   "${env:NAME} secrets are referenced from a Secret, never read.")
@click.option("--set", "values", multiple=True, metavar="KEY=VALUE", callback=lambda c, p, v: _set_values(v),
              help="With --offline: a setting the manifests need (key or its variable, e.g. "
                   "argocd_namespace=argocd or ARGOCD_NS=argocd); repeatable.")
@setup_options
def analysis_template_cmd(stage: str, image: str, namespace: str | None, service_account: str | None,
                          template_name: str | None, ttl: int, offline: bool, values: dict[str, str],
                          config: str | None, spec: str | None, kubeconfig: str | None, context: str | None,
                          project: str | None, timeout: float | None) -> None:
    """AnalysisTemplate + ServiceAccount + least-privilege RBAC for running STAGE as Kargo verification.

    \b
    Example:
      gate render analysis-template --offline --stage uat --image ghcr.io/org/promotion-gate:0.1.0 \\
        --set argocd_namespace=argocd | kubectl apply -f -
    """
    from gate.session import Session

    if values and not offline:
        raise click.UsageError("--set is for --offline (online, settings come from the files, GATE_* "
                               "variables and flags)")
    opts = RunOptions(stage=stage, config=config, spec=spec, kubeconfig=kubeconfig, context=context,
                      project=project, timeout=timeout)
    try:
        given = {"kargo_namespace": namespace, **values} if namespace else values
        session = offline_session(opts, given) if offline else Session.open(opts, need_cluster=False)
    except ConfigError as exc:
        if offline or "not set" not in exc.detail:
            raise
        raise ConfigError(f"{exc.detail} (or pass --offline: secrets are only referenced, never read)",
                          file=exc.file, line=exc.line, key=exc.key) from None
    if offline and not (namespace or project or _given(session.settings, "kargo_project")):
        namespace = "${KARGO_PROJECT}"  # named with the other missing values below
    name, docs = verification_documents(session, stage=stage, image=image, namespace=namespace,
                                        service_account=service_account, template_name=template_name, ttl=ttl)
    missing = unset_values(session, docs)
    if missing:
        how = ("pass them as --set KEY=VALUE" if offline else "pass --offline with --set KEY=VALUE")
        named = ", ".join(f"{k} (${{{VARIABLES[k]}}}{'; or --namespace, --project' if k == 'kargo_project' else ''})"
                          for k in missing)
        raise ConfigError(f"stage {stage!r} needs values for {named}: {how} (e.g. --set {missing[0]}=…), or "
                          f"set them in {session.settings.file or '.gitops-config.yaml'} or as "
                          f"{', '.join(env_name(k) for k in missing)}; the manifests are printed only when "
                          "they apply as they are")
    from gate.cluster.destination_rbac import destination_yaml

    click.echo(stage_snippet(name, stage) + dump_yaml(docs) + destination_yaml(session.plan, name, session.settings),
               nl=False)


def _ttl(value: str | int) -> int:
    from gate.options import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--ttl") from None
    return math.ceil(seconds or 0)


def _set_values(items: tuple[str, ...]) -> dict[str, str]:
    """`--set KEY=VALUE` items as settings: KEY is a settings key or its spec variable."""
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = KEY_OF_VARIABLE.get(key.strip(), key.strip())
        if not sep or key not in VARIABLES or not value:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE with KEY one of {', '.join(VARIABLES)} "
                                     f"(or its variable: {', '.join(VARIABLES.values())})", param_hint="--set")
        values[key] = value
    return values


class _EnvReferences(Mapping[str, str]):
    """os.environ's stand-in offline: every `${env:NAME}` reads as itself, no variable is ever read."""

    def __getitem__(self, name: str) -> str:
        return "${env:" + name + "}"

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


@dataclass
class OfflineSession:
    opts: RunOptions
    settings: Settings
    plan: Plan
    spec: Spec


def offline_session(opts: RunOptions, values: Mapping[str, str] | None = None) -> OfflineSession:
    """The spec's plan without a cluster or secrets: every setting nobody gave becomes its `${VAR}`
    (unset_values then names those the stage needs)."""
    from gate.spec.load import load_spec

    flags = {**(values or {}), **({"kargo_project": opts.project} if opts.project else {})}
    settings = load_settings(opts.config, flags)
    placeholders = {key: "${" + var + "}" for key, var in VARIABLES.items() if settings.get(key) is None}
    settings = settings.with_values(placeholders, OFFLINE_SOURCE)
    spec = load_spec(opts.spec, settings, env=_EnvReferences(), stage=opts.stage)
    return OfflineSession(opts, settings, spec.plan(opts.stage or ""), spec)
