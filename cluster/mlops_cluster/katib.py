"""Katib on the local cluster, built and configured from its module.

``ControlPlane(katib=True)`` runs Katib ``VERSION`` (built by
``build-binaries.sh``) as its standalone install deploys it, with what is
upstream's read from the module's ``manifests/v1beta1`` in the Go module cache:

- its CRDs (installed by every control plane, so the suite's objects always meet
  the real schema), the ``katib-controller`` ServiceAccount, ClusterRole and
  binding, in namespace ``kubeflow``;
- ``katib-controller``, acting with a token of that service account, with its
  validating and mutating webhooks called at ``https://127.0.0.1:<port>`` (the
  ``url`` form of ``clientConfig``: no Service routes to a local process). Its
  certificate: the control plane writes the Secret Katib's cert generator
  expects (see ``pki.webhook_secret_data``) and the pair where the
  Deployment's Secret volume would put it, ``/tmp/cert``, which Katib reads
  from a fixed path: the controller runs in a mount namespace of its own where
  ``/tmp/cert`` is its own folder, so two clusters on one machine never share
  a certificate. The generator keeps the pair and injects the CA into both
  webhook configurations;
- ``katib-db-manager`` on MariaDB (``katib_database``);
- the suite's own additions, as an operator applies them
  (``helm-values/katib.yaml``): its ``katib-config`` (the trial kinds the suite
  runs, goptuna's algorithms) with addresses of this machine, and the
  ClusterRole that lets the controller create Workflow and PyTorchJob trials;
- the suggestion Deployment's pod, run by the pod runner with a network
  namespace of its own (``pod_network``), since goptuna always binds
  ``0.0.0.0:6789``; the controller reaches it through the Service proxy
  (``service_proxy``, ``HTTPS_PROXY``), as cluster DNS would;
- the StdOut metrics collector, injected by Katib's pod webhook, run beside the
  trial's process in one PID namespace (``shared_process_namespace``).

The pod runner learns from ``entrypoints`` which local programs stand in for
the images katib-config names.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from . import go_modules, pki, processes
from .binaries import KATIB_VERSION as VERSION
from .katib_database import KatibDatabase
from .paths import CLUSTER_DIR
from .ports import free_ports

MODULE = "github.com/kubeflow/katib"
NAMESPACE = "kubeflow"
SERVICE_ACCOUNT = "katib-controller"
SERVICE_NAME = "katib-controller"
"""The Service the webhook certificate must name (``webhookServiceName``)."""
WEBHOOK_SECRET = "katib-webhook-cert"
WEBHOOK_CONFIGURATION = "katib.kubeflow.org"
"""The name of both webhook configurations (the cert generator injects its CA there)."""
CONFIG_MAP = "katib-config"
CERT_DIR = Path("/tmp/cert")
"""Where Katib's webhook server reads its pair (``consts.CertDir``, fixed upstream)."""
CA_NAME = "katib-ca"
TOKEN_SECONDS = 7 * 24 * 3600
SUITE_FILE = CLUSTER_DIR.parent / "helm-values" / "katib.yaml"
"""What the suite adds to Katib's install (katib-config, RBAC): one file for operators
and for this cluster."""
PROGRAMS = {"suggestion-goptuna": "katib_suggestion_goptuna", "file-metrics-collector": "katib_metrics_collector"}
"""Image name (without registry and tag) -> the ``Binaries`` field of its local build."""


def manifests() -> Path:
    return go_modules.module_dir(MODULE, VERSION) / "manifests" / "v1beta1"


def crds() -> list[dict]:
    folder = manifests() / "components" / "crd"
    return [
        doc
        for name in ("experiment.yaml", "suggestion.yaml", "trial.yaml")
        for doc in go_modules.load_yaml(folder / name)
    ]


def suite_objects() -> list[dict]:
    return go_modules.load_yaml(SUITE_FILE)


def rbac() -> list[dict]:
    """The controller's ServiceAccount, ClusterRole and binding, in ``NAMESPACE``, and
    the suite's role for Workflow and PyTorchJob trials."""
    objects = []
    for doc in go_modules.load_yaml(manifests() / "components" / "controller" / "rbac.yaml"):
        if doc["kind"] not in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding"):
            continue
        if doc["kind"] == "ClusterRoleBinding" and not any(
            s.get("name") == SERVICE_ACCOUNT for s in doc.get("subjects") or []
        ):
            continue
        doc = copy.deepcopy(doc)
        if doc["kind"] == "ServiceAccount":
            doc["metadata"]["namespace"] = NAMESPACE
        objects.append(doc)
    return objects + [doc for doc in suite_objects() if doc["kind"] in ("ClusterRole", "ClusterRoleBinding")]


def webhook_configurations(port: int) -> list[dict]:
    """The module's validating and mutating configurations, calling the local process.

    The pod webhook is left as upstream wrote it but for one ``objectSelector``:
    notebook pods (Zero-to-JupyterHub labels them ``component: singleuser-server``)
    are never sent to it. Its failure policy is Fail, and user namespaces carry
    the label it selects on, so without the selector nobody could start a
    notebook while Katib is down; a notebook pod is never a trial's.
    """
    configs = []
    for doc in go_modules.load_yaml(manifests() / "components" / "webhook" / "webhooks.yaml"):
        doc = copy.deepcopy(doc)
        for hook in doc["webhooks"]:
            path = hook["clientConfig"]["service"]["path"]
            hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{path}"}
            if hook["rules"][0]["resources"] == ["pods"]:
                hook["objectSelector"] = NOTEBOOK_PODS_EXCLUDED
        configs.append(doc)
    return configs


