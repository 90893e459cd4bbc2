"""Client-certificate authentication, as the apiserver's x509 authenticator does it: a certificate signed by
the cluster's client CA authenticates as its Common Name (user) and Organizations (groups)
(kubernetes staging/src/k8s.io/apiserver/pkg/authentication/request/x509/x509.go CommonNameUserConversion).

A scenario with `client_certificates: {user: [groups]}` gets a client CA (TLS then asks every client for
a certificate, optionally); `issue()` makes a certificate and key for one user. A request without a bearer
token that presented a certificate the CA signed is authenticated as its Common Name, with the groups the
scenario gives that user, through a token only this process knows (the Authorizer maps tokens to
identities). A certificate the CA did not sign fails the TLS handshake, as with the apiserver.
"""

from __future__ import annotations

import secrets
import ssl
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


class ClientCA:
    """A throwaway client CA and the tokens standing for the users it may authenticate."""

    def __init__(self, users: dict[str, list[str]]) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "promotion-gate-sim-client-ca")])
        now = datetime.now(UTC) - timedelta(minutes=5)
        self._name = name
        self.cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self._key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), True)
            .sign(self._key, hashes.SHA256()))
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM).decode()
        self._prefix = f"x509-{secrets.token_hex(16)}:"
        self.users = users

    def tokens(self) -> dict[str, dict]:
        """The Authorizer's entries for the users (token -> {user, groups})."""
        return {self._prefix + user: {"user": user, "groups": list(groups)} for user, groups in self.users.items()}

    def issue(self, user: str, groups: list[str] | None = None, *, days: int = 30) -> tuple[bytes, bytes]:
        """(certificate PEM, key PEM) for `user` (CN) in `groups` (O)."""
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups or []]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, user))
        now = datetime.now(UTC) - timedelta(minutes=5)
        cert = (x509.CertificateBuilder().subject_name(x509.Name(attrs)).issuer_name(self._name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(now + timedelta(days=days))
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .sign(self._key, hashes.SHA256()))
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return cert.public_bytes(serialization.Encoding.PEM), key_pem

    def configure(self, ctx: ssl.SSLContext) -> None:
        """Ask clients for a certificate signed by this CA (optional: bearer tokens still work)."""
        ctx.load_verify_locations(cadata=self.pem)
        ctx.verify_mode = ssl.CERT_OPTIONAL

    def token_of(self, connection: Any) -> str | None:
        """The token standing for the verified client certificate's user, if one was presented."""
        getpeercert = getattr(connection, "getpeercert", None)
        cert = getpeercert() if getpeercert else None
        if not cert:
            return None
        for rdn in cert.get("subject", ()):
            for key, value in rdn:
                if key == "commonName" and value in self.users:
                    return self._prefix + value
        return None
