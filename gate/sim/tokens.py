"""Credentials in the shapes real clusters issue them, and the simulator's TokenRequest endpoint.

Kubernetes ServiceAccount tokens are RS256 JWTs signed by the API server's service-account key
(`kubectl create token` prints ~900 characters; a projected Pod token, bound to its Pod and Node, ~1,100):
claims as kubernetes `pkg/serviceaccount/claims.go` writes them (`iss`, `sub`, `aud`, `exp`, `iat`, `nbf`,
`jti`, and the private `kubernetes.io` claim naming namespace, serviceaccount and the bound Pod/Node). OIDC
id-tokens are JWTs with the identity provider's claims (groups make them long), and an EKS token is
`k8s-aws-v1.` followed by the base64url of a presigned STS GetCallerIdentity URL (aws-iam-authenticator
`pkg/token/token.go`), ~1,000 characters with a session token.

`TokenIssuer` answers `POST /api/v1/namespaces/NS/serviceaccounts/NAME/token` (authentication.k8s.io/v1
TokenRequest) when a scenario turns it on:

```yaml
token_request: true                 # or a mapping:
token_request: {min_expiration_seconds: 1, issuer: "https://kubernetes.default.svc.cluster.local"}
```

The API server refuses an expirationSeconds under 600 (`min_expiration_seconds` lowers that so a test can
watch a token expire), and accepts a token until its `exp`, only when its audiences include the API
server's own (the issuer, as kube-apiserver defaults `--api-audiences`).
"""

from __future__ import annotations

import base64
import json
import random
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"
MIN_EXPIRATION = 600  # kube-apiserver: "may not specify a duration less than 10 minutes"
DEFAULT_EXPIRATION = 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _part(obj: dict) -> str:
    return _b64(json.dumps(obj, separators=(",", ":")).encode())


class Signer:
    """An RSA-2048 key that signs RS256 JWTs, as the API server's --service-account-signing-key-file."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = _b64(secrets.token_bytes(32))  # 43 characters, as the key id Kubernetes derives

    def sign(self, claims: dict) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        head = _part({"alg": "RS256", "kid": self.kid}) + "." + _part(claims)
        signature = self.key.sign(head.encode(), padding.PKCS1v15(), hashes.SHA256())
        return head + "." + _b64(signature)


_signer: Signer | None = None


def signer() -> Signer:
    """One key per process (generating RSA-2048 costs ~50 ms)."""
    global _signer
    if _signer is None:
        _signer = Signer()
    return _signer


def serviceaccount_claims(namespace: str, name: str, *, audiences: list[str] | None = None,
                          expiration: int = DEFAULT_EXPIRATION, issuer: str = DEFAULT_ISSUER,
                          pod: str | None = None, now: float | None = None) -> dict:
    """The claims kube-apiserver signs for a TokenRequest (bound to a Pod and its Node when `pod`)."""
    now = int(time.time() if now is None else now)
    private: dict[str, Any] = {"namespace": namespace,
                               "serviceaccount": {"name": name, "uid": str(uuid.uuid4())}}
    if pod:
        private["node"] = {"name": "sim-node-1", "uid": str(uuid.uuid4())}
        private["pod"] = {"name": pod, "uid": str(uuid.uuid4())}
        private["warnafter"] = now + 3607
    return {"aud": list(audiences or [issuer]), "exp": now + expiration, "iat": now, "iss": issuer,
            "jti": str(uuid.uuid4()), "kubernetes.io": private, "nbf": now,
            "sub": f"system:serviceaccount:{namespace}:{name}"}


def serviceaccount_token(namespace: str, name: str, **kw: Any) -> str:
    """A signed ServiceAccount token (~900 characters; ~1,100 bound to a Pod)."""
    return signer().sign(serviceaccount_claims(namespace, name, **kw))


def jwt_of_length(length: int, claims: dict | None = None) -> str:
    """A signed RS256 JWT of `length` characters (or one more, where base64 cannot make it exact; at least
    ~500): the claims padded with OIDC-style `groups`, as an identity provider's id-token carrying a
    user's many groups is long."""
    now = int(time.time())
    claims = dict(claims or {"iss": "https://oidc.sim.example", "sub": "ci-bot", "aud": "kubernetes",
                             "email": "ci-bot@sim.example", "iat": now, "exp": now + 3600})
    groups = claims.setdefault("groups", [])
    fixed = len(signer().sign({})) - len(_part({}))  # header, dots and signature: the same for any claims

    def size() -> int:
        return fixed + len(_part(claims))

    while size() < length - 60:
        groups.append(f"team-{secrets.token_hex(12)}")
    groups.append("")
    while size() < length:
        groups[-1] += secrets.choice("abcdefghijklmnopqrstuvwxyz")
    return signer().sign(claims)