NOTEBOOK_PODS_EXCLUDED = {
    "matchExpressions": [{"key": "component", "operator": "NotIn", "values": ["singleuser-server"]}]
}


def katib_config(webhook_port: int, healthz_port: int) -> dict:
    """The suite's katib-config, with this machine's ports (no fixed ones: two clusters
    may run on one machine) and no metrics server."""
    (config_map_doc,) = [doc for doc in suite_objects() if doc["kind"] == "ConfigMap"]
    config = yaml.safe_load(config_map_doc["data"]["katib-config.yaml"])
    controller = config["init"]["controller"]
    controller["webhookPort"] = webhook_port
    controller["healthzAddr"] = f"127.0.0.1:{healthz_port}"
    controller["metricsAddr"] = "0"
    return config


def config_map(config: dict) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONFIG_MAP, "namespace": NAMESPACE},
        "data": {"katib-config.yaml": yaml.safe_dump(config, sort_keys=False)},
    }


def entrypoints(bins) -> dict[str, list[str]]:
    """Image -> local program, for the pod runner (``pod_command``): every suggestion and
    metrics collector image katib-config names, as built here."""
    runtime = katib_config(0, 0)["runtime"]
    images = [entry["image"] for entry in runtime["suggestions"] + runtime["metricsCollectors"]]
    found = {}
    for image in images:
        name = image.rsplit("/", 1)[-1].split(":")[0]
        if name not in PROGRAMS:
            raise ValueError(
                f"katib-config names {image}, which is not built here (only {', '.join(PROGRAMS)}): see {SUITE_FILE}"
            )
        found[image] = [str(getattr(bins, PROGRAMS[name]))]
    return found


class Katib:
    """Starts Katib's database, db-manager and controller as children of the control plane."""

    def __init__(self, cp) -> None:
        self.cp = cp
        self.home = cp.run_dir / "katib"

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        connection = KatibDatabase(self.cp).start()
        (db_manager_port,) = free_ports(1)
        self.cp.start_process(
            "katib-db-manager",
            [
                str(self.cp.bins.katib_db_manager),
                f"--listen-address=127.0.0.1:{db_manager_port}",
            ],
            env={**connection.db_manager_env(), "PATH": "/usr/bin:/bin"},
        )

        webhook_port, healthz_port = free_ports(2)
        certs = pki.webhook_secret_data(CA_NAME, f"{SERVICE_NAME}.{NAMESPACE}.svc", ["127.0.0.1"])
        config = katib_config(webhook_port, healthz_port)
        self.cp.apply_objects(
            [
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
                *rbac(),
                pki.webhook_secret(WEBHOOK_SECRET, NAMESPACE, certs),
                config_map(config),
                *webhook_configurations(webhook_port),
            ]
        )
        cert_dir = self.home / "cert"
        cert_dir.mkdir(exist_ok=True)
        for key in ("tls.crt", "tls.key"):
            (cert_dir / key).write_bytes(certs[key])
            (cert_dir / key).chmod(0o600)
        config_file = self.home / "katib-config.yaml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        kubeconfig, _ = self.cp.service_account_kubeconfig(
            NAMESPACE, SERVICE_ACCOUNT, "katib-controller", duration=f"{TOKEN_SECONDS}s"
        )
        CERT_DIR.mkdir(parents=True, exist_ok=True)  # the mount point
        env = {
            "KUBECONFIG": str(kubeconfig),
            "KATIB_CORE_NAMESPACE": NAMESPACE,
            # Where the webhook tells metrics collectors, and the controller itself,
            # to find the db-manager: <ip>:<port> when the namespace is empty.
            "KATIB_DB_MANAGER_SERVICE_IP": "127.0.0.1",
            "KATIB_DB_MANAGER_SERVICE_PORT": str(db_manager_port),
            "KATIB_DB_MANAGER_SERVICE_NAMESPACE": "",
            "HTTPS_PROXY": self.cp.service_proxy_url,
            "PATH": "/usr/bin:/bin",
        }
        self.cp.start_process(
            "katib-controller",
            processes.with_own_mounts(
                {CERT_DIR: cert_dir}, [str(self.cp.bins.katib_controller), f"--katib-config={config_file}"]
            ),
            env=env,
        )
        self.cp.wait_http(f"http://127.0.0.1:{healthz_port}/readyz", "katib-controller", timeout=120)


POD_LABELS = ("katib.kubeflow.org/suggestion", "katib.kubeflow.org/trial")
"""A suggestion Deployment's pods, and the trial pods Katib's pod webhook labels."""


def is_katib_pod(pod: dict) -> bool:
    """A pod Katib made or labelled (a pod runner's ``select``)."""
    labels = pod.get("metadata", {}).get("labels") or {}
    return any(key in labels for key in POD_LABELS)


def remove_webhooks(cp) -> None:
    """A cluster started without Katib (after one with it, on kept etcd data) must
    not send Experiments or pods to webhooks nobody serves."""
    for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
        cp.kubectl("delete", kind, WEBHOOK_CONFIGURATION, "--ignore-not-found")
