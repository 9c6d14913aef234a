"""The Kubeflow Training Operator on the local cluster, built and configured from its module.

``ControlPlane(training_operator=True)`` runs the real operator
(``github.com/kubeflow/training-operator`` ``VERSION``, built by
``build-binaries.sh``) for PyTorchJobs, as its standalone manifests deploy it:

- its CRDs, ClusterRole, ServiceAccount and ClusterRoleBinding are read from
  the module's ``manifests/`` in the Go module cache, in namespace ``kubeflow``
  (the standalone overlay's); the operator acts with a token of that service
  account, so the API server's RBAC allows it exactly what its ClusterRole says;
- its validating webhooks (the module's configuration, renamed as the
  overlay's patch does) are called by the API server at
  ``https://127.0.0.1:<port>``, the ``url`` form of ``clientConfig``, since no
  Service routes to a local process;
- its webhook certificate: the control plane writes the Secret the operator's
  cert-controller expects (a CA of its own and a serving certificate for the
  Service name and 127.0.0.1, see ``pki.webhook_secret_data``), and puts the
  pair where the Deployment's Secret volume would put it. The rotator finds
  them valid, keeps them, and injects the CA into the webhook configuration;
  the operator waits for that before it reconciles, and ``start`` waits for its
  readiness probe.

The PyTorchJob CRD is installed by every control plane (``crds``), with or
without the operator, so that the suite's objects always meet the real schema.
"""

from __future__ import annotations

import copy
from pathlib import Path

from . import go_modules, pki
from .binaries import TRAINING_OPERATOR_VERSION as VERSION
from .ports import free_ports

MODULE = "github.com/kubeflow/training-operator"
NAMESPACE = "kubeflow"
"""The standalone overlay's namespace (the operator reads it from MY_POD_NAMESPACE)."""
SERVICE_ACCOUNT = "training-operator"
SERVICE_NAME = "training-operator"
"""The Service the operator's certificate must name (``--webhook-service-name``)."""
WEBHOOK_SECRET = "training-operator-webhook-cert"
WEBHOOK_CONFIGURATION = "validator.training-operator.kubeflow.org"
"""The name the overlay's patch gives the webhook configuration; the operator injects its CA there."""
CA_NAME = "training-operator-ca"
SCHEMES = {"pytorchjob": "pytorchjobs"}
"""The job kinds the suite uses: ``--enable-scheme`` value -> resource."""
FIXED_CERT_DIR = Path("/tmp/k8s-webhook-server/serving-certs")
"""Where the operator's rotator checks that the certificate is mounted (hard-coded
upstream); its webhook server reads it from ``$TMPDIR/k8s-webhook-server/serving-certs``."""
TOKEN_SECONDS = 7 * 24 * 3600
JOB_NAME_LABEL = "training.kubeflow.org/job-name"
"""The label the operator puts on every pod of a job."""


def manifests() -> Path:
    return go_modules.module_dir(MODULE, VERSION) / "manifests" / "base"


def crds() -> list[dict]:
    """The module's CRDs of the kinds in ``SCHEMES``."""
    folder = manifests() / "crds"
    return [doc for plural in SCHEMES.values() for doc in go_modules.load_yaml(folder / f"kubeflow.org_{plural}.yaml")]


def rbac() -> list[dict]:
    """ServiceAccount, ClusterRole and ClusterRoleBinding, placed in ``NAMESPACE``."""
    folder = manifests() / "rbac"
    objects = []
    for name in ("service-account.yaml", "role.yaml", "cluster-role-binding.yaml"):
        for doc in go_modules.load_yaml(folder / name):
            doc = copy.deepcopy(doc)
            if doc["kind"] == "ServiceAccount":
                doc["metadata"]["namespace"] = NAMESPACE
            for subject in doc.get("subjects") or []:
                subject.setdefault("namespace", NAMESPACE)
            objects.append(doc)
    return objects


def webhook_configuration(port: int) -> dict:
    """The module's ValidatingWebhookConfiguration for ``SCHEMES``, renamed as the
    overlay's patch does, each webhook calling the local process by URL."""
    (config,) = go_modules.load_yaml(manifests() / "webhook" / "manifests.yaml")
    config = copy.deepcopy(config)
    config["metadata"] = {"name": WEBHOOK_CONFIGURATION}
    wanted = set(SCHEMES.values())
    config["webhooks"] = [hook for hook in config["webhooks"] if set(hook["rules"][0]["resources"]) & wanted]
    for hook in config["webhooks"]:
        path = hook["clientConfig"]["service"]["path"]
        hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{path}"}
    return config


def namespace() -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}


class TrainingOperator:
    """Starts the operator as a child process of the control plane (``ControlPlane.start``)."""

    def __init__(self, cp) -> None:
        self.cp = cp
        self.home = cp.run_dir / "training-operator"
        self.binary = cp.bins.training_operator

    def start(self) -> None:
        webhook_port, probe_port = free_ports(2)
        self.home.mkdir(parents=True, exist_ok=True)
        certs = pki.webhook_secret_data(CA_NAME, f"{SERVICE_NAME}.{NAMESPACE}.svc", ["127.0.0.1"])
        self.cp.apply_objects(
            [
                namespace(),
                *rbac(),
                pki.webhook_secret(WEBHOOK_SECRET, NAMESPACE, certs),
                webhook_configuration(webhook_port),
            ]
        )
        self._mount_certs(certs)
        kubeconfig, _ = self.cp.service_account_kubeconfig(
            NAMESPACE, SERVICE_ACCOUNT, "training-operator", duration=f"{TOKEN_SECONDS}s"
        )
        env = {
            "KUBECONFIG": str(kubeconfig),
            "MY_POD_NAMESPACE": NAMESPACE,
            "TMPDIR": str(self.home / "tmp"),
            "PATH": "/usr/bin:/bin",
        }
        self.cp.start_process(
            "training-operator",
            [
                str(self.binary),
                *(f"--enable-scheme={scheme}" for scheme in SCHEMES),
                f"--webhook-server-port={webhook_port}",
                f"--webhook-service-name={SERVICE_NAME}",
                f"--webhook-secret-name={WEBHOOK_SECRET}",
                f"--health-probe-bind-address=127.0.0.1:{probe_port}",
                "--metrics-bind-address=0",
                "--leader-elect=false",
                "--zap-log-level=info",
            ],
            env=env,
        )
        self.cp.wait_http(f"http://127.0.0.1:{probe_port}/readyz", "training-operator", timeout=120)

    def _mount_certs(self, certs: dict[str, bytes]) -> None:
        """What the kubelet's Secret volume would do for the operator's Deployment."""
        for folder in (self.home / "tmp" / "k8s-webhook-server" / "serving-certs", FIXED_CERT_DIR):
            folder.mkdir(parents=True, exist_ok=True)
            for key in ("tls.crt", "tls.key"):
                (folder / key).write_bytes(certs[key])
                (folder / key).chmod(0o600)


def is_replica_pod(pod: dict) -> bool:
    """A pod the operator made for a replica of a job (a pod runner's ``select``)."""
    return JOB_NAME_LABEL in (pod.get("metadata", {}).get("labels") or {})


def remove_webhooks(cp) -> None:
    """A cluster started without the operator (after one with it, on kept etcd data)
    must not send PyTorchJobs to a webhook nobody serves."""
    cp.kubectl("delete", "validatingwebhookconfiguration", WEBHOOK_CONFIGURATION, "--ignore-not-found")