def eks_token(cluster: str = "sim", region: str = "eu-west-1") -> str:
    """`k8s-aws-v1.` + base64url(presigned sts:GetCallerIdentity URL), as `aws eks get-token` prints it."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    session = _b64(secrets.token_bytes(260))  # an STS session token: a few hundred characters
    url = (f"https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15"
           f"&X-Amz-Algorithm=AWS4-HMAC-SHA256"
           f"&X-Amz-Credential=ASIA{secrets.token_hex(8).upper()}%2F{stamp[:8]}%2F{region}%2Fsts%2Faws4_request"
           f"&X-Amz-Date={stamp}&X-Amz-Expires=60&X-Amz-Security-Token={quote(session, safe='')}"
           f"&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Signature={secrets.token_hex(32)}")
    return "k8s-aws-v1." + _b64(url.encode())


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TokenIssuer:
    """The scenario's `token_request:` switch: mints ServiceAccount tokens the Authorizer then accepts."""

    def __init__(self, raw: Any) -> None:
        conf = raw if isinstance(raw, dict) else {}
        self.issuer = str(conf.get("issuer") or DEFAULT_ISSUER)
        self.min_expiration = int(conf.get("min_expiration_seconds", MIN_EXPIRATION))

    def request(self, namespace: str, name: str, body: Any) -> tuple[int, dict, dict | None]:
        """(status, TokenRequest or Status fields, the minted token's record) for one TokenRequest body."""
        spec = (body or {}).get("spec") if isinstance(body, dict) else None
        spec = spec if isinstance(spec, dict) else {}
        expiration = spec.get("expirationSeconds", DEFAULT_EXPIRATION)
        if not isinstance(expiration, int) or isinstance(expiration, bool):
            return 400, {"message": "spec.expirationSeconds: must be an integer"}, None
        if expiration < self.min_expiration:
            return 422, {"message": f"TokenRequest.authentication.k8s.io \"{name}\" is invalid: "
                                    f"spec.expirationSeconds: Invalid value: {expiration}: may not specify "
                                    f"a duration less than {self.min_expiration} seconds"}, None
        audiences = [str(a) for a in spec.get("audiences") or []] or [self.issuer]
        bound = spec.get("boundObjectRef") if isinstance(spec.get("boundObjectRef"), dict) else {}
        pod = bound.get("name") if bound.get("kind") == "Pod" else None
        now = time.time()
        token = serviceaccount_token(namespace, name, audiences=audiences, expiration=expiration,
                                     issuer=self.issuer, pod=pod, now=now)
        answer = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                  "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
                  "spec": {"audiences": audiences, "expirationSeconds": expiration,
                           "boundObjectRef": bound or None},
                  "status": {"token": token, "expirationTimestamp": rfc3339(int(now) + expiration)}}
        record = {"token": token, "user": f"system:serviceaccount:{namespace}:{name}",
                  "expires": int(now) + expiration, "accepted": self.issuer in audiences}
        return 201, answer, record


def shapes(rng: random.Random) -> dict[str, str]:
    """One credential of each shape real deployments carry, drawn from `rng` so a seed reproduces them
    (JWT signatures are random bytes of the right length: the simulator accepts the strings it is given):
    ServiceAccount tokens (plain, Pod-bound), an OIDC id-token of 2,000 characters, an EKS token, an RSA
    private key in PEM, and a base64 blob (a cloud service-account key file, as GOOGLE_CREDENTIALS)."""
    def b64(n: int) -> str:
        return _b64(rng.randbytes(n))

    def ids() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def jwt(claims: dict) -> str:
        return f"{_part({'alg': 'RS256', 'kid': b64(32)})}.{_part(claims)}.{b64(256)}"

    now = 1_780_000_000 + rng.randrange(10**6)
    sa = {"aud": [DEFAULT_ISSUER], "exp": now + 3600, "iat": now, "iss": DEFAULT_ISSUER, "jti": ids(),
          "kubernetes.io": {"namespace": "platform", "serviceaccount": {"name": "gate", "uid": ids()}},
          "nbf": now, "sub": "system:serviceaccount:platform:gate"}
    bound = {**sa, "kubernetes.io": {**sa["kubernetes.io"], "node": {"name": "node-1", "uid": ids()},
                                     "pod": {"name": "gate-verify-x7k2p", "uid": ids()}, "warnafter": now + 3607}}
    oidc = {"iss": "https://dex.example.com", "sub": b64(24), "aud": "kubernetes", "email": "ci@example.com",
            "iat": now, "exp": now + 3600, "groups": []}
    while len(jwt(oidc)) < 2000:
        oidc["groups"].append(f"team-{rng.getrandbits(48):012x}")
    url = (f"https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15"
           f"&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIA{rng.getrandbits(64):016X}%2F20260101"
           f"%2Feu-west-1%2Fsts%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=60"
           f"&X-Amz-Security-Token={quote(b64(260), safe='')}&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"
           f"&X-Amz-Signature={rng.getrandbits(256):064x}")
    body = base64.b64encode(rng.randbytes(1190)).decode()
    pem = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(body[i:i + 64] for i in range(0, len(body), 64)) \
        + "\n-----END RSA PRIVATE KEY-----\n"
    key_file = json.dumps({"type": "service_account", "project_id": "shop", "private_key_id": b64(20),
                           "private_key": pem.replace("RSA PRIVATE", "PRIVATE"),
                           "client_email": "gate@shop.iam.gserviceaccount.com"})
    return {"serviceaccount": jwt(sa), "serviceaccount-bound": jwt(bound), "oidc-2000": jwt(oidc),
            "eks": "k8s-aws-v1." + _b64(url.encode()), "pem-key": pem,
            "base64-blob": base64.b64encode(key_file.encode()).decode()}
