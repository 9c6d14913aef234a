"""Argo Workflows in the local cluster: its upstream CRDs and its real workflow-controller.

    install_crds(cp)                        # every cluster: the CRDs of the Argo module
    controller = ArgoController(cp).start() # ControlPlane(argo_controller=True) does this
    controller.stop()

Everything comes from the Go module ``github.com/argoproj/argo-workflows/v4`` at
``binaries.ARGO_VERSION``, read from the Go module cache at start time:

- the CRDs of ``manifests/base/crds/full``: what upstream's default install
  (``manifests/cluster-install``) applies. The "minimal" ones leave out the
  schemas of the big kinds (a workaround for old clients' apply size limits);
  the full ones make the API server validate and prune a Workflow as a real
  cluster does, and server-side apply takes their size. The Workflow CRD has
  no status subresource: the controller updates the whole object.
- the controller's RBAC of ``manifests/cluster-install-no-crds/workflow-controller-rbac``
  (the ``argo`` service account in the ``argo`` namespace, as kustomize would
  place it), and the controller binary built from the same module copy as the
  ``argo`` CLI (``build-binaries.sh``).

The controller acts with a token of its own service account, so the API
server's RBAC limits it exactly as in a cluster. It reads
``cluster/argo/workflow-controller-configmap.yaml``. No kubelet runs the pods
it creates: ``argo_executor`` plays Argo's executor for the pod runner.
Like every process of the control plane it dies with the process that started
it (see ``processes``); call ``start`` from the main thread.
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path

from . import binaries, go_modules
from .paths import CLUSTER_DIR

NAMESPACE = "argo"
SERVICE_ACCOUNT = "argo"
CONFIGMAP = CLUSTER_DIR / "argo" / "workflow-controller-configmap.yaml"
CRD_NAMES = (
    "workflows",
    "workflowtemplates",
    "clusterworkflowtemplates",
    "cronworkflows",
    "workflowtaskresults",
    "workflowtasksets",
    "workflowartifactgctasks",
    "workfloweventbindings",
)
"""Every kind the controller's informers watch; it fails to sync without one of them."""
READY_LINE = "Starting Workflow Controller"
"""Logged once it has read its ConfigMap and starts its informers."""


def manifests_dir() -> Path:
    return go_modules.module_dir(binaries.ARGO_MODULE, binaries.ARGO_VERSION) / "manifests"


def crd_files() -> list[Path]:
    return [manifests_dir() / "base" / "crds" / "full" / f"argoproj.io_{name}.yaml" for name in CRD_NAMES]


def install_crds(cp) -> None:
    """Server-side apply of the upstream CRDs (the full ones exceed client-side apply's
    annotation limit); waits until they are served."""
    files = [arg for path in crd_files() for arg in ("-f", str(path))]
    cp.kubectl("apply", "--server-side", "--force-conflicts", *files)
    cp.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{name}.argoproj.io" for name in CRD_NAMES)
    )


def rbac_manifests() -> list[dict]:
    """The controller's service account, roles and bindings from the module, in ``argo``
    (what ``namespace: argo`` of upstream's kustomization does to them)."""
    base = manifests_dir()
    files = [
        base / "base" / "workflow-controller" / "workflow-controller-sa.yaml",
        *sorted((base / "cluster-install-no-crds" / "workflow-controller-rbac").glob("*.yaml")),
    ]
    documents = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}]
    for path in files:
        documents += [
            in_namespace(doc, NAMESPACE) for doc in go_modules.load_yaml(path) if doc.get("kind") != "Kustomization"
        ]
    return documents


def in_namespace(doc: dict, namespace: str) -> dict:
    """Kustomize's ``namespace:`` transform: namespaced objects and service-account
    subjects without a namespace get it."""
    doc = copy.deepcopy(doc)
    if doc["kind"] in ("ServiceAccount", "Role", "RoleBinding", "ConfigMap"):
        doc["metadata"].setdefault("namespace", namespace)
    for subject in doc.get("subjects") or []:
        if subject.get("kind") == "ServiceAccount":
            subject.setdefault("namespace", namespace)
    return doc


class ArgoController:
    """Started (and stopped with the rest) by ``ControlPlane(argo_controller=True)``."""

    name = "workflow-controller"

    def __init__(self, control_plane):
        self.cp = control_plane

    def start(self, timeout: float = 60) -> None:
        """Install its RBAC and ConfigMap (idempotent), start it, wait until it runs."""
        cp = self.cp
        log_file = cp.log_dir / f"{self.name}.log"
        since = log_file.stat().st_size if log_file.exists() else 0
        cp.apply_objects(rbac_manifests())
        cp.apply(CONFIGMAP)
        kubeconfig, _ = cp.service_account_kubeconfig(NAMESPACE, SERVICE_ACCOUNT, self.name)
        # One controller per cluster: no lease to win first (a lease left by a
        # killed controller of a kept etcd would hold it back for its duration).
        env = dict(os.environ, LEADER_ELECTION_DISABLE="true")
        cp.start_process(
            self.name,
            [
                str(cp.bins.workflow_controller),
                f"--kubeconfig={kubeconfig}",
                f"--namespace={NAMESPACE}",
                "--loglevel=info",
                # A throw-away single-user cluster: fewer workers, less CPU.
                "--workflow-workers=4",
                "--pod-cleanup-workers=2",
            ],
            env=env,
        )
        self._wait_started(cp.log_dir / f"{self.name}.log", timeout, since=since)

    def _wait_started(self, log_file: Path, timeout: float, since: int = 0) -> None:
        """Until READY_LINE appears in the log after byte ``since`` (a restart appends)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.cp.check_alive(self.name)
            if log_file.exists():
                with open(log_file, "rb") as log:
                    log.seek(since)
                    if READY_LINE.encode() in log.read():
                        return
            time.sleep(0.2)
        raise self.cp.failure(self.name, f"did not start within {timeout:.0f}s")
