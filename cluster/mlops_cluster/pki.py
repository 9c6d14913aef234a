"""Certificates and keys for a throw-away local control plane.

One CA signs the API server's serving certificate; a separate RSA key signs
service-account tokens; a second CA, the front-proxy CA, signs the client
certificate the API server's aggregator presents to extension API servers (Kueue's
visibility API), which trust the user names in its request headers only from
a certificate of that CA with ``FRONT_PROXY_CLIENT`` as its name. Everything is
generated per run directory, so no secret outlives the cluster it belongs to.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    service_account_key: Path
    service_account_pub: Path
    front_proxy_ca_cert: Path
    front_proxy_client_cert: Path
    front_proxy_client_key: Path


FRONT_PROXY_CLIENT = "front-proxy-client"
"""The aggregator's client certificate's name (``--requestheader-allowed-names``)."""


def _write_key(path: Path, key) -> None:
    path.write_bytes(_pem_key(key))
    path.chmod(0o600)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _validity(days: int) -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(datetime.timezone.utc)
    return now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)


def _ca(common_name: str, days: int, dns_name: str | None = None, key=None):
    """A self-signed CA: (key, certificate). ``dns_name``: a SAN for verifiers that
    check the CA by name (cert-controller checks its CA against its CA name).
    ``key``: the CA's key (default: a new EC P-256 key)."""
    not_before, not_after = _validity(days)
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if dns_name:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
    return key, builder.sign(key, hashes.SHA256())


def _signed_pair(ca_key, ca_cert, common_name: str, days: int, usage, sans=()):
    """A key and a certificate for ``usage`` (an extended key usage), signed by the CA."""
    not_before, not_after = _validity(days)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False).sign(ca_key, hashes.SHA256())
    return key, cert


def _serving_pair(ca_key, ca_cert, common_name: str, dns_names: list[str], ips: list[str], days: int):
    """A TLS server key and certificate for these names and IPs, signed by the CA."""
    sans = [x509.DNSName(n) for n in dns_names] + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    return _signed_pair(ca_key, ca_cert, common_name, days, x509.ExtendedKeyUsageOID.SERVER_AUTH, sans)


def _client_pair(ca_key, ca_cert, common_name: str, days: int):
    """A TLS client key and certificate, signed by the CA."""
    return _signed_pair(ca_key, ca_cert, common_name, days, x509.ExtendedKeyUsageOID.CLIENT_AUTH)


def _pem_key(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def webhook_secret_data(ca_name: str, dns_name: str, ips: list[str]) -> dict[str, bytes]:
    """A webhook server's CA and serving pair, as the keys of the Secret that
    cert-controller's rotator reads (``ca.crt``, ``ca.key``, ``tls.crt``, ``tls.key``).

    The CA carries ``ca_name`` as its name and SAN and lives ten years; the
    serving certificate names ``dns_name`` (the Service the rotator expects) and
    ``ips`` (where the API server really calls it) and lives two: both beyond
    the rotator's 90-day look-ahead, so it keeps them instead of making its own.
    """
    # cert-controller reads the CA key as PKCS#1 RSA only.
    ca_key, ca_cert = _ca(
        ca_name, days=3650, dns_name=ca_name, key=rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    key, cert = _serving_pair(ca_key, ca_cert, dns_name, [dns_name], ips, days=730)
    return {
        "ca.crt": ca_cert.public_bytes(serialization.Encoding.PEM),
        "ca.key": ca_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ),
        "tls.crt": cert.public_bytes(serialization.Encoding.PEM),
        "tls.key": _pem_key(key),
    }


def webhook_secret(name: str, namespace: str, data: dict[str, bytes]) -> dict:
    """The Secret holding ``webhook_secret_data``, as a controller's cert rotator reads it."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": namespace},
        "data": {key: base64.b64encode(value).decode() for key, value in data.items()},
    }


def generate(directory: Path) -> Pki:
    """Create (or reuse) the cluster's CA, serving certificate and token-signing key."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(
        ca_cert=directory / "ca.crt",
        serving_cert=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        service_account_key=directory / "sa.key",
        service_account_pub=directory / "sa.pub",
        front_proxy_ca_cert=directory / "front-proxy-ca.crt",
        front_proxy_client_cert=directory / "front-proxy-client.crt",
        front_proxy_client_key=directory / "front-proxy-client.key",
    )
    if all(p.exists() for p in vars(pki).values()):
        return pki

    ca_key, ca_cert = _ca("jupyterhub-mlops local CA", days=365)
    serving_key, serving_cert = _serving_pair(
        ca_key,
        ca_cert,
        "kube-apiserver",
        ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"],
        ["127.0.0.1", "10.96.0.1"],
        days=365,
    )

    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    front_proxy_ca_key, front_proxy_ca = _ca("jupyterhub-mlops front-proxy CA", days=365)
    front_proxy_key, front_proxy_cert = _client_pair(front_proxy_ca_key, front_proxy_ca, FRONT_PROXY_CLIENT, days=365)

    pki.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.serving_cert.write_bytes(serving_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(pki.serving_key, serving_key)
    _write_key(pki.service_account_key, sa_key)
    pki.service_account_pub.write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    pki.front_proxy_ca_cert.write_bytes(front_proxy_ca.public_bytes(serialization.Encoding.PEM))
    pki.front_proxy_client_cert.write_bytes(front_proxy_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(pki.front_proxy_client_key, front_proxy_key)
    return pki
