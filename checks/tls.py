"""`tls`: the served certificate is trusted, names the host, is not about to expire, and (optionally)
is the one cert-manager stored in a Secret (compared by public-key fingerprint)."""

from __future__ import annotations

import base64
import hashlib
import math
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from gate.checks.base import Check, Clients

from gate import redact
from gate.cluster.kube import Permission
from gate.cluster.resources import SECRETS
from gate.engine import deadlines
from gate.engine.durations import parse as parse_duration
from gate.errors import ConfigError
from gate.httpclient import DURATION_SCHEMA, PORT_SCHEMA
from gate.model import Observation

if TYPE_CHECKING:  # cryptography costs ~60 ms to import: loaded only when a tls check runs
    from cryptography import x509

DAY = 86400.0


@dataclass
class CertInfo:
    """What a certificate says about itself (never trusted, only described)."""

    subject: str
    issuer: str
    sans: list[str]
    not_before: datetime
    not_after: datetime
    serial: str
    fingerprint: str  # sha256 of the DER certificate
    spki: str  # sha256 of the DER SubjectPublicKeyInfo: what survives a renewal with the same key

    @classmethod
    def from_cert(cls, cert: x509.Certificate) -> CertInfo:
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        try:
            ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            sans = [str(v) for v in ext.get_values_for_type(x509.DNSName)]
            sans += [str(v) for v in ext.get_values_for_type(x509.IPAddress)]
        except x509.ExtensionNotFound:
            sans = []
        spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        return cls(cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(), sans,
                   cert.not_valid_before_utc, cert.not_valid_after_utc, format(cert.serial_number, "x"),
                   hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest(),
                   hashlib.sha256(spki).hexdigest())

    def days_left(self, now: datetime | None = None) -> float:
        return (self.not_after - (now or datetime.now(UTC))).total_seconds() / DAY

    def lines(self) -> list[str]:
        return [f"subject: {self.subject}", f"issuer: {self.issuer}",
                f"SANs: {', '.join(self.sans) or 'none'}",
                f"valid: {self.not_before:%Y-%m-%d %H:%M} to {self.not_after:%Y-%m-%d %H:%M} UTC",
                f"serial: {self.serial}", f"sha256: {self.fingerprint}", f"public key sha256: {self.spki}"]


def describe_days(days: float) -> str:
    if days < 0:
        ago = -days
        if ago < 1:
            return "certificate has just expired"
        return f"certificate expired {math.floor(ago)} day{'s' if ago >= 2 else ''} ago"
    if days < 1:
        return f"certificate expires in {max(1, math.floor(days * 24))} hours"
    whole = math.floor(days)
    return f"certificate expires in {whole} day{'s' if whole != 1 else ''}"


