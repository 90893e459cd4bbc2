"""What a person should do about an error that stopped a run before any verdict (the "Setup" row and
"Action Required"): an action, never the error restated."""

from __future__ import annotations

from gate.errors import AuthError, GateClosed, PermissionDenied, TransientError

SAME_CLUSTER = "with the same --kubeconfig/--context"


def setup_action(exc: Exception) -> str:
    """A command to run or a setting to change for `exc`; "" when there is nothing better than the message."""
    from gate.engine.deadlines import DeadlineExceeded

    text = str(exc)
    if isinstance(exc, GateClosed):
        return ""
    if isinstance(exc, AuthError):
        return (f"Refresh the credentials of the kubeconfig context named above (`kubectl auth whoami` "
                f"{SAME_CLUSTER} shows what the cluster accepts), or pass --kubeconfig/--context for the "
                f"right cluster")
    if isinstance(exc, PermissionDenied):
        return ("Grant the gate's identity the missing permission; `gate rbac check --stage STAGE` lists every "
                "rule the stage's checks need")
    if isinstance(exc, DeadlineExceeded):
        return (f"Raise --timeout (GATE_TIMEOUT), or check why the cluster is slow "
                f"(`kubectl get --raw /readyz` {SAME_CLUSTER})")
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text or "SSL" in text:
        return ("Fix the cluster's CA in the kubeconfig (certificate-authority-data) or its server address, "
                "so the server's certificate verifies")
    if isinstance(exc, TransientError):
        return (f"Check that the cluster is reachable from here (`kubectl cluster-info` {SAME_CLUSTER}), then "
                f"run the gate again")
    return ""
