"""What a person should do about an error that stopped a run before any verdict (the "Setup" row and
"Action Required"): an action, never the error restated."""

from __future__ import annotations

from gate.errors import AuthError, EvaluationError, GateClosed, PermissionDenied, TransientError, is_from_kargo_api

SAME_CLUSTER = "with the same --kubeconfig/--context"
# Tests the address and the token as the gate uses them (REST since Kargo v1.9: api/v1beta1 server-version).
KARGO_TEST = ('curl -sS -H "Authorization: Bearer $KARGO_API_TOKEN" '
              '"$KARGO_API_ADDRESS/v1beta1/system/server-version"')


def setup_action(exc: Exception) -> str:
    """A command to run or a setting to change for `exc`; "" when there is nothing better than the message."""
    from gate.engine.deadlines import DeadlineExceeded

    text = str(exc)
    if isinstance(exc, GateClosed):
        return ""
    if is_from_kargo_api(exc):
        return kargo_action(exc)
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


def kargo_action(exc: Exception) -> str:
    """The action for an error of the Kargo API: its address and token, never the kubeconfig."""
    from gate.engine.deadlines import DeadlineExceeded

    if isinstance(exc, AuthError):
        return (f"Set KARGO_API_TOKEN (--kargo-token) to a token the Kargo API accepts; `{KARGO_TEST}` "
                f"answers 401 while it is rejected")
    if isinstance(exc, PermissionDenied):
        return ("Give the identity behind KARGO_API_TOKEN that permission in the Kargo project (a Kargo role "
                "bound to it), or use a token that has it")
    if isinstance(exc, DeadlineExceeded):
        return (f"Raise --timeout (GATE_TIMEOUT), or check why the Kargo API at KARGO_API_ADDRESS is slow "
                f"(`{KARGO_TEST}`)")
    if isinstance(exc, TransientError) or (isinstance(exc, EvaluationError) and "TLS" in str(exc)):
        return (f"Check KARGO_API_ADDRESS (--kargo-address) and that the Kargo API is reachable from here "
                f"(`{KARGO_TEST}`; --kargo-ca for its CA bundle), then run the gate again")
    return ""