class Tls(Check):
    kind: ClassVar[str] = "tls"
    summary: ClassVar[str] = ("The served certificate is trusted, covers the host, has enough days left, "
                              "and optionally matches a cert-manager Secret.")
    segments: ClassVar[dict[str, str]] = {"secret": "ref"}
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["host"],
        "properties": {
            "host": {"type": "string", "minLength": 1, "description": "Name to cover (SNI)."},
            "port": PORT_SCHEMA,
            "address": {"type": "string", "description": "Connect here instead of resolving host."},
            "sni": {"type": "string", "description": "Server name sent in the handshake (default: host)."},
            "ca_bundle": {"type": "string", "description": "PEM CA file to trust instead of the system CAs."},
            "min_days_left": {"type": "number", "minimum": 0, "default": 0},
            "secret": {"type": "string",
                       "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$",
                       "description": "namespace/name of the cert-manager Secret to match."},
            "secret_key": {"type": "string", "default": "tls.crt"},
            "connect_timeout": {**DURATION_SCHEMA, "description": "Default 10s."},
        },
    }

    def __init__(self, params: dict[str, Any], name: str | None = None) -> None:
        super().__init__(params, name)
        self.host = str(params["host"])
        self.port = int(params.get("port", 443))
        self.address = str(params.get("address") or self.host)
        self.sni = str(params.get("sni") or self.host)
        self.min_days = float(params.get("min_days_left", 0))
        self.timeout = parse_duration(params.get("connect_timeout", 10))
        self.secret = params.get("secret")

    def action(self, obs: Observation) -> str:
        """What to do, by what failed: renew, fix the trust, the name or the Secret (not the symptom again)."""
        if obs.hint:
            return obs.hint
        text = obs.observed
        where = f"{self.address}:{self.port}"
        if "days" in obs.expected or "expire" in text:
            renew = (f" (cert-manager: kubectl -n {self.secret.split('/')[0]} describe certificate; "
                     f"cmctl renew -n {self.secret.split('/')[0]} <certificate>)") if self.secret else \
                " (cert-manager: kubectl describe certificate -A | grep -B3 -A10 " + self.host + ")"
            return f"Renew the certificate for {self.host}{renew}, or lower min_days_left ({self.min_days:g})"
        if text.startswith("no TLS handshake"):
            return (f"Make {where} serve TLS (openssl s_client -connect {where} -servername {self.sni}), "
                    f"or fix host/port/address in the spec")
        if "not the one in Secret" in text or text.startswith("Secret "):
            return (f"Reload the certificate from Secret {self.secret} into the server (restart the ingress "
                    f"controller or check which Secret its tls: section names), or fix `secret:`")
        if "certificate is for" in text:
            return f"Serve a certificate whose SANs cover {self.host} (check the Ingress tls.hosts), or fix `host:`"
        return (f"Make the certificate at {where} trusted ({self.trust_text()}): serve the full chain, or set "
                f"`ca_bundle:` to the CA that signed it")

    def default_name(self) -> str:
        return f"TLS {self.params['host']}:{self.params.get('port', 443)}"

    def ident(self) -> str:
        return f"{self.params['host']}:{self.params.get('port', 443)}"

    def permissions(self) -> list[Permission]:
        if not self.secret:
            return []
        namespace, name = self.secret.split("/", 1)
        return [Permission("get", "secrets", "", namespace, name)]

    def trust_text(self) -> str:
        return f"trusted by {self.params['ca_bundle']}" if self.params.get("ca_bundle") else \
            "trusted by the system CAs"

    def expected_text(self) -> str:
        text = f"a certificate for {self.host} {self.trust_text()}, at least {self.min_days:g} days left"
        return text + (f", matching Secret {self.secret}" if self.secret else "")

    # -- handshakes ----------------------------------------------------------------------------------
    def _handshake(self, context: ssl.SSLContext) -> bytes:
        timeout = deadlines.clamp(self.timeout, f"the TLS handshake with {self.address}")
        with socket.create_connection((self.address, self.port), timeout=timeout) as sock, \
                context.wrap_socket(sock, server_hostname=self.sni) as tls:
            der = tls.getpeercert(binary_form=True)
        if not der:
            raise ssl.SSLError("the server sent no certificate")
        return der

    def verified_context(self) -> ssl.SSLContext:
        try:
            context = ssl.create_default_context(cafile=self.params.get("ca_bundle"))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot read CA bundle {self.params.get('ca_bundle')}: {exc}",
                              key="ca_bundle") from None
        if self.sni != self.host:
            context.check_hostname = False  # checked against host below instead
        return context

    def served_unverified(self) -> x509.Certificate:
        """The certificate as served, fetched without verification: to describe it, never to trust it."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        from cryptography import x509

        return x509.load_der_x509_certificate(self._handshake(context))

    # -- observing -----------------------------------------------------------------------------------
    def observe(self, clients: Clients) -> Observation:
        where = f"{self.address}:{self.port} (SNI {self.sni})"
        try:
            der = self._handshake(self.verified_context())
        except ssl.SSLCertVerificationError as exc:
            return self._untrusted(exc, where)
        except (ssl.SSLError, OSError) as exc:
            return Observation(False, f"no TLS handshake with {where}: {_os_reason(exc)}",
                               self.expected_text(), [f"target: {where}"])
        from cryptography import x509

        info = CertInfo.from_cert(x509.load_der_x509_certificate(der))
        evidence = [f"target: {where}", "verified: yes", *info.lines()]
        if self.sni != self.host and not _covers(info.sans, self.host):
            return Observation(False, f"certificate is for {', '.join(info.sans) or info.subject}, "
                               f"not {self.host}", f"a certificate for {self.host}", evidence)
        days = info.days_left()
        if days < self.min_days:
            return Observation(False, describe_days(days), f"at least {self.min_days:g} days left", evidence)
        if self.secret:
            mismatch = self._compare_secret(clients, info, evidence)
            if mismatch is not None:
                return mismatch
        observed = f"trusted, covers {self.host}, {describe_days(days).removeprefix('certificate ')}"
        return Observation(True, observed, self.expected_text(), evidence)

    def _untrusted(self, exc: ssl.SSLCertVerificationError, where: str) -> Observation:
        reason = str(exc.verify_message or exc.reason or exc)
        evidence = [f"target: {where}", f"verification failed: {reason}"]
        try:
            info: CertInfo | None = CertInfo.from_cert(self.served_unverified())
            evidence += ["served certificate (not trusted, described only):", *info.lines()]
        except (ssl.SSLError, OSError, ValueError):
            info = None
        lowered = reason.lower()
        if info is not None and "expired" in lowered:
            observed = describe_days(info.days_left())
            expected = f"a certificate valid now, at least {self.min_days:g} days left"
        elif info is not None and "hostname mismatch" in lowered:
            observed = f"certificate is for {', '.join(info.sans) or info.subject}, not {self.host}"
            expected = f"a certificate for {self.host}"
        else:
            issuer = f" (issuer {info.issuer})" if info is not None else ""
            observed = f"certificate not trusted: {reason}{issuer}"
            expected = f"a certificate {self.trust_text()}"
        return Observation(False, redact.redact(observed), expected, evidence)

    def _compare_secret(self, clients: Clients, info: CertInfo, evidence: list[str]) -> Observation | None:
        namespace, name = str(self.secret).split("/", 1)
        secret = clients.need_view().get(SECRETS, name, namespace)
        key = str(self.params.get("secret_key", "tls.crt"))
        expected = f"the certificate in Secret {self.secret} (key {key})"
        if secret is None:
            return Observation(False, f"Secret {self.secret} not found", expected, evidence)
        data = secret.get("data") or {}
        redact.register(data.get("tls.key"))  # never read, never shown
        if key not in data:
            return Observation(False, f"Secret {self.secret} has no key {key}", expected, evidence)
        from cryptography import x509

        try:
            stored = x509.load_pem_x509_certificates(base64.b64decode(data[key]))[0]
        except (ValueError, IndexError):
            return Observation(False, f"Secret {self.secret} key {key} holds no PEM certificate", expected,
                               evidence)
        mine = CertInfo.from_cert(stored)
        evidence.append(f"Secret {self.secret}: public key sha256 {mine.spki}, expires "
                        f"{mine.not_after:%Y-%m-%d}")
        if mine.spki != info.spki:
            return Observation(False, f"served certificate (public key {info.spki[:16]}…) is not the one in "
                               f"Secret {self.secret} (public key {mine.spki[:16]}…)", expected, evidence)
        return None


def _covers(sans: list[str], host: str) -> bool:
    host = host.lower().rstrip(".")
    for san in sans:
        san = san.lower().rstrip(".")
        if san == host or (san.startswith("*.") and host.split(".", 1)[-1] == san[2:] and "." in host):
            return True
    return False


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc)
    if isinstance(exc, TimeoutError):
        return "timed out"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
