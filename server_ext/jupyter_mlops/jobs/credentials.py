"""Where the jobs API finds the Kubernetes credentials it acts with.

In a notebook pod that is the pod's own service account, mounted by the
kubelet under ``/var/run/secrets/kubernetes.io/serviceaccount`` (token, CA,
namespace) with the API server in ``KUBERNETES_SERVICE_HOST``/``_PORT``.
Outside a pod (tests, development) these environment variables override it,
in this order:

``MLOPS_KUBECONFIG``
    a kubeconfig whose current context has a bearer token (``token`` or
    ``tokenFile``); its namespace is used unless ``MLOPS_NAMESPACE`` is set.
``MLOPS_KUBE_SERVER`` + ``MLOPS_KUBE_TOKEN_FILE`` (+ ``MLOPS_KUBE_CA_FILE``, ``MLOPS_NAMESPACE``)
    exactly what a pod gets, from files elsewhere.

The server extension exposes the same choices as traits of ``MlopsJobs``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import ClusterUnreachable
from .settings import JobsSettings

POD_SECRETS = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass
class KubeCredentials:
    server: str
    namespace: str
    ca_file: str | None = None
    token_file: str | None = None
    """Re-read when it changes: projected service-account tokens rotate."""
    token: str | None = None
    _cached: tuple[float, str] | None = field(default=None, repr=False)

    def bearer_token(self) -> str:
        if self.token_file:
            mtime = os.stat(self.token_file).st_mtime
            if self._cached is None or self._cached[0] != mtime:
                self._cached = (mtime, Path(self.token_file).read_text().strip())
            return self._cached[1]
        if self.token:
            return self.token
        raise ClusterUnreachable("No Kubernetes token: the credentials have neither a token nor a token file.")

    # ------------------------------------------------------------ sources
    @classmethod
    def from_pod(cls, host: str, port: str, secrets: Path = POD_SECRETS) -> KubeCredentials:
        """The pod's own service account; ``host``/``port``: ``KUBERNETES_SERVICE_HOST``/``_PORT``."""
        if not host or not (secrets / "token").exists():
            raise ClusterUnreachable(
                "No Kubernetes credentials found: not in a pod with a service-account token, "
                "and neither MLOPS_KUBECONFIG nor MLOPS_KUBE_SERVER is set."
            )
        if ":" in host:  # an IPv6 address
            host = f"[{host}]"
        return cls(
            server=f"https://{host}:{port or 443}",
            namespace=(secrets / "namespace").read_text().strip(),
            ca_file=str(secrets / "ca.crt"),
            token_file=str(secrets / "token"),
        )

    @classmethod
    def from_kubeconfig(cls, path: str | Path, namespace: str | None = None) -> KubeCredentials:
        config = yaml.safe_load(Path(path).read_text())
        context_name = config.get("current-context")
        context = next((c["context"] for c in config.get("contexts", []) if c["name"] == context_name), None)
        if context is None:
            raise ClusterUnreachable(f"{path}: no current context")
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        if not (user.get("token") or user.get("tokenFile")):
            raise ClusterUnreachable(f"{path}: the jobs API needs a bearer token (token or tokenFile)")
        return cls(
            server=cluster["server"],
            namespace=namespace or context.get("namespace") or "default",
            ca_file=cluster.get("certificate-authority"),
            token=user.get("token"),
            token_file=user.get("tokenFile"),
        )

    @classmethod
    def from_environment(cls, environ: dict | None = None) -> KubeCredentials:
        return cls.from_settings(JobsSettings.from_environment(environ))

    @classmethod
    def from_settings(cls, settings: JobsSettings) -> KubeCredentials:
        namespace = settings.namespace or None
        if settings.kubeconfig:
            return cls.from_kubeconfig(settings.kubeconfig, namespace)
        if settings.kube_server:
            if not settings.kube_token_file:
                raise ClusterUnreachable("MLOPS_KUBE_SERVER is set but MLOPS_KUBE_TOKEN_FILE is not")
            return cls(
                server=settings.kube_server,
                namespace=namespace or "default",
                ca_file=settings.kube_ca_file or None,
                token_file=settings.kube_token_file,
            )
        creds = cls.from_pod(settings.pod_api_host, settings.pod_api_port)
        if namespace:
            creds.namespace = namespace
        return creds
