"""Where the control plane keeps its build cache and its run state."""

from __future__ import annotations

import os
from pathlib import Path

CLUSTER_DIR = Path(__file__).resolve().parent.parent
"""The ``cluster/`` folder of the repository (manifests, CRDs, build script)."""

SUITE_RBAC = CLUSTER_DIR.parent / "helm-values" / "rbac.yaml"
"""The suite's cluster roles, the same file operators apply next to the Helm chart."""
SUITE_KUEUE_POLICIES = CLUSTER_DIR.parent / "helm-values" / "kueue-policies.yaml"
"""Who may stand where in Kueue's line: applied by every control plane, like the RBAC."""


def cache_dir() -> Path:
    """Build cache outside the repository; survives ``make clean`` and fresh clones."""
    root = os.environ.get("MLOPS_CLUSTER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "jupyterhub-mlops"
    )
    return Path(root)


def default_run_dir() -> Path:
    """Run state of the cluster started by the CLI (kubeconfigs, logs, pids)."""
    return Path(os.environ.get("MLOPS_CLUSTER_RUN_DIR") or cache_dir() / "run" / "default")
