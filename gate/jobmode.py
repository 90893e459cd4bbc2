"""Job mode: running as the container of a Kargo verification Job (AnalysisTemplate `job` metric).

Argo Rollouts injects nothing into the pod except the label `analysisrun.argoproj.io/uid`; the template
`gate render analysis-template` prints passes it on through the downward API:

- `GATE_ANALYSISRUN_UID`: `fieldRef: metadata.labels['analysisrun.argoproj.io/uid']`
- `GATE_NAMESPACE`: `fieldRef: metadata.namespace` (else the service account's namespace file)
- or a downwardAPI volume with the pod's labels at `GATE_PODINFO_LABELS` (default /etc/podinfo/labels).

From the uid the gate finds its AnalysisRun and names the Stage, freight collection and Promotion in
the report. The verdict also goes, as one line, to `/dev/termination-log`, which Kubernetes keeps in the
pod status after the logs are gone.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from gate.cluster.resources import ANALYSISRUNS
from gate.errors import EvaluationError
from gate.model import RunResult, Status
from gate.redact import redact

if TYPE_CHECKING:  # the Kubernetes client stack loads only when a job-mode function needs it, not for --help
    from gate.cluster.kube import KubeClient, Permission

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"  # the same directory as gate.cluster.kube.SA_DIR

UID_LABEL = "analysisrun.argoproj.io/uid"
ENV_UID = "GATE_ANALYSISRUN_UID"
ENV_NAMESPACE = "GATE_NAMESPACE"
ENV_LABELS_FILE = "GATE_PODINFO_LABELS"
DEFAULT_LABELS_FILE = "/etc/podinfo/labels"
TERMINATION_LOG = "/dev/termination-log"
TERMINATION_LIMIT = 4096  # bytes the kubelet keeps of a termination message

STAGE_LABEL = "kargo.akuity.io/stage"
FREIGHT_COLLECTION_LABEL = "kargo.akuity.io/freight-collection"
PROMOTION_ANNOTATION = "kargo.akuity.io/promotion"

# RunResult.context keys job_context() fills
CTX_ANALYSIS_RUN = "AnalysisRun"
CTX_STAGE = "Kargo Stage"
CTX_FREIGHT_COLLECTION = "Freight collection"
CTX_PROMOTION = "Promotion"


def _labels_file(path: str) -> dict[str, str]:
    """Parse a downward-API labels file (`key="value"` per line)."""
    labels: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                key, sep, value = line.strip().partition("=")
                if sep:
                    labels[key] = value.strip().strip('"')
    except OSError:
        return {}
    return labels


def analysisrun_uid() -> str | None:
    """The uid of the AnalysisRun this pod measures for, or None when not run by one."""
    uid = os.environ.get(ENV_UID, "").strip()
    if uid:
        return uid
    uid = _labels_file(os.environ.get(ENV_LABELS_FILE) or DEFAULT_LABELS_FILE).get(UID_LABEL, "")
    return uid or None


def job_namespace() -> str | None:
    """The pod's namespace: GATE_NAMESPACE, else the mounted service-account namespace file."""
    ns = os.environ.get(ENV_NAMESPACE, "").strip()
    if ns:
        return ns
    try:
        with open(f"{SA_DIR}/namespace", encoding="utf-8") as fh:
            return fh.read().strip() or None
    except OSError:
        return None


def job_permissions(namespace: str | None) -> list[Permission]:
    """What job mode needs besides the checks: listing AnalysisRuns in the pod's namespace."""
    if not namespace:
        return []
    from gate.cluster.kube import Permission

    return [Permission("list", ANALYSISRUNS.plural, ANALYSISRUNS.group, namespace)]


def job_context(kube: KubeClient, namespace: str | None = None) -> dict[str, str]:
    """Stage, freight collection and Promotion of the AnalysisRun that started this pod.

    `namespace` is a fallback for when the pod's own namespace is unknown. Returns {} outside an
    AnalysisRun. Inside one, a missing permission raises PermissionDenied and a
    vanished run raises EvaluationError: both exit non-zero, neither looks like "nothing found".
    """
    uid = analysisrun_uid()
    if not uid:
        return {}
    namespace = job_namespace() or namespace  # the AnalysisRun (and its Job) live in the pod's namespace
    if not namespace:
        raise EvaluationError(f"AnalysisRun uid {uid} given, but the pod's namespace is unknown: "
                              f"set {ENV_NAMESPACE} from the downward API (metadata.namespace)")
    for run in kube.list(ANALYSISRUNS, namespace):
        meta = run.get("metadata") or {}
        if meta.get("uid") != uid:
            continue
        labels = meta.get("labels") or {}
        annotations = meta.get("annotations") or {}
        context = {  # keys are what the text report prints, e.g. "Promotion: uat.01k3….3f1c2a9"
            CTX_ANALYSIS_RUN: f"{namespace}/{meta.get('name', '')}",
            CTX_STAGE: annotations.get(STAGE_LABEL) or labels.get(STAGE_LABEL, ""),
            CTX_FREIGHT_COLLECTION: labels.get(FREIGHT_COLLECTION_LABEL, ""),
            CTX_PROMOTION: annotations.get(PROMOTION_ANNOTATION, ""),
        }
        return {k: v for k, v in context.items() if v}
    raise EvaluationError(f"no AnalysisRun with uid {uid} in namespace {namespace}: "
                          f"was it deleted while this Job ran?")


def verdict_line(result: RunResult) -> str:
    """One line: the overall verdict, the stage and freight, and what to do about it."""
    overall = result.overall
    where = f"stage {result.stage}" + (f", freight {result.freight}" if result.freight else "")
    if overall == Status.PASS:
        head = "PASS"
    elif overall == Status.FAIL and result.failed_level is not None:
        head = f"FAIL at Level {result.failed_level}"
    elif overall == Status.FAIL:
        head = "FAIL"
    else:
        head = "ERROR (not evaluated)"
    line = f"gate {result.command}: {head}: {where}"
    capture = result.context.get("Capture")  # --capture-on-failure wrote one: its path, size and sha256
    if capture:  # before the advice, so the 4 KiB cut of a long hint keeps it
        line += f" [capture {capture}]"
    if overall != Status.PASS:
        line += f": {result.action_required}"
    return " ".join(line.split())


def write_termination_line(text: str, path: str = TERMINATION_LOG) -> bool:
    """Write one redacted line of at most 4 KiB to an existing, writable file; True when written.

    The file is never created: outside a pod /dev/termination-log does not exist and stays that way.
    """
    data = redact(" ".join(text.split())).encode("utf-8")
    if len(data) > TERMINATION_LIMIT - 1:
        data = data[: TERMINATION_LIMIT - 4].decode("utf-8", "ignore").encode("utf-8") + b"..."
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    except OSError:
        return False
    try:
        os.write(fd, data + b"\n")
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def write_termination_message(result: RunResult, path: str = TERMINATION_LOG) -> None:
    """The one-line verdict of `result` into the pod's termination log, when there is one."""
    write_termination_line(verdict_line(result), path)
